"""Per-group rates against values computed by hand and against scikit-learn on the same confusion counts."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support

from promptbias.metrics import compute_metrics, gaps, generalized
from promptbias.metrics.metric_table import CELL_COLUMNS, METRICS, Metric, denominators, metric_names, rates


def table(pairs_by_group: dict[str, list[tuple[int, int]]], run_id: str = "r1") -> pd.DataFrame:
    """A predictions frame: one category ``cat``, one template per sentence position, (y_true, y_pred)."""
    rows = []
    for group, pairs in pairs_by_group.items():
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
                    "run_id": run_id,
                    "template_id": f"t{index}",
                }
            )
    return pd.DataFrame(rows)


def group_row(pairs_by_group: dict[str, list[tuple[int, int]]], group: str) -> pd.Series:
    result = compute_metrics(table(pairs_by_group))
    rows = result.group_metrics
    return rows[rows["group"] == group].iloc[0]


# (true, pred): 3 x (0,0), (0,1), 2 x (1,1), (1,2), 2 x (2,2), (2,0): 10 sentences, 7 correct
MIXED = [(0, 0)] * 3 + [(0, 1)] + [(1, 1)] * 2 + [(1, 2)] + [(2, 2)] * 2 + [(2, 0)]
OTHER = [(0, 0), (1, 1), (2, 2)]


def test_rates_by_hand() -> None:
    row = group_row({"a": MIXED, "b": OTHER}, "a")
    assert row["n"] == 10
    assert row["accuracy"] == pytest.approx(0.7)
    # negative: TP 3, FP 1 (2 -> 0), FN 1 (0 -> 1), TN 5
    assert row["negative_support"] == 4
    assert row["negative_FPR"] == pytest.approx(1 / 6)
    assert row["negative_TNR"] == pytest.approx(5 / 6)
    assert row["negative_TPR"] == pytest.approx(3 / 4)
    assert row["negative_FNR"] == pytest.approx(1 / 4)
    assert row["negative_precision"] == pytest.approx(3 / 4)
    assert row["negative_F1"] == pytest.approx(0.75)
    assert row["negative_pred_rate"] == pytest.approx(0.4)
    # neutral: TP 2, FP 1 (0 -> 1), FN 1 (1 -> 2), TN 6
    assert row["neutral_FPR"] == pytest.approx(1 / 7)
    assert row["neutral_TPR"] == pytest.approx(2 / 3)
    assert row["neutral_precision"] == pytest.approx(2 / 3)
    assert row["neutral_pred_rate"] == pytest.approx(0.3)
    # positive: TP 2, FP 1 (1 -> 2), FN 1 (2 -> 0), TN 6
    assert row["positive_FPR"] == pytest.approx(1 / 7)
    assert row["positive_F1"] == pytest.approx(2 / 3)
    assert row["macro_f1"] == pytest.approx((0.75 + 2 / 3 + 2 / 3) / 3)


def test_class_absent_from_truth_and_predictions_is_nan_not_half() -> None:
    # no sentence is neutral, none is predicted neutral
    pairs = [(0, 0), (0, 2), (2, 2), (2, 2), (2, 0)]
    row = group_row({"a": pairs, "b": OTHER}, "a")
    for column in ("neutral_TPR", "neutral_FNR", "neutral_precision", "neutral_F1"):
        assert math.isnan(row[column]), column
    assert row["neutral_FPR"] == 0.0  # 0 false positives out of 5 non-neutral sentences
    assert row["neutral_TNR"] == 1.0
    assert row["neutral_pred_rate"] == 0.0
    # macro-F1 over the two defined classes: negative 2*1/(2+1+1) = 0.5, positive 2*2/(4+1+1) = 2/3
    assert row["macro_f1"] == pytest.approx((0.5 + 2 / 3) / 2)


def test_group_without_a_class_but_predicting_it() -> None:
    # no true neutral sentence, but one predicted neutral: TPR undefined, precision 0 and F1 0
    pairs = [(0, 0), (0, 1), (2, 2)]
    row = group_row({"a": pairs, "b": OTHER}, "a")
    assert math.isnan(row["neutral_TPR"])
    assert row["neutral_precision"] == 0.0
    assert row["neutral_F1"] == 0.0
    assert row["neutral_FPR"] == pytest.approx(1 / 3)


def test_group_with_a_single_true_class_has_undefined_fpr() -> None:
    row = group_row({"a": [(2, 2), (2, 0), (2, 2)], "b": OTHER}, "a")
    assert math.isnan(row["positive_FPR"]) and math.isnan(row["positive_TNR"])
    assert row["positive_TPR"] == pytest.approx(2 / 3)
    assert math.isnan(row["negative_TPR"])
    assert row["negative_FPR"] == pytest.approx(1 / 3)


def test_rates_of_empty_counts_are_all_nan() -> None:
    values = rates(np.zeros(len(CELL_COLUMNS) + 4))
    assert values["n"] == 0
    assert all(np.isnan(values[name]) for name in values if name != "n" and not name.endswith("support"))


def test_rates_agree_with_sklearn_on_random_tables() -> None:
    rng = np.random.default_rng(7)
    for _ in range(20):
        true = rng.integers(0, 3, size=rng.integers(1, 40))
        pred = rng.integers(0, 2, size=len(true))  # never predicts positive
        matrix = confusion_matrix(true, pred, labels=[0, 1, 2])
        counts = np.concatenate([matrix.ravel(), np.zeros(4)])
        values = rates(counts)
        precision, recall, f1, support = precision_recall_fscore_support(
            true, pred, labels=[0, 1, 2], zero_division=np.nan
        )
        for index, label in enumerate(("negative", "neutral", "positive")):
            np.testing.assert_allclose(values[f"{label}_TPR"], recall[index], equal_nan=True)
            np.testing.assert_allclose(values[f"{label}_precision"], precision[index], equal_nan=True)
            np.testing.assert_allclose(values[f"{label}_F1"], f1[index], equal_nan=True)
            assert values[f"{label}_support"] == support[index]
            negatives = true != index
            fpr = np.mean(pred[negatives] == index) if negatives.any() else np.nan
            np.testing.assert_allclose(values[f"{label}_FPR"], fpr, equal_nan=True)
        expected_macro = f1_score(true, pred, labels=[0, 1, 2], average="macro", zero_division=np.nan)
        np.testing.assert_allclose(values["macro_f1"], expected_macro)


def test_non_selected_groups_keep_their_rates_but_are_marked() -> None:
    result = compute_metrics(table({"a": MIXED, "b": OTHER, "c": OTHER}), groups={"cat": ["a", "b"]})
    rows = result.group_metrics.set_index("group")
    assert list(rows["selected"]) == [True, True, False]
    assert rows.loc["c", "accuracy"] == 1.0
    assert set(result.gaps["group"]) == {"a", "b"}


def test_every_metric_list_derives_from_the_table_in_the_documented_order() -> None:
    classes = ("negative", "neutral", "positive")
    assert gaps.gap_metrics(probabilities=False) == (
        "accuracy", *(f"{label}_{rate}" for label in classes for rate in ("FPR", "TPR")),
    )  # fmt: skip
    assert gaps.gap_metrics(probabilities=True) == (
        *gaps.gap_metrics(probabilities=False), *(f"{label}_mean_prob" for label in classes),
    )  # fmt: skip
    assert (
        tuple(f"{label}_{rate}" for label in classes for rate in ("FPR", "FNR", "TPR"))
        == generalized.GENERALIZED_METRICS
    )


def test_one_new_row_of_the_table_is_a_new_metric_with_its_denominator_and_gap(monkeypatch) -> None:
    """The negative predictive value TN / (TN + FN), added as one row, gets its rate, its denominator and,
    through the whole metrics stage, its gaps."""
    npv = Metric(lambda c: c.tn, lambda c: c.tn + c.fn, gap=True)
    extended = {**METRICS, "NPV": npv}
    # group a, positive class: TP (2,2), FN (2,0), FP (1,2), TN (0,0): NPV 1 / 2
    # group b, positive class: TP (2,2), TN (0,0) and (1,1): NPV 2 / 2
    pairs = {"a": [(2, 2), (2, 0), (1, 2), (0, 0)], "b": [(0, 0), (1, 1), (2, 2)]}
    matrix = confusion_matrix(*zip(*pairs["a"], strict=True), labels=[0, 1, 2])
    counts = np.concatenate([matrix.ravel(), np.zeros(4)])
    assert rates(counts, extended)["positive_NPV"] == pytest.approx(0.5)
    assert denominators(counts, extended)["positive_NPV"] == 2
    assert "positive_NPV" not in rates(counts)
    assert metric_names(lambda metric: metric.gap, extended)[:4] == (
        "accuracy", "negative_FPR", "negative_TPR", "negative_NPV",
    )  # fmt: skip

    monkeypatch.setitem(METRICS, "NPV", npv)
    assert "neutral_NPV" in gaps.gap_metrics(probabilities=False)
    result = compute_metrics(table(pairs), ci="t")
    rows = result.run_gaps[result.run_gaps["metric"] == "positive_NPV"].set_index("group")
    assert rows["value"].tolist() == pytest.approx([0.5, 1.0])
    assert rows["denominator"].tolist() == [2, 2]
    assert rows["gap"].tolist() == pytest.approx([-0.25, 0.25])
    assert set(result.gaps["metric"]) >= {"negative_NPV", "neutral_NPV", "positive_NPV"}
