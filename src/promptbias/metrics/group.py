"""Per-group classification metrics from 3x3 confusion counts: one-vs-rest rates, accuracy, macro-F1.

The confusion counts run over the explicit labels 0, 1, 2 (negative, neutral, positive), so a class that no
sentence has still gets its row and column. For class c: TP = predicted c and truly c; FP = predicted c, truly
not c; FN = truly c, predicted otherwise; TN = the rest. A rate whose denominator is zero is NaN, never 0.5.

Everything here works on counts that add up (per template, per group, per run), so the same functions serve
the observed values and the template bootstrap.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from promptbias.labels import LABELS
from promptbias.metrics.loading import PROBABILITY_COLUMNS, RUN_KEY

GROUP_KEY = (*RUN_KEY, "category", "group")
TEMPLATE_KEY = (*GROUP_KEY, "template_id")
CELL_COLUMNS = tuple(f"cm_{true}{pred}" for true in range(3) for pred in range(3))
PROBABILITY_SUM_COLUMNS = tuple(f"sum_{column}" for column in PROBABILITY_COLUMNS)
COUNT_COLUMNS = (*CELL_COLUMNS, *PROBABILITY_SUM_COLUMNS, "n_prob")
CLASS_RATES = ("FPR", "TPR", "FNR", "TNR", "precision", "F1", "pred_rate")
MIN_DENOMINATOR = 30


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


def rates(counts: np.ndarray) -> dict[str, np.ndarray]:
    """Every per-group metric from additive counts with ``COUNT_COLUMNS`` along the last axis.

    Returns arrays shaped like ``counts`` without its last axis: ``n``, ``accuracy``, ``macro_f1`` (mean of
    the defined per-class F1 values) and, per class c, ``c_support`` (sentences truly c), ``c_FPR``,
    ``c_TPR``, ``c_FNR``, ``c_TNR``, ``c_precision``, ``c_F1``, ``c_pred_rate`` (share predicted c) and
    ``c_mean_prob``.
    """
    counts = np.asarray(counts, dtype=float)
    matrix = counts[..., : len(CELL_COLUMNS)].reshape(*counts.shape[:-1], 3, 3)
    n = matrix.sum(axis=(-2, -1))
    tp = np.diagonal(matrix, axis1=-2, axis2=-1)
    support = matrix.sum(axis=-1)
    predicted = matrix.sum(axis=-2)
    fp, fn = predicted - tp, support - tp
    tn = n[..., None] - support - fp
    f1 = ratio(2 * tp, 2 * tp + fp + fn)
    mean_prob = ratio(counts[..., len(CELL_COLUMNS) : len(CELL_COLUMNS) + 3], counts[..., -1:])
    per_class = {
        "support": support,
        "FPR": ratio(fp, fp + tn),
        "TPR": ratio(tp, support),
        "FNR": ratio(fn, support),
        "TNR": ratio(tn, fp + tn),
        "precision": ratio(tp, predicted),
        "F1": f1,
        "pred_rate": ratio(predicted, n[..., None]),
        "mean_prob": mean_prob,
    }
    values = {"n": n, "accuracy": ratio(tp.sum(axis=-1), n), "macro_f1": nan_mean(f1, axis=-1)}
    for index, label in enumerate(LABELS):
        for name, array in per_class.items():
            values[f"{label}_{name}"] = array[..., index]
    return values


def denominators(counts: np.ndarray) -> dict[str, np.ndarray]:
    """The denominator behind each gap metric: ``n`` for accuracy, sentences not c for ``c_FPR``, truly c for
    ``c_TPR``, sentences with probabilities for ``c_mean_prob``."""
    counts = np.asarray(counts, dtype=float)
    matrix = counts[..., : len(CELL_COLUMNS)].reshape(*counts.shape[:-1], 3, 3)
    n = matrix.sum(axis=(-2, -1))
    support = matrix.sum(axis=-1)
    result = {"accuracy": n}
    for index, label in enumerate(LABELS):
        result[f"{label}_FPR"] = n - support[..., index]
        result[f"{label}_TPR"] = support[..., index]
        result[f"{label}_mean_prob"] = counts[..., -1]
    return result


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
    per_class = [f"{label}_{name}" for label in LABELS for name in ("support", *CLASS_RATES, "mean_prob")]
    return frame[
        [*RUN_KEY, "num_params", "category", "group", "selected", "n", "accuracy", "macro_f1", *per_class]
    ]
