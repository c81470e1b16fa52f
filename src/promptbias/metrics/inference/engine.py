"""The one engine behind every permutation test: count arrays, gaps from counts, random draws, corrections.

Every test of the tool is a statistic computed from additive counts (``metric_table.COUNT_COLUMNS``) and a
null made by rearranging those counts where the null says they are exchangeable:

- **group permutations** (group verdicts, the wording baseline, the prompt-disagreement test): the group
  labels of the sentences of one template are shuffled, the same shuffle in every run (``sentence_blocks``,
  ``permuted_labels``, ``run_gaps``);
- **sign flips** (model differences, probe differences): two arms (two models, or a probe and the reference
  probe) classify the same sentences; within a run pair each template is a pair of cells, one per arm, and a
  flip swaps the two cells of a (run pair, template) (``paired_cells``, ``flipped_differences``).

Each draw comes from one random stream per key (``streams.random_stream``), so adding a model, probe or
attribute never moves another key's draws. Runs are paired by seed number (``pair_runs``).

``family_test`` turns an observed statistic and its null draws into p-values, adjusted p-values and the
minimum detectable effect, with one rule for every test:

- the null sd is the standard deviation (ddof = 1) of the observed statistic and the draws that are defined
  (the observed arrangement is one of the B + 1, so that studentising treats it like the draws and the test
  stays exact); a draw that is undefined (NaN, e.g. a rate with no denominator after a rearrangement) never
  reaches the observed value and is left out of the sd; a statistic whose null never moves (sd below
  ``STILL``) or is undefined gets p = NaN, is never significant and is left out of its family;
- a draw reaches the observed value when it is at least (1 - ``TIES``) times as large, so ties count;
- p = (1 + draws that reach) / (1 + B), never 0;
- corrections within a family: ``maxt`` (Westfall-Young max-T, step-down, on statistics studentised by their
  null sd), ``holm``, ``bh`` (Benjamini-Hochberg) or ``none``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse
import scipy.stats

from promptbias.metrics.gaps import gap
from promptbias.metrics.inference.streams import random_stream
from promptbias.metrics.inference.uncertainty import ALPHA, PERMUTATION, POWER
from promptbias.metrics.metric_table import COUNT_COLUMNS, nan_mean, rates, sentence_counts

DEFAULT_PERMUTATIONS = 1000
MAX_T = "maxt"
CORRECTIONS = (MAX_T, "holm", "bh", "none")
FAMILY_KEY = ("model", "dataset", "probe")
BLOCK_KEY = (*FAMILY_KEY, "category")
CHUNK = 50  # draws computed together: bounds the memory of one sparse product
TIES = 1e-9  # relative tolerance: a draw equal to the observed statistic counts as reaching it
STILL = 1e-9  # a null sd below this is rounding noise: the statistic never moves under the null
POOLING_ROUNDS = 20  # rounds of the weights and the pooled excess found together (``pooled_excess``)
_NUMBER = re.compile(r"(\d+)\D*$")


# --- runs ---------------------------------------------------------------------------------------------


def seed_number(run_id: str) -> int | None:
    """The seed number of a run id: its last integer (``seed10`` -> 10, ``run_2`` -> 2); None without one."""
    found = _NUMBER.search(str(run_id))
    return int(found.group(1)) if found else None


def pair_runs(runs_a: Sequence[str], runs_b: Sequence[str]) -> list[tuple[str, str]]:
    """The run pairs of two arms, by seed number (``seed2`` with ``seed2``, never by the order of names), all
    of them. An arm with a single run (a probe without seeds) pairs it with every run of the other arm. Runs
    without a seed number pair in order of their names. Runs whose number the other arm lacks are left out."""
    if len(runs_a) == 1 or len(runs_b) == 1:
        return [(a, b) for a in runs_a for b in runs_b]
    numbers_a, numbers_b = _numbered(runs_a), _numbered(runs_b)
    return [(numbers_a[key], numbers_b[key]) for key in sorted(set(numbers_a) & set(numbers_b))]


def _numbered(runs: Sequence[str]) -> dict[int, str]:
    numbers = [seed_number(run) for run in runs]
    if None in numbers or len(set(numbers)) < len(numbers):
        return dict(enumerate(sorted(runs)))
    return dict(zip(numbers, runs, strict=True))  # type: ignore[arg-type]


# --- group permutations -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Block:
    """The sentences of one (model, dataset, probe, category), sorted by template.

    ``labels``: each sentence's group (index into ``groups``); ``templates``: its template index
    (non-decreasing); ``counts``: sentences x (runs x count columns), zero where a run lacks the sentence;
    ``terms``: with a ``term`` column in the predictions, each sentence's term, one index per (group, term).
    """

    key: tuple[str, ...]
    groups: list[str]
    labels: np.ndarray
    templates: np.ndarray
    counts: np.ndarray
    n_runs: int
    terms: np.ndarray | None = None  # each sentence's term (index into term_groups), where asked for
    term_groups: np.ndarray | None = None  # each term's group (index into groups)


def sentence_blocks(predictions: pd.DataFrame) -> Iterator[Block]:
    """One block per (model, dataset, probe, category) of normalised ``predictions``.

    A sentence is identified across runs by its template, its group and its place among the group's
    sentences in that template (``sentence_slots``)."""
    counts = sentence_counts(predictions).to_numpy(dtype=float)
    columns = [*BLOCK_KEY, "run_id", "template_id", "group", *(["term"] if "term" in predictions else [])]
    frame = predictions[columns].reset_index(drop=True)
    frame["slot"] = sentence_slots(predictions)
    for key, rows in frame.groupby(list(BLOCK_KEY), sort=True, observed=True):
        sentences = rows.groupby(["template_id", "group", "slot"], sort=True).ngroup().to_numpy()
        runs = pd.factorize(rows["run_id"], sort=True)[0]
        n_sentences, n_runs = sentences.max() + 1, runs.max() + 1
        dense = np.zeros((n_sentences, n_runs, len(COUNT_COLUMNS)))
        np.add.at(dense, (sentences, runs), counts[rows.index.to_numpy()])
        first = rows.drop_duplicates(["template_id", "group", "slot"]).sort_values(
            ["template_id", "group", "slot"]
        )
        groups = sorted(first["group"].unique())
        labels = pd.Categorical(first["group"], categories=groups).codes.astype(np.int64)
        terms = term_groups = None
        if "term" in first:
            terms, pairs = pd.factorize(
                pd.MultiIndex.from_arrays([labels, first["term"].astype(str)]), sort=True
            )
            term_groups = pairs.get_level_values(0).to_numpy(dtype=np.int64)
        yield Block(
            key=key,
            groups=groups,
            labels=labels,
            templates=pd.factorize(first["template_id"], sort=True)[0],
            counts=dense.reshape(n_sentences, -1),
            n_runs=int(n_runs),
            terms=terms,
            term_groups=term_groups,
        )


def sentence_slots(predictions: pd.DataFrame) -> np.ndarray:
    """Each row's place among the sentences of its run, template and group, in the order of their text (row
    order only among equal texts), so that one sentence has the same place in every run."""
    keys = [*BLOCK_KEY, "run_id", "template_id", "group"]
    frame = predictions[keys].reset_index(drop=True).assign(_text=predictions["text"].astype(str).to_numpy())
    ordered = frame.sort_values([*keys, "_text"], kind="stable")
    slots = ordered.groupby(keys, sort=False).cumcount()
    return slots.reindex(frame.index).to_numpy()


def run_rates(block: Block, labels: np.ndarray, n_labels: int, metrics: tuple[str, ...]) -> np.ndarray:
    """Per-run rates (labellings x labels x runs x metrics) of the sentences that each labelling (a row of
    ``labels``, values below ``n_labels``) puts under each label."""
    n_labellings, n_sentences = labels.shape
    rows = (labels + n_labels * np.arange(n_labellings)[:, None]).ravel()
    columns = np.tile(np.arange(n_sentences), n_labellings)
    membership = scipy.sparse.csr_matrix(
        (np.ones(rows.size), (rows, columns)), shape=(n_labellings * n_labels, n_sentences)
    )
    grouped = np.asarray(membership @ block.counts).reshape(n_labellings, n_labels, block.n_runs, -1)
    values = rates(grouped)
    return np.stack([values[metric] for metric in metrics], axis=-1)


def run_gaps(block: Block, labels: np.ndarray, metrics: tuple[str, ...]) -> np.ndarray:
    """Per-run gaps (labellings x groups x runs x metrics) for each labelling (a row of ``labels``)."""
    return gap(run_rates(block, labels, len(block.groups), metrics), axis=1)


def permuted_labels(block: Block, n_permutations: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Chunks of group labellings, each permuted within every template (sizes of groups kept)."""
    for start in range(0, n_permutations, CHUNK):
        size = min(CHUNK, n_permutations - start)
        order = np.argsort(block.templates[None, :] + rng.random((size, block.labels.size)), axis=1)
        yield block.labels[order]


def pooled_excess(
    observed: np.ndarray, expected: np.ndarray, freedom: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """A variance beyond the permutations' (between prompts, between a group's terms), pooled over units.

    ``observed``: each unit's variance (units x metrics; NaN: unit left out); ``expected``: its mean over the
    permutations, which keep the sentences' noise and scatter the effect in question; ``freedom``: each
    unit's degrees of freedom (units x 1). Units are weighted by the inverse of their variance, about
    2 (E + pooled)^2 / freedom, so that a unit whose noise is small is not swamped by the noisy ones; the
    weights and the pooled excess are found together (``POOLING_ROUNDS`` rounds from pooled = 0: with 1 / E^2
    alone, units whose rates sit where the noise is large, which are also those an effect moves most, would
    count least and the pooled excess would come out several times too small). The pooled excess is clipped
    at 0; its degrees of freedom (as a scaled chi-square) are 2 pooled^2 / its variance. Returns both per
    metric."""
    usable = ~np.isnan(observed) & (np.nan_to_num(expected) > STILL)
    excess = np.where(usable, observed - expected, 0.0)
    base = np.where(usable, expected, 1.0)
    pooled = np.zeros(observed.shape[1:])
    with np.errstate(divide="ignore", invalid="ignore"):
        for _ in range(POOLING_ROUNDS):
            weight = np.where(usable, freedom / (base + pooled) ** 2, 0.0)
            pooled = np.maximum(np.nan_to_num((excess * weight).sum(axis=0) / weight.sum(axis=0)), 0.0)
        weight = np.where(usable, freedom / (base + pooled) ** 2, 0.0)
        total = weight.sum(axis=0)
        spread = 2 * (weight**2 * (base + pooled) ** 2 / freedom).sum(axis=0) / total**2
        pooled_freedom = 2 * pooled**2 / spread
    return pooled, np.nan_to_num(pooled_freedom, nan=0.0)


def satterthwaite(known: np.ndarray, parts: Sequence[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """The degrees of freedom of ``known`` + the estimated variances of ``parts`` (each: variance, its
    degrees of freedom), only the estimated parts counting; infinite where none adds anything."""
    total = known + sum(variance for variance, _ in parts)
    with np.errstate(divide="ignore", invalid="ignore"):
        spread = sum(
            np.where(variance > 0, variance**2 / np.maximum(freedom, 1e-12), 0.0)
            for variance, freedom in parts
        )
        return np.where(spread > 0, total**2 / np.where(spread > 0, spread, 1.0), np.inf)


def between_run_variance(per_run: np.ndarray, axis: int) -> np.ndarray:
    """The variance (ddof = 1) over runs of per-run gaps, NaN runs left out; NaN with fewer than two."""
    present = ~np.isnan(per_run)
    count = present.sum(axis=axis)
    mean = np.expand_dims(nan_mean(per_run, axis=axis), axis)
    squares = np.where(present, (per_run - mean) ** 2, 0.0).sum(axis=axis)
    return np.where(count >= 2, squares / np.maximum(count - 1, 1), np.nan)


# --- sign flips ---------------------------------------------------------------------------------------


def template_cells(
    counts: pd.DataFrame, runs: Sequence[str], templates: Sequence[str], groups: Sequence[str]
) -> np.ndarray:
    """Per-template counts (``template_counts`` rows of one arm) as ``[runs, templates, groups, counts]``,
    zero where a run lacks a template or group."""
    run_index = pd.Categorical(counts["run_id"], categories=list(runs)).codes
    template_index = pd.Categorical(counts["template_id"], categories=list(templates)).codes
    group_index = pd.Categorical(counts["group"], categories=list(groups)).codes
    keep = (run_index >= 0) & (template_index >= 0) & (group_index >= 0)
    array = np.zeros((len(runs), len(templates), len(groups), len(COUNT_COLUMNS)))
    values = counts[list(COUNT_COLUMNS)].to_numpy(dtype=float)[keep]
    np.add.at(array, (run_index[keep], template_index[keep], group_index[keep]), values)
    return array


def shared_axes(counts: pd.DataFrame) -> tuple[list[str], list[str]] | None:
    """The templates and groups that every (arm, run) of ``counts`` has (column ``arm``); None with fewer
    than two groups or no template."""
    parts = [part for _, part in counts.groupby(["arm", "run_id"], observed=True)]
    groups = sorted(set.intersection(*(set(part["group"]) for part in parts)))
    templates = sorted(set.intersection(*(set(part["template_id"]) for part in parts)))
    if len(groups) < 2 or not templates:
        return None
    return templates, groups


def sign_flips(n_draws: int, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """``n_draws`` independent fair coin flips for each cell pair of ``shape`` (True: the cells swap)."""
    return rng.random((n_draws, *shape)) < 0.5


def flipped_differences(
    cells_a: np.ndarray, cells_b: np.ndarray, flips: np.ndarray, metrics: tuple[str, ...]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Arm A's gaps, arm B's gaps (``[groups, metrics]``, averaged over run pairs) and the differences A - B
    for the observed arms (index 0) and for each row of ``flips`` ``[B, run pairs, templates]``
    (``[1 + B, groups, metrics]``). ``cells_*``: ``[run pairs, templates, groups, counts]``."""
    total_a, total_b = cells_a.sum(axis=1), cells_b.sum(axis=1)  # [pairs, groups, counts]
    moved = np.einsum("bpt,ptgc->bpgc", flips.astype(float), cells_b - cells_a)
    gaps_a = _pair_mean_gaps(np.concatenate([total_a[None], total_a[None] + moved]), metrics)
    gaps_b = _pair_mean_gaps(np.concatenate([total_b[None], total_b[None] - moved]), metrics)
    return gaps_a[0], gaps_b[0], gaps_a - gaps_b


def paired_test(
    counts: pd.DataFrame,
    arms: tuple[str, str],
    metrics: tuple[str, ...],
    *,
    n_permutations: int,
    seed: int,
    key: tuple[str, ...],
    correction: str,
    alpha: float = ALPHA,
) -> pd.DataFrame:
    """The paired test of arm A's gaps against arm B's on the same sentences, one family (all attributes).

    ``counts``: ``template_counts`` rows of both arms (which arm in column ``arm``); runs pair by seed number
    (``pair_runs``). The statistic of each (category, group, metric) is gap of A minus gap of B averaged over
    run pairs; a draw swaps the two cells of each (run pair, template) with probability 1/2, the same swap for
    every group of the template, from the stream of ``key`` and the category. One row per difference:
    ``category group metric gap_a gap_b difference null_sd ci_low ci_high p_value p_adjusted significant
    n_run_pairs n_templates n_permutations``; the interval is difference +- z_0.975 x null sd, the range of
    differences the test would not reject on its own."""
    parts = []
    for category, frame in counts.groupby("category", sort=True, observed=True):
        cells = paired_cells(frame, arms)
        if cells is None:
            continue
        cells_a, cells_b, groups = cells
        rng = np.random.default_rng(random_stream(seed, (*key, str(category))))
        draws = [
            flipped_differences(
                cells_a,
                cells_b,
                sign_flips(min(CHUNK, n_permutations - start), cells_a.shape[:2], rng),
                metrics,
            )
            for start in range(0, n_permutations, CHUNK)
        ]
        gaps_a, gaps_b, first = draws[0]
        null = np.concatenate([first[1:], *(differences[1:] for _, _, differences in draws[1:])])
        parts.append((category, groups, gaps_a, gaps_b, first[0], null, cells_a.shape[:2]))
    if not parts:
        return pd.DataFrame()
    observed = np.concatenate([part[4].ravel() for part in parts])
    null = np.concatenate([part[5].reshape(n_permutations, -1) for part in parts], axis=1)
    test = family_test(observed, null, correction, alpha)
    rows = [
        {
            "category": category,
            "group": group,
            "metric": metric,
            "gap_a": gaps_a[g, m],
            "gap_b": gaps_b[g, m],
            "n_run_pairs": shape[0],
            "n_templates": shape[1],
        }
        for category, groups, gaps_a, gaps_b, _, _, shape in parts
        for g, group in enumerate(groups)
        for m, metric in enumerate(metrics)
    ]
    half = scipy.stats.norm.ppf(1 - alpha / 2) * test["null_sd"]
    return pd.DataFrame(rows).assign(
        difference=observed,
        null_sd=test["null_sd"],
        ci_low=observed - half,
        ci_high=observed + half,
        p_value=test["p_value"],
        p_adjusted=test["p_adjusted"],
        significant=np.nan_to_num(test["p_adjusted"], nan=1.0) < alpha,
        n_permutations=n_permutations,
    )


def paired_cells(
    frame: pd.DataFrame, arms: tuple[str, str]
) -> tuple[np.ndarray, np.ndarray, list[str]] | None:
    """Both arms' count arrays ``[run pairs, templates, groups, counts]`` over the templates and groups
    every paired run has; None without a run pair or with fewer than two groups."""
    runs = [sorted(frame.loc[frame["arm"] == arm, "run_id"].unique()) for arm in arms]
    pairs = pair_runs(*runs)
    if not pairs:
        return None
    used = [sorted({pair[side] for pair in pairs}) for side in (0, 1)]
    chosen = frame[
        ((frame["arm"] == arms[0]) & frame["run_id"].isin(used[0]))
        | ((frame["arm"] == arms[1]) & frame["run_id"].isin(used[1]))
    ]
    axes = shared_axes(chosen)
    if axes is None:
        return None
    arrays = []
    for side, arm in enumerate(arms):
        unique = template_cells(chosen[chosen["arm"] == arm], used[side], *axes)
        arrays.append(unique[[used[side].index(pair[side]) for pair in pairs]])
    return arrays[0], arrays[1], axes[1]


def _pair_mean_gaps(sums: np.ndarray, metrics: tuple[str, ...]) -> np.ndarray:
    values = rates(sums)
    return np.stack([nan_mean(gap(values[metric], axis=-1), axis=1) for metric in metrics], axis=-1)


# --- p-values and corrections -------------------------------------------------------------------------


def null_sd(null: np.ndarray) -> np.ndarray:
    """The sd (ddof = 1) of each column's defined values; NaN with fewer than two."""
    counts = (~np.isnan(null)).sum(axis=0)
    sd = np.full(null.shape[1:], np.nan)
    spread = counts >= 2
    if spread.any():
        sd[spread] = np.nanstd(null[:, spread], axis=0, ddof=1)
    return sd


def family_test(
    observed: np.ndarray,
    null: np.ndarray,
    correction: str,
    alpha: float = ALPHA,
    *,
    scale: np.ndarray | None = None,
    freedom: np.ndarray | None = None,
    two_sided: bool = True,
) -> dict[str, np.ndarray]:
    """p-values, adjusted p-values, null sd and minimum detectable effects of one family of statistics.

    ``observed``: statistics (J); ``null``: their null draws (B x J). ``scale``: the sd that studentises
    the observed statistic (default: the null sd); a larger one (the model scope's, which adds the
    variance between prompts) makes the test ask whether the statistic exceeds that larger noise, with the
    shape of the null (its tails, its correlation across the family) from the draws. ``freedom``: where the
    scale is itself estimated, its degrees of freedom: the studentised statistic is then read as a t value
    and moved to the normal value with the same tail (``t_to_normal``) before it meets the draws, so a noisy
    scale does not turn into false alarms. ``two_sided``: compare
    |statistics|, else the statistics themselves (large values are evidence). ``min_detectable`` is
    (c + z_0.80) x scale, c the critical value in studentised units: the 95% point of the family's largest
    studentised draw (``maxt``, ``holm``, ``bh``: their first rejection needs the family-wise level) or of
    the statistic's own (``none``)."""
    n_draws = len(null)
    sd = null_sd(np.vstack([observed, null]))  # the observed statistic is one of the B + 1 arrangements
    scale = sd if scale is None else np.asarray(scale, dtype=float)
    testable = (sd > STILL) & ~np.isnan(observed) & (scale > STILL)
    finite = ~np.isnan(null)
    fold = np.abs if two_sided else (lambda values: values)
    safe_sd = np.where(testable, sd, 1.0)
    null_t = np.where(finite & testable, fold(np.nan_to_num(null)) / safe_sd, -np.inf)
    own = np.where(testable, fold(observed) / np.where(testable, scale, 1.0), np.nan)
    if freedom is not None:
        own = t_to_normal(own, freedom)
    reached = null_t >= (own * (1 - TIES))[None, :]
    p_value = np.where(testable, (1 + reached.sum(axis=0)) / (1 + n_draws), np.nan)
    adjusted = step_down_max_t(own, null_t) if correction == MAX_T else adjust_p_values(p_value, correction)
    largest = null_t.max(axis=1) if testable.any() else np.full(n_draws, -np.inf)
    if correction == "none":
        critical = np.array([_quantile(null_t[:, j], 1 - alpha) for j in range(len(observed))])
    else:
        critical = np.full(observed.shape, _quantile(largest, 1 - alpha))
    if freedom is not None:
        critical = normal_to_t(critical, freedom)
    detectable = (critical + scipy.stats.norm.ppf(POWER)) * scale
    return {
        "p_value": p_value,
        "p_adjusted": adjusted,
        "null_sd": sd,
        "min_detectable": np.where(testable, detectable, np.nan),
        "n_permutations": np.full(observed.shape, n_draws, dtype=np.int64),
        "p_value_se": np.sqrt(p_value * (1 - p_value) / n_draws),
        "p_adjusted_se": np.sqrt(adjusted * (1 - adjusted) / n_draws),
    }


def t_to_normal(values: np.ndarray, freedom: np.ndarray) -> np.ndarray:
    """The normal values with the upper tails of ``values`` under Student's t with ``freedom`` degrees of
    freedom (infinite: unchanged)."""
    freedom = np.broadcast_to(np.asarray(freedom, dtype=float), np.shape(values))
    finite = np.isfinite(freedom) & ~np.isnan(values)
    result = np.array(values, dtype=float)
    result[finite] = -scipy.stats.norm.ppf(scipy.stats.t.sf(result[finite], freedom[finite]))
    return result


def normal_to_t(values: np.ndarray, freedom: np.ndarray) -> np.ndarray:
    """The inverse of ``t_to_normal``."""
    freedom = np.broadcast_to(np.asarray(freedom, dtype=float), np.shape(values))
    finite = np.isfinite(freedom) & ~np.isnan(values)
    result = np.array(values, dtype=float)
    result[finite] = -scipy.stats.t.ppf(scipy.stats.norm.sf(result[finite]), freedom[finite])
    return result


def step_down_max_t(own: np.ndarray, null_t: np.ndarray) -> np.ndarray:
    """Westfall-Young step-down max-T: the statistics in decreasing order, each compared with the largest
    null draw over itself and the statistics below it, adjusted p-values made monotone. ``own``: studentised
    statistics (NaN: not in the family); ``null_t``: studentised draws (-inf where undefined)."""
    adjusted = np.full(own.shape, np.nan)
    tested = np.flatnonzero(~np.isnan(own))
    if tested.size == 0:
        return adjusted
    order = tested[np.argsort(-own[tested], kind="stable")]
    tails = np.maximum.accumulate(null_t[:, order[::-1]], axis=1)[:, ::-1]  # max over order[i:]
    reached = (tails >= (own[order] * (1 - TIES))[None, :]).sum(axis=0)
    adjusted[order] = np.maximum.accumulate((1 + reached) / (1 + len(null_t)))
    return adjusted


def default_correction(method: str) -> str:
    """The family-wise correction that suits ``method``: max-T for the permutation test, else Holm."""
    return MAX_T if method == PERMUTATION else "holm"


def holm(p_values: np.ndarray) -> np.ndarray:
    """Holm's step-down adjustment: the k-th smallest of m p-values times m - k + 1, monotone, at most 1."""
    p_values = np.asarray(p_values, dtype=float)
    order = np.argsort(p_values, kind="stable")
    m = len(p_values)
    adjusted = np.maximum.accumulate((m - np.arange(m)) * p_values[order])
    result = np.empty(m)
    result[order] = np.minimum(adjusted, 1.0)
    return result


def adjust_p_values(p_values: np.ndarray, method: str) -> np.ndarray:
    """Adjusted p-values over all non-NaN entries together (``holm``, ``bh`` or ``none``); NaN stays NaN.
    ``maxt`` needs the null draws (``family_test``)."""
    p_values = np.asarray(p_values, dtype=float)
    present = ~np.isnan(p_values)
    adjusted = np.full(p_values.shape, np.nan)
    if not present.any():
        return adjusted
    if method == "holm":
        adjusted[present] = holm(p_values[present])
    elif method == "bh":
        adjusted[present] = scipy.stats.false_discovery_control(p_values[present], method="bh")
    elif method == "none":
        adjusted[present] = p_values[present]
    else:
        raise ValueError(f"unknown correction {method!r}")
    return adjusted


def _quantile(values: np.ndarray, level: float) -> float:
    finite = values[np.isfinite(values)]
    return float(np.quantile(finite, level)) if finite.size else np.nan
