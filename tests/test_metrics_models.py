"""Two models compared: their gap differences by hand, the paired permutation test's false alarms and power on
simulated pairs of models with a known truth, and the per-attribute summary."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from promptbias.metrics import compute_metrics
from promptbias.metrics.gaps import gap_metrics
from promptbias.metrics.inference import simulation
from promptbias.metrics.inference.engine import flipped_differences
from promptbias.metrics.inference.model_comparison import compare_models
from promptbias.metrics.loading import normalise_predictions
from promptbias.metrics.metric_table import template_counts

RATE_METRICS = gap_metrics(probabilities=False)  # accuracy, and FPR and TPR per class


def two_models() -> pd.DataFrame:
    """One run each, one attribute with groups x and y, two negative templates of one sentence per group.
    Model a: x correct in both templates, y wrong (positive) in t1. Model b: both groups correct everywhere."""
    rows = []
    predictions = {("a", "t0"): (0, 0), ("a", "t1"): (0, 2), ("b", "t0"): (0, 0), ("b", "t1"): (0, 0)}
    for (model, template), (x, y) in predictions.items():
        for group, predicted in (("x", x), ("y", y)):
            rows.append(
                {
                    "y_true": 0,
                    "y_pred": predicted,
                    "category": "c",
                    "group": group,
                    "text": f"{group} {template}",
                    "model": model,
                    "dataset": "d",
                    "run_id": "r1",
                    "template_id": template,
                }
            )
    return normalise_predictions(pd.DataFrame(rows))


def test_the_difference_of_gaps_by_hand():
    table = compare_models(
        template_counts(two_models()), ("accuracy", "positive_FPR"), n_permutations=400, seed=0
    )
    rows = table.set_index(["group", "metric"])
    # model a: accuracy x 1, y 1/2 -> gaps +1/4, -1/4; model b: gaps 0, so the differences are the gaps of a
    assert rows.loc[("x", "accuracy"), "gap_a"] == pytest.approx(0.25)
    assert rows.loc[("y", "accuracy"), "difference"] == pytest.approx(-0.25)
    assert rows.loc[("y", "positive_FPR"), "difference"] == pytest.approx(0.25)  # y predicted positive once
    assert set(table["model_a"]) == {"a"} and set(table["n_templates"]) == {2}
    # t0 reads alike in both models; swapping t1 moves y's wrong answer to model b: the difference becomes +0.25.
    # So |difference| is 0.25 under every labelling: p = 1 (one template cannot make a difference significant),
    # and the null's values are +-0.25, an sd of 0.25
    assert rows.loc[("y", "accuracy"), "p_value"] == 1.0
    assert rows.loc[("y", "accuracy"), "null_sd"] == pytest.approx(0.25, rel=0.01)
    assert not table["significant"].any()


def test_swapping_every_template_exchanges_the_models():
    rng = np.random.default_rng(0)
    cells_a = rng.integers(0, 3, (2, 5, 3, 13)).astype(float)
    cells_b = rng.integers(0, 3, (2, 5, 3, 13)).astype(float)
    flips = np.ones((1, 2, 5), dtype=bool)
    gaps_a, gaps_b, differences = flipped_differences(cells_a, cells_b, flips, RATE_METRICS)
    np.testing.assert_allclose(differences[0], gaps_a - gaps_b)
    np.testing.assert_allclose(differences[1], gaps_b - gaps_a)


def test_false_alarms_and_power_on_simulated_pairs_of_models():
    """40 pairs of fair models that read templates differently: at most 6 with any significant difference
    (alpha 0.05 family-wise; 6 of 40 is the 97th percentile of Binomial(40, 0.05)). 20 pairs where model b is
    biased with shift 2 (a gap difference of about -0.19): the planted difference found in at least 16."""
    fair = [
        compare_models(
            template_counts(normalise_predictions(simulation.simulate_model_pair(s, differ=False))),
            RATE_METRICS,
            n_permutations=200,
            seed=s,
        )
        for s in range(40)
    ]
    assert sum(table["significant"].any() for table in fair) <= 6
    biased = [
        compare_models(
            template_counts(
                normalise_predictions(simulation.simulate_model_pair(1000 + s, differ=True, shift=2.0))
            ),
            RATE_METRICS,
            n_permutations=200,
            seed=s,
        )
        for s in range(20)
    ]
    assert sum(simulation.model_difference_found(table) for table in biased) >= 16


def test_adding_a_model_leaves_another_pairs_verdicts_alone():
    pair = normalise_predictions(simulation.simulate_model_pair(3, differ=True, shift=2.0))
    third = normalise_predictions(simulation.simulate_study(99, biased=False).assign(model="model_c"))
    alone = compare_models(template_counts(pair), RATE_METRICS, n_permutations=100, seed=1)
    together = compare_models(
        template_counts(pd.concat([pair, third], ignore_index=True)), RATE_METRICS, n_permutations=100, seed=1
    )
    same = together[(together["model_a"] == "model_a") & (together["model_b"] == "model_b")]
    np.testing.assert_allclose(same["p_adjusted"].to_numpy(), alone["p_adjusted"].to_numpy())
    assert len(together) == 3 * len(alone)


def test_correction_applies_to_model_differences():
    pair = template_counts(normalise_predictions(simulation.simulate_model_pair(4, differ=True, shift=2.0)))
    options = {"n_permutations": 100, "seed": 0}
    none = compare_models(pair, RATE_METRICS, correction="none", **options)
    holm = compare_models(pair, RATE_METRICS, correction="holm", **options)
    np.testing.assert_allclose(none["p_adjusted"], none["p_value"])
    assert (holm["p_adjusted"] >= holm["p_value"]).all() and (holm["p_adjusted"] > holm["p_value"]).any()


def test_attribute_summary_counts_flags_and_the_mean_abs_gap_by_hand():
    predictions = normalise_predictions(simulation.simulate_model_pair(7, differ=True, shift=2.0))
    result = compute_metrics(predictions, n_permutations=200, n_boot=50)
    summary = result.model_summary.set_index(["model", "category"])
    assert len(summary) == 2 * len(simulation.ATTRIBUTES)
    flagged = result.gaps.groupby(["model", "category"])["significant"].sum()
    assert (summary["n_significant"] == flagged.reindex(summary.index)).all()
    rates = result.gaps[result.gaps["metric"].isin(RATE_METRICS)]
    by_hand = rates.assign(size=rates["gap_mean"].abs()).groupby(["model", "category"])["size"].mean()
    np.testing.assert_allclose(summary["mean_abs_gap"], by_hand.reindex(summary.index))
    assert set(result.model_differences["model_b"]) == {"model_b"}
    one_model = compute_metrics(predictions[predictions["model"] == "model_a"], n_permutations=50, n_boot=50)
    assert one_model.model_differences.empty and one_model.model_summary.empty
