"""The probe comparison against hand-computed changes."""

from __future__ import annotations

import pandas as pd
import pytest

from promptbias.metrics.probe_comparison import compare_probes, largest_changes
from promptbias.schema import PROBE_COMPARISON_COLUMNS


def gaps_row(probe: str, group: str, gap: float) -> dict[str, object]:
    return {"model": "m", "dataset": "sst5", "probe": probe, "category": "age", "group": group,
            "metric": "positive_FPR", "gap_mean": gap}  # fmt: skip


def test_changes_are_probe_gap_minus_soft_prompt_gap():
    gaps = pd.DataFrame(
        [gaps_row("soft_prompt", "old", 0.10), gaps_row("soft_prompt", "young", -0.10),
         gaps_row("zero_shot", "old", -0.05), gaps_row("zero_shot", "young", 0.05)]
    )  # fmt: skip
    accuracy = pd.DataFrame(
        {"model": "m", "dataset": "sst5", "probe": ["soft_prompt", "soft_prompt", "zero_shot"],
         "test_accuracy": [0.70, 0.74, 0.68]}
    )  # fmt: skip
    table = compare_probes(gaps, accuracy, "soft_prompt")
    assert list(table.columns) == list(PROBE_COMPARISON_COLUMNS)
    assert list(table["group"]) == ["old", "young"]
    assert table["gap_change"].tolist() == pytest.approx([-0.15, 0.15])
    assert table["reference_gap_mean"].tolist() == pytest.approx([0.10, -0.10])
    assert table["test_accuracy"].tolist() == pytest.approx([0.68, 0.68])
    assert largest_changes(table, 1)["gap_change"].abs().tolist() == pytest.approx([0.15])


def test_a_single_probe_gives_an_empty_table():
    gaps = pd.DataFrame([gaps_row("soft_prompt", "old", 0.1), gaps_row("soft_prompt", "young", -0.1)])
    accuracy = pd.DataFrame(
        {"model": ["m"], "dataset": ["sst5"], "probe": ["soft_prompt"], "test_accuracy": [0.7]}
    )
    assert compare_probes(gaps, accuracy, "soft_prompt").empty
