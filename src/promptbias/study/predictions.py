"""The predictions table: one row per suite sentence, with the class probabilities and the run's metadata.

Written as Parquet (the full table) and as TSV in the column layout of other tools' prediction files
(``y_true y_pred category group text model run_id dataset num_params``) so that they read it too.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from promptbias import store
from promptbias.lm.batching import DEFAULT_BATCH_TOKENS
from promptbias.lm.verbalizer import Verbalizer
from promptbias.probes import Probe
from promptbias.schema import PREDICTION_COLUMNS, PROBABILITY_COLUMNS, REFERENCE_COLUMNS, RUN_COLUMNS

if TYPE_CHECKING:
    from promptbias.lm.model import LanguageModel


@dataclass(frozen=True)
class RunInfo:
    """The run a predictions table comes from: its RUN_COLUMNS, the same in every row."""

    model: str
    dataset: str
    probe: str
    run_id: str
    seed: int
    num_params: int


def predictions_table(suite: pd.DataFrame, probabilities: np.ndarray, run: RunInfo) -> pd.DataFrame:
    """The suite with its predicted labels, class probabilities and the run's metadata columns."""
    table = pd.DataFrame(
        {
            "y_true": suite["label"].to_numpy(dtype=np.int64),
            "y_pred": probabilities.argmax(axis=1).astype(np.int64),
            **{column: probabilities[:, index] for index, column in enumerate(PROBABILITY_COLUMNS)},
            "category": suite["category"].to_numpy(),
            "group": suite["group"].to_numpy(),
            "template_id": suite["template_id"].to_numpy(),
            "text": suite["text"].to_numpy(),
        }
    )
    for column in RUN_COLUMNS:
        table[column] = getattr(run, column)
    return table[list(PREDICTION_COLUMNS)]


def predict_suite(
    lm: LanguageModel,
    verbalizer: Verbalizer,
    probe: Probe,
    suite: pd.DataFrame,
    run: RunInfo,
    *,
    batch_tokens: int = DEFAULT_BATCH_TOKENS,
    progress: bool = True,
) -> pd.DataFrame:
    """Classify every suite sentence with ``probe``; ``run`` names the run in every row."""
    probabilities = probe.score(
        lm,
        verbalizer,
        list(suite["text"]),
        batch_tokens=batch_tokens,
        progress=progress,
        description=f"suite ({probe.name})",
    )
    return predictions_table(suite, probabilities, run)


def write_predictions(table: pd.DataFrame, folder: Path) -> None:
    """``predictions.parquet`` and its TSV twin in the reference layout, each written atomically."""
    store.write_frame(folder / "predictions.tsv", table[list(REFERENCE_COLUMNS)])
    store.write_frame(folder / "predictions.parquet", table)
