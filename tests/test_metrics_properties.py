"""Properties of the metrics on random prediction tables (Hypothesis)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from promptbias.labels import LABELS
from promptbias.metrics import compute_metrics
from promptbias.metrics.metric_table import CLASS_RATES

RATE_COLUMNS = ["accuracy", "macro_f1", *(f"{label}_{rate}" for label in LABELS for rate in CLASS_RATES)]
SETTINGS = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def prediction_tables(draw: st.DrawFn) -> pd.DataFrame:
    """Random tables: 1-2 runs, 1-2 categories of 2-4 groups, 1-4 templates, 1-3 sentences per group and
    template, random labels and predictions, probabilities or not."""
    with_probabilities = draw(st.booleans())
    rows = []
    for run in range(draw(st.integers(1, 2))):
        for category in range(draw(st.integers(1, 2))):
            n_groups = draw(st.integers(2, 4))
            for template in range(draw(st.integers(1, 4))):
                label = draw(st.integers(0, 2))
                for group in range(n_groups):
                    for copy in range(draw(st.integers(1, 3))):
                        row = {
                            "y_true": label,
                            "y_pred": draw(st.integers(0, 2)),
                            "category": f"c{category}",
                            "group": f"g{group}",
                            "text": f"r{run} c{category} t{template} g{group} s{copy}",
                            "model": "m",
                            "dataset": "d",
                            "run_id": f"r{run}",
                            "template_id": f"c{category}:t{template}",
                        }
                        if with_probabilities:
                            weights = np.array(draw(st.lists(st.floats(0.01, 1.0), min_size=3, max_size=3)))
                            row.update(
                                zip(
                                    ("p_negative", "p_neutral", "p_positive"),
                                    weights / weights.sum(),
                                    strict=True,
                                )
                            )
                        rows.append(row)
    return pd.DataFrame(rows)


@SETTINGS
@given(prediction_tables())
def test_gaps_of_a_run_and_category_sum_to_zero(table: pd.DataFrame) -> None:
    per_run = compute_metrics(table).run_gaps
    sums = per_run.groupby(["run_id", "category", "metric"])["gap"].sum()
    np.testing.assert_allclose(sums.to_numpy(), 0.0, atol=1e-12)


@SETTINGS
@given(prediction_tables())
def test_rates_lie_in_the_unit_interval_or_are_nan(table: pd.DataFrame) -> None:
    result = compute_metrics(table)
    values = result.group_metrics[RATE_COLUMNS].to_numpy(dtype=float)
    present = values[~np.isnan(values)]
    assert ((present >= 0) & (present <= 1)).all()
    flips = result.flip_rates["flip_rate"].to_numpy()
    assert ((flips >= 0) & (flips <= 1)).all()


@SETTINGS
@given(prediction_tables(), st.randoms(use_true_random=False))
def test_results_do_not_depend_on_row_order(table: pd.DataFrame, random) -> None:
    order = list(range(len(table)))
    random.shuffle(order)
    original = compute_metrics(table, n_boot=20, n_permutations=20)
    shuffled = compute_metrics(table.iloc[order], n_boot=20, n_permutations=20)
    for name, frame in original.tables().items():
        pd.testing.assert_frame_equal(frame, shuffled.tables()[name], obj=name)


@SETTINGS
@given(prediction_tables())
def test_a_table_twice_has_the_same_rates_and_double_counts(table: pd.DataFrame) -> None:
    once = compute_metrics(table)
    twice = compute_metrics(pd.concat([table, table], ignore_index=True))
    counts = ["n", *(f"{label}_support" for label in LABELS)]
    pd.testing.assert_frame_equal(once.group_metrics[RATE_COLUMNS], twice.group_metrics[RATE_COLUMNS])
    pd.testing.assert_frame_equal(once.group_metrics[counts] * 2, twice.group_metrics[counts])
    for column in ("value", "gap"):
        np.testing.assert_allclose(once.run_gaps[column], twice.run_gaps[column], equal_nan=True, atol=1e-12)
    np.testing.assert_allclose(once.flip_rates["flip_rate"], twice.flip_rates["flip_rate"])
    general = ["value", "background_all", "diff_others", "pairwise_mean_diff"]
    np.testing.assert_allclose(
        once.generalized_groups[general], twice.generalized_groups[general], equal_nan=True, atol=1e-12
    )
