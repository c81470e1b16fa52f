"""The engine every permutation test shares: runs paired by seed number, one rule for undefined draws and
ties, the corrections within a family, the t scale of an estimated variance."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats

from promptbias.metrics.inference import engine


def test_runs_pair_by_seed_number_not_by_the_order_of_names() -> None:
    runs_a = ["seed10", "seed2", "seed1"]
    runs_b = ["seed1", "seed2", "seed10", "seed3"]
    assert engine.pair_runs(runs_a, runs_b) == [("seed1", "seed1"), ("seed2", "seed2"), ("seed10", "seed10")]
    assert engine.pair_runs(["run_1", "run_2"], ["run_2", "run_1"]) == [
        ("run_1", "run_1"),
        ("run_2", "run_2"),
    ]
    assert engine.pair_runs(["seed0"], ["seed0", "seed1", "seed2"]) == [
        ("seed0", "seed0"),
        ("seed0", "seed1"),
        ("seed0", "seed2"),
    ]  # a probe without seeds: its one run with each run of the other
    assert engine.pair_runs(["a", "b"], ["c", "d"]) == [("a", "c"), ("b", "d")]  # no numbers: name order
    assert engine.seed_number("seed10") == 10 and engine.seed_number("nothing") is None


def test_undefined_draws_never_reach_and_leave_the_sd() -> None:
    observed = np.array([1.0])
    null = np.array([[np.nan], [2.0], [0.5], [-1.0], [np.nan]])
    result = engine.family_test(observed, null, "none")
    assert result["p_value"][0] == pytest.approx((1 + 2) / (1 + 5))  # 2.0 and -1.0 reach |1|; NaN does not
    assert result["null_sd"][0] == pytest.approx(np.std([1.0, 2.0, 0.5, -1.0], ddof=1))  # observed among them
    tie = engine.family_test(np.array([0.3]), np.array([[0.3], [0.1], [-0.2]]), "none")
    assert tie["p_value"][0] == pytest.approx(2 / 4)  # a draw equal to the observed value reaches it


def test_holm_bh_and_none_adjust_within_the_family() -> None:
    rng = np.random.default_rng(1)
    null = rng.normal(0, 1, (999, 4))
    observed = np.array([3.0, 2.5, 0.4, 2.0])
    raw = engine.family_test(observed, null, "none")["p_value"]
    holm = engine.family_test(observed, null, "holm")["p_adjusted"]
    bh = engine.family_test(observed, null, "bh")["p_adjusted"]
    order = np.argsort(raw)
    by_hand = np.minimum(np.maximum.accumulate(raw[order] * (4 - np.arange(4))), 1)
    np.testing.assert_allclose(holm[order], by_hand)
    np.testing.assert_allclose(bh, scipy.stats.false_discovery_control(raw, method="bh"))
    assert (bh <= holm + 1e-12).all()


def test_an_estimated_scale_is_read_on_the_t_scale() -> None:
    values = np.array([1.0, 2.5, 4.0])
    moved = engine.t_to_normal(values, np.array([4.0, 4.0, np.inf]))
    assert moved[0] == pytest.approx(-scipy.stats.norm.ppf(scipy.stats.t.sf(1.0, 4)))
    assert moved[1] < 2.5 and moved[2] == 4.0  # a t value is weaker evidence; infinite freedom: normal
    np.testing.assert_allclose(engine.normal_to_t(moved, np.array([4.0, 4.0, np.inf])), values)
    null = np.random.default_rng(2).normal(0, 1, (2000, 1))
    plain = engine.family_test(np.array([2.5]), null, "none")
    wider = engine.family_test(np.array([2.5]), null, "none", scale=np.array([2.0]), freedom=np.array([5.0]))
    assert (
        wider["p_value"][0] > plain["p_value"][0] and wider["min_detectable"][0] > plain["min_detectable"][0]
    )
    assert math.isclose(plain["null_sd"][0], wider["null_sd"][0])
