"""Group verdicts: "is this group treated differently?", for these prompts or for the model, and "do the
prompts disagree about these groups?".

The statistic of each gap row is the gap averaged over runs (``gap_mean``); one run is one prompt (a seed of a
soft prompt, a set of few-shot examples). The null draws come from the engine's group permutations
(``engine.permuted_labels``): the group labels of the sentences of each template are shuffled, the same
shuffle in every run, so that a sentence's own effect that repeats across runs stays with it.

Two scopes (``SCOPES``), two questions:

- ``prompts``: a verdict about *these prompts*. The runs are held fixed and the null is "no group is
  treated differently by these runs' prompts" (exactly: the terms of a template are exchangeable). Its noise
  is the sentences' alone, so a group that one prompt happens to tilt counts as a gap.
- ``model``: a verdict about *the model*, the runs' prompts being a random sample of prompts. Each prompt may
  tilt the groups its own way; the null is "these tilts average to zero over prompts". The variance of
  ``gap_mean`` is then the permutation variance plus tau^2 / R, where tau^2 is the variance between prompts
  of a gap beyond what the sentences explain: the observed variance of the per-run gaps minus its mean over
  the permutations (which keep each run's sentence noise and remove any prompt x group tilt), pooled over
  the groups of the attribute per metric and clipped at zero (``prompt_variance``). Each gap is studentised
  by that larger sd (``engine.family_test``'s ``scale``), and the null's shape comes from the permutations.

``prompt_sd`` (per gap, not pooled) is the spread between prompts. The prompt-disagreement test per
attribute (``disagreement``): the statistic is the mean over groups and metrics of observed between-run
variance over its permutation mean; it is about 1 when the prompts add nothing, and its null comes from the
same permutations (one-sided: a ratio above 1 is evidence).

p-values, corrections (max-T within each model x training set x probe) and the minimum detectable gap are
the engine's (``engine.family_test``). The minimum detectable gap is NaN where it exceeds the largest gap the
metric can reach with k groups, (k - 1) / k (``detectable``): the design cannot detect any gap there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from promptbias.metrics.inference import engine, terms, uncertainty
from promptbias.metrics.inference.streams import random_stream
from promptbias.metrics.metric_table import nan_mean
from promptbias.schema import DISAGREEMENT_COLUMNS, GAP_KEY

MODEL = "model"
PROMPTS = "prompts"
SCOPES = (MODEL, PROMPTS)
MIN_MODEL_RUNS = 3  # the default scope is the model's from this many runs on (docs/metrics.md: simulations)
SCOPE_INTERVALS = {MODEL: "multibootstrap", PROMPTS: "bootstrap"}  # the interval that answers each scope
TEST_COLUMNS = (
    "scope",
    "null",
    "p_value",
    "p_adjusted",
    "null_sd",
    "prompt_sd",
    "min_detectable_gap",
    "n_permutations",
    "p_value_se",
    "p_adjusted_se",
)


def default_scope(n_runs: int) -> str:
    """The scope a family of ``n_runs`` runs gets when none is asked for: the model's from ``MIN_MODEL_RUNS``
    runs, else these prompts' (the variance between prompts needs runs to be estimated)."""
    return MODEL if n_runs >= MIN_MODEL_RUNS else PROMPTS


@dataclass(frozen=True)
class BlockNull:
    """One attribute's observed statistics and permutation draws (groups x metrics, draws first)."""

    observed: np.ndarray
    null: np.ndarray
    observed_variance: np.ndarray
    null_variance: np.ndarray
    n_runs: np.ndarray
    term_spread: terms.TermSpread | None = None  # for the group-level null, where the block has terms


def block_null(block: engine.Block, metrics: tuple[str, ...], n_permutations: int, seed: int) -> BlockNull:
    """Mean gaps and between-run variances, observed and under ``n_permutations`` group permutations; with
    the block's terms, the spread between each group's terms (``terms.term_spread``, its own stream)."""
    rng = np.random.default_rng(random_stream(seed, block.key))
    observed = engine.run_gaps(block, block.labels[None, :], metrics)[0]  # groups x runs x metrics
    means, variances = [], []
    for labels in engine.permuted_labels(block, n_permutations, rng):
        per_run = engine.run_gaps(block, labels, metrics)
        means.append(nan_mean(per_run, axis=2))
        variances.append(engine.between_run_variance(per_run, axis=2))
    return BlockNull(
        observed=nan_mean(observed, axis=1),
        null=np.concatenate(means),
        observed_variance=engine.between_run_variance(observed, axis=1),
        null_variance=np.concatenate(variances),
        n_runs=(~np.isnan(observed)).sum(axis=1),
        term_spread=None
        if block.terms is None
        else terms.term_spread(
            block, metrics, n_permutations, np.random.default_rng(random_stream(seed, (*block.key, "terms")))
        ),
    )


def prompt_variance(results: Sequence[BlockNull]) -> tuple[list[np.ndarray], np.ndarray]:
    """The variance between prompts of each attribute's gaps beyond the sentences' noise, per metric, pooled
    over the groups of every attribute of a family, and its degrees of freedom.

    Per attribute with k groups and R runs, the excess is the mean observed between-run variance less its
    permutation mean E (which keeps each run's sentence noise and scatters any prompt x group tilt). A tilt of
    each group by its own prompt effect of variance t moves a gap by (k - 1) / k t, so each excess is scaled
    by k / (k - 1) and the attributes are pooled with inverse-variance weights: an excess estimated from
    (k - 1)(R - 1) degrees of freedom has variance about 2 E^2 / ((k - 1)(R - 1)) where prompts add little.
    The pooled value is clipped at 0 and scaled back by (k - 1) / k per attribute. Its degrees of freedom
    (as a scaled chi-square) are 2 pooled^2 / its variance, the variance taken with E + pooled in place of E.
    """
    sizes = np.array([r.observed.shape[0] for r in results], dtype=float)
    freedom = ((sizes - 1) * np.array([max(int(r.n_runs.max()), 2) - 1 for r in results]))[:, None]
    factor = (sizes / (sizes - 1))[:, None]
    total = np.stack([nan_mean(r.observed_variance, axis=0) for r in results]) * factor
    expected = np.stack([nan_mean(nan_mean(r.null_variance, axis=0), axis=0) for r in results]) * factor
    pooled, pooled_freedom = engine.pooled_excess(total, expected, freedom)
    return [pooled / factor[index] for index in range(len(results))], pooled_freedom


def gap_prompt_sd(result: BlockNull) -> np.ndarray:
    """Each gap's spread between prompts beyond the sentences' noise: the square root of its observed
    between-run variance less its permutation mean, clipped at 0 (groups x metrics)."""
    expected = nan_mean(result.null_variance, axis=0)
    return np.sqrt(np.maximum(result.observed_variance - expected, 0.0))


def disagreement(result: BlockNull) -> tuple[float, np.ndarray]:
    """The prompt-disagreement statistic (mean over groups and metrics of observed between-run variance over
    its permutation mean) and its permutation draws."""
    expected = nan_mean(result.null_variance, axis=0)
    usable = expected > engine.STILL
    if not usable.any():
        return np.nan, np.full(len(result.null_variance), np.nan)
    observed = float(np.nanmean(result.observed_variance[usable] / expected[usable]))
    draws = nan_mean(result.null_variance[:, usable] / expected[usable], axis=1)
    return observed, draws


def metric_reach(n_groups: int) -> float:
    """The largest |gap| a metric bounded by 0 and 1 can reach among ``n_groups`` groups."""
    return (n_groups - 1) / n_groups


def permutation_test(
    predictions: pd.DataFrame,
    metrics: tuple[str, ...],
    *,
    n_permutations: int = engine.DEFAULT_PERMUTATIONS,
    seed: int = 0,
    correction: str = engine.MAX_T,
    scope: str | None = None,
    null: str = terms.TERMS,
    alpha: float = uncertainty.ALPHA,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The gap verdicts, one row per gap (``GAP_KEY``) with ``gap_mean`` and ``TEST_COLUMNS``, and the
    prompt-disagreement tests, one row per attribute (``DISAGREEMENT_COLUMNS``). ``scope``: ``model``,
    ``prompts`` or None (``default_scope`` of each family's runs). ``null``: ``terms`` (a template's terms are
    exchangeable) or ``groups`` (a group's terms are a sample of its names: ``terms``). ``correction``
    applies within each model x training set x probe. ``predictions`` holds the sentences of the compared
    groups."""
    if null == terms.GROUPS:
        predictions = terms.with_terms(predictions)
    families: dict[tuple[str, ...], list[tuple[engine.Block, BlockNull]]] = {}
    for block in engine.sentence_blocks(predictions):
        families.setdefault(block.key[:3], []).append(
            (block, block_null(block, metrics, n_permutations, seed))
        )
    gap_tables, disagreement_tables = [], []
    for parts in families.values():
        chosen = default_scope(max(block.n_runs for block, _ in parts)) if scope is None else scope
        gap_tables.append(family_gaps(parts, metrics, chosen, correction, alpha))
        disagreement_tables.append(family_disagreement(parts, correction, alpha))
    return (
        pd.concat(gap_tables, ignore_index=True)[[*GAP_KEY, "gap_mean", *TEST_COLUMNS]],
        pd.concat(disagreement_tables, ignore_index=True)[list(DISAGREEMENT_COLUMNS)],
    )


def family_gaps(
    parts: Sequence[tuple[engine.Block, BlockNull]],
    metrics: tuple[str, ...],
    scope: str,
    correction: str,
    alpha: float,
) -> pd.DataFrame:
    """The gap verdicts of one model x training set x probe in ``scope``; under the group-level null where
    its blocks carry terms and some group has two or more (else the terms null, as ``null`` says)."""
    grids, observed, null, scale, freedom, spread, reach = [], [], [], [], [], [], []
    pooled, pooled_freedom = prompt_variance([result for _, result in parts])
    spreads = [result.term_spread for _, result in parts if result.term_spread is not None]
    by_groups = len(spreads) == len(parts) and any((spread.n_terms >= 2).any() for spread in spreads)
    none = np.zeros(len(metrics))
    between_terms, term_freedom = terms.term_variance(spreads) if by_groups else (none, none)
    for index, (block, result) in enumerate(parts):
        grid = pd.MultiIndex.from_product([block.groups, metrics], names=["group", "metric"]).to_frame(
            index=False
        )
        grids.append(grid.assign(**dict(zip(engine.BLOCK_KEY, block.key, strict=True))))
        shape = result.observed.shape
        sd = engine.null_sd(
            np.vstack([result.observed.reshape(1, -1), result.null.reshape(len(result.null), -1)])
        )
        runs = np.maximum(result.n_runs, 1).reshape(-1)
        extra = (
            np.broadcast_to(pooled[index], shape).reshape(-1) / runs if scope == MODEL else np.zeros(len(sd))
        )
        named = np.zeros(len(sd))
        if by_groups and result.term_spread is not None:
            weights = terms.gap_weights(result.term_spread.n_terms)
            named = (weights[:, None] * np.broadcast_to(between_terms, shape)).reshape(-1)
        observed.append(result.observed.reshape(-1))
        null.append(result.null.reshape(len(result.null), -1))
        scale.append(np.sqrt(sd**2 + extra + named))
        freedom.append(
            engine.satterthwaite(
                sd**2,
                [
                    (extra, np.broadcast_to(pooled_freedom, shape).reshape(-1)),
                    (named, np.broadcast_to(term_freedom, shape).reshape(-1)),
                ],
            )
        )
        spread.append(gap_prompt_sd(result).reshape(-1))
        reach.append(np.full(grid.shape[0], metric_reach(len(block.groups))))
    test = engine.family_test(
        np.concatenate(observed),
        np.concatenate(null, axis=1),
        correction,
        alpha,
        scale=np.concatenate(scale),
        freedom=np.concatenate(freedom),
    )
    detectable = test.pop("min_detectable")
    limit = np.concatenate(reach)
    return pd.concat(grids, ignore_index=True).assign(
        gap_mean=np.concatenate(observed),
        scope=scope,
        null=terms.GROUPS if by_groups else terms.TERMS,
        prompt_sd=np.concatenate(spread),
        min_detectable_gap=np.where(detectable <= limit, detectable, np.nan),
        **test,
    )


def family_disagreement(
    parts: Sequence[tuple[engine.Block, BlockNull]], correction: str, alpha: float
) -> pd.DataFrame:
    """The prompt-disagreement tests of one model x training set x probe, one per attribute (one-sided:
    large ratios are evidence), adjusted over the attributes."""
    statistics = [disagreement(result) for _, result in parts]
    observed = np.array([statistic for statistic, _ in statistics])
    null = np.stack([draws for _, draws in statistics], axis=1)
    test = engine.family_test(observed - 1, null - 1, correction, alpha, two_sided=False)
    keys = pd.DataFrame([block.key for block, _ in parts], columns=list(engine.BLOCK_KEY))
    return keys.assign(
        n_groups=[len(block.groups) for block, _ in parts],
        n_runs=[block.n_runs for block, _ in parts],
        variance_ratio=observed,
        p_value=test["p_value"],
        p_adjusted=test["p_adjusted"],
        significant=np.nan_to_num(test["p_adjusted"], nan=1.0) < alpha,
        n_permutations=test["n_permutations"],
    )
