"""What each section of the page shows, as plain frames and dicts built from a :class:`StudyResults`.

Nothing here formats HTML: the page template escapes and formats; these functions only choose and order.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import pandas as pd

from promptbias.labels import LABELS
from promptbias.metrics.probe_comparison import largest_differences
from promptbias.report.results import StudyResults
from promptbias.schema import RUN_KEY

# A probe within CHANCE_MARGIN of the majority-class rate is "barely better than chance"; a class predicted
# for fewer than RARE_CLASS_SHARE of the sentences is "almost never predicted".
CHANCE_MARGIN = 0.05
RARE_CLASS_SHARE = 0.02
CHART_METRICS = ("negative_FPR", "positive_FPR", "neutral_FPR", "negative_TPR", "positive_TPR", "neutral_TPR")
OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#56B4E9", "#CC79A7", "#F0E442", "#000000")
CONFIG_KEYS = ("model", "dataset", "probe")
MARKEDNESS_NOTE = (
    "{group} is the unmarked default group of {category}: text rarely names it, so a sentence that does is "
    "unusual wording for it, and its gap may come from markedness rather than from how it is treated "
    "(Kohankhaki et al. 2024)."
)


def model_order(study: StudyResults) -> list[str]:
    """Models by size (unknown sizes last), then by name: the order of colours and columns everywhere."""
    models = sorted(set(study.gaps["model"]) | set(study.runs["model"]))
    sizes = study.runs.groupby("model")["num_params"].first().map(params_count).to_dict()
    return sorted(
        models, key=lambda name: (math.isnan(sizes.get(name, math.nan)), sizes.get(name, 0.0), name)
    )


def model_colours(models: list[str]) -> dict[str, str]:
    return {model: OKABE_ITO[index % len(OKABE_ITO)] for index, model in enumerate(models)}


def params_count(value: object) -> float:
    """A parameter count from ``num_params``: raw counts stay, small numbers are billions (6.7 -> 6.7e9)."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan
    if math.isnan(number) or number <= 0:
        return math.nan
    return number if number >= 1e4 else number * 1e9


def format_size(value: object) -> str:
    count = params_count(value)
    if math.isnan(count):
        return "size unknown"
    for unit, scale in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if count >= scale:
            return f"{count / scale:.3g}{unit}"
    return f"{count:.0f}"


def chart_metrics(gaps: pd.DataFrame) -> list[str]:
    """The metrics the charts offer: class FPR/TPR first, accuracy, then any others the gaps table has."""
    present = list(dict.fromkeys(gaps["metric"]))
    preferred = [metric for metric in (*CHART_METRICS, "accuracy") if metric in present]
    return preferred + [metric for metric in present if metric not in preferred]


def metric_label(metric: str) -> str:
    return metric.replace("_", " ")


def overview(study: StudyResults, models: list[str]) -> dict[str, Any]:
    """The study at a glance: models with sizes, training sets, probes, seeds and runs."""
    runs = study.runs
    sizes = runs.groupby("model")["num_params"].first().to_dict()
    probe_kinds = runs.groupby("probe")["probe_kind"].first().to_dict() if "probe_kind" in runs else {}
    seeds = sorted({_text(seed) for seed in runs.get("seed", pd.Series(dtype=object)).dropna()}, key=_natural)
    return {
        "models": [{"name": model, "size": format_size(sizes.get(model))} for model in models],
        "datasets": sorted(set(runs["dataset"])),
        "probes": [
            {"name": probe, "kind": _text(probe_kinds.get(probe))} for probe in sorted(set(runs["probe"]))
        ],
        "seeds": seeds,
        "run_ids": sorted(set(runs["run_id"]), key=_natural),
        "attributes": sorted(set(study.gaps["category"])),
        "n_groups": int(study.gaps[["category", "group"]].drop_duplicates().shape[0]),
        "scope": runs["scope"].iloc[0] if len(runs) else "suite",
        "macro_f1_is_group_mean": bool((study.suite.get("macro_f1_kind") == "group mean").any()),
    }


def run_rows(study: StudyResults, models: list[str]) -> list[dict[str, Any]]:
    """Accuracy and macro-F1 per run, models in ``models`` order."""
    rows = [
        {
            **{key: row[key] for key in RUN_KEY},
            "seed": _text(row.get("seed")),
            "accuracy": row["accuracy"],
            "macro_f1": row["macro_f1"],
            "n": row.get("n"),
            "suite_accuracy": row.get("suite_accuracy"),
        }
        for _, row in study.runs.iterrows()
    ]
    rank = {model: index for index, model in enumerate(models)}
    return sorted(rows, key=lambda r: (rank[r["model"]], r["dataset"], r["probe"], _natural(r["run_id"])))


def warnings(study: StudyResults) -> list[str]:
    """Probes barely better than chance and classes almost never predicted (on the test split and on the
    suite), as sentences for people."""
    messages = []
    runs = study.runs
    chance = runs.get("majority_share", pd.Series(np.nan, index=runs.index)).fillna(1 / len(LABELS))
    runs = runs.assign(chance=chance.clip(lower=1 / len(LABELS)))
    scope = "test accuracy" if (runs["scope"] == "test").all() else "suite accuracy"
    for _, row in runs[runs["accuracy"] < runs["chance"] + CHANCE_MARGIN].iterrows():
        messages.append(
            f"{row['model']} / {row['dataset']} / {row['probe']} / {row['run_id']}: {scope} "
            f"{row['accuracy']:.3f} is barely above chance ({row['chance']:.3f}, always predicting the most "
            f"frequent class); its gaps mostly measure noise."
        )
    if scope == "test accuracy":
        messages += _rare_class_warnings(runs, "test split")
    messages += _rare_class_warnings(study.suite, "bias suite")
    return list(dict.fromkeys(messages))


def run_selection(study: StudyResults) -> dict[str, Any]:
    """Which runs the verdicts read (the rule, in words) and the runs left out, each with why and its accuracy."""
    rule = study.summary.get("run_selection") or {}
    parts = ["every run" if rule.get("keep_failed") else "every run whose soft prompt learned"]
    if rule.get("best"):
        parts.append(f"only the best {rule['best']} of each model x training set x probe by dev accuracy")
    left_out = [
        f"{run['run_id']} ({run.get('model')} / {run.get('probe')}, test accuracy "
        f"{_accuracy(run.get('test_accuracy'))}): {run['reason']}"
        for run in study.summary.get("excluded_runs") or []
    ]
    return {"rule": "; ".join(parts), "left_out": left_out}


def _accuracy(value: object) -> str:
    return "n/a" if value is None else f"{float(value):.3f}"


def stage_warnings(study: StudyResults) -> list[str]:
    """The metrics stage's own warnings (small denominators, 0/0 rates, degenerate runs)."""
    return list(dict.fromkeys(_text(item) for item in study.summary.get("warnings") or []))


def _rare_class_warnings(runs: pd.DataFrame, where: str) -> list[str]:
    messages = []
    per_config = runs.groupby(list(CONFIG_KEYS), sort=True)
    for label in LABELS:
        column = f"{label}_pred_share"
        if column not in runs.columns:
            continue
        shares = per_config[column].mean()
        for (model, dataset, probe), share in shares[shares < RARE_CLASS_SHARE].items():
            messages.append(
                f"{model} / {dataset} / {probe}: '{label}' is predicted for only {share:.1%} of the {where} "
                f"sentences; its FPR/TPR gaps rest on very few predictions."
            )
    return messages


def chart_data(study: StudyResults, models: list[str]) -> dict[str, Any]:
    """The data of the per-attribute charts: per attribute, per (dataset, probe), per model, per metric."""
    gaps = study.gaps
    sizes = group_sizes(study.group_metrics)
    colours = model_colours(models)
    metrics = chart_metrics(gaps)
    attributes = []
    for index, (category, frame) in enumerate(gaps.groupby("category", sort=True)):
        groups = sorted(set(frame["group"]))
        series = []
        for (dataset, probe, model), part in frame.groupby(["dataset", "probe", "model"], sort=True):
            indexed = part.set_index(["metric", "group"])
            points = {metric: [_point(indexed, metric, group) for group in groups] for metric in metrics}
            series.append(
                {
                    "model": model,
                    "dataset": dataset,
                    "probe": probe,
                    "colour": colours[model],
                    "points": points,
                }
            )
        series.sort(key=lambda item: (item["dataset"], item["probe"], models.index(item["model"])))
        attributes.append(
            {
                "id": f"attribute-{index}",
                "category": category,
                "groups": groups,
                "sizes": [sizes.get((category, group)) for group in groups],
                "series": series,
            }
        )
    return {
        "metrics": [{"id": metric, "label": metric_label(metric)} for metric in metrics],
        "configs": sorted({f"{s['dataset']} / {s['probe']}" for a in attributes for s in a["series"]}),
        "attributes": attributes,
    }


def _point(indexed: pd.DataFrame, metric: str, group: str) -> list[Any] | None:
    """[gap, ci_low, ci_high, significant, p_adjusted, n_runs] with None for missing numbers."""
    if (metric, group) not in indexed.index:
        return None
    row = indexed.loc[(metric, group)]
    row = row.iloc[0] if isinstance(row, pd.DataFrame) else row
    return [
        _number(row["gap_mean"]),
        _number(row["ci_low"]),
        _number(row["ci_high"]),
        bool(row["significant"]),
        _number(row["p_adjusted"]),
        _number(row["n_runs"]),
    ]


def group_sizes(group_metrics: pd.DataFrame) -> dict[tuple[str, str], int]:
    """Sentences per (category, group): the largest n any run saw (runs score the same suite)."""
    sizes = group_metrics.groupby(["category", "group"])["n"].max()
    return {key: int(value) for key, value in sizes.items() if not math.isnan(value)}


def top_gaps(study: StudyResults, models: list[str], limit: int = 100, fallback: int = 20) -> dict[str, Any]:
    """The largest significant gaps by absolute size (at most ``limit``) and how many are significant; when
    none is, the ``fallback`` largest gaps regardless of significance."""
    gaps = study.gaps.assign(_size=study.gaps["gap_mean"].abs())
    significant = gaps[gaps["significant"]]
    chosen = (significant if len(significant) else gaps.dropna(subset=["gap_mean"])).sort_values(
        ["_size", "model", "category", "group", "metric"], ascending=False
    )
    sizes = group_sizes(study.group_metrics)
    colours = model_colours(models)
    rows = [
        {
            **{key: row[key] for key in (*CONFIG_KEYS, "category", "group")},
            "metric": metric_label(row["metric"]),
            "n": sizes.get((row["category"], row["group"])),
            "n_runs": row["n_runs"],
            "gap": row["gap_mean"],
            "ci_low": row["ci_low"],
            "ci_high": row["ci_high"],
            "p_adjusted": row["p_adjusted"],
            "significant": bool(row["significant"]),
            "min_detectable_gap": row["min_detectable_gap"],
            "note": markedness_note(row),
            "colour": colours.get(row["model"]),
        }
        for _, row in chosen.head(limit if len(significant) else fallback).iterrows()
    ]
    return {"rows": rows, "n_significant": len(significant)}


def markedness_note(row: pd.Series) -> str:
    """The markedness note for a significant gap of an unmarked default group, else nothing."""
    if row["significant"] and row["default_group"]:
        return MARKEDNESS_NOTE.format(group=row["group"], category=row["category"])
    return ""


def verdicts(study: StudyResults, models: list[str]) -> list[dict[str, Any]]:
    """Per model, training set, probe and attribute: significant gaps, the largest gap, the gap the design
    would detect with 80% power (median over the attribute's gap rows, and the largest), and the wording
    baseline beside them (the size of gaps between two halves of one group's terms)."""
    gaps = study.gaps.assign(_size=study.gaps["gap_mean"].abs())
    wording = study.wording_gaps
    rows = []
    keys = [*CONFIG_KEYS, "category"]
    for key, frame in gaps.groupby(keys, sort=True):
        if key[0] not in models:
            continue
        words = None
        if wording is not None and not wording.empty:
            inside = (wording[keys] == pd.Series(key, index=keys)).all(axis=1)
            words = wording[inside]
        detectable = frame["min_detectable_gap"].dropna()
        tested = frame["p_value"].notna() if "p_value" in frame else frame["min_detectable_gap"].notna()
        undetectable = int((tested & frame["min_detectable_gap"].isna()).sum())
        flagged_defaults = sorted(set(frame.loc[frame["significant"] & frame["default_group"], "group"]))
        rows.append(
            {
                **dict(zip(keys, key, strict=True)),
                "n_groups": frame["group"].nunique(),
                "n_significant": int(frame["significant"].sum()),
                "largest_gap": frame["_size"].max(),
                "median_gap": frame["_size"].median(),
                "detectable_median": detectable.median() if len(detectable) else None,
                "detectable_max": detectable.max() if len(detectable) else None,
                "wording_median": words["gap_mean"].abs().median()
                if words is not None and len(words)
                else None,
                "wording_max": words["gap_mean"].abs().max() if words is not None and len(words) else None,
                "wording_significant": int(words["significant"].sum()) if words is not None else None,
                "wording_groups": words["group"].nunique() if words is not None else 0,
                "flagged_defaults": flagged_defaults,
                "n_tested": int(tested.sum()),
                "undetectable": undetectable,
                "scope": frame["scope"].iloc[0]
                if "scope" in frame and frame["scope"].notna().any()
                else None,
                "null": frame["null"].iloc[0] if "null" in frame and frame["null"].notna().any() else None,
                "n_templates": int(frame["n_templates"].max()) if "n_templates" in frame else None,
                "templates_for_tenth": templates_for(frame, undetectable),
            }
        )
    return rows


def templates_for(frame: pd.DataFrame, undetectable: int, size: float = 0.1) -> int | None:
    """About how many templates an attribute needs for its largest minimum detectable gap to come down to
    ``size`` (the noise of a mean over templates falls as 1 / sqrt(templates)); a gap the design cannot
    detect counts as its metric's reach, (k - 1) / k, so the answer is then a lower bound. None when the
    design already detects ``size``."""
    if "n_templates" not in frame or frame["n_templates"].isna().all():
        return None
    groups = frame["group"].nunique()
    largest = frame["min_detectable_gap"].max()  # NaN when no gap of the attribute is detectable
    if undetectable:
        largest = max(0.0 if pd.isna(largest) else largest, (groups - 1) / groups)
    if pd.isna(largest) or largest <= size:
        return None
    return math.ceil(float(frame["n_templates"].max()) * (largest / size) ** 2)


def flip_evidence(
    study: StudyResults, n_groups: int = 6, n_templates: int = 2, max_rows: int = 40
) -> list[dict[str, Any]]:
    """The groups with the highest mean flip rate, each with a few templates: one sentence per group and
    the prediction it got (from one run, the first that has examples for that group)."""
    if study.flip_rates is None or study.flip_rates.empty:
        return []
    keys = [*CONFIG_KEYS, "category", "group"]
    rates = study.flip_rates.groupby(keys, sort=True).agg(
        flip_rate=("flip_rate", "mean"), n_templates=("n_templates", "max"), n_runs=("run_id", "nunique")
    )
    rates = rates.reset_index().sort_values(["flip_rate", *keys], ascending=[False, *[True] * len(keys)])
    examples = study.flip_examples if study.flip_examples is not None else pd.DataFrame()
    evidence = []
    for _, top in rates.head(n_groups).iterrows():
        evidence.append({**top.to_dict(), "templates": _templates_for(examples, top, n_templates, max_rows)})
    return evidence


def _templates_for(examples: pd.DataFrame, top: pd.Series, n_templates: int, max_rows: int) -> list[dict]:
    """Saved templates of ``top``'s attribute, those where ``top``'s group flipped first, from one run."""
    if examples.empty:
        return []
    mask = np.ones(len(examples), dtype=bool)
    for key in (*CONFIG_KEYS, "category"):
        mask &= (examples[key] == top[key]).to_numpy()
    same = examples[mask].assign(_flipped=lambda frame: is_flip(frame))
    if same.empty:
        return []
    focus = same[same["group"] == top["group"]]
    flipped, tied = focus[focus["_flipped"]], focus[focus["majority_pred"] == ""]
    chosen = flipped if len(flipped) else tied if len(tied) else same
    run_id = sorted(set(chosen["run_id"]), key=_natural)[0]
    template_ids = list(dict.fromkeys(chosen[chosen["run_id"] == run_id]["template_id"]))[:n_templates]
    templates = []
    for template_id in template_ids:
        rows = same[(same["run_id"] == run_id) & (same["template_id"] == template_id)].sort_values("group")
        templates.append(
            {
                "template_id": template_id,
                "run_id": run_id,
                "y_true": rows["y_true"].iloc[0],
                "majority_pred": rows["majority_pred"].iloc[0],
                "focus_present": bool((rows["group"] == top["group"]).any()),
                "focus_flipped": bool(rows.loc[rows["group"] == top["group"], "_flipped"].any()),
                "n_rows": len(rows),
                "rows": [
                    {
                        "group": row["group"],
                        "text": row["text"],
                        "y_pred": row["y_pred"],
                        "flipped": bool(row["_flipped"]),
                        "focus": row["group"] == top["group"],
                    }
                    for _, row in _focus_first(rows, top["group"], max_rows).iterrows()
                ],
            }
        )
    return templates


def is_flip(examples: pd.DataFrame) -> pd.Series:
    """A sentence whose prediction differs from its template's most common one (a tie has none: no flip)."""
    return (examples["majority_pred"] != "") & (examples["y_pred"] != examples["majority_pred"])


def _focus_first(rows: pd.DataFrame, group: str, max_rows: int) -> pd.DataFrame:
    """At most ``max_rows`` rows: the focus group, then flipped rows, then the rest, each in group order."""
    rank = np.where(rows["group"] == group, 0, np.where(rows["_flipped"], 1, 2))
    kept = rows.assign(_rank=rank).sort_values(["_rank", "group"], kind="stable").head(max_rows)
    return kept.sort_values("group", kind="stable").drop(columns="_rank")


def probe_comparison(study: StudyResults, limit: int = 15) -> dict[str, Any] | None:
    """Per probe against the reference probe: accuracy, differences tested and significant; and the
    significant differences, largest first, with their intervals. None with a single probe."""
    table = study.probe_differences
    if table is None or table.empty:
        return None
    keys = ["model", "dataset", "probe", "reference_probe"]
    summary = table.groupby(keys, sort=True).agg(
        n_tested=("p_value", "count"),
        n_significant=("significant", "sum"),
    )
    accuracy = _mean_accuracy(study.runs)
    largest = largest_differences(table, limit)
    return {
        "summary": [
            {
                **dict(zip(keys, key, strict=True)),
                **row.to_dict(),
                "test_accuracy": accuracy.get((key[0], key[1], key[2])),
                "reference_accuracy": accuracy.get((key[0], key[1], key[3])),
            }
            for key, row in summary.iterrows()
        ],
        "largest": [
            {
                **{k: row[k] for k in (*keys, "category", "group")},
                "metric": metric_label(row["metric"]),
                **{k: row[k] for k in ("gap_mean", "reference_gap_mean", "difference", "ci_low", "ci_high")},
                "p_adjusted": row["p_adjusted"],
            }
            for _, row in largest.iterrows()
        ],
    }


def model_comparison(study: StudyResults, models: list[str]) -> list[dict[str, Any]]:
    """Per training set and probe with two or more models: per attribute, each model's flagged gaps and mean
    |gap|, and whether the paired test finds the models' gaps different;
    each model's accuracy beside it. Empty for one model."""
    summary, differences = study.model_summary, study.model_differences
    if summary is None or summary.empty or differences is None:
        return []
    accuracy = _mean_accuracy(study.runs)
    configs = []
    for (dataset, probe), part in summary.groupby(["dataset", "probe"], sort=True):
        present = [model for model in models if model in set(part["model"])]
        if len(present) < 2:
            continue
        tested = differences[(differences["dataset"] == dataset) & (differences["probe"] == probe)]
        attributes = []
        for category in sorted(set(part["category"]), key=_natural):
            cells = part[part["category"] == category].set_index("model")
            found = tested[(tested["category"] == category) & tested["significant"]]
            largest = found.loc[found["difference"].abs().idxmax()] if not found.empty else None
            attributes.append(
                {
                    "category": category,
                    "cells": [_summary_cell(cells, model) for model in present],
                    "n_different": len(found),
                    "n_tested": int((tested["category"] == category).sum()),
                    "largest": None if largest is None else _difference_row(largest),
                }
            )
        configs.append(
            {
                "dataset": dataset,
                "probe": probe,
                "models": present,
                "accuracy": [accuracy.get((model, dataset, probe)) for model in present],
                "attributes": attributes,
            }
        )
    return configs


def _summary_cell(cells: pd.DataFrame, model: str) -> dict[str, Any] | None:
    if model not in cells.index:
        return None
    row = cells.loc[model]
    return {
        "n_significant": _number(row["n_significant"]),
        "n_gaps": _number(row["n_gaps"]),
        "mean_abs_gap": _number(row["mean_abs_gap"]),
    }


def _difference_row(row: pd.Series) -> dict[str, Any]:
    return {
        "models": f"{row['model_a']} \u2212 {row['model_b']}",
        "group": _text(row["group"]),
        "metric": _text(row["metric"]),
        "difference": _number(row["difference"]),
        "p_adjusted": _number(row["p_adjusted"]),
    }


def _mean_accuracy(runs: pd.DataFrame) -> dict[tuple[str, str, str], float]:
    return runs.groupby(list(CONFIG_KEYS))["accuracy"].mean().to_dict()


SCOPE_WORDS = {
    "model": "the model: the runs' prompts taken as a sample of prompts (a gap must exceed the spread "
    "between prompts as well as the sentences' noise)",
    "prompts": "these prompts: the runs held fixed (a gap one prompt happens to make counts)",
}


def method(study: StudyResults) -> dict[str, str]:
    """The test, the interval method and the multiple-testing correction, as the metrics stage recorded them."""
    summary = study.summary
    found = {}
    interval = summary.get("interval")
    if isinstance(interval, dict) and interval.get("method"):
        level = _number(interval.get("level"))
        if interval["method"] == "permutation":
            found["test"] = (
                f"permutation of groups within templates, {interval.get('n_permutations')} permutations"
            )
        found["interval"] = f"{interval.get('interval') or interval['method']}" + (
            f", {level:.0%}" if level is not None else ""
        )
        if interval.get("n_boot"):
            found["interval"] += f", {interval['n_boot']} resamples"
    elif interval:
        found["interval"] = _text(interval)
    if summary.get("scope"):
        found["scope"] = SCOPE_WORDS.get(summary["scope"], _text(summary["scope"]))
    if summary.get("correction"):
        found["correction"] = _text(summary["correction"])
    if summary.get("alpha") is not None:
        found["significance level"] = _text(summary["alpha"])
    return found


def _number(value: object) -> float | None:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) or math.isinf(number) else number


def _text(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _natural(value: object) -> list[Any]:
    """Sort key that puts run_2 before run_10 (text and digit runs alternate, so items always compare)."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", str(value))]
