"""How much hand-written probes move the measured bias: each probe's gaps against a reference probe's.

The one probe comparison: the study writes it to ``probe_comparison.csv`` and the report derives it with
the same function when a results folder has none.
"""

from __future__ import annotations

import pandas as pd

from promptbias.schema import PROBE_COMPARISON_COLUMNS, PROBE_COMPARISON_KEY


def compare_probes(gaps: pd.DataFrame, accuracy: pd.DataFrame, reference_probe: str) -> pd.DataFrame:
    """One row per (model, dataset, probe, category, group, metric) of every probe but ``reference_probe``:
    its mean gap, the reference probe's, and the change; with the probe's mean test accuracy.

    ``gaps`` has the columns of ``gaps.csv``; ``accuracy`` has model, dataset, probe, test_accuracy.
    Empty when the study has a single probe or the reference probe is absent.
    """
    keys = list(PROBE_COMPARISON_KEY)
    reference = gaps[gaps["probe"] == reference_probe]
    others = gaps[gaps["probe"] != reference_probe]
    if reference.empty or others.empty:
        return pd.DataFrame(columns=list(PROBE_COMPARISON_COLUMNS))
    merged = others.merge(
        reference[[*keys, "gap_mean"]].rename(columns={"gap_mean": "reference_gap_mean"}),
        on=keys,
        how="inner",
    )
    merged["reference_probe"] = reference_probe
    merged["gap_change"] = merged["gap_mean"] - merged["reference_gap_mean"]
    mean_accuracy = accuracy.groupby(["model", "dataset", "probe"], as_index=False)["test_accuracy"].mean()
    merged = merged.merge(mean_accuracy, on=["model", "dataset", "probe"], how="left")
    ordered = merged[list(PROBE_COMPARISON_COLUMNS)]
    return ordered.sort_values(["model", "dataset", "probe", "category", "group", "metric"]).reset_index(
        drop=True
    )


def largest_changes(comparison: pd.DataFrame, count: int = 10) -> pd.DataFrame:
    """The ``count`` rows whose gap moved most between a probe and the reference probe."""
    if comparison.empty:
        return comparison
    order = comparison["gap_change"].abs().sort_values(ascending=False).index[:count]
    return comparison.loc[order].reset_index(drop=True)
