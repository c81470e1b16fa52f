"""Terms: the words that name a group in a sentence, and how much a group's terms differ beyond chance.

A template's sentences differ only by the term that names the group ("Black", "African American"). Each
sentence's term is what is left when the words that all sentences of its template share at the start and at
the end are stripped (words compared lower-cased without punctuation; a leading "a" or "an" dropped).

The group-level null (``--null groups``) treats a group's terms as a sample of the names it could have: a gap
must then exceed what the spread between the group's terms explains. That spread, tau_t^2, is estimated like
the spread between prompts: per group with two or more terms, the variance between its terms of their rates
(averaged over runs), less its mean over permutations of the terms within each template and group (which
keep the sentences' noise and scatter any term effect), pooled over the groups of a family
(``engine.pooled_excess``). A gap of group g among k groups, each group's rate the mean of its n terms'
effects, then has the extra variance tau_t^2 ((k - 1)^2 / (k^2 n_g) + sum over the other groups h of
1 / (k^2 n_h)) (``gap_weights``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from promptbias.metrics.inference import engine
from promptbias.metrics.metric_table import nan_mean

TERMS = "terms"
GROUPS = "groups"
NULLS = (TERMS, GROUPS)  # what a verdict's null holds exchangeable: a template's terms, or groups of terms
_WORD = re.compile(r"[\w'-]+")  # words, lower-cased, without punctuation: "Black" and "black." are one term


def sentence_terms(predictions: pd.DataFrame) -> pd.Series:
    """Each row's term: its text without the words shared by every sentence of its template (start, end)."""
    keys = ["category", "template_id"]
    unique = predictions[[*keys, "text"]].drop_duplicates()
    terms: dict[tuple[str, str, str], str] = {}
    for (category, template), texts in unique.groupby(keys, sort=False)["text"]:
        words = [_WORD.findall(str(text).lower()) for text in texts]
        head = _shared_start(words)
        tail = _shared_start([list(reversed(w[head:])) for w in words])
        for text, split in zip(texts, words, strict=True):
            term = split[head : len(split) - tail]
            terms[(category, template, text)] = " ".join(term[1:] if term[:1] in (["a"], ["an"]) else term)
    index = pd.MultiIndex.from_frame(predictions[[*keys, "text"]])
    return pd.Series(index.map(terms), index=predictions.index, dtype=str)


def _shared_start(sequences: list[list[str]]) -> int:
    """How many leading items all ``sequences`` share."""
    shortest = min(len(sequence) for sequence in sequences)
    for index in range(shortest):
        if len({sequence[index] for sequence in sequences}) > 1:
            return index
    return shortest


@dataclass(frozen=True)
class TermSpread:
    """Per group (groups x metrics): the variance between its terms' rates, observed and its mean over the
    term permutations (NaN for a group with fewer than two terms), and each group's number of terms."""

    observed: np.ndarray
    expected: np.ndarray
    n_terms: np.ndarray


def term_spread(
    block: engine.Block, metrics: tuple[str, ...], n_permutations: int, rng: np.random.Generator
) -> TermSpread:
    """The spread between the terms of each group of ``block`` (which carries ``terms``), observed and under
    ``n_permutations`` permutations of the terms within each template and group."""
    assert block.terms is not None and block.term_groups is not None
    n_groups = len(block.groups)
    observed = _group_variance(block, block.terms[None, :], metrics)[0]
    cells = block.templates * n_groups + block.labels  # non-decreasing: sentences sort by template, group
    draws = []
    for start in range(0, n_permutations, engine.CHUNK):
        size = min(engine.CHUNK, n_permutations - start)
        order = np.argsort(cells[None, :] + rng.random((size, cells.size)), axis=1)
        draws.append(_group_variance(block, block.terms[order], metrics))
    return TermSpread(
        observed=observed,
        expected=nan_mean(np.concatenate(draws), axis=0),
        n_terms=np.bincount(block.term_groups, minlength=n_groups),
    )


def _group_variance(block: engine.Block, labels: np.ndarray, metrics: tuple[str, ...]) -> np.ndarray:
    """Per labelling of the terms, each group's variance (ddof 1) between its terms' rates averaged over runs
    (labellings x groups x metrics; NaN with fewer than two defined terms)."""
    assert block.term_groups is not None
    n_groups = len(block.groups)
    values = nan_mean(engine.run_rates(block, labels, len(block.term_groups), metrics), axis=2)
    result = np.full((len(labels), n_groups, len(metrics)), np.nan)
    for group in range(n_groups):
        own = values[:, block.term_groups == group]
        if own.shape[1] >= 2:
            result[:, group] = engine.between_run_variance(own, axis=1)
    return result


def term_variance(spreads: list[TermSpread]) -> tuple[np.ndarray, np.ndarray]:
    """tau_t^2 per metric, pooled over every group with two or more terms in ``spreads`` (a family's blocks),
    and its degrees of freedom; zeros (and zero freedom) where no group has two terms."""
    observed = np.concatenate([spread.observed for spread in spreads])
    expected = np.concatenate([spread.expected for spread in spreads])
    freedom = np.concatenate([spread.n_terms for spread in spreads])[:, None] - 1.0
    observed = np.where(freedom >= 1, observed, np.nan)
    return engine.pooled_excess(observed, expected, np.maximum(freedom, 1.0))


def gap_weights(n_terms: np.ndarray) -> np.ndarray:
    """Per group, the multiple of tau_t^2 that its gap's variance gets from term effects, when each group's
    rate is the mean of its ``n_terms`` terms' (see the module)."""
    k = len(n_terms)
    inverse = 1.0 / np.maximum(n_terms, 1)
    return ((k - 1) ** 2 * inverse + (inverse.sum() - inverse)) / k**2


def with_terms(predictions: pd.DataFrame) -> pd.DataFrame:
    """``predictions`` with each row's ``term`` (``sentence_terms``), for the group-level null."""
    return predictions.assign(term=sentence_terms(predictions).to_numpy())
