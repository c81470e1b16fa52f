"""Reading what a report shows: a results folder of ``promptbias run`` or a bare metrics folder.

A results folder has ``study.json``, ``environment.json``, ``command.txt``, ``units/<id>/`` (``unit.json``,
``evaluation.json``) and ``metrics/``; a metrics folder has ``group_metrics.csv``, ``gaps.csv`` and
``summary.json`` (the flip tables are optional). Text columns stay text (a group called ``NA`` is a group,
not a missing value); every other column of a metrics table is read as a number.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from promptbias.errors import InputError
from promptbias.labels import LABELS
from promptbias.metrics.counterfactual import EXAMPLE_COLUMNS
from promptbias.schema import GAP_KEY, RUN_KEY
from promptbias.store import is_complete

# The columns the report reads from each file (the files written by this version have more).
GROUP_METRICS_NEEDED = (*RUN_KEY, "category", "group", "n", "accuracy", "macro_f1")
GAPS_NEEDED = (*GAP_KEY, "n_runs", "gap_mean", "ci_low", "ci_high", "p_adjusted", "significant")
OVERALL_NEEDED = (*RUN_KEY, "n", "accuracy", "macro_f1")
FLIP_RATES_NEEDED = (*RUN_KEY, "category", "group", "flip_rate", "n_templates")
WORDING_NEEDED = (*GAP_KEY, "gap_mean", "significant")
MODEL_DIFFERENCES_NEEDED = (
    "dataset", "probe", "model_a", "model_b", "category", "group", "metric", "difference", "p_adjusted",
    "significant",
)  # fmt: skip
PROBE_DIFFERENCES_NEEDED = (
    "model", "dataset", "probe", "reference_probe", "category", "group", "metric", "gap_mean",
    "reference_gap_mean", "difference", "ci_low", "ci_high", "p_value", "p_adjusted", "significant",
)  # fmt: skip
MODEL_SUMMARY_NEEDED = ("model", "dataset", "probe", "category", "n_gaps", "n_significant", "mean_abs_gap")
TEXT_COLUMNS = frozenset(
    {
        "model",
        "dataset",
        "probe",
        "reference_probe",
        "run_id",
        "category",
        "group",
        "metric",
        "template_id",
        "text",
        "method",
        "terms_a",
        "terms_b",
        "model_a",
        "model_b",
        "scope",
    }
)
LABEL_COLUMNS = frozenset({"y_true", "y_pred", "majority_pred"})
SHARE_COLUMNS = tuple(f"{label}_pred_share" for label in LABELS)


@dataclass(frozen=True)
class StudyResults:
    """Everything the page and the figures need, as frames and plain values."""

    source: Path
    group_metrics: pd.DataFrame
    gaps: pd.DataFrame
    summary: dict[str, Any]
    runs: pd.DataFrame  # one row per run: RUN_KEY, num_params, probe_kind, seed, accuracy, macro_f1, ...
    suite: pd.DataFrame  # one row per run: accuracy, macro-F1 and class shares over the bias suite
    flip_rates: pd.DataFrame | None
    flip_examples: pd.DataFrame | None
    wording_gaps: pd.DataFrame | None
    model_differences: pd.DataFrame | None  # two or more models: the paired test of their gaps
    model_summary: pd.DataFrame | None
    probe_differences: pd.DataFrame | None  # two or more probes: the paired test against the reference
    config: dict[str, Any] | None
    environment: dict[str, Any] | None
    command: str | None


def load_results(source: Path) -> StudyResults:
    """Read a results folder or a metrics folder; InputError when ``source`` is neither."""
    source = Path(source)
    if not source.is_dir():
        raise InputError(source, "not found or not a folder (expected a results folder or a metrics folder)")
    if _is_metrics_folder(source):
        return _load(source, source, kind="metrics")
    if (source / "study.json").is_file() or (source / "units").is_dir():
        if not _is_metrics_folder(source / "metrics"):
            raise InputError(source, "results folder without metrics (run `promptbias metrics` on it first)")
        return _load(source, source / "metrics", kind="results")
    raise InputError(source, "neither a results folder (study.json, units/) nor a metrics folder (gaps.csv)")


def _is_metrics_folder(folder: Path) -> bool:
    return (folder / "gaps.csv").is_file() and (folder / "group_metrics.csv").is_file()


def _load(source: Path, metrics: Path, kind: str) -> StudyResults:
    group_metrics = read_csv(metrics / "group_metrics.csv", GROUP_METRICS_NEEDED)
    gaps = read_csv(metrics / "gaps.csv", GAPS_NEEDED)
    gaps["significant"] = gaps["significant"].map(_truthy)
    gaps["default_group"] = gaps["default_group"].map(_truthy) if "default_group" in gaps else False
    if "min_detectable_gap" not in gaps:
        gaps["min_detectable_gap"] = np.nan
    wording = read_optional_csv(metrics / "wording_gaps.csv", WORDING_NEEDED)
    if wording is not None:
        wording["significant"] = wording["significant"].map(_truthy)
    differences = read_optional_csv(metrics / "model_differences.csv", MODEL_DIFFERENCES_NEEDED)
    if differences is not None:
        differences["significant"] = differences["significant"].map(_truthy)
    probes = read_optional_csv(metrics / "probe_differences.csv", PROBE_DIFFERENCES_NEEDED)
    if probes is not None:
        probes["significant"] = probes["significant"].map(_truthy)
    summary = read_json(metrics / "summary.json") or {}
    units = read_units(source / "units") if kind == "results" else None
    suite = suite_table(read_optional_csv(metrics / "overall.csv", OVERALL_NEEDED), group_metrics)
    return StudyResults(
        source=source,
        group_metrics=group_metrics,
        gaps=gaps,
        summary=summary,
        runs=run_table(units, suite, model_sizes(summary, gaps, group_metrics)),
        suite=suite,
        flip_rates=read_optional_csv(metrics / "flip_rates.csv", FLIP_RATES_NEEDED),
        flip_examples=read_optional_csv(metrics / "flip_examples.csv", EXAMPLE_COLUMNS),
        wording_gaps=wording,
        model_differences=differences,
        model_summary=read_optional_csv(metrics / "model_summary.csv", MODEL_SUMMARY_NEEDED),
        probe_differences=probes,
        config=read_json(source / "study.json") if kind == "results" else None,
        environment=read_json(source / "environment.json") if kind == "results" else None,
        command=_read_command(source / "command.txt") if kind == "results" else None,
    )


def read_csv(path: Path, required: tuple[str, ...]) -> pd.DataFrame:
    """A metrics table: text columns as text, label columns as names, every other column as numbers."""
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        raise InputError(path, f"cannot be read as CSV ({str(error).splitlines()[0]})") from None
    missing = [column for column in required if column not in frame.columns]
    if missing:
        raise InputError(path, f"missing columns: {', '.join(missing)}")
    for column in frame.columns:
        if column in LABEL_COLUMNS:
            frame[column] = frame[column].map(label_name)
        elif column not in TEXT_COLUMNS and column not in ("significant", "default_group"):
            frame[column] = pd.to_numeric(frame[column], errors="coerce")
    return frame


def read_optional_csv(path: Path, required: tuple[str, ...]) -> pd.DataFrame | None:
    return read_csv(path, required) if path.is_file() else None


def read_json(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise InputError(path, f"not valid JSON ({error})") from None
    if not isinstance(value, dict):
        raise InputError(path, "expected a JSON object")
    return value


def _read_command(path: Path) -> str | None:
    return path.read_text(encoding="utf-8").strip() if path.is_file() else None


def _truthy(value: object) -> bool:
    return str(value).strip().lower() in {"true", "1", "1.0", "yes"}


def label_name(value: object) -> str:
    """A label id (``0``, ``1.0``) or name as its name; anything else unchanged."""
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        return text
    return LABELS[int(number)] if number in (0.0, 1.0, 2.0) else text


def read_units(units_dir: Path) -> pd.DataFrame:
    """One row per complete unit: its ``unit.json`` fields plus test accuracy, macro-F1 and class shares."""
    rows = []
    folders = sorted(units_dir.iterdir()) if units_dir.is_dir() else []
    for folder in folders:
        if not folder.is_dir() or not is_complete(folder):
            continue
        unit = read_json(folder / "unit.json") or {}
        evaluation = read_json(folder / "evaluation.json") or {}
        rows.append({**unit, **evaluation_row(evaluation.get("test") or {})})
    return pd.DataFrame(rows)


def evaluation_row(test: dict[str, Any]) -> dict[str, Any]:
    """Test accuracy and macro-F1; class shares from the confusion matrix (rows true, columns predicted)."""
    row: dict[str, Any] = {
        "accuracy": test.get("accuracy"),
        "macro_f1": test.get("macro_f1"),
        "n": test.get("n"),
    }
    confusion = np.asarray(test.get("confusion") or [], dtype=float)
    if confusion.shape == (len(LABELS), len(LABELS)) and confusion.sum() > 0:
        total = confusion.sum()
        row["majority_share"] = confusion.sum(axis=1).max() / total
        for index, label in enumerate(LABELS):
            row[f"{label}_pred_share"] = confusion[:, index].sum() / total
    return row


def run_table(units: pd.DataFrame | None, suite: pd.DataFrame, sizes: dict[str, float]) -> pd.DataFrame:
    """One row per run: test-split accuracy and macro-F1 from the units (``scope`` = test), or, for a bare
    metrics folder, the same over the bias suite (``scope`` = suite). ``suite_accuracy`` is always there."""
    if units is None or units.empty or "run_id" not in units.columns:
        runs = suite.assign(scope="suite")
    else:
        runs = units.copy()
        for column in (*RUN_KEY, "num_params", "probe_kind", "seed"):
            if column not in runs.columns:
                runs[column] = np.nan
        runs[list(RUN_KEY)] = runs[list(RUN_KEY)].astype(str)
        for column in ("accuracy", "macro_f1", "majority_share", *SHARE_COLUMNS):
            runs[column] = pd.to_numeric(runs.get(column), errors="coerce")
        runs["scope"] = "test"
    runs = runs.merge(  # inner: a unit folder left from an earlier plan, not in the metrics, is not shown
        suite[[*RUN_KEY, "accuracy"]].rename(columns={"accuracy": "suite_accuracy"}),
        on=list(RUN_KEY),
        how="inner",
    )
    known = pd.to_numeric(runs.get("num_params", pd.Series(np.nan, index=runs.index)), errors="coerce")
    runs["num_params"] = known.fillna(runs["model"].map(sizes))
    return runs.sort_values(list(RUN_KEY)).reset_index(drop=True)


def suite_table(overall: pd.DataFrame | None, group_metrics: pd.DataFrame) -> pd.DataFrame:
    """Per run over the whole bias suite: n, accuracy, macro-F1 and the share of sentences predicted as each
    class. From the metrics stage's ``overall.csv`` when there is one; else from the per-group table, where
    the accuracy weighted by group size is exact and macro-F1 is the mean over groups (``macro_f1_kind``)."""
    if overall is not None:
        renamed = overall.rename(columns={f"{label}_pred_rate": f"{label}_pred_share" for label in LABELS})
        return renamed.assign(macro_f1_kind="suite")
    frame = group_metrics.assign(_n=group_metrics["n"].fillna(0))
    frame["_correct"] = frame["accuracy"] * frame["_n"]
    labels = [label for label in LABELS if f"{label}_pred_rate" in frame.columns]
    for label in labels:
        frame[f"_{label}"] = frame[f"{label}_pred_rate"] * frame["_n"]
    grouped = frame.groupby(list(RUN_KEY), sort=True)
    table = pd.DataFrame({"n": grouped["_n"].sum()})
    table["accuracy"] = grouped["_correct"].sum() / table["n"]
    table["macro_f1"] = grouped["macro_f1"].mean()
    for label in labels:
        table[f"{label}_pred_share"] = grouped[f"_{label}"].sum() / table["n"]
    return table.reset_index().assign(macro_f1_kind="group mean")


def model_sizes(summary: dict[str, Any], *tables: pd.DataFrame) -> dict[str, float]:
    """Model sizes (``num_params``) from the tables that have the column, else from the summary's runs."""
    sizes: dict[str, float] = {}
    runs = summary.get("runs")
    for entry in runs if isinstance(runs, list) else []:
        if isinstance(entry, dict) and "model" in entry:
            sizes[str(entry["model"])] = pd.to_numeric(entry.get("num_params"), errors="coerce")
    for table in tables:
        if "num_params" in table.columns:
            sizes.update(table.groupby("model")["num_params"].max().dropna().to_dict())
    return {model: size for model, size in sizes.items() if not pd.isna(size)}
