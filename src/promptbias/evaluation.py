"""Held-out evaluation of a probe: accuracy, macro-F1 and the confusion matrix over the labels 0, 1, 2."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

LABEL_IDS = [0, 1, 2]


def classification_summary(y_true: np.ndarray, probabilities: np.ndarray) -> dict[str, object]:
    """Accuracy, macro-F1 (over the three labels, 0 for a class never predicted nor present), confusion, n."""
    y_pred = probabilities.argmax(axis=1)
    return {
        "n": len(y_true),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=LABEL_IDS, average="macro", zero_division=0)),
        "confusion": confusion_matrix(y_true, y_pred, labels=LABEL_IDS).tolist(),
        "predicted_share": (np.bincount(y_pred, minlength=3) / max(len(y_pred), 1)).tolist(),
    }
