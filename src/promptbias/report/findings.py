"""What a study found, in the few numbers a tracker or a model card carries: per attribute (and scope) the
gaps flagged and the smallest gap the design would detect, and the runs left out.

A verdict's scope (the prompt or the model) is a column of ``gaps.csv`` where the metrics stage writes one;
without it every gap has the one scope ``ONE_SCOPE``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

CONFIG_KEYS = ("model", "dataset", "probe")
ONE_SCOPE = "all"


def with_scope(gaps: pd.DataFrame) -> pd.DataFrame:
    """``gaps`` with a ``scope`` column: its own, else ``ONE_SCOPE`` for every row; a gap that could not be
    tested (no scope written) gets ``ONE_SCOPE`` too, so that it still counts among its attribute's gaps."""
    if "scope" not in gaps:
        return gaps.assign(scope=ONE_SCOPE)
    return gaps.assign(scope=gaps["scope"].replace("", np.nan).fillna(ONE_SCOPE))


def verdicts(gaps: pd.DataFrame, keys: tuple[str, ...] = (*CONFIG_KEYS, "category", "scope")) -> pd.DataFrame:
    """Per ``keys``: the gaps tested, those significant, and the minimum detectable gap (the largest over the
    rows, so that "none significant" reads "no gap larger than it"; NaN where no row has one). ``gaps`` as
    ``report.results`` reads it (``significant`` boolean)."""
    frame = with_scope(gaps)
    return (
        frame.groupby(list(keys), sort=True)
        .agg(
            n_gaps=("gap_mean", "size"),
            n_significant=("significant", "sum"),
            min_detectable_gap=("min_detectable_gap", "max"),
        )
        .reset_index()
        .astype({"n_significant": int})
    )


def excluded_runs(folder: Path) -> list[dict[str, Any]]:
    """The runs left out of a results folder's verdicts and why: ``excluded_runs`` of ``metrics/summary.json``
    (run_id, model, probe, seed, dev and test accuracy, reason; see ``metrics/run_selection.py``)."""
    try:
        summary = json.loads((folder / "metrics" / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    found = summary.get("excluded_runs") if isinstance(summary, dict) else None
    return [run for run in found or [] if isinstance(run, dict)]
