"""The group gap of the paper, per run, and its mean with a 95% interval across runs.

Gap (Tian et al. 2023): in one run, for a metric M and a category (sensitive attribute) with selected groups
g_1..g_k,

    gap(g) = M(g) - (M(g_1) + ... + M(g_k)) / k

an unweighted mean over the groups, whatever their sizes. A group whose M is undefined (0/0) has no gap and is
left out of the mean, so the gaps of a run and category always sum to zero. Across runs, the gaps of one
(model, dataset, probe, category, group, metric) are averaged and given an interval by ``uncertainty``; the
bootstrap resamples whole templates and averages the resampled gaps across runs.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from promptbias.metrics.inference import uncertainty
from promptbias.metrics.inference.streams import random_stream
from promptbias.metrics.metric_table import (
    COUNT_COLUMNS,
    METRICS,
    Metric,
    denominators,
    metric_names,
    nan_mean,
    rates,
    ratio,
)
from promptbias.schema import GAP_COLUMNS, GAP_KEY, GROUP_KEY, RUN_KEY


def gap_metrics(probabilities: bool, table: Mapping[str, Metric] = METRICS) -> tuple[str, ...]:
    """The metrics that get gaps: those ``table`` marks ``gap``, less those of probabilities when the inputs
    have none (``probabilities`` false)."""
    return metric_names(
        lambda metric: metric.gap and (probabilities or not metric.needs_probabilities), table
    )


def gap(values: np.ndarray, axis: int = -1) -> np.ndarray:
    """Each group's value minus the unweighted mean over the groups along ``axis`` (NaN values left out)."""
    values = np.asarray(values, dtype=float)
    return values - np.expand_dims(nan_mean(values, axis=axis), axis)


def run_gaps(counts: pd.DataFrame, metrics: tuple[str, ...]) -> pd.DataFrame:
    """Long table of per-run gaps: one row per (run, category, group, metric) with value, gap, denominator.

    ``counts`` holds the additive counts of the selected groups (per template or per group).
    """
    summed = counts.groupby(list(GROUP_KEY), sort=True, observed=True)[list(COUNT_COLUMNS)].sum()
    values, bases = rates(summed.to_numpy()), denominators(summed.to_numpy())
    parts = [
        pd.DataFrame(
            {"metric": metric, "value": values[metric], "denominator": bases[metric]}, index=summed.index
        )
        for metric in metrics
    ]
    frame = pd.concat(parts).reset_index()
    frame["denominator"] = frame["denominator"].astype(np.int64)
    frame["gap"] = frame.groupby([*RUN_KEY, "category", "metric"], sort=False)["value"].transform(
        lambda series: gap(series.to_numpy(), axis=0)
    )
    return _order(frame, [*GROUP_KEY, "metric"], metrics)


def across_runs(
    per_run: pd.DataFrame, runs: pd.DataFrame, method: str, bootstrap: pd.DataFrame | None = None
) -> pd.DataFrame:
    """One row per (model, dataset, probe, category, group, metric): runs, mean gap, sd, interval, p-value.

    ``n_runs`` counts the runs where the gap is defined; with none, every statistic is NaN.

    ``method`` is ``t`` or ``z`` (computed here from the per-run gaps); for the resampling methods
    ``bootstrap`` holds ``ci_low``, ``ci_high`` and, where the method has it, ``p_value`` and other test
    columns per gap row. Adjusted p-values come later.
    """
    table = (
        per_run.groupby(list(GAP_KEY), sort=False, observed=True)
        .agg(
            n_runs=("gap", "count"),
            value_mean=("value", "mean"),
            gap_mean=("gap", "mean"),
            gap_std=("gap", "std"),
            denominator_min=("denominator", "min"),
        )
        .reset_index()
    )
    if bootstrap is not None:
        table = table.merge(bootstrap, on=list(GAP_KEY), how="left")
    elif method in ("t", "z"):
        low, high, p_value = uncertainty.mean_interval(
            table["gap_mean"], table["gap_std"], table["n_runs"], method
        )
        table = table.assign(ci_low=low, ci_high=high, p_value=p_value)
    else:
        raise ValueError(f"the {method} method needs its resampled intervals")
    sizes = runs.groupby(["model", "dataset", "probe"], sort=False)["num_params"].first().reset_index()
    table = table.merge(sizes, on=["model", "dataset", "probe"], how="left")
    table["denominator_min"] = table["denominator_min"].astype(np.int64)
    return table


def bootstrap_gaps(
    counts: pd.DataFrame, metrics: tuple[str, ...], n_boot: int, seed: int, *, resample_runs: bool = False
) -> pd.DataFrame:
    """Template bootstrap of the mean gap, as ``ci_low``, ``ci_high``, ``p_value`` per gap row.

    One resample draws templates with replacement (all sentences of a template together); every run of the
    model, dataset and probe uses that same draw (the runs share their templates: it is the templates that
    were sampled), recomputes each group's metrics and gaps, and the resampled gaps are averaged across runs.
    ``counts`` holds per-template counts of the selected groups. Each (model, dataset, probe, category)
    draws from its own random stream derived from ``seed`` and its key, so the result depends neither on row
    order nor on the other inputs. With ``resample_runs`` (the two-level bootstrap, Sellam et al. 2022) each
    resample also draws the runs with replacement, so that the interval covers the choice of seeds and of
    templates together; without it the runs are held fixed.
    """
    rows = []
    for key, block in counts.groupby(["model", "dataset", "probe", "category"], sort=True, observed=True):
        groups = sorted(block["group"].unique())
        templates = sorted(block["template_id"].unique())
        rng = np.random.default_rng(random_stream(seed, key))
        weights = uncertainty.bootstrap_weights(len(templates), n_boot, rng)
        per_run, observed = [], []
        for _, run_block in block.groupby("run_id", sort=True, observed=True):
            array = _dense(run_block, templates, groups)
            per_run.append(_weighted_gaps(weights, array, metrics))
            observed.append(_weighted_gaps(np.ones((1, len(templates))), array, metrics)[0])
        stacked = np.stack(per_run)
        if resample_runs:
            run_weights = uncertainty.bootstrap_weights(len(per_run), n_boot, rng).T.astype(float)
        else:
            run_weights = np.ones((len(per_run), n_boot))
        present = ~np.isnan(stacked)
        weight = run_weights[:, :, None, None] * present
        replicates = ratio((np.where(present, stacked, 0.0) * weight).sum(axis=0), weight.sum(axis=0))
        low, high, p_value = uncertainty.bootstrap_interval(replicates, nan_mean(np.stack(observed), axis=0))
        grid = pd.MultiIndex.from_product([groups, metrics], names=["group", "metric"]).to_frame(index=False)
        model, dataset, probe, category = key
        rows.append(
            grid.assign(
                model=model,
                dataset=dataset,
                probe=probe,
                category=category,
                ci_low=low.ravel(),
                ci_high=high.ravel(),
                p_value=p_value.ravel(),
            )
        )
    return pd.concat(rows, ignore_index=True)[[*GAP_KEY, "ci_low", "ci_high", "p_value"]]


def _weighted_gaps(weights: np.ndarray, array: np.ndarray, metrics: tuple[str, ...]) -> np.ndarray:
    """Gaps (resamples x groups x metrics) of the templates of ``array`` counted ``weights`` times each."""
    values = rates(np.einsum("bt,tgk->bgk", weights, array))
    return gap(np.stack([values[metric] for metric in metrics], axis=-1), axis=1)


def _dense(block: pd.DataFrame, templates: list[str], groups: list[str]) -> np.ndarray:
    """Per-template counts of one run and category as an array (templates x groups x counts), zero where a
    template or group is absent."""
    template_index = pd.Categorical(block["template_id"], categories=templates).codes
    group_index = pd.Categorical(block["group"], categories=groups).codes
    array = np.zeros((len(templates), len(groups), len(COUNT_COLUMNS)))
    np.add.at(array, (template_index, group_index), block[list(COUNT_COLUMNS)].to_numpy(dtype=float))
    return array


def _order(frame: pd.DataFrame, keys: list[str], metrics: tuple[str, ...]) -> pd.DataFrame:
    """Rows sorted by ``keys`` with metrics in their listed order (not alphabetical)."""
    rank = {metric: index for index, metric in enumerate(metrics)}
    ordered = frame.assign(_rank=frame["metric"].map(rank))
    keys = [("_rank" if key == "metric" else key) for key in keys]
    return ordered.sort_values(keys, kind="stable").drop(columns="_rank").reset_index(drop=True)


def order_gaps(table: pd.DataFrame, metrics: tuple[str, ...]) -> pd.DataFrame:
    """``table`` in the documented row order and column order of ``gaps.csv``."""
    return _order(table, list(GAP_KEY), metrics)[list(GAP_COLUMNS)]
