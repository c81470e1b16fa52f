"""The group verdicts: the permutation test in both scopes, max-T, minimum detectable gaps, the prompt-
disagreement test and the bootstrap intervals, checked against exact enumeration, against hand-made data, and
on synthetic studies with a known truth (false alarms and power, including prompts that tilt the groups)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
import scipy.stats

from promptbias.metrics import compute_metrics
from promptbias.metrics.inference import engine, simulation
from promptbias.metrics.inference.calibration import permuted_copy
from promptbias.metrics.inference.engine import family_test, permuted_labels, sentence_blocks
from promptbias.metrics.inference.permutation import permutation_test
from promptbias.metrics.inference.streams import random_stream
from promptbias.metrics.loading import normalise_predictions


def row(run_id: str, template: int, group: str, true: int, pred: int, text: str = "") -> dict:
    return {
        "y_true": true,
        "y_pred": pred,
        "category": "cat",
        "group": group,
        "text": text or f"{group} says {template}",
        "model": "m",
        "dataset": "d",
        "run_id": run_id,
        "template_id": f"t{template}",
    }


def two_group_run(run_id: str, predictions: list[tuple[int, int]]) -> list[dict]:
    """One negative template per pair: group a predicted ``pa``, group b ``pb`` (0 right, 2 a false positive)."""
    rows = []
    for template, (pa, pb) in enumerate(predictions):
        rows += [row(run_id, template, "a", 0, pa), row(run_id, template, "b", 0, pb)]
    return rows


PATTERN = [(2, 0), (2, 0), (2, 0), (0, 0), (2, 2), (2, 0), (0, 2), (2, 0)]


def test_p_value_matches_exact_enumeration_of_the_permutations() -> None:
    # 8 templates, two groups, one sentence each: 2^8 equally likely labellings; enumerate them by hand
    frame = normalise_predictions(pd.DataFrame(two_group_run("r1", PATTERN)))
    test, _ = permutation_test(frame, ("positive_FPR",), n_permutations=4000, seed=3)
    observed_row = test[test["group"] == "a"].iloc[0]
    fp_a = np.array([pa == 2 for pa, _ in PATTERN], dtype=float)
    fp_b = np.array([pb == 2 for _, pb in PATTERN], dtype=float)
    observed = (fp_a.mean() - fp_b.mean()) / 2
    assert observed_row["gap_mean"] == pytest.approx(observed)
    null = []
    for swap in itertools.product((False, True), repeat=len(PATTERN)):
        swap = np.array(swap)
        a, b = np.where(swap, fp_b, fp_a), np.where(swap, fp_a, fp_b)
        null.append((a.mean() - b.mean()) / 2)
    exact = np.mean(np.abs(null) >= abs(observed) - 1e-12)
    assert observed_row["p_value"] == pytest.approx(exact, abs=4 * math.sqrt(exact * (1 - exact) / 4000))
    assert observed_row["null_sd"] == pytest.approx(np.std(null), rel=0.05)
    assert observed_row["p_value_se"] == pytest.approx(
        math.sqrt(observed_row["p_value"] * (1 - observed_row["p_value"]) / 4000)
    )


def test_every_run_gets_the_same_permutation() -> None:
    # five identical runs: with one shared permutation the null of the mean gap is that of a single run;
    # independent permutations per run would shrink its sd by about sqrt(5)
    one = normalise_predictions(pd.DataFrame(two_group_run("r1", PATTERN)))
    five = normalise_predictions(
        pd.DataFrame([item for run in range(5) for item in two_group_run(f"r{run}", PATTERN)])
    )
    single, _ = permutation_test(one, ("positive_FPR",), n_permutations=500, seed=1, scope="prompts")
    shared, _ = permutation_test(five, ("positive_FPR",), n_permutations=500, seed=1, scope="prompts")
    np.testing.assert_allclose(shared["null_sd"], single["null_sd"])
    np.testing.assert_allclose(shared["p_value"], single["p_value"])


def test_permutations_keep_each_templates_group_sizes() -> None:
    # unequal groups inside a template (as the Czarnowska suite has): a has 3 sentences, b 1, c 2
    rows = [
        row("r1", template, group, 0, (template + index) % 3, text=f"{group} {index} t{template}")
        for template in range(4)
        for group, size in (("a", 3), ("b", 1), ("c", 2))
        for index in range(size)
    ]
    (block,) = list(sentence_blocks(normalise_predictions(pd.DataFrame(rows))))
    for labels in permuted_labels(block, 30, np.random.default_rng(0)):
        for permutation in labels:
            for template in range(4):
                inside = permutation[block.templates == template]
                assert sorted(inside) == sorted(block.labels[block.templates == template])
    assert any(
        (labels != block.labels).any() for labels in permuted_labels(block, 5, np.random.default_rng(1))
    )


def by_hand_step_down(observed: np.ndarray, null: np.ndarray) -> np.ndarray:
    """Westfall-Young step-down max-T written out loop by loop (the statistics already studentised)."""
    order = list(np.argsort(-observed))
    adjusted = np.empty(len(observed))
    previous = 0.0
    for position, j in enumerate(order):
        rest = order[position:]
        share = (1 + sum(null[b, rest].max() >= observed[j] * (1 - 1e-9) for b in range(len(null)))) / (
            1 + len(null)
        )
        previous = max(previous, share)
        adjusted[j] = previous
    return adjusted


def test_max_t_steps_down_and_gives_the_minimum_detectable_gap_by_hand() -> None:
    rng = np.random.default_rng(0)
    scales = np.array([0.01, 0.1, 1.0])  # three gaps on very different scales
    null = rng.normal(0, 1, (999, 3)) * scales
    observed = np.array([0.035, 0.05, 3.5])
    result = family_test(observed, null, "maxt", 0.05)
    sd = np.vstack([observed, null]).std(axis=0, ddof=1)
    np.testing.assert_allclose(result["p_adjusted"], by_hand_step_down(observed / sd, np.abs(null) / sd))
    assert (result["p_value"] <= result["p_adjusted"]).all()
    largest = (np.abs(null) / sd).max(axis=1)
    single_step = (1 + (largest >= observed[1] / sd[1] * (1 - 1e-9)).sum()) / 1000
    assert result["p_adjusted"][1] < single_step  # stepping down drops the 3.5 sd gap from the family
    critical = np.quantile(largest, 0.95)
    np.testing.assert_allclose(result["min_detectable"], (critical + scipy.stats.norm.ppf(0.8)) * sd)
    assert critical == pytest.approx(2.39, abs=0.15)  # max of 3 independent |N(0,1)|: the 95% point
    assert result["p_adjusted"][2] < 0.05 < result["p_adjusted"][1]  # the 3.5 sd gap, not the 0.5 sd one
    still = family_test(np.array([0.2, 0.0]), np.array([[0.2, 0.1], [0.2, -0.1], [0.2, 0.0]]), "maxt", 0.05)
    assert math.isnan(still["p_value"][0]) and math.isnan(still["p_adjusted"][0])  # a null that never moves


def test_observed_statistic_is_the_gap_table_mean_and_rows_match() -> None:
    study = simulation.simulate_study(7, biased=True, runs=3, templates_per_class=4)
    result = compute_metrics(study, n_permutations=50, n_boot=50)
    test, _ = permutation_test(normalise_predictions(study), ("accuracy", "negative_FPR"), n_permutations=50)
    merged = result.gaps.merge(test, on=["model", "dataset", "probe", "category", "group", "metric"])
    assert len(merged) == len(test)
    np.testing.assert_allclose(merged["gap_mean_x"], merged["gap_mean_y"], atol=1e-12)
    assert (result.gaps["n_permutations"] == 50).all() and (result.gaps["n_templates"] == 12).all()


def test_two_level_bootstrap_equals_the_template_bootstrap_for_one_run_and_is_wider_with_seeds() -> None:
    study = simulation.simulate_study(3, biased=False, runs=1, templates_per_class=5)
    template = compute_metrics(study, ci="bootstrap", n_boot=200).gaps
    two_level = compute_metrics(study, ci="multibootstrap", n_boot=200).gaps
    np.testing.assert_allclose(template["ci_low"], two_level["ci_low"])
    several = simulation.simulate_study(3, biased=False, runs=5, templates_per_class=5)
    template = compute_metrics(several, ci="bootstrap", n_boot=300).gaps
    two_level = compute_metrics(several, ci="multibootstrap", n_boot=300).gaps
    widths = (two_level["ci_high"] - two_level["ci_low"]) / (template["ci_high"] - template["ci_low"])
    assert np.nanmedian(widths) > 1.0


def test_calibration_copies_permute_groups_within_templates_alike_in_every_run() -> None:
    study = normalise_predictions(simulation.simulate_study(1, biased=True, runs=2, templates_per_class=3))
    copy = permuted_copy(study, np.random.default_rng(0))
    keys = ["category", "template_id", "run_id"]
    assert (copy.groupby(keys)["group"].apply(sorted) == study.groupby(keys)["group"].apply(sorted)).all()
    assert (copy["group"] != study["group"]).any()
    moved = copy.assign(original=study["group"], text=study["text"])
    per_run = moved.groupby(["category", "text", "original"])["group"].nunique()
    assert (per_run == 1).all()  # one sentence gets the same new group in both runs


RATE_METRICS = (
    "accuracy",
    "negative_FPR",
    "negative_TPR",
    "neutral_FPR",
    "neutral_TPR",
    "positive_FPR",
    "positive_TPR",
)


def found_and_flagged(
    seed: int, biased: bool, scope: str | None = None, tilt: float = 0.0, n_permutations: int = 200
) -> tuple[bool, bool]:
    study = normalise_predictions(simulation.simulate_study(seed, biased=biased, tilt=tilt))
    test, _ = permutation_test(study, RATE_METRICS, n_permutations=n_permutations, seed=seed, scope=scope)
    test["significant"] = test["p_adjusted"] < 0.05
    return simulation.biased_group_found(test), bool(test["significant"].any())


def test_default_test_is_the_model_scope_and_holds_its_false_alarm_rate_and_power() -> None:
    # 40 fair studies: at 5% family-wise error, 7 or more with a false flag has probability 0.003
    fair = sum(found_and_flagged(seed, biased=False)[1] for seed in range(40))
    assert fair <= 6
    # 20 studies with a planted negative-FPR gap of about +0.098, where benchmarks/verdicts.py measures a
    # power of 0.784 (1000 studies, 1000 permutations; 200 here): 11 or fewer found would have probability
    # 0.02 at a power of 0.78
    found = sum(found_and_flagged(10_000 + seed, biased=True)[0] for seed in range(20))
    assert found >= 12


def test_prompts_that_tilt_the_groups_fool_the_prompt_scope_but_not_the_model_scope() -> None:
    # each run tilts each group's logits its own way (between-run variance of gaps ~2x within-run): no group
    # is treated differently by the model. 30 studies: the model scope flags at most 5 (Binomial(30, 0.06):
    # 6 or more has probability 0.008); the prompt scope flags most of them (benchmarks/verdicts.py: 0.96)
    model = sum(found_and_flagged(seed, biased=False, tilt=simulation.TILT)[1] for seed in range(30))
    prompts = sum(
        found_and_flagged(seed, biased=False, scope="prompts", tilt=simulation.TILT)[1] for seed in range(30)
    )
    assert model <= 5 and prompts >= 20


def test_prompt_disagreement_finds_tilting_prompts_and_stays_quiet_without() -> None:
    metrics = ("negative_FPR", "positive_FPR")
    quiet, loud = [], []
    for seed in range(10):
        for tilt, found in ((0.0, quiet), (simulation.TILT, loud)):
            study = normalise_predictions(simulation.simulate_study(seed, biased=False, tilt=tilt))
            _, disagreement = permutation_test(study, metrics, n_permutations=200, seed=seed)
            found.append(disagreement)
    table = pd.concat(loud)
    assert (table["variance_ratio"] > 1.5).mean() > 0.9 and table["significant"].mean() > 0.9
    table = pd.concat(quiet)
    assert table["variance_ratio"].between(0.5, 1.8).all() and table["significant"].sum() <= 2
    assert set(table["n_runs"]) == {5} and list(table.columns[:4]) == [
        "model",
        "dataset",
        "probe",
        "category",
    ]


def test_variance_ratio_is_the_between_run_variance_over_its_permutation_mean_by_hand() -> None:
    study = normalise_predictions(simulation.simulate_study(5, biased=False, tilt=1.0, templates_per_class=4))
    (block,) = [b for b in sentence_blocks(study) if b.key[3] == "attribute_c"]
    per_run = engine.run_gaps(block, block.labels[None, :], ("negative_FPR",))[0, :, :, 0]  # groups x runs
    observed = per_run.var(axis=1, ddof=1)
    rng = np.random.default_rng(random_stream(3, block.key))
    draws = np.concatenate(
        [
            engine.run_gaps(block, labels, ("negative_FPR",))[..., 0]
            for labels in permuted_labels(block, 60, rng)
        ]
    ).var(axis=2, ddof=1)  # permutations x groups
    expected = np.mean(observed / draws.mean(axis=0))
    _, table = permutation_test(study, ("negative_FPR",), n_permutations=60, seed=3)
    assert table.set_index("category").loc["attribute_c", "variance_ratio"] == pytest.approx(expected)


def test_min_detectable_gap_never_exceeds_what_the_metric_can_reach() -> None:
    # one run and five templates: the design cannot detect any gap of most metrics; none above (k - 1) / k
    study = normalise_predictions(simulation.simulate_study(2, biased=False, runs=1, templates_per_class=2))
    test, _ = permutation_test(study, RATE_METRICS, n_permutations=200, seed=0)
    groups = test.groupby("category")["group"].transform("nunique")
    assert (test["min_detectable_gap"].fillna(0) <= (groups - 1) / groups).all()
    assert (test["min_detectable_gap"].isna() & test["p_value"].notna()).any()  # tested, nothing detectable
    assert set(test["scope"]) == {"prompts"}  # one run: no spread between prompts to measure
