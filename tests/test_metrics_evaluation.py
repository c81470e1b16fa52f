"""The held-out evaluation against hand-computed values, and its one macro-F1 shared with the group tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score

from promptbias.metrics import compute_metrics
from promptbias.metrics.evaluation import classification_summary


def one_hot(labels: list[int]) -> np.ndarray:
    """Class probabilities whose argmax is ``labels``."""
    return np.eye(3)[labels] * 0.8 + 0.1


def test_summary_by_hand() -> None:
    # negative: TP 2, FP 1, FN 1 -> F1 2/3; neutral: TP 1, FN 1 -> F1 2/3; positive: TP 1, FP 1 -> F1 2/3
    y_true = np.array([0, 0, 0, 1, 1, 2])
    summary = classification_summary(y_true, one_hot([0, 0, 2, 1, 0, 2]))
    assert summary["n"] == 6
    assert summary["accuracy"] == pytest.approx(4 / 6)
    assert summary["confusion"] == [[2, 0, 1], [1, 1, 0], [0, 0, 1]]
    assert summary["predicted_share"] == pytest.approx([3 / 6, 1 / 6, 2 / 6])
    assert summary["macro_f1"] == pytest.approx(2 / 3)


def test_a_class_neither_true_nor_predicted_is_left_out_of_macro_f1() -> None:
    # no neutral sentence, none predicted neutral: negative F1 2 / (2 + 1 + 1), positive F1 4 / (4 + 1 + 1)
    y_true, y_pred = [0, 0, 2, 2, 2], [0, 2, 2, 2, 0]
    summary = classification_summary(np.array(y_true), one_hot(y_pred))
    assert summary["macro_f1"] == pytest.approx((1 / 2 + 2 / 3) / 2)
    labels = [0, 1, 2]
    assert summary["macro_f1"] == f1_score(
        y_true, y_pred, labels=labels, average="macro", zero_division=np.nan
    )
    # what the evaluation gave before it shared the group tables' definition: the absent class as 0
    assert f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0) == pytest.approx(7 / 18)


def test_every_class_present_gives_the_same_value_under_either_convention() -> None:
    rng = np.random.default_rng(3)
    for _ in range(50):
        y_true = rng.permutation(np.concatenate([[0, 1, 2], rng.integers(0, 3, size=40)]))
        y_pred = rng.integers(0, 3, size=len(y_true))
        summary = classification_summary(y_true, one_hot(list(y_pred)))
        for zero_division in (0, np.nan):
            expected = f1_score(
                y_true, y_pred, labels=[0, 1, 2], average="macro", zero_division=zero_division
            )
            assert summary["macro_f1"] == expected


def test_held_out_and_suite_macro_f1_are_one_definition() -> None:
    y_true, y_pred = [0, 0, 2, 2, 2, 0], [0, 2, 2, 2, 0, 0]
    frame = pd.DataFrame(
        {"y_true": y_true, "y_pred": y_pred, "category": "c", "group": ["a", "b"] * 3, "model": "m",
         "dataset": "d", "run_id": "1", "template_id": ["t1", "t1", "t2", "t2", "t3", "t3"]}
    )  # fmt: skip
    overall = compute_metrics(frame, ci="t").overall
    assert (
        overall["macro_f1"].iloc[0] == classification_summary(np.array(y_true), one_hot(y_pred))["macro_f1"]
    )
