"""Do two models treat the groups of an attribute differently? The engine's paired test of their gaps.

Both models classify the same suite sentences with the same probe. Their runs pair by seed number
(``engine.pair_runs``: seed 2 with seed 2, all of them; a probe without seeds has one run, paired with each
run of the other model), and within a run pair every template is a pair of cells: model A's predictions of
the template's sentences and model B's. If the two models read every template alike, either cell could have
come from either model, so a draw swaps the two cells of each (run pair, template) with probability 1/2, the
same swap for all groups of the template (``engine.paired_test``).

The statistic of each (attribute, group, metric) is the difference of the two models' gaps (gap of A minus gap
of B, each gap computed as in ``gaps.csv``), averaged over run pairs, and ``--correction`` applies over every
difference of one model pair x dataset x probe (all attributes), as for the group verdicts. Paired this way,
a difference in overall level between the models (one predicts "positive" more often for every group) moves
both models' groups together and does not count: only a different treatment of the groups does. The verdict
is about these prompts (the runs are held fixed). ``docs/metrics.md`` shows the test's false alarms and power
on simulated pairs of models.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd

from promptbias.metrics.gaps import gap
from promptbias.metrics.inference import engine
from promptbias.metrics.metric_table import nan_mean, rates
from promptbias.schema import MODEL_DIFFERENCE_COLUMNS, MODEL_SUMMARY_COLUMNS


def compare_models(
    counts: pd.DataFrame,
    metrics: tuple[str, ...],
    *,
    n_permutations: int,
    seed: int,
    correction: str = engine.MAX_T,
) -> pd.DataFrame:
    """One row per model pair x dataset x probe x attribute x group x metric (``MODEL_DIFFERENCE_COLUMNS``);
    empty with fewer than two models. ``counts``: the per-template counts of the compared groups
    (``template_counts``); model A of a pair is the first in sorted order."""
    order = sorted(counts["model"].unique())
    frames = []
    for (dataset, probe), part in counts.groupby(["dataset", "probe"], sort=True, observed=True):
        present = [model for model in order if model in set(part["model"])]
        for model_a, model_b in combinations(present, 2):
            pair = part[part["model"].isin([model_a, model_b])].assign(arm=lambda frame: frame["model"])
            table = engine.paired_test(
                pair,
                (model_a, model_b),
                metrics,
                n_permutations=n_permutations,
                seed=seed,
                key=("models", str(dataset), str(probe), model_a, model_b),
                correction=correction,
            )
            if not table.empty:
                frames.append(table.assign(dataset=dataset, probe=probe, model_a=model_a, model_b=model_b))
    if not frames:
        return pd.DataFrame(columns=list(MODEL_DIFFERENCE_COLUMNS))
    return pd.concat(frames, ignore_index=True)[list(MODEL_DIFFERENCE_COLUMNS)]


def attribute_summary(counts: pd.DataFrame, gaps: pd.DataFrame, metrics: tuple[str, ...]) -> pd.DataFrame:
    """Per model x dataset x probe x attribute (``MODEL_SUMMARY_COLUMNS``): how many of its gaps are flagged in
    ``gaps`` (the gaps table), and the mean |gap| over its groups and ``metrics``. Noise alone makes a mean
    |gap| positive, so it is a size to read beside the flags, not evidence; whether two models differ is
    ``compare_models``' question. ``counts``: the per-template counts of the compared groups
    (``template_counts``)."""
    rows = []
    keys = ["model", "dataset", "probe", "category"]
    for (model, dataset, probe, category), frame in counts.groupby(keys, sort=False, observed=True):
        axes = engine.shared_axes(frame.assign(arm=model))
        if axes is None:
            continue
        runs = sorted(frame["run_id"].unique())
        array = engine.template_cells(frame, runs, *axes)
        flagged = gaps[
            (gaps["model"] == model)
            & (gaps["dataset"] == dataset)
            & (gaps["probe"] == probe)
            & (gaps["category"] == category)
            & gaps["metric"].isin(metrics)
        ]
        rows.append(
            {
                "model": model,
                "dataset": dataset,
                "probe": probe,
                "category": category,
                "n_groups": array.shape[2],
                "n_templates": array.shape[1],
                "n_runs": len(runs),
                "n_gaps": len(flagged),
                "n_significant": int(flagged["significant"].astype(bool).sum()),
                "mean_abs_gap": mean_abs_gap(array.sum(axis=1), metrics),
            }
        )
    return pd.DataFrame(rows, columns=list(MODEL_SUMMARY_COLUMNS))


def mean_abs_gap(sums: np.ndarray, metrics: tuple[str, ...]) -> float:
    """Mean over groups and ``metrics`` of |gap averaged over runs| from per-run counts ``[runs, groups,
    counts]``."""
    values = rates(sums)
    per_metric = [nan_mean(gap(values[metric], axis=-1), axis=0) for metric in metrics]  # [groups] each
    return float(np.nanmean(np.abs(np.concatenate(per_metric))))
