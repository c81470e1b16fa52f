"""How much hand-written probes move the measured bias: each probe's gaps against the soft prompt's."""

from __future__ import annotations

import pandas as pd

KEYS = ["model", "dataset", "category", "group", "metric"]
COLUMNS = (
    "model", "dataset", "probe", "reference_probe", "test_accuracy",
    "category", "group", "metric", "gap_mean", "reference_gap_mean", "gap_change",
)  # fmt: skip


def compare_probes(gaps: pd.DataFrame, accuracy: pd.DataFrame, reference_probe: str) -> pd.DataFrame:
    """One row per (model, dataset, probe, category, group, metric) of every probe but ``reference_probe``:
    its mean gap, the reference probe's, and the change; with the probe's mean test accuracy.

    ``gaps`` has the columns of ``gaps.csv``; ``accuracy`` has model, dataset, probe, test_accuracy.
    Empty when the study has a single probe or the reference probe is absent.
    """
    reference = gaps[gaps["probe"] == reference_probe]
    others = gaps[gaps["probe"] != reference_probe]
    if reference.empty or others.empty:
        return pd.DataFrame(columns=list(COLUMNS))
    merged = others.merge(
        reference[[*KEYS, "gap_mean"]].rename(columns={"gap_mean": "reference_gap_mean"}),
        on=KEYS,
        how="inner",
    )
    merged["reference_probe"] = reference_probe
    merged["gap_change"] = merged["gap_mean"] - merged["reference_gap_mean"]
    mean_accuracy = accuracy.groupby(["model", "dataset", "probe"], as_index=False)["test_accuracy"].mean()
    merged = merged.merge(mean_accuracy, on=["model", "dataset", "probe"], how="left")
    ordered = merged[list(COLUMNS)].sort_values(["model", "dataset", "probe", "category", "group", "metric"])
    return ordered.reset_index(drop=True)


def largest_changes(comparison: pd.DataFrame, count: int = 10) -> pd.DataFrame:
    """The ``count`` rows whose gap moved most between a probe and the reference probe."""
    if comparison.empty:
        return comparison
    order = comparison["gap_change"].abs().sort_values(ascending=False).index[:count]
    return comparison.loc[order].reset_index(drop=True)
