"""Any CSV, TSV or JSONL file with a text column and a label column, plus an optional label mapping."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from promptbias.data.files import read_table
from promptbias.errors import InputError
from promptbias.labels import parse_label


def read_labelled_file(
    path: Path,
    text_column: str = "text",
    label_column: str = "label",
    label_map: Mapping[str, str | int] | None = None,
) -> pd.DataFrame:
    """The file as (text, label in 0..2); labels go through ``label_map`` (keys as written in the file)."""
    frame = read_table(path, required=(text_column, label_column))
    header_lines = 0 if path.suffix.lower() in (".jsonl", ".json") else 1
    labels = []
    for number, value in enumerate(frame[label_column], start=1 + header_lines):
        try:
            labels.append(parse_label(value, label_map))
        except ValueError as error:
            raise InputError(path, f"line {number}: {error}") from None
    texts = frame[text_column].str.strip()
    empty = texts.eq("")
    if empty.any():
        raise InputError(path, f"line {int(empty.idxmax()) + 1 + header_lines}: empty text")
    return pd.DataFrame({"text": texts, "label": labels})
