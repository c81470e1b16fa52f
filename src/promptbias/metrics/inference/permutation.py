"""The permutation test of "no group is treated differently", with max-T over a study (Westfall-Young).

When no group is treated differently, the group labels of the sentences of one template are exchangeable:
the sentences differ only by the group they name. One permutation shuffles the group labels among the
sentences of each template (group sizes within the template are kept), and the same shuffle is applied to
every run of the model, training set and probe: the runs classify the same sentences, so a fixed effect of a
sentence's wording that repeats across seeds stays with that sentence, as it does in the data. With one
sentence per group and template this permutes the group axis of each template.

The statistic of each gap row is the gap averaged over runs (``gap_mean``). Its p-value counts the
permutations whose |gap| reaches the observed one, as (1 + count) / (1 + B), never 0. Max-T controls the
family-wise error over every gap row of one model x training set x probe (all categories, groups and
metrics): each gap is studentised by its null standard deviation (metrics have different scales), and its
adjusted p-value is the share of permutations whose largest studentised |gap| reaches its own (single step).
The minimum detectable gap, (c + z_0.80) x null sd with c the critical value of the correction in
studentised units, is the gap the design finds with about 80% power.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse
import scipy.stats

from promptbias.metrics.gaps import gap
from promptbias.metrics.inference import uncertainty
from promptbias.metrics.inference.streams import random_stream
from promptbias.metrics.metric_table import COUNT_COLUMNS, nan_mean, rates, sentence_counts
from promptbias.schema import GAP_KEY

DEFAULT_PERMUTATIONS = 1000
FAMILY_KEY = ("model", "dataset", "probe")
BLOCK_KEY = (*FAMILY_KEY, "category")
TEST_COLUMNS = (
    "p_value",
    "p_adjusted",
    "null_sd",
    "min_detectable_gap",
    "n_permutations",
    "p_value_se",
    "p_adjusted_se",
)
_CHUNK = 50  # permutations computed together: bounds the memory of one sparse product
_TIES = 1e-9  # relative tolerance: a permuted gap equal to the observed one counts as reaching it
_STILL = 1e-9  # a null sd below this is rounding noise: the gap never moves under permutation


@dataclass(frozen=True)
class Block:
    """The sentences of one (model, dataset, probe, category), sorted by template.

    ``labels``: each sentence's group (index into ``groups``); ``templates``: its template index
    (non-decreasing); ``counts``: sentences x (runs x count columns), zero where a run lacks the sentence.
    """

    key: tuple[str, ...]
    groups: list[str]
    labels: np.ndarray
    templates: np.ndarray
    counts: np.ndarray
    n_runs: int


def sentence_blocks(predictions: pd.DataFrame) -> Iterator[Block]:
    """One block per (model, dataset, probe, category) of normalised ``predictions``.

    A sentence is identified across runs by its template, its group and its place among the group's
    sentences in that template (``sentence_slots``)."""
    counts = sentence_counts(predictions).to_numpy(dtype=float)
    frame = predictions[[*BLOCK_KEY, "run_id", "template_id", "group"]].reset_index(drop=True)
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
        yield Block(
            key=key,
            groups=groups,
            labels=pd.Categorical(first["group"], categories=groups).codes.astype(np.int64),
            templates=pd.factorize(first["template_id"], sort=True)[0],
            counts=dense.reshape(n_sentences, -1),
            n_runs=int(n_runs),
        )


def sentence_slots(predictions: pd.DataFrame) -> np.ndarray:
    """Each row's place among the sentences of its run, template and group, in the order of their text (row
    order only among equal texts), so that one sentence has the same place in every run."""
    keys = [*BLOCK_KEY, "run_id", "template_id", "group"]
    frame = predictions[keys].reset_index(drop=True).assign(_text=predictions["text"].astype(str).to_numpy())
    ordered = frame.sort_values([*keys, "_text"], kind="stable")
    slots = ordered.groupby(keys, sort=False).cumcount()
    return slots.reindex(frame.index).to_numpy()


def mean_gaps(block: Block, labels: np.ndarray, metrics: tuple[str, ...]) -> np.ndarray:
    """Gaps averaged over runs (labellings x groups x metrics) for each labelling (a row of ``labels``)."""
    n_labellings, n_sentences = labels.shape
    n_groups = len(block.groups)
    rows = (labels + n_groups * np.arange(n_labellings)[:, None]).ravel()
    columns = np.tile(np.arange(n_sentences), n_labellings)
    membership = scipy.sparse.csr_matrix(
        (np.ones(rows.size), (rows, columns)), shape=(n_labellings * n_groups, n_sentences)
    )
    grouped = np.asarray(membership @ block.counts).reshape(n_labellings, n_groups, block.n_runs, -1)
    values = rates(grouped)
    per_run = gap(np.stack([values[metric] for metric in metrics], axis=-1), axis=1)
    return nan_mean(per_run, axis=2)


def permuted_labels(block: Block, n_permutations: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Chunks of group labellings, each permuted within every template (sizes of groups kept)."""
    for start in range(0, n_permutations, _CHUNK):
        size = min(_CHUNK, n_permutations - start)
        order = np.argsort(block.templates[None, :] + rng.random((size, block.labels.size)), axis=1)
        yield block.labels[order]


def block_null(
    block: Block, metrics: tuple[str, ...], n_permutations: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Observed mean gaps (groups x metrics) and their permutation null (permutations x groups x metrics)."""
    rng = np.random.default_rng(random_stream(seed, block.key))
    observed = mean_gaps(block, block.labels[None, :], metrics)[0]
    null = [mean_gaps(block, labels, metrics) for labels in permuted_labels(block, n_permutations, rng)]
    return observed, np.concatenate(null)


def permutation_test(
    predictions: pd.DataFrame,
    metrics: tuple[str, ...],
    *,
    n_permutations: int = DEFAULT_PERMUTATIONS,
    seed: int = 0,
    correction: str = uncertainty.MAX_T,
    alpha: float = uncertainty.ALPHA,
) -> pd.DataFrame:
    """One row per gap (``GAP_KEY``) with the observed ``gap_mean`` and ``TEST_COLUMNS``;
    ``p_adjusted`` is max-T over the family when ``correction`` is ``maxt``, else NaN (the caller adjusts
    ``p_value``). ``predictions`` holds the sentences of the compared groups."""
    families: dict[tuple[str, ...], list[tuple[pd.DataFrame, np.ndarray, np.ndarray]]] = {}
    for block in sentence_blocks(predictions):
        observed, null = block_null(block, metrics, n_permutations, seed)
        grid = pd.MultiIndex.from_product([block.groups, metrics], names=["group", "metric"]).to_frame(
            index=False
        )
        grid = grid.assign(**dict(zip(BLOCK_KEY, block.key, strict=True)), gap_mean=observed.reshape(-1))
        families.setdefault(block.key[:3], []).append(
            (grid, observed.reshape(-1), null.reshape(len(null), -1))
        )
    tables = []
    for parts in families.values():
        grid = pd.concat([part[0] for part in parts], ignore_index=True)
        observed = np.concatenate([part[1] for part in parts])
        null = np.concatenate([part[2] for part in parts], axis=1)
        tables.append(grid.assign(**family_test(observed, null, correction, alpha)))
    return pd.concat(tables, ignore_index=True)[[*GAP_KEY, "gap_mean", *TEST_COLUMNS]]


def family_test(
    observed: np.ndarray, null: np.ndarray, correction: str, alpha: float
) -> dict[str, np.ndarray]:
    """p-values, max-T adjusted p-values, null sd and minimum detectable gaps of one family of gaps.

    ``observed``: gaps (J); ``null``: their permutation null (B x J). A gap whose null never moves (sd 0,
    or undefined) gets p = NaN, is never significant and is left out of the family."""
    n_permutations = len(null)
    finite = ~np.isnan(null)
    counts = finite.sum(axis=0)
    sd = np.full(observed.shape, np.nan)
    spread = counts >= 2
    sd[spread] = np.nanstd(null[:, spread], axis=0, ddof=1)
    testable = (sd > _STILL) & ~np.isnan(observed)
    size = np.abs(observed) * (1 - _TIES)
    reached = (np.abs(np.where(finite, null, 0.0)) >= size) & finite
    p_value = np.where(testable, (1 + reached.sum(axis=0)) / (1 + n_permutations), np.nan)
    studentised = np.where(finite & testable, np.abs(null) / np.where(testable, sd, 1.0), -np.inf)
    largest = studentised.max(axis=1) if testable.any() else np.full(n_permutations, -np.inf)
    own = np.where(testable, np.abs(observed) / np.where(testable, sd, 1.0), np.nan)
    beyond = (largest[:, None] >= own[None, :] * (1 - _TIES)).sum(axis=0)
    max_t = np.where(testable, (1 + beyond) / (1 + n_permutations), np.nan)
    if correction == "none":
        critical = np.array([_quantile(studentised[:, j], 1 - alpha) for j in range(len(observed))])
    else:  # max-T, and the first rejection of Holm or BH, which needs the family-wise level
        critical = np.full(observed.shape, _quantile(largest, 1 - alpha))
    detectable = (critical + scipy.stats.norm.ppf(uncertainty.POWER)) * sd
    adjusted = max_t if correction == uncertainty.MAX_T else np.full(observed.shape, np.nan)
    return {
        "p_value": p_value,
        "p_adjusted": adjusted,
        "null_sd": sd,
        "min_detectable_gap": np.where(testable, detectable, np.nan),
        "n_permutations": np.full(observed.shape, n_permutations, dtype=np.int64),
        "p_value_se": np.sqrt(p_value * (1 - p_value) / n_permutations),
        "p_adjusted_se": np.sqrt(adjusted * (1 - adjusted) / n_permutations),
    }


def _quantile(values: np.ndarray, level: float) -> float:
    finite = values[np.isfinite(values)]
    return float(np.quantile(finite, level)) if finite.size else np.nan
