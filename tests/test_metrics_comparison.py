"""Probe differences: each probe's gaps against the reference probe's on the same sentences, tested (paired
sign flips, max-T), by hand, and on simulated probe pairs with a known truth (false alarms and power)."""

from __future__ import annotations

import pandas as pd
import pytest

from promptbias.metrics import compute_metrics
from promptbias.metrics.gaps import gap_metrics
from promptbias.metrics.inference import simulation
from promptbias.metrics.loading import normalise_predictions
from promptbias.metrics.metric_table import template_counts
from promptbias.metrics.probe_comparison import (
    largest_differences,
    probe_differences,
    probe_differences_text,
    reference_probe,
)
from promptbias.schema import PROBE_DIFFERENCE_COLUMNS

RATE_METRICS = gap_metrics(probabilities=False)


def two_probes(runs: dict[str, list[str]]) -> pd.DataFrame:
    """One attribute (groups x, y), two negative templates. Probe ``few``: y predicted positive in t1 in every
    run; probe ``soft``: everything correct."""
    rows = []
    for probe, run_ids in runs.items():
        for run in run_ids:
            for template in ("t0", "t1"):
                for group in ("x", "y"):
                    wrong = probe == "few" and template == "t1" and group == "y"
                    rows.append(
                        {
                            "y_true": 0,
                            "y_pred": 2 if wrong else 0,
                            "category": "c",
                            "group": group,
                            "text": f"{group} {template}",
                            "model": "m",
                            "dataset": "d",
                            "probe": probe,
                            "run_id": run,
                            "template_id": template,
                            "num_params": 1,
                        }
                    )
    return normalise_predictions(pd.DataFrame(rows))


def test_the_reference_probe_is_the_tuned_one_else_the_first_by_name() -> None:
    assert reference_probe(["zero_shot", "soft_b", "few_shot", "soft_a"], {"soft_b", "soft_a"}) == "soft_a"
    assert reference_probe(["zero_shot", "few_shot"]) == "few_shot"


def test_the_difference_of_gaps_by_hand_with_a_seedless_probe_paired_with_every_run() -> None:
    frame = two_probes({"few": ["seed0"], "soft": ["seed0", "seed1", "seed2"]})
    table = probe_differences(
        template_counts(frame),
        ("accuracy", "positive_FPR"),
        reference="soft",
        n_permutations=300,
        seed=0,
        correction="maxt",
    )
    assert list(table.columns) == list(PROBE_DIFFERENCE_COLUMNS)
    rows = table.set_index(["group", "metric"])
    # few: y's accuracy 1/2, x's 1 -> gaps -1/4, +1/4; soft: gaps 0
    assert rows.loc[("y", "accuracy"), "difference"] == pytest.approx(-0.25)
    assert rows.loc[("y", "positive_FPR"), "gap_mean"] == pytest.approx(0.25)
    assert rows.loc[("y", "positive_FPR"), "reference_gap_mean"] == pytest.approx(0.0)
    assert set(table["n_run_pairs"]) == {3} and set(table["reference_probe"]) == {"soft"}
    # one template differs: a flip of t1 in a run pair moves y's wrong answer to the reference, so a draw
    # is -0.25 x (mean over the 3 pairs of +-1): it reaches |-0.25| when all three signs agree (2 of 8), and
    # its sd is 0.25 / sqrt(3)
    assert rows.loc[("y", "accuracy"), "p_value"] == pytest.approx(0.25, abs=0.08)
    assert rows.loc[("y", "accuracy"), "null_sd"] == pytest.approx(0.25 / 3**0.5, rel=0.1)
    low, high = rows.loc[("y", "accuracy"), ["ci_low", "ci_high"]]
    assert low < -0.25 < high and high - low == pytest.approx(
        2 * 1.959964 * rows.loc[("y", "accuracy"), "null_sd"]
    )
    assert largest_differences(table).empty  # nothing significant: nothing to show


def test_compute_metrics_writes_the_probe_differences_against_the_chosen_reference() -> None:
    frame = two_probes({"few": ["seed0", "seed1"], "soft": ["seed0", "seed1"]})
    result = compute_metrics(frame, n_permutations=50, n_boot=20, reference_probe="soft")
    assert set(result.probe_differences["probe"]) == {"few"}
    by_name = compute_metrics(frame, n_permutations=50, n_boot=20)
    assert set(by_name.probe_differences["reference_probe"]) == {"few"}  # first by name without a choice


def differences(seed: int, differ: bool) -> pd.DataFrame:
    predictions = normalise_predictions(simulation.simulate_probe_pair(seed, differ=differ))
    return probe_differences(
        template_counts(predictions),
        RATE_METRICS,
        reference="reference",
        n_permutations=200,
        seed=seed,
        correction="maxt",
    )


def test_false_alarms_and_power_on_simulated_probe_pairs() -> None:
    """30 fair probe pairs (one model, two probes that read templates their own way): at most 5 with any
    significant difference (Binomial(30, 0.06): 6 or more has probability 0.008). 15 pairs where the
    probe tilts one group (a probe-induced gap of about +0.095): found in at least 11 (benchmarks/verdicts.py:
    0.91 of 200; at a power of 0.9, 10 or fewer has probability 0.013)."""
    assert sum(differences(seed, False)["significant"].any() for seed in range(30)) <= 5
    found = sum(simulation.probe_difference_found(differences(10_000 + seed, True)) for seed in range(15))
    assert found >= 11


def test_end_of_run_lines_show_only_tested_significant_differences() -> None:
    frame = two_probes({"few": ["seed0", "seed1"], "soft": ["seed0", "seed1"]})
    table = compute_metrics(frame, n_permutations=50, n_boot=20, reference_probe="soft").probe_differences
    quiet = probe_differences_text(table)
    tested = table["p_value"].notna().sum()
    assert quiet == f"Probe differences against soft: none of {tested} tested differences is significant."
    table.loc[0, ["significant", "difference", "ci_low", "ci_high"]] = [True, 0.4321, 0.2, 0.66]
    loud = probe_differences_text(table)
    assert "(1 of" in loud and "+0.432" in loud and "+0.660" in loud and len(loud.splitlines()) == 3
