"""The wording baseline: how large a gap wording alone makes, measured where a group has several terms.

In the Czarnowska suite (and the built-in suites) a group is named by several terms ("Black", "African
American"), and a template's sentences differ only by the term. Each sentence's term is what is left when
the words that all sentences of its template share at the start and at the end are stripped (words compared
lower-cased without punctuation; a leading "a" or "an" dropped). A group named by two or more terms in a
template is split into two pseudo-groups (in each template its terms in sorted order, alternately ``A`` and
``B``), and the gap of ``A`` against ``B`` is tested exactly as the group gaps are. Both halves name the same
group, so any gap between them is wording, and its size is the yardstick for the group gaps.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from promptbias.metrics.inference import permutation, uncertainty
from promptbias.metrics.inference.terms import sentence_terms
from promptbias.schema import RUN_KEY

WORDING_COLUMNS = (
    "model",
    "dataset",
    "probe",
    "category",
    "group",
    "metric",
    "n_terms",
    "terms_a",
    "terms_b",
    "gap_mean",
    "scope",
    "p_value",
    "p_adjusted",
    "significant",
    "min_detectable_gap",
    "n_permutations",
)
_SPLIT = "\x1f"  # joins category and group into the pseudo-category of a split


def split_terms(predictions: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The rows of groups named by two or more terms in a template, relabelled: category ``CATEGORY`` +
    ``GROUP`` (joined by an invisible separator), group ``A`` or ``B`` (within each template the group's terms
    in sorted order, alternately); and one row per split group: ``n_terms`` (most terms in one template),
    ``terms_a``, ``terms_b`` (the terms of each half, over all templates)."""
    columns = ["category", "group", "n_terms", "terms_a", "terms_b"]
    if predictions["text"].astype(str).str.strip().eq("").all():
        return predictions.iloc[:0], pd.DataFrame(columns=columns)
    keys = ["category", "template_id", "group"]
    frame = predictions[keys].assign(term=sentence_terms(predictions))
    rank = frame.groupby(keys, sort=False)["term"].rank(method="dense").astype(int) - 1
    width = frame.assign(rank=rank).groupby(["category", "group"], sort=True)["rank"].max() + 1
    split = width[width >= 2]
    frame = frame.assign(half=np.where(rank % 2 == 0, "A", "B"))
    chosen = pd.MultiIndex.from_frame(frame[["category", "group"]]).isin(split.index)
    rows = []
    for (category, group), found in frame[chosen].groupby(["category", "group"], sort=True):
        halves = {half: sorted(set(found.loc[found["half"] == half, "term"])) for half in ("A", "B")}
        rows.append(
            {
                "category": category,
                "group": group,
                "n_terms": int(split[(category, group)]),
                "terms_a": _listed(halves["A"]),
                "terms_b": _listed(halves["B"]),
            }
        )
    relabelled = predictions[chosen].assign(
        category=frame["category"][chosen] + _SPLIT + frame["group"][chosen], group=frame["half"][chosen]
    )
    return relabelled, pd.DataFrame(rows, columns=columns)


def _listed(terms: list[str], shown: int = 8) -> str:
    """Terms joined by "; ", the first ``shown`` and how many more."""
    more = f"; ... ({len(terms) - shown} more)" if len(terms) > shown else ""
    return "; ".join(terms[:shown]) + more


def wording_gaps(
    predictions: pd.DataFrame,
    metrics: tuple[str, ...],
    *,
    n_permutations: int,
    seed: int,
    correction: str,
    scope: str | None = None,
    alpha: float = uncertainty.ALPHA,
) -> pd.DataFrame:
    """``wording_gaps.csv``: per model, dataset, probe, split group and metric, the gap of half ``A`` against
    ``B`` averaged over runs, with the permutation test in ``scope`` (``correction`` over each model's
    wording gaps) and its minimum detectable gap."""
    relabelled, splits = split_terms(predictions)
    if relabelled.empty:
        return pd.DataFrame(columns=list(WORDING_COLUMNS))
    table, _ = permutation.permutation_test(
        relabelled, metrics, n_permutations=n_permutations, seed=seed, correction=correction, scope=scope
    )
    table = table[table["group"] == "A"].drop(columns="group")
    table["significant"] = table["p_adjusted"] < alpha
    parts = table["category"].str.split(_SPLIT, n=1, expand=True)
    table = table.assign(category=parts[0], group=parts[1]).merge(splits, on=["category", "group"])
    return table.sort_values([*RUN_KEY[:3], "category", "group"], kind="stable")[list(WORDING_COLUMNS)]
