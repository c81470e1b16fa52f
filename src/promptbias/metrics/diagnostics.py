"""Warnings about metrics that rest on too little: small denominators, degenerate classifiers, 0/0 rates."""

from __future__ import annotations

import pandas as pd

from promptbias.labels import LABELS
from promptbias.metrics.metric_table import CLASS_RATES, MIN_DENOMINATOR
from promptbias.schema import GROUP_KEY, RUN_KEY

MIN_PREDICTION_SHARE = 0.01
WARNING_COLUMNS = (*GROUP_KEY, "kind", "label", "value", "message")


def small_denominators(group_metrics: pd.DataFrame, minimum: int = MIN_DENOMINATOR) -> pd.DataFrame:
    """One warning per run, group and class whose TPR/FNR (sentences truly c) or FPR/TNR (sentences not c)
    denominator is below ``minimum``."""
    parts = []
    for label in LABELS:
        support = group_metrics[f"{label}_support"]
        for rates, denominator in (("TPR/FNR", support), ("FPR/TNR", group_metrics["n"] - support)):
            rows = group_metrics.loc[denominator < minimum, list(GROUP_KEY)].assign(
                kind="small_denominator", label=label, value=denominator[denominator < minimum]
            )
            rows["message"] = [
                f"{category}/{group}: {label} {rates} rest on {int(value)} sentences (< {minimum})"
                for category, group, value in zip(rows["category"], rows["group"], rows["value"], strict=True)
            ]
            parts.append(rows)
    return pd.concat(parts, ignore_index=True)


def degenerate_classifiers(overall: pd.DataFrame, minimum: float = MIN_PREDICTION_SHARE) -> pd.DataFrame:
    """One warning per run and class that the run predicts for fewer than ``minimum`` of its sentences."""
    parts = []
    for label in LABELS:
        share = overall[f"{label}_pred_rate"]
        rows = overall.loc[share < minimum, list(RUN_KEY)].assign(
            category="", group="", kind="degenerate_classifier", label=label, value=share[share < minimum]
        )
        rows["message"] = [
            f"{model} ({dataset}, {probe}, run {run_id}) predicts {label} for {value:.2%} of sentences "
            f"(< {minimum:.0%})"
            for model, dataset, probe, run_id, value in zip(
                rows["model"], rows["dataset"], rows["probe"], rows["run_id"], rows["value"], strict=True
            )
        ]
        parts.append(rows)
    return pd.concat(parts, ignore_index=True)


def warning_table(group_metrics: pd.DataFrame, overall: pd.DataFrame) -> pd.DataFrame:
    """All warnings, degenerate classifiers first, in a stable order."""
    table = pd.concat([degenerate_classifiers(overall), small_denominators(group_metrics)], ignore_index=True)
    table = table.sort_values(["kind", *GROUP_KEY, "label", "message"], kind="stable")
    return table[list(WARNING_COLUMNS)].reset_index(drop=True)


def nan_rate_counts(group_metrics: pd.DataFrame) -> dict[str, int]:
    """How many per-group values are NaN (a 0/0 rate), per column, leaving out columns with none."""
    columns = ["accuracy", "macro_f1", *(f"{label}_{rate}" for label in LABELS for rate in CLASS_RATES)]
    counts = group_metrics[columns].isna().sum()
    return {column: int(count) for column, count in counts.items() if count > 0}


def warning_messages(warnings: pd.DataFrame, nan_counts: dict[str, int]) -> list[str]:
    """The warnings for people: degenerate runs one by one, small denominators once per group and class."""
    messages = list(warnings.loc[warnings["kind"] == "degenerate_classifier", "message"])
    small = warnings[warnings["kind"] == "small_denominator"]
    for (category, group), rows in small.groupby(["category", "group"], sort=True):
        labels = ", ".join(label for label in LABELS if label in set(rows["label"]))
        n_runs = rows[list(RUN_KEY)].drop_duplicates().shape[0]
        messages.append(
            f"{category}/{group}: one-vs-rest rates of {labels} rest on as few as {int(rows['value'].min())} "
            f"sentences (< {MIN_DENOMINATOR}) in {n_runs} run(s)"
        )
    if nan_counts:
        total = sum(nan_counts.values())
        messages.append(
            f"{total} per-group values are undefined (0/0) and left as NaN; see group_metrics.csv"
        )
    return messages
