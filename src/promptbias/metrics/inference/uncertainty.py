"""Uncertainty across runs: 95% intervals and p-values for "mean = 0" (the corrections for many tests are the
engine's, ``metrics/inference/engine.py``).

Methods (``--ci``), for n values with mean m and sample standard deviation s (ddof = 1), se = s / sqrt(n):
- ``permutation`` (the default): the permutation test of ``metrics/inference/permutation.py`` (group labels
  permuted within templates, max-T over a model x training set x probe); its interval is the bootstrap that
  answers the verdict's scope (``permutation.SCOPE_INTERVALS``);
- ``z``: m +- 1.96 se and a normal p-value (the reference notebooks' interval, reproduced exactly);
- ``t``: m +- t(0.975, n - 1) se and Student's t p-value with n - 1 degrees of freedom;
- ``bootstrap``: percentile interval of template-bootstrap replicates of m, and the two-sided normal p-value
  of m / sd(replicates);
- ``multibootstrap``: the same with runs and templates resampled together (Sellam et al. 2022).
With n = 1, ``z`` and ``t`` give NaN. Zero spread never means p = 0: when every run gives the same value
(se = 0), or no resample moves the gap, the interval has zero width and p is NaN, so the gap is never called
significant: identical values come from the discreteness of the rates, not from certainty.
"""

from __future__ import annotations

import numpy as np
import scipy.stats

from promptbias.metrics.metric_table import ratio

PERMUTATION = "permutation"
INTERVAL_METHODS = (PERMUTATION, "t", "z", "bootstrap", "multibootstrap")
DEFAULT_METHOD = PERMUTATION
Z_95 = 1.96
LEVEL = 0.95
ALPHA = 0.05
POWER = 0.80


def mean_interval(
    mean: np.ndarray, sd: np.ndarray, n: np.ndarray, method: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(low, high, p_value)`` for each mean from its runs' standard deviation and count (``t`` or ``z``)."""
    mean, sd, n = (np.asarray(value, dtype=float) for value in (mean, sd, n))
    valid = n >= 2
    se = np.where(valid, sd / np.sqrt(np.where(valid, n, 1.0)), np.nan)
    if method == "z":
        critical = np.full(mean.shape, Z_95)
        tail = scipy.stats.norm.sf
    elif method == "t":
        freedom = np.where(valid, n - 1, 1.0)
        critical = scipy.stats.t.ppf(0.5 + LEVEL / 2, freedom)

        def tail(x: np.ndarray) -> np.ndarray:
            return scipy.stats.t.sf(x, freedom)
    else:
        raise ValueError(f"unknown interval method {method!r}")
    statistic = np.abs(ratio(mean, se))
    p_value = np.where(se > 0, 2 * tail(np.where(np.isnan(statistic), 0.0, statistic)), np.nan)
    half = critical * se
    return mean - half, mean + half, np.where(np.isnan(se), np.nan, p_value)


def bootstrap_interval(
    replicates: np.ndarray, observed: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(low, high, p_value)`` from bootstrap replicates along axis 0 (NaN replicates are left out).

    The interval is the percentile interval. The p-value is the normal approximation with the bootstrap
    standard error, 2 P(Z > |observed| / sd(replicates)): a share of replicates beyond zero cannot go below
    about 2 / n_boot, too coarse to survive a correction over hundreds of gaps. Replicates that never move
    (sd = 0) give p = NaN: no resample measured any uncertainty, which is not certainty.
    """
    replicates = np.asarray(replicates, dtype=float)
    count = (~np.isnan(replicates)).sum(axis=0)
    low = np.full(replicates.shape[1:], np.nan)
    high = np.full(replicates.shape[1:], np.nan)
    spread = np.full(replicates.shape[1:], np.nan)
    usable = count >= 2
    if usable.any():
        tail = (1 - LEVEL) / 2 * 100
        low[usable], high[usable] = np.nanpercentile(replicates[:, usable], [tail, 100 - tail], axis=0)
        spread[usable] = np.nanstd(replicates[:, usable], axis=0, ddof=1)
    observed = np.asarray(observed, dtype=float)
    p_value = 2 * scipy.stats.norm.sf(np.abs(ratio(observed, spread)))
    return low, high, np.where(usable & (spread > 0) & ~np.isnan(observed), p_value, np.nan)


def bootstrap_weights(n_templates: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """``n_boot`` resamples of ``n_templates`` templates with replacement, as counts (n_boot x templates)."""
    return rng.multinomial(n_templates, np.full(n_templates, 1.0 / n_templates), size=n_boot)
