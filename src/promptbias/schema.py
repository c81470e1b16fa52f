"""Column names and orders of the tables that predictions, metrics and the report share.

The layout of a file is written here once; the modules that write or read it import it. Light on purpose
(labels only), so that any part of the tool can ask for a column name without loading the others.
"""

from __future__ import annotations

from promptbias.labels import LABELS

RUN_KEY = ("model", "dataset", "probe", "run_id")
GROUP_KEY = (*RUN_KEY, "category", "group")

# Prediction files: one row per suite sentence.
PROBABILITY_COLUMNS = tuple(f"p_{label}" for label in LABELS)
RUN_COLUMNS = (*RUN_KEY, "seed", "num_params")
PREDICTION_COLUMNS = (
    "y_true", "y_pred", *PROBABILITY_COLUMNS, "category", "group", "template_id", "text", *RUN_COLUMNS,
)  # fmt: skip
# The TSV layout of other tools' prediction files, which ``predictions.tsv`` follows so that they read it.
REFERENCE_COLUMNS = (
    "y_true", "y_pred", "category", "group", "text", "model", "run_id", "dataset", "num_params",
)  # fmt: skip
# What the metrics stage needs of a prediction file; ``probe``, ``template_id``, ``text``, ``num_params`` and
# the probabilities are optional.
REQUIRED_COLUMNS = ("y_true", "y_pred", "category", "group", "model", "dataset", "run_id")

# group_metrics.csv: the per-group metrics, and for each class c the columns c_<name> in this order.
GROUP_CLASS_COLUMNS = ("support", "FPR", "TPR", "FNR", "TNR", "precision", "F1", "pred_rate", "mean_prob")
GROUP_METRICS_COLUMNS = (
    *RUN_KEY, "num_params", "category", "group", "selected", "n", "accuracy", "macro_f1",
    *(f"{label}_{name}" for label in LABELS for name in GROUP_CLASS_COLUMNS),
)  # fmt: skip

# overall.csv: per run over all its sentences.
OVERALL_CLASS_COLUMNS = ("pred_rate", "precision", "TPR", "F1")
OVERALL_COLUMNS = (
    *RUN_KEY, "num_params", "n", "accuracy", "macro_f1",
    *(f"{label}_{name}" for label in LABELS for name in OVERALL_CLASS_COLUMNS),
)  # fmt: skip

# gaps.csv: one row per (model, dataset, probe, category, group, metric), across runs.
GAP_KEY = ("model", "dataset", "probe", "category", "group", "metric")
GAP_COLUMNS = (
    *GAP_KEY[:3], "num_params", *GAP_KEY[3:],
    "n_runs", "n_templates", "value_mean", "gap_mean", "gap_std", "prompt_sd", "ci_low", "ci_high",
    "p_value", "p_adjusted", "significant", "min_detectable_gap", "denominator_min", "default_group",
    "method", "scope", "null", "n_permutations", "p_value_se", "p_adjusted_se",
)  # fmt: skip
# prompt_disagreement.csv: per model, dataset, probe and attribute, do its runs' prompts move its groups
# differently? (metrics/inference/permutation.py)
DISAGREEMENT_COLUMNS = (
    "model", "dataset", "probe", "category", "n_groups", "n_runs", "variance_ratio", "p_value", "p_adjusted",
    "significant", "n_permutations",
)  # fmt: skip

# probe_differences.csv: each probe's gaps against the reference probe's, with the paired test
# (metrics/inference/engine.py, paired_test).
PROBE_DIFFERENCE_COLUMNS = (
    "model", "dataset", "probe", "reference_probe", "category", "group", "metric", "gap_mean",
    "reference_gap_mean", "difference", "null_sd", "ci_low", "ci_high", "p_value", "p_adjusted",
    "significant", "n_run_pairs", "n_templates", "n_permutations",
)  # fmt: skip

# model_differences.csv: per pair of models, the difference of their gaps with the paired test (metrics/inference/model_comparison.py).
MODEL_PAIR_KEY = ("dataset", "probe", "model_a", "model_b")
MODEL_DIFFERENCE_COLUMNS = (
    *MODEL_PAIR_KEY, "category", "group", "metric", "gap_a", "gap_b", "difference", "null_sd", "ci_low",
    "ci_high", "p_value", "p_adjusted", "significant", "n_run_pairs", "n_templates", "n_permutations",
)  # fmt: skip
# model_summary.csv: per model and attribute, the flagged gaps and the mean |gap| with its interval.
MODEL_SUMMARY_COLUMNS = (
    "model", "dataset", "probe", "category", "n_groups", "n_templates", "n_runs", "n_gaps", "n_significant",
    "mean_abs_gap",
)  # fmt: skip
