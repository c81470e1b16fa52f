"""The generalized metrics of Czarnowska et al. on a three-group table worked out by hand."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from promptbias.metrics import compute_metrics


def table() -> pd.DataFrame:
    """Positive-class false positives among negative sentences: a 1/4, b 2/4, c 3/8 (c has 8 negatives).

    Every group also has two positive sentences predicted positive, so pooled: 6 / 16 negatives.
    """
    design = {"a": (1, 4), "b": (2, 4), "c": (3, 8)}
    rows = []
    for group, (false_positives, negatives) in design.items():
        pairs = [(0, 2)] * false_positives + [(0, 0)] * (negatives - false_positives) + [(2, 2)] * 2
        for index, (true, pred) in enumerate(pairs):
            rows.append(
                {
                    "y_true": true,
                    "y_pred": pred,
                    "category": "cat",
                    "group": group,
                    "text": f"{group} {index}",
                    "model": "m",
                    "dataset": "d",
                    "run_id": "r1",
                    "template_id": f"t{index}",
                }
            )
    return pd.DataFrame(rows)


def test_background_comparison_by_hand() -> None:
    groups = compute_metrics(table()).generalized_groups
    fpr = groups[groups["metric"] == "positive_FPR"].set_index("group")
    assert fpr.loc["a", "value"] == pytest.approx(0.25)
    assert fpr.loc["a", "background_all"] == pytest.approx(6 / 16)
    assert fpr.loc["a", "background_others"] == pytest.approx(5 / 12)
    assert fpr.loc["a", "diff_all"] == pytest.approx(6 / 16 - 0.25)
    assert fpr.loc["a", "ratio_all"] == pytest.approx(0.25 / (6 / 16))
    assert fpr.loc["c", "background_others"] == pytest.approx(3 / 8)
    assert fpr.loc["c", "diff_others"] == pytest.approx(0.0)
    assert fpr.loc["b", "ratio_others"] == pytest.approx(0.5 / (4 / 12))


def test_pairwise_comparison_by_hand() -> None:
    result = compute_metrics(table())
    pairs = result.generalized_pairs
    fpr = pairs[pairs["metric"] == "positive_FPR"].set_index(["group_a", "group_b"])
    assert list(fpr.index) == [("a", "b"), ("a", "c"), ("b", "c")]
    assert fpr.loc[("a", "b"), "abs_diff"] == pytest.approx(0.25)
    assert fpr.loc[("a", "c"), "abs_diff"] == pytest.approx(0.125)
    assert fpr.loc[("b", "c"), "ratio"] == pytest.approx(0.5 / 0.375)
    groups = result.generalized_groups
    means = groups[groups["metric"] == "positive_FPR"].set_index("group")["pairwise_mean_diff"]
    assert means["a"] == pytest.approx((0.25 + 0.125) / 2)
    assert means["c"] == pytest.approx((0.125 + 0.125) / 2)


def test_aggregates_by_hand() -> None:
    summary = compute_metrics(table()).generalized_summary
    row = summary[summary["metric"] == "positive_FPR"].iloc[0]
    values = [0.25, 0.5, 0.375]
    mean = sum(values) / 3
    assert row["n_groups"] == 3
    assert row["mcm_range"] == pytest.approx(0.25)
    assert row["mcm_std"] == pytest.approx(math.sqrt(sum((v - mean) ** 2 for v in values) / 3))
    diffs_all = [abs(v - 6 / 16) for v in values]
    assert row["bcm_all_diff_sum"] == pytest.approx(sum(diffs_all))
    assert row["bcm_all_diff_mean"] == pytest.approx(sum(diffs_all) / 3)
    ratios_others = [0.25 / (5 / 12), 0.5 / (4 / 12), 0.375 / (3 / 8)]
    assert row["bcm_others_ratio_sum"] == pytest.approx(sum(ratios_others))
    assert row["pcm_diff_sum"] == pytest.approx(0.5)
    assert row["pcm_diff_mean"] == pytest.approx(0.5 / 3)


def test_undefined_rates_are_left_out() -> None:
    summary = compute_metrics(table()).generalized_summary
    # no sentence is neutral: neutral TPR and FNR are undefined for every group
    row = summary[summary["metric"] == "neutral_TPR"].iloc[0]
    assert row["n_groups"] == 0
    assert math.isnan(row["bcm_all_diff_sum"]) and math.isnan(row["pcm_diff_mean"])
    assert set(summary["metric"]) == {
        f"{label}_{rate}" for label in ("negative", "neutral", "positive") for rate in ("FPR", "FNR", "TPR")
    }
