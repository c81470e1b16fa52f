"""Per-group classification metrics from 3x3 confusion counts: the table of metrics, and the group tables.

The confusion counts run over the explicit labels 0, 1, 2 (negative, neutral, positive), so a class that no
sentence has still gets its row and column. For class c: TP = predicted c and truly c; FP = predicted c, truly
not c; FN = truly c, predicted otherwise; TN = the rest. A rate whose denominator is zero is NaN, never 0.5.

Every metric is one row of ``METRICS``: a numerator and a denominator of those counts. The rates, their
denominators, the metrics that get gaps and the generalized metrics all derive from it, so a new metric is
one row. Everything here works on counts that add up (per template, per group, per run), so the same
functions serve the observed values, the bootstrap and the permutation test.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from promptbias.labels import LABELS
from promptbias.schema import (
    GROUP_CLASS_COLUMNS,
    GROUP_KEY,
    GROUP_METRICS_COLUMNS,
    PROBABILITY_COLUMNS,
    RUN_KEY,
)

TEMPLATE_KEY = (*GROUP_KEY, "template_id")
CELL_COLUMNS = tuple(f"cm_{true}{pred}" for true in range(3) for pred in range(3))
PROBABILITY_SUM_COLUMNS = tuple(f"sum_{column}" for column in PROBABILITY_COLUMNS)
COUNT_COLUMNS = (*CELL_COLUMNS, *PROBABILITY_SUM_COLUMNS, "n_prob")
MIN_DENOMINATOR = 30


@dataclass(frozen=True)
class Counts:
    """The counts behind every metric, from additive ``COUNT_COLUMNS`` along the last axis of an array.

    ``n`` and ``n_prob`` (sentences with probabilities) have the array's shape without its last axis; the
    per-class counts (``tp``, ``fp``, ``fn``, ``tn``, ``support`` = truly c, ``predicted`` = predicted c,
    ``probability_sum`` = the class-c probabilities added up) have one more axis, the three classes.
    """

    n: np.ndarray
    tp: np.ndarray
    fp: np.ndarray
    fn: np.ndarray
    tn: np.ndarray
    support: np.ndarray
    predicted: np.ndarray
    probability_sum: np.ndarray
    n_prob: np.ndarray

    @classmethod
    def of(cls, counts: np.ndarray) -> Counts:
        counts = np.asarray(counts, dtype=float)
        matrix = counts[..., : len(CELL_COLUMNS)].reshape(*counts.shape[:-1], 3, 3)
        n = matrix.sum(axis=(-2, -1))
        tp = np.diagonal(matrix, axis1=-2, axis2=-1)
        support = matrix.sum(axis=-1)
        predicted = matrix.sum(axis=-2)
        fp, fn = predicted - tp, support - tp
        return cls(
            n=n,
            tp=tp,
            fp=fp,
            fn=fn,
            tn=n[..., None] - support - fp,
            support=support,
            predicted=predicted,
            probability_sum=counts[..., len(CELL_COLUMNS) : len(CELL_COLUMNS) + 3],
            n_prob=counts[..., -1],
        )


@dataclass(frozen=True)
class Metric:
    """One metric: ``numerator / denominator`` of :class:`Counts` (NaN where the denominator is zero).

    ``per_class``: one value per class c, named ``c_<name>``, from the per-class counts; else one value
    named ``<name>``. ``gap``: gets a gap (``gaps.csv``, ``run_gaps.csv``). ``generalized``: gets the
    generalized metrics of Czarnowska et al. ``needs_probabilities``: defined only when the inputs have
    class probabilities (its gap is left out otherwise).
    """

    numerator: Callable[[Counts], np.ndarray]
    denominator: Callable[[Counts], np.ndarray]
    per_class: bool = True
    gap: bool = False
    generalized: bool = False
    needs_probabilities: bool = False


METRICS: dict[str, Metric] = {
    "accuracy": Metric(lambda c: c.tp.sum(axis=-1), lambda c: c.n, per_class=False, gap=True),
    "FPR": Metric(lambda c: c.fp, lambda c: c.fp + c.tn, gap=True, generalized=True),
    "FNR": Metric(lambda c: c.fn, lambda c: c.support, generalized=True),
    "TPR": Metric(lambda c: c.tp, lambda c: c.support, gap=True, generalized=True),
    "TNR": Metric(lambda c: c.tn, lambda c: c.fp + c.tn),
    "precision": Metric(lambda c: c.tp, lambda c: c.predicted),
    "F1": Metric(lambda c: 2 * c.tp, lambda c: 2 * c.tp + c.fp + c.fn),
    "pred_rate": Metric(lambda c: c.predicted, lambda c: c.n[..., None]),
    "mean_prob": Metric(
        lambda c: c.probability_sum, lambda c: c.n_prob[..., None], gap=True, needs_probabilities=True
    ),
}
# The per-class rates of the argmax decisions, in the column order of group_metrics.csv.
CLASS_RATES = tuple(
    name for name in GROUP_CLASS_COLUMNS if name in METRICS and not METRICS[name].needs_probabilities
)


def ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """``numerator / denominator`` elementwise, NaN where the denominator is zero."""
    numerator, denominator = np.broadcast_arrays(np.asarray(numerator, float), np.asarray(denominator, float))
    out = np.full(numerator.shape, np.nan)
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out


def nan_mean(values: np.ndarray, axis: int) -> np.ndarray:
    """The mean over ``axis`` of the values that are not NaN; NaN where there are none (no warning)."""
    present = ~np.isnan(values)
    return ratio(np.where(present, values, 0.0).sum(axis=axis), present.sum(axis=axis))


def metric_names(select: Callable[[Metric], bool], table: Mapping[str, Metric] = METRICS) -> tuple[str, ...]:
    """The names of the metrics of ``table`` that ``select`` keeps, in the order of every output: the
    metrics of the argmax decisions before those of probabilities; within each, the metrics with one value
    first, then class by class in table order."""
    names: list[str] = []
    for probabilities in (False, True):
        chosen = [
            (name, metric)
            for name, metric in table.items()
            if select(metric) and metric.needs_probabilities == probabilities
        ]
        names += [name for name, metric in chosen if not metric.per_class]
        names += [f"{label}_{name}" for label in LABELS for name, metric in chosen if metric.per_class]
    return tuple(names)


def rates(counts: np.ndarray, table: Mapping[str, Metric] = METRICS) -> dict[str, np.ndarray]:
    """Every metric of ``table`` from additive counts with ``COUNT_COLUMNS`` along the last axis.

    Returns arrays shaped like ``counts`` without its last axis: ``n``, ``macro_f1`` (the mean of the
    defined per-class F1 values: a class neither true nor predicted has none), each metric of the table
    (per class c as ``c_<name>``) and ``c_support`` (sentences truly c).
    """
    tally = Counts.of(counts)
    values = {"n": tally.n}
    for name, metric in table.items():
        value = ratio(metric.numerator(tally), metric.denominator(tally))
        _put(values, name, metric, value)
        if name == "F1":  # macro-F1, the one definition (held-out evaluation and suite tables alike)
            values["macro_f1"] = nan_mean(value, axis=-1)
    for index, label in enumerate(LABELS):
        values[f"{label}_support"] = tally.support[..., index]
    return values


def denominators(counts: np.ndarray, table: Mapping[str, Metric] = METRICS) -> dict[str, np.ndarray]:
    """The denominator behind each metric of ``table`` (per class c as ``c_<name>``): ``n`` for accuracy,
    sentences not c for ``c_FPR``, truly c for ``c_TPR``, sentences with probabilities for ``c_mean_prob``."""
    tally = Counts.of(counts)
    result: dict[str, np.ndarray] = {}
    for name, metric in table.items():
        shape = tally.support.shape if metric.per_class else tally.n.shape
        denominator = np.broadcast_to(metric.denominator(tally), shape)
        _put(result, name, metric, denominator)
    return result


def confusion_counts(confusion: np.ndarray) -> np.ndarray:
    """The ``COUNT_COLUMNS`` of one 3x3 confusion matrix (rows true, columns predicted), without probabilities."""
    cells = np.asarray(confusion, dtype=float).ravel()
    return np.concatenate([cells, np.zeros(len(COUNT_COLUMNS) - len(CELL_COLUMNS))])


def _put(values: dict[str, np.ndarray], name: str, metric: Metric, array: np.ndarray) -> None:
    """``array`` into ``values`` as ``name``, or split by class as ``c_<name>`` for a per-class metric."""
    if not metric.per_class:
        values[name] = array
        return
    for index, label in enumerate(LABELS):
        values[f"{label}_{name}"] = array[..., index]


def template_counts(predictions: pd.DataFrame) -> pd.DataFrame:
    """Additive counts per (run, category, group, template): the 9 confusion cells and the probability sums.

    ``cm_tp`` counts sentences with true label t and predicted label p; ``sum_p_c`` adds the class-c
    probabilities of the sentences that have them, ``n_prob`` counts those sentences.
    """
    keys = list(TEMPLATE_KEY)
    frame = pd.concat([predictions[keys].reset_index(drop=True), sentence_counts(predictions)], axis=1)
    return frame.groupby(keys, sort=True, observed=True).sum().reset_index()


def sentence_counts(predictions: pd.DataFrame) -> pd.DataFrame:
    """The ``COUNT_COLUMNS`` of each sentence (row) alone: its confusion cell as a one-hot row, and its class
    probabilities where it has them (the units that ``template_counts`` adds up)."""
    cell = predictions["y_true"].to_numpy() * 3 + predictions["y_pred"].to_numpy()
    one_hot = np.zeros((len(predictions), len(CELL_COLUMNS)), dtype=np.int64)
    one_hot[np.arange(len(predictions)), cell] = 1
    columns = {name: one_hot[:, index] for index, name in enumerate(CELL_COLUMNS)}
    probabilities = predictions.reindex(columns=list(PROBABILITY_COLUMNS)).to_numpy(dtype=float)
    has_probabilities = ~np.isnan(probabilities).any(axis=1)
    for index, name in enumerate(PROBABILITY_SUM_COLUMNS):
        columns[name] = np.where(has_probabilities, probabilities[:, index], 0.0)
    columns["n_prob"] = has_probabilities.astype(np.int64)
    return pd.DataFrame(columns)


def metric_frame(counts: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """The metrics of ``rates`` for each row of ``counts`` summed over ``keys``, one row per key."""
    summed = counts.groupby(keys, sort=True, observed=True)[list(COUNT_COLUMNS)].sum()
    values = rates(summed.to_numpy())
    frame = pd.DataFrame(values, index=summed.index).reset_index()
    frame["n"] = frame["n"].astype(np.int64)
    for label in LABELS:
        frame[f"{label}_support"] = frame[f"{label}_support"].astype(np.int64)
    return frame


def group_metrics(counts: pd.DataFrame, runs: pd.DataFrame, selected: dict[str, list[str]]) -> pd.DataFrame:
    """One row per (run, category, group): ``n``, accuracy, macro-F1 and the per-class rates.

    ``num_params`` comes from ``runs``; ``selected`` says whether the group is one of those compared in gaps.
    """
    frame = metric_frame(counts, list(GROUP_KEY))
    frame = frame.merge(runs[[*RUN_KEY, "num_params"]], on=list(RUN_KEY), how="left")
    chosen = {(category, group) for category, groups in selected.items() for group in groups}
    frame["selected"] = [pair in chosen for pair in zip(frame["category"], frame["group"], strict=True)]
    return frame[list(GROUP_METRICS_COLUMNS)]
