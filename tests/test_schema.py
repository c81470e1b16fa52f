"""The shared column schema: light to import, and in step with the table of metrics and the written files."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd

from promptbias.metrics import compute_metrics
from promptbias.metrics.metric_table import METRICS
from promptbias.schema import (
    DISAGREEMENT_COLUMNS,
    GAP_COLUMNS,
    GROUP_CLASS_COLUMNS,
    GROUP_METRICS_COLUMNS,
    MODEL_DIFFERENCE_COLUMNS,
    OVERALL_COLUMNS,
    PROBE_DIFFERENCE_COLUMNS,
)


def test_importing_the_schema_loads_neither_pandas_nor_torch() -> None:
    code = (
        "import sys, promptbias.schema; "
        "print(sorted(name for name in ('numpy', 'pandas', 'torch') if name in sys.modules))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"


def test_every_per_class_metric_of_the_table_has_its_group_metrics_column() -> None:
    per_class = {name for name, metric in METRICS.items() if metric.per_class}
    assert set(GROUP_CLASS_COLUMNS) == {"support", *per_class}


def test_the_metrics_tables_have_the_schema_columns_in_order() -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {"y_true": rng.integers(0, 3, 12), "y_pred": rng.integers(0, 3, 12), "category": "c",
         "group": ["a", "b", "c"] * 4, "model": "m", "dataset": "d", "run_id": "1",
         "template_id": np.repeat(["t1", "t2", "t3", "t4"], 3)}
    )  # fmt: skip
    result = compute_metrics(frame, ci="t")
    assert tuple(result.group_metrics.columns) == GROUP_METRICS_COLUMNS
    assert tuple(result.overall.columns) == OVERALL_COLUMNS
    assert tuple(result.gaps.columns) == GAP_COLUMNS
    two = pd.concat([frame.assign(probe="p", model=model) for model in ("m", "n")], ignore_index=True)
    tested = compute_metrics(pd.concat([two, two.assign(probe="q")]), n_permutations=20, n_boot=20)
    assert tuple(tested.prompt_disagreement.columns) == DISAGREEMENT_COLUMNS
    assert tuple(tested.model_differences.columns) == MODEL_DIFFERENCE_COLUMNS
    assert tuple(tested.probe_differences.columns) == PROBE_DIFFERENCE_COLUMNS
    assert len(tested.prompt_disagreement) == 4 and len(tested.probe_differences) > 0
