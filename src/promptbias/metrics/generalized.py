"""The generalized fairness metrics of Czarnowska, Vyas and Shah (TACL 2021), per run and category.

For a rate M (FPR, FNR, TPR of each class) and the selected groups g_1..g_k of a category:
- background comparison: d(M(g), M(background)) with the background either all groups pooled (``all``, the
  group included) or all other groups pooled (``others``); d is the absolute difference |a - b| or the ratio
  a / b. Summed over groups (``_sum``) or divided by the number of groups (``_mean``).
- pairwise comparison: |M(g_i) - M(g_j)| for every pair i < j; per pair, per group (mean over the pairs the
  group is in) and over all pairs (``pcm_diff_sum``, and ``pcm_diff_mean`` divided by the number of pairs).
- multi-group comparison: the range max - min and the standard deviation (ddof 0: the groups are all there
  is) of M over the groups.
A background's rate is computed from its pooled confusion counts. Undefined (NaN) values are left out of
sums and means, and ``n_groups`` counts the groups with a value.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from promptbias.metrics.metric_table import COUNT_COLUMNS, metric_names, rates, ratio
from promptbias.schema import GROUP_KEY, RUN_KEY

GENERALIZED_METRICS = metric_names(lambda metric: metric.generalized)
CATEGORY_KEY = (*RUN_KEY, "category")


def group_comparisons(group_counts: pd.DataFrame) -> pd.DataFrame:
    """Per (run, category, group, metric): the group's value, both backgrounds, differences and ratios."""
    own = group_counts[list(COUNT_COLUMNS)].to_numpy(dtype=float)
    total = (
        group_counts.groupby(list(CATEGORY_KEY), sort=False)[list(COUNT_COLUMNS)].transform("sum").to_numpy()
    )
    values, everyone, others = rates(own), rates(total), rates(total - own)
    parts = []
    for metric in GENERALIZED_METRICS:
        value = values[metric]
        parts.append(
            group_counts[list(GROUP_KEY)].assign(
                metric=metric,
                value=value,
                background_all=everyone[metric],
                background_others=others[metric],
                diff_all=np.abs(value - everyone[metric]),
                ratio_all=ratio(value, everyone[metric]),
                diff_others=np.abs(value - others[metric]),
                ratio_others=ratio(value, others[metric]),
            )
        )
    return pd.concat(parts, ignore_index=True)


def pairwise_comparisons(groups: pd.DataFrame) -> pd.DataFrame:
    """Every pair of groups (a < b) of a run, category and metric with ``abs_diff`` and ``ratio`` (a / b)."""
    keys = [*CATEGORY_KEY, "metric"]
    side = groups[[*keys, "group", "value"]]
    pairs = side.merge(side, on=keys, suffixes=("_a", "_b"))
    pairs = pairs[pairs["group_a"] < pairs["group_b"]].reset_index(drop=True)
    pairs["abs_diff"] = np.abs(pairs["value_a"] - pairs["value_b"])
    pairs["ratio"] = ratio(pairs["value_a"].to_numpy(), pairs["value_b"].to_numpy())
    return pairs[[*keys, "group_a", "group_b", "value_a", "value_b", "abs_diff", "ratio"]]


def with_pairwise_means(groups: pd.DataFrame, pairs: pd.DataFrame) -> pd.DataFrame:
    """``groups`` with ``pairwise_mean_diff``: the mean |difference| over the pairs that contain the group."""
    keys = [*CATEGORY_KEY, "metric"]
    sides = pd.concat(
        [
            pairs[[*keys, "group_a", "abs_diff"]].rename(columns={"group_a": "group"}),
            pairs[[*keys, "group_b", "abs_diff"]].rename(columns={"group_b": "group"}),
        ]
    )
    means = sides.groupby([*keys, "group"], sort=False)["abs_diff"].mean().rename("pairwise_mean_diff")
    return groups.merge(means.reset_index(), on=[*keys, "group"], how="left")


def summarise(groups: pd.DataFrame, pairs: pd.DataFrame) -> pd.DataFrame:
    """Per (run, category, metric): the background, pairwise and multi-group aggregates and ``n_groups``."""
    keys = [*CATEGORY_KEY, "metric"]
    by_group = groups.groupby(keys, sort=False)
    table = by_group["value"].agg(
        n_groups="count",
        mcm_range=lambda values: values.max() - values.min(),
        mcm_std=lambda values: values.std(ddof=0),
    )
    for column in ("diff_all", "ratio_all", "diff_others", "ratio_others"):
        background, distance = column.split("_")[1], column.split("_")[0]
        total = by_group[column].sum(min_count=1)
        table[f"bcm_{background}_{distance}_sum"] = total
        table[f"bcm_{background}_{distance}_mean"] = total / by_group[column].count().replace(0, np.nan)
    by_pair = pairs.groupby(keys, sort=False)["abs_diff"]
    table["pcm_diff_sum"] = by_pair.sum(min_count=1)
    table["pcm_diff_mean"] = by_pair.mean()
    return table.reset_index()


def generalized_metrics(group_counts: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """``(groups, pairs, summary)`` tables of the generalized metrics from per-group counts."""
    metric_rank = {metric: index for index, metric in enumerate(GENERALIZED_METRICS)}
    groups = group_comparisons(group_counts)
    pairs = pairwise_comparisons(groups)
    groups = with_pairwise_means(groups, pairs)
    summary = summarise(groups, pairs)

    def ordered(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
        ranked = frame.assign(_rank=frame["metric"].map(metric_rank))
        return ranked.sort_values(keys, kind="stable").drop(columns="_rank").reset_index(drop=True)

    return (
        ordered(groups, [*CATEGORY_KEY, "_rank", "group"]),
        ordered(pairs, [*CATEGORY_KEY, "_rank", "group_a", "group_b"]),
        ordered(summary, [*CATEGORY_KEY, "_rank"]),
    )
