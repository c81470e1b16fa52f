"""Do two models treat the groups of an attribute differently? A paired permutation test of their gaps.

Both models classify the same suite sentences with the same probe. Their runs are paired in order (first run of
each, ordered by run id, i.e. seed 0 with seed 0; a probe without seeds has one run), and within a run pair
every template is a pair of cells: model A's predictions of the template's sentences and model B's. If the two
models read every template alike, either cell could have come from either model, so a permutation swaps the two
cells of each (run pair, template) with probability 1/2, the same swap for all groups of the template.

The statistic of each (attribute, group, metric) is the difference of the two models' gaps (gap of A minus gap
of B, each gap computed as in ``gaps.csv``: group rate from counts summed over templates, minus the mean of the
attribute's groups), averaged over run pairs. Each difference is studentised by its permutation sd, and max-T
over every difference of one model pair x dataset x probe (all attributes) controls the family-wise error, as
the per-model verdicts do (``metrics/inference/permutation.py``). A difference whose permutation sd is zero (both models
predict every sentence of it alike) gets no p-value.

Paired this way, a difference in overall level between the models (one predicts "positive" more often for
every group) moves both models' groups together and does not count: only a different treatment of the groups
does. ``docs/metrics.md`` shows the test's false alarms and power on simulated pairs of models.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd

from promptbias.metrics.gaps import gap
from promptbias.metrics.inference import uncertainty
from promptbias.metrics.metric_table import COUNT_COLUMNS, nan_mean, rates
from promptbias.schema import MODEL_DIFFERENCE_COLUMNS, MODEL_SUMMARY_COLUMNS

ZERO_SD = 1e-9  # a permutation sd below this is rounding noise: the models agree on every swapped cell
BOOTSTRAP_CHUNK = 100  # resamples computed at once (memory: chunk x runs x groups x counts)


def compare_models(
    counts: pd.DataFrame,
    metrics: tuple[str, ...],
    *,
    n_permutations: int,
    seed: int,
) -> pd.DataFrame:
    """One row per model pair x dataset x probe x attribute x group x metric (``MODEL_DIFFERENCE_COLUMNS``);
    empty with fewer than two models. ``counts``: the per-template counts of the compared groups
    (``template_counts``); model A of a pair is the first in sorted order."""
    order = sorted(counts["model"].unique())
    frames = []
    for (dataset, probe), part in counts.groupby(["dataset", "probe"], sort=True, observed=True):
        present = [model for model in order if model in set(part["model"])]
        for model_a, model_b in combinations(present, 2):
            rng = np.random.default_rng([seed, len(frames)])
            pair = part[part["model"].isin([model_a, model_b])]
            table = pair_table(pair, model_a, model_b, metrics, n_permutations, rng)
            if not table.empty:
                frames.append(table.assign(dataset=dataset, probe=probe, model_a=model_a, model_b=model_b))
    if not frames:
        return pd.DataFrame(columns=list(MODEL_DIFFERENCE_COLUMNS))
    return pd.concat(frames, ignore_index=True)[list(MODEL_DIFFERENCE_COLUMNS)]


def pair_table(
    counts: pd.DataFrame,
    model_a: str,
    model_b: str,
    metrics: tuple[str, ...],
    n_permutations: int,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """The differences of one model pair (one dataset and probe), tested with max-T over all attributes."""
    runs = {
        model: sorted(counts.loc[counts["model"] == model, "run_id"].unique()) for model in (model_a, model_b)
    }
    n_pairs = min(len(runs[model_a]), len(runs[model_b]))
    parts = []
    for category, frame in counts.groupby("category", sort=True, observed=True):
        cells = paired_cells(frame, runs[model_a][:n_pairs], runs[model_b][:n_pairs], model_a, model_b)
        if cells is None:
            continue
        cells_a, cells_b, groups = cells
        flips = rng.random((n_permutations, *cells_a.shape[:2])) < 0.5
        gaps_a, gaps_b = swapped_gaps(cells_a, cells_b, flips, metrics)  # [1 + B, groups, metrics]
        parts.append((category, groups, gaps_a, gaps_b, cells_a.shape[1]))
    if not parts:
        return pd.DataFrame()
    return max_t_table(parts, metrics, n_pairs, n_permutations)


def paired_cells(
    frame: pd.DataFrame, runs_a: list[str], runs_b: list[str], model_a: str, model_b: str
) -> tuple[np.ndarray, np.ndarray, list[str]] | None:
    """Count arrays ``[run pairs, templates, groups, counts]`` of both models over the templates and groups
    both have in every run pair; None when fewer than two groups remain."""
    axes = common_axes(frame)
    if axes is None:
        return None
    templates, groups = axes
    return (
        model_cells(frame, model_a, runs_a, templates, groups),
        model_cells(frame, model_b, runs_b, templates, groups),
        groups,
    )


def common_axes(frame: pd.DataFrame) -> tuple[list[str], list[str]] | None:
    """The templates and groups that every (model, run) of ``frame`` has; None with fewer than two groups."""
    runs = [part for _, part in frame.groupby(["model", "run_id"], observed=True)]
    groups = sorted(set.intersection(*(set(part["group"]) for part in runs)))
    templates = sorted(set.intersection(*(set(part["template_id"]) for part in runs)))
    if len(groups) < 2 or not templates:
        return None
    return templates, groups


def model_cells(
    frame: pd.DataFrame, model: str, runs: list[str], templates: list[str], groups: list[str]
) -> np.ndarray:
    """The counts of ``model``'s ``runs`` as an array ``[runs, templates, groups, counts]``."""
    index = pd.MultiIndex.from_product([templates, groups], names=["template_id", "group"])
    arrays = []
    for run in runs:
        part = frame[(frame["model"] == model) & (frame["run_id"] == run)]
        summed = part.groupby(["template_id", "group"], observed=True)[list(COUNT_COLUMNS)].sum()
        arrays.append(summed.reindex(index, fill_value=0).to_numpy(dtype=float))
    return np.stack(arrays).reshape(len(runs), len(templates), len(groups), len(COUNT_COLUMNS))


def swapped_gaps(
    cells_a: np.ndarray, cells_b: np.ndarray, flips: np.ndarray, metrics: tuple[str, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """Each model's gaps ``[1 + B, groups, metrics]``, averaged over run pairs, for the observed labelling
    (index 0) and for each row of ``flips`` ``[B, run pairs, templates]`` (True: the template's two cells swap
    models)."""
    total_a, total_b = cells_a.sum(axis=1), cells_b.sum(axis=1)  # [pairs, groups, counts]
    moved = np.einsum("bpt,ptgc->bpgc", flips.astype(float), cells_b - cells_a)
    values_a = rates(np.concatenate([total_a[None], total_a[None] + moved]))
    values_b = rates(np.concatenate([total_b[None], total_b[None] - moved]))

    def mean_gaps(values: dict[str, np.ndarray]) -> np.ndarray:
        return np.stack([nan_mean(gap(values[metric], axis=-1), axis=1) for metric in metrics], axis=-1)

    return mean_gaps(values_a), mean_gaps(values_b)


def max_t_table(
    parts: list[tuple[str, list[str], np.ndarray, np.ndarray, int]],
    metrics: tuple[str, ...],
    n_pairs: int,
    n_permutations: int,
) -> pd.DataFrame:
    """Per-row and max-T adjusted p-values over every difference of ``parts`` (one model pair)."""
    differences = [gaps_a - gaps_b for _, _, gaps_a, gaps_b, _ in parts]
    observed = np.concatenate([difference[0].ravel() for difference in differences])
    null = np.concatenate([difference[1:].reshape(n_permutations, -1) for difference in differences], axis=1)
    present = ~np.isnan(null)
    null_sd = np.sqrt(nan_mean((null - nan_mean(null, axis=0)) ** 2, axis=0))
    tested = (null_sd > ZERO_SD) & ~np.isnan(observed)
    observed_t = np.where(tested, np.abs(observed) / np.where(tested, null_sd, 1.0), np.nan)
    null_t = np.where(tested & present, np.abs(np.nan_to_num(null)) / np.where(tested, null_sd, 1.0), 0.0)
    reaches = null_t >= observed_t - 1e-12
    p_value = np.where(tested, (1 + reaches.sum(axis=0)) / (1 + n_permutations), np.nan)
    null_max = null_t.max(axis=1, initial=0.0)
    beaten = (null_max[:, None] >= observed_t[None] - 1e-12).sum(axis=0)
    p_adjusted = np.where(tested, (1 + beaten) / (1 + n_permutations), np.nan)
    rows = [
        {
            "category": category,
            "group": group,
            "metric": metric,
            "gap_a": gaps_a[0, g, m],
            "gap_b": gaps_b[0, g, m],
            "n_templates": n_templates,
        }
        for category, groups, gaps_a, gaps_b, n_templates in parts
        for g, group in enumerate(groups)
        for m, metric in enumerate(metrics)
    ]
    table = pd.DataFrame(rows)
    table["difference"] = observed
    table["null_sd"] = null_sd
    table["p_value"] = p_value
    table["p_adjusted"] = p_adjusted
    table["significant"] = np.nan_to_num(p_adjusted, nan=1.0) < uncertainty.ALPHA
    table["n_run_pairs"] = n_pairs
    table["n_permutations"] = n_permutations
    return table


def attribute_summary(
    counts: pd.DataFrame, gaps: pd.DataFrame, metrics: tuple[str, ...], *, n_boot: int, seed: int
) -> pd.DataFrame:
    """Per model x dataset x probe x attribute (``MODEL_SUMMARY_COLUMNS``): how many of its gaps are flagged in
    ``gaps`` (the gaps table), and the mean |gap| over its groups and ``metrics`` with a 95% interval from the
    two-level bootstrap (runs and templates resampled, gaps recomputed from the resampled counts).

    Noise alone makes a mean |gap| positive, and resampling adds more noise, so the resampled values sit above
    the observed one by about the noise's share. The interval is therefore the basic (reverse percentile)
    bootstrap interval, 2 x observed minus the upper and lower percentiles, clipped at 0, around the
    bias-corrected value ``corrected`` (2 x observed minus the resamples' mean): the mean |gap| that the data
    support once noise is taken out; an interval that reaches 0 says the attribute's gaps are within noise.
    The mean |gap| is a size, not a test; whether two models differ is ``compare_models``' question.
    ``counts``: the per-template counts of the compared groups (``template_counts``)."""
    rows = []
    keys = ["model", "dataset", "probe", "category"]
    for index, ((model, dataset, probe, category), frame) in enumerate(
        counts.groupby(keys, sort=False, observed=True)
    ):
        axes = common_axes(frame)
        if axes is None:
            continue
        runs = sorted(frame["run_id"].unique())
        array = model_cells(frame, model, runs, *axes)
        observed = mean_abs_gap(array.sum(axis=1)[None], np.ones((1, len(runs))), metrics)[0]
        rng = np.random.default_rng([seed, index])
        resampled = np.concatenate(
            [
                bootstrap_mean_abs_gap(array, metrics, min(BOOTSTRAP_CHUNK, n_boot - start), rng)
                for start in range(0, n_boot, BOOTSTRAP_CHUNK)
            ]
        )
        corrected, low, high = noise_corrected(observed, resampled)
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
                "mean_abs_gap": observed,
                "corrected": corrected,
                "ci_low": low,
                "ci_high": high,
            }
        )
    return pd.DataFrame(rows, columns=list(MODEL_SUMMARY_COLUMNS))


def noise_corrected(observed: float, resampled: np.ndarray) -> tuple[float, float, float]:
    """The bias-corrected value and the basic bootstrap interval of ``observed``, clipped at 0."""
    lower, upper = np.nanpercentile(
        resampled, [100 * uncertainty.ALPHA / 2, 100 * (1 - uncertainty.ALPHA / 2)]
    )
    corrected = 2 * observed - float(np.nanmean(resampled))
    return max(corrected, 0.0), max(2 * observed - upper, 0.0), max(2 * observed - lower, 0.0)


def bootstrap_mean_abs_gap(
    cells: np.ndarray, metrics: tuple[str, ...], n_boot: int, rng: np.random.Generator
) -> np.ndarray:
    """``n_boot`` resampled mean |gap| values: templates and runs drawn with replacement."""
    n_runs, n_templates = cells.shape[:2]
    template_weights = rng.multinomial(n_templates, np.full(n_templates, 1 / n_templates), size=n_boot)
    run_weights = rng.multinomial(n_runs, np.full(n_runs, 1 / n_runs), size=n_boot)
    sums = np.einsum("bt,rtgc->brgc", template_weights.astype(float), cells)
    return mean_abs_gap(sums, run_weights.astype(float), metrics)


def mean_abs_gap(sums: np.ndarray, run_weights: np.ndarray, metrics: tuple[str, ...]) -> np.ndarray:
    """Mean over groups and ``metrics`` of |gap averaged over runs (weighted)|, per leading index of ``sums``
    ``[B, runs, groups, counts]``."""
    values = rates(sums)
    per_metric = []
    for metric in metrics:
        gaps = gap(values[metric], axis=-1)  # [B, runs, groups]
        present = ~np.isnan(gaps)
        weights = run_weights[..., None] * present
        mean = np.where(present, gaps, 0.0) * weights
        with np.errstate(invalid="ignore", divide="ignore"):
            per_metric.append(mean.sum(axis=1) / weights.sum(axis=1))  # [B, groups]
    return nan_mean(np.abs(np.concatenate(per_metric, axis=-1)), axis=-1)
