"""The gap formula, intervals across runs, p-values and corrections, against values computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from promptbias.errors import InputError
from promptbias.metrics import compute_metrics
from promptbias.metrics.gaps import gap
from promptbias.metrics.inference.engine import adjust_p_values
from promptbias.metrics.inference.uncertainty import bootstrap_interval, mean_interval


def sentences(run_id: str, group: str, pairs: list[tuple[int, int]], category: str = "cat") -> list[dict]:
    """One sentence per template t0, t1, ... for ``group`` with the given (y_true, y_pred)."""
    return [
        {
            "y_true": true,
            "y_pred": pred,
            "category": category,
            "group": group,
            "text": f"{group} {index}",
            "model": "m",
            "dataset": "d",
            "run_id": run_id,
            "template_id": f"t{index}",
        }
        for index, (true, pred) in enumerate(pairs)
    ]


def positive_fpr_run(run_id: str, false_positives: dict[str, int], negatives: int = 10) -> list[dict]:
    """A run where each group has ``negatives`` negative sentences, the first k predicted positive, and two
    correctly predicted positive sentences."""
    rows = []
    for group, k in false_positives.items():
        pairs = [(0, 2)] * k + [(0, 0)] * (negatives - k) + [(2, 2), (2, 2)]
        rows += sentences(run_id, group, pairs)
    return rows


def gap_row(result, group: str, metric: str) -> pd.Series:
    rows = result.gaps
    return rows[(rows["group"] == group) & (rows["metric"] == metric)].iloc[0]


def test_gap_is_value_minus_unweighted_group_mean() -> None:
    np.testing.assert_allclose(gap(np.array([0.5, 0.2, 0.2])), [0.2, -0.1, -0.1])
    np.testing.assert_allclose(gap(np.array([0.5, np.nan, 0.1])), [0.2, np.nan, -0.2])


def test_gaps_per_run_use_unweighted_mean_over_groups() -> None:
    # positive FPR: a 5/10, b 2/10, c 2/10 (c has 3x the sentences: the mean is still unweighted)
    rows = positive_fpr_run("r1", {"a": 5, "b": 2})
    rows += sentences("r1", "c", ([(0, 2)] * 2 + [(0, 0)] * 8 + [(2, 2)] * 2) * 3)
    result = compute_metrics(pd.DataFrame(rows))
    per_run = result.run_gaps[result.run_gaps["metric"] == "positive_FPR"].set_index("group")
    assert per_run.loc["a", "value"] == pytest.approx(0.5)
    assert per_run.loc["c", "value"] == pytest.approx(0.2)
    assert per_run.loc["a", "gap"] == pytest.approx(0.2)
    assert per_run.loc["b", "gap"] == pytest.approx(-0.1)
    assert per_run.loc["c", "gap"] == pytest.approx(-0.1)
    assert per_run.loc["c", "denominator"] == 30


def test_group_selection_changes_the_mean() -> None:
    rows = positive_fpr_run("r1", {"a": 5, "b": 2, "c": 8})
    result = compute_metrics(pd.DataFrame(rows), groups={"cat": ["a", "b"]})
    assert gap_row(result, "a", "positive_FPR")["gap_mean"] == pytest.approx(0.15)
    assert "c" not in set(result.gaps["group"])
    assert result.summary["groups"] == {"cat": ["a", "b"]}


def three_runs() -> pd.DataFrame:
    # gaps of a for positive FPR: run 1 (0.4 vs 0.2) +0.1, run 2 (0.5 vs 0.1) +0.2, run 3 (0.6 vs 0.0) +0.3
    rows = positive_fpr_run("r1", {"a": 4, "b": 2})
    rows += positive_fpr_run("r2", {"a": 5, "b": 1})
    rows += positive_fpr_run("r3", {"a": 6, "b": 0})
    return pd.DataFrame(rows)


def test_z_interval_and_p_value_by_hand() -> None:
    row = gap_row(compute_metrics(three_runs(), ci="z"), "a", "positive_FPR")
    se = 0.1 / math.sqrt(3)  # the gaps 0.1, 0.2, 0.3 have sample sd 0.1
    assert row["n_runs"] == 3
    assert row["gap_mean"] == pytest.approx(0.2)
    assert row["gap_std"] == pytest.approx(0.1)
    assert row["ci_low"] == pytest.approx(0.2 - 1.96 * se)
    assert row["ci_high"] == pytest.approx(0.2 + 1.96 * se)
    assert row["p_value"] == pytest.approx(math.erfc(0.2 / se / math.sqrt(2)))


def test_t_interval_and_p_value_by_hand() -> None:
    row = gap_row(compute_metrics(three_runs(), ci="t"), "a", "positive_FPR")
    se = 0.1 / math.sqrt(3)
    statistic = 0.2 / se
    assert row["ci_low"] == pytest.approx(0.2 - 4.302652729911275 * se)  # t(0.975, 2 df) from a t table
    assert row["ci_high"] == pytest.approx(0.2 + 4.302652729911275 * se)
    # with 2 degrees of freedom the t tail has a closed form: P(|T| > x) = 1 - x / sqrt(2 + x^2)
    assert row["p_value"] == pytest.approx(1 - statistic / math.sqrt(2 + statistic**2))


def test_single_run_gives_nan_for_t_and_z_but_an_interval_for_bootstrap() -> None:
    rows = pd.DataFrame(positive_fpr_run("r1", {"a": 5, "b": 2}))
    for method in ("t", "z"):
        row = gap_row(compute_metrics(rows, ci=method), "a", "positive_FPR")
        assert row["n_runs"] == 1 and row["gap_mean"] == pytest.approx(0.15)
        assert all(math.isnan(row[column]) for column in ("gap_std", "ci_low", "ci_high", "p_value"))
        assert not row["significant"]
    row = gap_row(compute_metrics(rows, ci="bootstrap", n_boot=400), "a", "positive_FPR")
    assert math.isfinite(row["ci_low"]) and math.isfinite(row["ci_high"])
    assert row["ci_low"] < 0.15 < row["ci_high"]
    assert 0 < row["p_value"] <= 1


def test_zero_spread_bootstrap_gap_has_no_p_value_and_is_never_significant() -> None:
    # every template holds the same two sentences per group: resampling templates changes nothing
    rows = []
    for template in range(6):
        for group, pred in (("a", 2), ("b", 0)):
            for true in (0, 2):
                rows.append(
                    {
                        "y_true": true,
                        "y_pred": pred,
                        "category": "cat",
                        "group": group,
                        "text": f"{group} {template} {true}",
                        "model": "m",
                        "dataset": "d",
                        "run_id": "r1",
                        "template_id": f"t{template}",
                    }
                )
    for method in ("bootstrap", "multibootstrap"):
        row = gap_row(compute_metrics(pd.DataFrame(rows), ci=method, n_boot=200), "a", "positive_FPR")
        assert row["gap_mean"] == pytest.approx(0.5)  # a: FPR 1, b: FPR 0
        assert row["ci_low"] == pytest.approx(0.5) and row["ci_high"] == pytest.approx(0.5)
        assert math.isnan(row["p_value"]) and not row["significant"]  # no resample moves it: not certainty
    # the permutation test does see it: few of 200 permutations part a and b as cleanly in all 6 templates
    row = gap_row(compute_metrics(pd.DataFrame(rows), n_permutations=200), "a", "positive_FPR")
    assert row["method"] == "permutation" and row["n_permutations"] == 200
    assert 1 / 201 <= row["p_value"] < 0.05 and row["significant"]
    p = row["p_value"]
    assert row["p_value_se"] == pytest.approx(math.sqrt(p * (1 - p) / 200))


def test_bootstrap_is_reproducible_and_seeded() -> None:
    frame = three_runs()
    first = compute_metrics(frame, ci="bootstrap", n_boot=300, seed=1).gaps
    again = compute_metrics(frame.sample(frac=1, random_state=3), ci="bootstrap", n_boot=300, seed=1).gaps
    other = compute_metrics(frame, ci="bootstrap", n_boot=300, seed=2).gaps
    pd.testing.assert_frame_equal(first, again)
    assert not np.allclose(first["ci_low"], other["ci_low"], equal_nan=True)


def test_bootstrap_interval_from_known_replicates() -> None:
    replicates = np.arange(101, dtype=float)[:, None]  # 0, 1, ..., 100
    low, high, p_value = bootstrap_interval(replicates, np.array([50.0]))
    assert low[0] == pytest.approx(2.5) and high[0] == pytest.approx(97.5)
    sd = math.sqrt(sum((k - 50) ** 2 for k in range(101)) / 100)
    assert p_value[0] == pytest.approx(math.erfc(50 / sd / math.sqrt(2)))
    _, _, p_nan = bootstrap_interval(np.array([[1.0], [np.nan]]), np.array([1.0]))
    assert math.isnan(p_nan[0])  # a single usable replicate has no spread


def test_mean_interval_with_zero_spread() -> None:
    low, high, p_value = mean_interval(np.array([0.0, 0.3]), np.array([0.0, 0.0]), np.array([4, 4]), "t")
    np.testing.assert_allclose(low, [0.0, 0.3])
    np.testing.assert_allclose(high, [0.0, 0.3])
    assert np.isnan(p_value).all()  # identical runs: no p-value, never significant


def test_holm_by_hand() -> None:
    p_values = np.array([0.01, 0.04, 0.03, 0.005, np.nan])
    # sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 = 0.02, 0.03, 0.06, 0.04
    # -> kept monotone: 0.02, 0.03, 0.06, 0.06
    np.testing.assert_allclose(adjust_p_values(p_values, "holm"), [0.03, 0.06, 0.06, 0.02, np.nan])


def test_benjamini_hochberg_by_hand() -> None:
    p_values = np.array([0.01, 0.04, 0.03, 0.005, np.nan])
    # sorted times 4/k: 0.02, 0.02, 0.04, 0.04 -> running minimum from the top leaves them
    np.testing.assert_allclose(adjust_p_values(p_values, "bh"), [0.02, 0.04, 0.04, 0.02, np.nan])
    np.testing.assert_allclose(adjust_p_values(p_values, "none"), p_values)


def test_correction_runs_over_every_row_and_drives_significance() -> None:
    frame = three_runs()
    plain = compute_metrics(frame, ci="z", correction="none").gaps
    holm = compute_metrics(frame, ci="z", correction="holm").gaps
    valid = plain["p_value"].notna()
    np.testing.assert_allclose(
        holm["p_adjusted"][valid], adjust_p_values(plain["p_value"][valid].to_numpy(), "holm")
    )
    assert (holm["significant"] == (holm["p_adjusted"] < 0.05)).all()
    assert (plain["p_adjusted"][valid] == plain["p_value"][valid]).all()


def test_gaps_table_has_the_documented_rows() -> None:
    result = compute_metrics(three_runs())
    assert len(result.gaps) == 2 * 7  # two groups x accuracy and six class FPR/TPR (no probabilities)
    assert set(result.gaps["metric"]) == {
        "accuracy",
        *(f"{label}_{rate}" for label in ("negative", "neutral", "positive") for rate in ("FPR", "TPR")),
    }
    assert result.summary["interval"]["method"] == "permutation" and result.summary["correction"] == "maxt"
    assert (result.gaps["method"] == "permutation").all() and (result.gaps["n_templates"] == 12).all()
    undefined = result.gaps[result.gaps["metric"] == "neutral_TPR"]  # no sentence is neutral
    assert (undefined["n_runs"] == 0).all() and undefined["gap_mean"].isna().all()
    assert undefined["p_adjusted"].isna().all() and not undefined["significant"].any()


def test_unknown_options_and_bad_selections_are_input_errors() -> None:
    frame = three_runs()
    with pytest.raises(InputError, match="--ci"):
        compute_metrics(frame, ci="wald")
    with pytest.raises(InputError, match="--correction"):
        compute_metrics(frame, correction="bonferroni")
    with pytest.raises(InputError, match="maxt needs --ci permutation"):
        compute_metrics(frame, ci="t", correction="maxt")
    with pytest.raises(InputError, match="--n-permutations"):
        compute_metrics(frame, n_permutations=0)
    with pytest.raises(InputError, match="group 'x' is not in the predictions"):
        compute_metrics(frame, groups={"cat": ["a", "x"]})
    with pytest.raises(InputError, match="select two groups or more"):
        compute_metrics(frame, groups={"cat": ["a"]})
    with pytest.raises(InputError, match="category 'religion' is not in the predictions"):
        compute_metrics(frame, groups={"religion": ["a", "b"]})


def test_single_group_category_is_an_input_error() -> None:
    with pytest.raises(InputError, match="single group"):
        compute_metrics(pd.DataFrame(positive_fpr_run("r1", {"a": 3})))


def test_study_file_metrics_section_resolves_the_methods_correction() -> None:
    from pydantic import ValidationError

    from promptbias.study.config import MetricsEntry

    assert (MetricsEntry().ci, MetricsEntry().correction) == ("permutation", "maxt")
    assert (
        MetricsEntry(ci="t").correction == "holm" and MetricsEntry(ci="z", correction="bh").correction == "bh"
    )
    with pytest.raises(ValidationError, match="correction maxt needs ci permutation"):
        MetricsEntry(ci="t", correction="maxt")
    with pytest.raises(ValidationError, match="unknown method 'wald'"):
        MetricsEntry(ci="wald")
