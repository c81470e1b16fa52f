"""Flip rates, flip examples and probability gaps on small tables worked out by hand."""

from __future__ import annotations

import pandas as pd
import pytest

from promptbias.metrics import compute_metrics


def sentence(group: str, template: str, true: int, pred: int, text: str | None = None, **extra) -> dict:
    return {
        "y_true": true,
        "y_pred": pred,
        "category": "cat",
        "group": group,
        "text": text or f"{group} in {template}",
        "model": "m",
        "dataset": "d",
        "run_id": "r1",
        "template_id": template,
        **extra,
    }


def three_templates() -> pd.DataFrame:
    # t1: a, b say positive, c says negative -> majority positive, c flips
    # t2: all neutral -> no flips
    # t3: negative, neutral, positive -> no single most common prediction, every group counts as flipped
    predictions = {"t1": (2, 2, 0), "t2": (1, 1, 1), "t3": (0, 1, 2)}
    rows = [
        sentence(group, template, 2, pred)
        for template, preds in predictions.items()
        for group, pred in zip("abc", preds, strict=True)
    ]
    return pd.DataFrame(rows)


def test_flip_rates_by_hand() -> None:
    rates = compute_metrics(three_templates()).flip_rates.set_index("group")
    assert list(rates.columns) == [
        "model",
        "dataset",
        "probe",
        "run_id",
        "category",
        "flip_rate",
        "n_templates",
    ]
    assert rates.loc["a", "flip_rate"] == pytest.approx(1 / 3)
    assert rates.loc["b", "flip_rate"] == pytest.approx(1 / 3)
    assert rates.loc["c", "flip_rate"] == pytest.approx(2 / 3)
    assert (rates["n_templates"] == 3).all()


def test_group_with_several_sentences_counts_its_share() -> None:
    # a has two sentences in t1 predicted positive and negative, b one predicted positive:
    # mean shares over groups: positive (0.5 + 1) / 2 = 0.75, negative 0.25 -> majority positive; a flips half
    rows = [
        sentence("a", "t1", 2, 2, "a one"),
        sentence("a", "t1", 2, 0, "a two"),
        sentence("b", "t1", 2, 2),
    ]
    rates = compute_metrics(pd.DataFrame(rows)).flip_rates.set_index("group")
    assert rates.loc["a", "flip_rate"] == pytest.approx(0.5)
    assert rates.loc["b", "flip_rate"] == pytest.approx(0.0)


def test_flip_examples_show_the_most_disputed_templates() -> None:
    examples = compute_metrics(three_templates()).flip_examples
    assert list(examples.columns) == [
        "model",
        "dataset",
        "probe",
        "run_id",
        "category",
        "template_id",
        "group",
        "text",
        "y_true",
        "y_pred",
        "majority_pred",
    ]
    # t3 (all flip, mean flip 1) before t1 (mean flip 1/3); t2 has no disagreement and is left out
    assert list(examples["template_id"]) == ["t3"] * 3 + ["t1"] * 3
    assert examples.loc[examples["template_id"] == "t3", "majority_pred"].isna().all()
    assert (examples.loc[examples["template_id"] == "t1", "majority_pred"] == 2).all()
    assert list(examples.loc[examples["template_id"] == "t1", "y_pred"]) == [2, 2, 0]


def test_probability_gaps_by_hand() -> None:
    rows = []
    for template, (p_a, p_b) in enumerate([(0.9, 0.5), (0.7, 0.3)]):
        for group, p in (("a", p_a), ("b", p_b)):
            rows.append(
                sentence(
                    group, f"t{template}", 2, 2, p_negative=(1 - p) / 2, p_neutral=(1 - p) / 2, p_positive=p
                )
            )
    result = compute_metrics(pd.DataFrame(rows))
    gaps = result.gaps.set_index(["group", "metric"])
    # mean positive probability: a 0.8, b 0.4 -> gaps +0.2 and -0.2
    assert gaps.loc[("a", "positive_mean_prob"), "gap_mean"] == pytest.approx(0.2)
    assert gaps.loc[("b", "positive_mean_prob"), "gap_mean"] == pytest.approx(-0.2)
    assert gaps.loc[("a", "negative_mean_prob"), "gap_mean"] == pytest.approx(-0.1)
    per_group = result.group_metrics.set_index("group")
    assert per_group.loc["a", "positive_mean_prob"] == pytest.approx(0.8)
    assert "positive_mean_prob" in result.summary["gap_metrics"]


def test_no_probabilities_means_no_probability_gaps() -> None:
    result = compute_metrics(three_templates())
    assert not result.gaps["metric"].str.endswith("mean_prob").any()
    assert result.group_metrics["positive_mean_prob"].isna().all()
