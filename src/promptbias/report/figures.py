"""Publication figures as PNG and SVG: the paper's FPR-gap figure per attribute, accuracy by model, and a
heatmap of gaps (groups x metrics) per model. Colours come from the Okabe-Ito palette (colour-blind safe),
one per model, the same in every figure and in the page; the heatmaps use a diverging purple-orange map.

Figures are drawn on ``matplotlib.figure.Figure`` objects (no pyplot state) and saved without dates and
with a fixed SVG id salt, so drawing the same data twice gives the same bytes.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Sequence
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from promptbias.report.views import chart_metrics, metric_label, model_colours

STYLE = {
    "svg.hashsalt": "promptbias",
    "svg.fonttype": "none",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 10,
    "legend.frameon": False,
}
PAPER_PANELS = (("negative_FPR", "negative-class FPR gap"), ("positive_FPR", "positive-class FPR gap"))
HEATMAP_COLOURS = "PuOr_r"


def draw_paper_figures(
    gaps: pd.DataFrame, out_dir: Path, model_order: Sequence[str] | None = None
) -> list[Path]:
    """The paper's figure per attribute: negative- and positive-class FPR gap per group, intervals as error
    bars, one colour per model; one figure per (training set, probe) when there are several. PNG and SVG."""
    models = list(model_order) if model_order is not None else sorted(set(gaps["model"]))
    configs = sorted(set(zip(gaps["dataset"], gaps["probe"], strict=True)))
    paths: list[Path] = []
    for (dataset, probe), category in _config_categories(gaps, configs):
        part = gaps[(gaps["dataset"] == dataset) & (gaps["probe"] == probe) & (gaps["category"] == category)]
        if not part["metric"].isin([metric for metric, _ in PAPER_PANELS]).any():
            continue
        suffix = f"_{dataset}_{probe}" if len(configs) > 1 else ""
        title = f"{category}: FPR gap per group" + (f" ({dataset}, {probe})" if len(configs) > 1 else "")
        figure = _paper_figure(part, models, title)
        paths += save_figure(figure, out_dir, slug(f"fpr_gap_{category}{suffix}"))
    return paths


def _config_categories(
    gaps: pd.DataFrame, configs: list[tuple[str, str]]
) -> list[tuple[tuple[str, str], str]]:
    return [(config, category) for config in configs for category in sorted(set(gaps["category"]))]


def _paper_figure(part: pd.DataFrame, models: list[str], title: str) -> Figure:
    groups = sorted(set(part["group"]))
    colours = model_colours(models)
    present = [model for model in models if model in set(part["model"])]
    panels = [(metric, label) for metric, label in PAPER_PANELS if metric in set(part["metric"])]
    width = min(16.0, max(5.5, 1.0 + len(groups) * (0.22 + 0.16 * len(present))))
    with matplotlib.rc_context(STYLE):
        figure = Figure(figsize=(width, 2.6 * len(panels) + 0.9), layout="constrained")
        axes = figure.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
        for ax, (metric, label) in zip(axes, panels, strict=True):
            _gap_bars(ax, part[part["metric"] == metric], groups, {m: colours[m] for m in present})
            ax.set_ylabel(label)
        axes[-1].set_xticks(range(len(groups)), groups, rotation=45 if len(groups) > 4 else 0, ha="right")
        axes[0].legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), title="model")
        figure.suptitle(title)
        figure.supxlabel(
            "group;  error bars: interval across runs;  *: significant after correction",
            fontsize=8,
        )
    return figure


def _gap_bars(ax, metric_rows: pd.DataFrame, groups: list[str], colours: dict[str, str]) -> None:
    width = 0.8 / max(1, len(colours))
    x = np.arange(len(groups))
    for index, (model, colour) in enumerate(colours.items()):
        rows = metric_rows[metric_rows["model"] == model].set_index("group").reindex(groups)
        gap = rows["gap_mean"].to_numpy(dtype=float)
        errors = np.vstack([gap - rows["ci_low"].to_numpy(float), rows["ci_high"].to_numpy(float) - gap])
        # a bootstrap percentile interval can end a rounding error (or, skewed, a little) short of the mean
        errors = np.clip(errors, 0.0, None)
        offset = x - 0.4 + width * (index + 0.5)
        ax.bar(offset, np.nan_to_num(gap), width, yerr=errors, color=colour, label=model,
               error_kw={"elinewidth": 0.8, "capsize": 1.5, "ecolor": "#333333"})  # fmt: skip
        for position, value, high, low, significant in zip(
            offset, gap, rows["ci_high"], rows["ci_low"], rows["significant"].fillna(False), strict=True
        ):
            if significant and not math.isnan(value):
                tip = high if value >= 0 else low
                tip = value if math.isnan(tip) else tip
                ax.annotate(
                    "*", (position, tip), ha="center", va="bottom" if value >= 0 else "top", fontsize=9
                )
    ax.axhline(0.0, color="#333333", linewidth=0.6)
    ax.margins(y=0.12)


def draw_accuracy_figure(
    runs: pd.DataFrame, out_dir: Path, model_order: Sequence[str], label: str = "test accuracy"
) -> list[Path]:
    """Accuracy per model and (training set, probe): mean over runs as a bar, each run as a dot."""
    configs = sorted(set(zip(runs["dataset"], runs["probe"], strict=True)))
    bars = [(model, config) for model in model_order for config in configs]
    bars = [
        (m, c)
        for m, c in bars
        if ((runs["model"] == m) & (runs["dataset"] == c[0]) & (runs["probe"] == c[1])).any()
    ]
    colours = model_colours(list(model_order))
    with matplotlib.rc_context(STYLE):
        figure = Figure(figsize=(max(4.5, 0.9 * len(bars) + 1.5), 3.6), layout="constrained")
        ax = figure.subplots()
        for position, (model, (dataset, probe)) in enumerate(bars):
            values = runs[(runs["model"] == model) & (runs["dataset"] == dataset) & (runs["probe"] == probe)]
            values = values["accuracy"].dropna().to_numpy(float)
            colour = colours[model]
            ax.bar(position, values.mean() if len(values) else 0.0, 0.7, color=colour, alpha=0.85)
            ax.plot(np.full(len(values), position), values, "o", color="#222222", markersize=3)
        names = [f"{m}\n{d} / {p}" if len(configs) > 1 else m for m, (d, p) in bars]
        ax.set_xticks(range(len(bars)), names, rotation=30 if len(bars) > 3 else 0, ha="right")
        ax.axhline(1 / 3, color="#555555", linestyle="--", linewidth=0.8)
        ax.annotate("uniform chance (1/3)", (len(bars) - 0.5, 1 / 3), ha="right", va="bottom", fontsize=7)
        ax.set_ylim(0, 1)
        ax.set_ylabel(label)
        ax.set_title(f"{label} by model (bar: mean over runs; dots: runs)")
    return save_figure(figure, out_dir, "accuracy_by_model")


def draw_heatmaps(gaps: pd.DataFrame, out_dir: Path, model_order: Sequence[str]) -> list[Path]:
    """Per model (and training set and probe): gaps as a groups x metrics heatmap, * where significant."""
    metrics = chart_metrics(gaps)
    configs = sorted(set(zip(gaps["dataset"], gaps["probe"], strict=True)))
    limit = float(np.nanmax(np.abs(gaps["gap_mean"].to_numpy(float)))) if len(gaps) else 1.0
    limit = limit if limit > 0 and not math.isnan(limit) else 1.0
    paths: list[Path] = []
    for model in model_order:
        for dataset, probe in configs:
            part = gaps[(gaps["model"] == model) & (gaps["dataset"] == dataset) & (gaps["probe"] == probe)]
            if part.empty:
                continue
            suffix = f" ({dataset}, {probe})" if len(configs) > 1 else ""
            figure = _heatmap(part, metrics, limit, f"{model}: gap per group and metric{suffix}")
            name = f"heatmap_{model}" + (f"_{dataset}_{probe}" if len(configs) > 1 else "")
            paths += save_figure(figure, out_dir, slug(name))
    return paths


def _heatmap(part: pd.DataFrame, metrics: list[str], limit: float, title: str) -> Figure:
    table = part.pivot_table(
        index=["category", "group"], columns="metric", values="gap_mean", aggfunc="first"
    )
    table = table.reindex(columns=metrics)
    marks = part.pivot_table(
        index=["category", "group"], columns="metric", values="significant", aggfunc="any"
    )
    marks = marks.reindex(index=table.index, columns=metrics).fillna(False).astype(bool)
    with matplotlib.rc_context(STYLE):
        figure = Figure(figsize=(2.2 + 0.75 * len(metrics), 1.3 + 0.2 * len(table)), layout="constrained")
        ax = figure.subplots()
        image = ax.imshow(table.to_numpy(float), cmap=HEATMAP_COLOURS, vmin=-limit, vmax=limit, aspect="auto")
        for row, column in zip(*np.nonzero(marks.to_numpy()), strict=True):
            ax.text(column, row, "*", ha="center", va="center", fontsize=8)
        ax.set_xticks(range(len(metrics)), [metric_label(m) for m in metrics], rotation=35, ha="right")
        ax.set_yticks(range(len(table)), [f"{category} · {group}" for category, group in table.index])
        categories = [category for category, _ in table.index]
        for row in range(1, len(categories)):
            if categories[row] != categories[row - 1]:
                ax.axhline(row - 0.5, color="#222222", linewidth=0.8)
        figure.colorbar(image, ax=ax, label="gap (group − mean of its attribute's groups)", shrink=0.6)
        ax.set_title(title + "\n* significant after correction", fontsize=9)
    return figure


def save_figure(figure: Figure, out_dir: Path, stem: str) -> list[Path]:
    """``stem.png`` (200 dpi) and ``stem.svg`` in ``out_dir``, without timestamps."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{stem}.png", out_dir / f"{stem}.svg"]
    with matplotlib.rc_context(STYLE):
        figure.savefig(paths[0], dpi=200, metadata={"Software": None})
        figure.savefig(paths[1], metadata={"Date": None, "Creator": None})
    return paths


def slug(text: str) -> str:
    """A file-name-safe version of ``text``; when characters had to be replaced, a short hash of ``text``
    follows, so that two names that differ only in those characters still get two files."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-.")
    if safe == text:
        return safe
    return f"{safe or 'figure'}-{hashlib.sha256(text.encode('utf-8')).hexdigest()[:6]}"
