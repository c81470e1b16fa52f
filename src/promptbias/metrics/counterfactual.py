"""Counterfactual metrics over templates: how often a group's prediction departs from its template's.

A template is one sentence pattern filled with every group of a category, so within a template only the
group changes. In one run, for template t and group g, let s(g, t, c) be the share of g's sentences in t
predicted c.
The template's most common prediction is the class with the largest mean share over the groups (each group
counts once, whatever its number of sentences); when two classes tie there is none. Then

    flip(g, t) = 1 - s(g, t, majority)    (1 when the template has no single most common prediction)

and a group's flip rate is the mean of flip(g, t) over the templates it appears in. With one sentence per
group and template this is the share of templates where the group's prediction differs from the majority.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from promptbias.metrics.metric_table import CELL_COLUMNS, TEMPLATE_KEY
from promptbias.schema import GROUP_KEY, RUN_KEY

EXAMPLE_TEMPLATES = 3
EXAMPLE_COLUMNS = (
    *RUN_KEY,
    "category",
    "template_id",
    "group",
    "text",
    "y_true",
    "y_pred",
    "majority_pred",
)
_TIE_TOLERANCE = 1e-9


def template_flips(counts: pd.DataFrame) -> pd.DataFrame:
    """Per (run, category, template, group): the template's majority prediction (-1: a tie) and ``flip``."""
    cells = counts[list(CELL_COLUMNS)].to_numpy(dtype=float).reshape(-1, 3, 3)
    predicted = cells.sum(axis=1)
    shares = predicted / predicted.sum(axis=1, keepdims=True)
    share_columns = [f"_share_{label}" for label in range(3)]
    frame = counts[list(TEMPLATE_KEY)].copy()
    frame[share_columns] = shares
    mean_shares = frame.groupby([*RUN_KEY, "category", "template_id"], sort=False, observed=True)[
        share_columns
    ].transform("mean")
    mean_shares = mean_shares.to_numpy()
    is_top = mean_shares >= mean_shares.max(axis=1, keepdims=True) - _TIE_TOLERANCE
    unique = is_top.sum(axis=1) == 1
    majority = np.where(unique, mean_shares.argmax(axis=1), -1)
    agreeing = np.take_along_axis(shares, np.maximum(majority, 0)[:, None], axis=1)[:, 0]
    frame["majority_pred"] = majority
    frame["flip"] = np.where(unique, 1.0 - agreeing, 1.0)
    return frame.drop(columns=share_columns)


def flip_rates(flips: pd.DataFrame) -> pd.DataFrame:
    """Per (run, category, group): ``flip_rate`` (mean flip over templates) and ``n_templates``."""
    table = (
        flips.groupby(list(GROUP_KEY), sort=True, observed=True)
        .agg(flip_rate=("flip", "mean"), n_templates=("flip", "size"))
        .reset_index()
    )
    return table[[*GROUP_KEY, "flip_rate", "n_templates"]]


def flip_examples(
    flips: pd.DataFrame, predictions: pd.DataFrame, per_category: int = EXAMPLE_TEMPLATES
) -> pd.DataFrame:
    """The sentences of the templates where groups disagree most.

    For each (model, dataset, probe, category), the ``per_category`` (run, template) pairs with the highest
    mean flip over groups (ties broken by run, then template id).

    ``predictions`` holds the sentences of the compared groups; ``majority_pred`` is empty for a tie.
    """
    template_key = [*RUN_KEY, "category", "template_id"]
    disagreement = (
        flips.groupby(template_key, sort=True, observed=True)
        .agg(disagreement=("flip", "mean"), majority_pred=("majority_pred", "first"))
        .reset_index()
    )
    disagreement = disagreement[disagreement["disagreement"] > 0]
    disagreement = disagreement.sort_values(
        ["model", "dataset", "probe", "category", "disagreement", "run_id", "template_id"],
        ascending=[True, True, True, True, False, True, True],
        kind="stable",
    )
    chosen = disagreement.groupby(["model", "dataset", "probe", "category"], sort=False).head(per_category)
    chosen = chosen.assign(_rank=np.arange(len(chosen)))
    sentences = predictions.merge(chosen, on=template_key, how="inner")
    sentences = sentences.sort_values(["_rank", "group", "text"], kind="stable")
    sentences["majority_pred"] = (
        sentences["majority_pred"].where(sentences["majority_pred"] >= 0).astype("Int64")
    )
    return sentences[list(EXAMPLE_COLUMNS)].reset_index(drop=True)
