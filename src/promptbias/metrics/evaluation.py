"""Held-out evaluation of a probe: accuracy, macro-F1 and the confusion matrix over the labels 0, 1, 2.

Macro-F1 is the one definition of ``metrics/metric_table.py`` (the mean of the defined per-class F1 values, a class
neither true nor predicted has none), so the held-out evaluation and the bias-suite tables agree.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix

from promptbias.labels import LABEL_IDS
from promptbias.metrics.metric_table import confusion_counts, rates


def classification_summary(y_true: np.ndarray, probabilities: np.ndarray) -> dict[str, object]:
    """Accuracy, macro-F1, confusion (rows true, columns predicted), n and the share predicted per class."""
    y_pred = probabilities.argmax(axis=1)
    confusion = confusion_matrix(y_true, y_pred, labels=list(LABEL_IDS.values()))
    return {
        "n": len(y_true),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(rates(confusion_counts(confusion))["macro_f1"]),
        "confusion": confusion.tolist(),
        "predicted_share": (np.bincount(y_pred, minlength=3) / max(len(y_pred), 1)).tolist(),
    }
