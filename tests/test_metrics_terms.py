"""The group-level null: a group's terms as a sample of its names. The weights of the term variance in a gap
(by hand and by Monte Carlo), the pooled excess (by hand), and simulated studies whose terms each carry their
own effect (the terms null flags them, the group-level null holds) or whose group is biased."""

from __future__ import annotations

import numpy as np
import pytest

from promptbias.errors import InputError
from promptbias.metrics import compute_metrics
from promptbias.metrics.gaps import gap, gap_metrics
from promptbias.metrics.inference import engine, simulation, terms
from promptbias.metrics.inference.permutation import permutation_test
from promptbias.metrics.loading import normalise_predictions

RATE_METRICS = gap_metrics(probabilities=False)  # accuracy, and FPR and TPR per class


def test_gap_weights_by_hand_and_by_monte_carlo() -> None:
    n_terms = np.array([2, 1, 3])
    # k = 3: group 0's gap is 2/3 of its mean term effect less 1/3 of each other group's
    expected = [(4 / 2 + 1 + 1 / 3) / 9, (4 / 1 + 1 / 2 + 1 / 3) / 9, (4 / 3 + 1 / 2 + 1) / 9]
    assert terms.gap_weights(n_terms) == pytest.approx(expected)
    rng = np.random.default_rng(0)
    effects = rng.normal(0.0, 1.0, (200_000, n_terms.sum()))
    means = np.stack(
        [part.mean(axis=1) for part in np.split(effects, np.cumsum(n_terms)[:-1], axis=1)], axis=1
    )
    assert gap(means, axis=1).var(axis=0) == pytest.approx(expected, rel=0.02)


def test_pooled_excess_by_hand() -> None:
    # equal noise E and equal freedom: the weights are equal, so the pooled excess is the mean excess
    observed = np.array([[0.5], [0.3], [0.1]])
    expected = np.full((3, 1), 0.1)
    pooled, freedom = engine.pooled_excess(observed, expected, np.ones((3, 1)))
    assert pooled == pytest.approx([0.2])
    # its variance: 2 (E + pooled)^2 / 1 per unit, over 3 units -> 2 * 0.09 / 3; freedom 2 pooled^2 / that
    assert freedom == pytest.approx([2 * 0.04 / (2 * 0.09 / 3)])
    # no excess anywhere: clipped at zero, zero freedom
    pooled, freedom = engine.pooled_excess(expected * 0.5, expected, np.ones((3, 1)))
    assert pooled == pytest.approx([0.0]) and freedom == pytest.approx([0.0])


def flagged(seed: int, null: str, **options: object) -> tuple[bool, bool]:
    study = normalise_predictions(simulation.simulate_study(seed, runs=5, **options))  # type: ignore[arg-type]
    table, _ = permutation_test(study, RATE_METRICS, n_permutations=200, seed=seed, null=null)
    assert set(table["null"]) == {null}
    table["significant"] = table["p_adjusted"] < 0.05
    return bool(table["significant"].any()), simulation.biased_group_found(table)


def test_terms_with_their_own_effects_fool_the_terms_null_but_not_the_group_null() -> None:
    # every term of every group carries its own effect (3 terms per group): no group is treated differently,
    # its names are. 20 studies: the terms null flags nearly all (benchmarks/verdicts.py); the group-level
    # null at most 3 (Binomial(20, 0.06): 4 or more has probability 0.03)
    options = {"biased": False, "term_sd": simulation.TERM_SD, "terms": 3}
    by_terms = sum(flagged(seed, terms.TERMS, **options)[0] for seed in range(20))
    by_groups = sum(flagged(seed, terms.GROUPS, **options)[0] for seed in range(20))
    assert by_terms >= 18 and by_groups <= 3


def test_the_group_null_still_finds_a_biased_group() -> None:
    # a group biased in all its terms (3 terms each, no term effects): found in most studies by both nulls
    options = {"biased": True, "terms": 3}
    found = sum(flagged(20_000 + seed, terms.GROUPS, **options)[1] for seed in range(10))
    assert found >= 6


def test_one_term_per_group_leaves_the_terms_null_and_says_so() -> None:
    study = normalise_predictions(simulation.simulate_study(1, biased=False, runs=3, templates_per_class=4))
    table, _ = permutation_test(study, ("negative_FPR",), n_permutations=50, seed=0, null=terms.GROUPS)
    assert set(table["null"]) == {terms.TERMS}  # no group has two terms: the spread cannot be estimated


def test_unknown_null_and_a_group_null_without_the_permutation_test_are_refused() -> None:
    study = simulation.simulate_study(1, biased=False, runs=2, templates_per_class=2)
    with pytest.raises(InputError, match="unknown null 'names'"):
        compute_metrics(study, null="names")
    with pytest.raises(InputError, match="groups needs --ci permutation"):
        compute_metrics(study, ci="t", null="groups")
