"""The summary of a metrics run: what went in and the headline figures, as plain JSON-ready values."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from promptbias.metrics.inference import uncertainty
from promptbias.schema import RUN_KEY

TOP_GAPS = 5


def build_summary(
    *,
    runs: pd.DataFrame,
    overall: pd.DataFrame,
    gaps: pd.DataFrame,
    selected: Mapping[str, Sequence[str]],
    options: Mapping[str, Any],
    correction: str,
    metrics: Sequence[str],
    nan_counts: Mapping[str, int],
    messages: Sequence[str],
) -> dict[str, Any]:
    """Inputs (runs, groups used, interval method, correction) and per model accuracy and largest gaps."""
    summary = {
        "runs": runs[[*RUN_KEY, "num_params", "n_sentences", "source"]].to_dict(orient="records"),
        "n_runs": len(runs),
        "groups": {category: list(names) for category, names in sorted(selected.items())},
        "interval": dict(options),
        "correction": correction,
        "scope": ", ".join(sorted(set(gaps["scope"].dropna()))),
        "null": ", ".join(sorted(set(gaps["null"].dropna()))) or None if "null" in gaps else None,
        "alpha": uncertainty.ALPHA,
        "gap_metrics": list(metrics),
        "n_gaps": len(gaps),
        "n_significant": int(gaps["significant"].sum()),
        "models": model_headlines(overall, gaps),
        "nan_rates": dict(nan_counts),
        "warnings": list(messages),
    }
    return plain(summary)


def model_headlines(overall: pd.DataFrame, gaps: pd.DataFrame, top: int = TOP_GAPS) -> list[dict[str, Any]]:
    """Per (model, dataset, probe): runs, mean accuracy and macro-F1, the ``top`` largest significant gaps."""
    headlines = []
    columns = ["category", "group", "metric", "gap_mean", "ci_low", "ci_high", "p_adjusted", "scope"]
    for (model, dataset, probe), rows in overall.groupby(["model", "dataset", "probe"], sort=True):
        found = gaps[(gaps["model"] == model) & (gaps["dataset"] == dataset) & (gaps["probe"] == probe)]
        significant = found[found["significant"]]
        largest = significant.reindex(
            significant["gap_mean"].abs().sort_values(ascending=False, kind="stable").index
        )
        headlines.append(
            {
                "model": model,
                "dataset": dataset,
                "probe": probe,
                "num_params": rows["num_params"].iloc[0],
                "n_runs": len(rows),
                "accuracy": rows["accuracy"].mean(),
                "accuracy_sd": rows["accuracy"].std(),
                "macro_f1": rows["macro_f1"].mean(),
                "scope": found["scope"].iloc[0] if len(found) else None,
                "n_significant_gaps": len(significant),
                "largest_significant_gaps": largest[columns].head(top).to_dict(orient="records"),
            }
        )
    return headlines


def plain(value: Any) -> Any:
    """``value`` with numpy scalars as Python numbers and NaN as None, so that the JSON is strict."""
    if isinstance(value, Mapping):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
