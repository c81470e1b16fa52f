"""Fairness metrics of a predictions table: per-group rates, group gaps with intervals across runs,
counterfactual flip rates and the generalized metrics of Czarnowska et al.

``run_metrics`` is the whole stage (load, compute, write); the parts are ``load_predictions``,
``compute_metrics`` and ``write_metrics``. The gap formula lives in ``metrics/gaps.py``.
"""

from promptbias.metrics.compute import MetricsResult, compute_metrics
from promptbias.metrics.loading import load_predictions
from promptbias.metrics.stage import run_metrics, write_metrics

__all__ = ["MetricsResult", "compute_metrics", "load_predictions", "run_metrics", "write_metrics"]
