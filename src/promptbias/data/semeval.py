"""SemEval-2018 Task 1 V-oc (valence ordinal classification), reduced to 3 classes by the sign of the class.

The files are not redistributable; the user points at the folder of the NRC release, whose files are
tab-separated with the header ``ID  Tweet  Affect Dimension  Intensity Class`` and classes such as
``-2: moderately negative emotional state can be inferred``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from promptbias.data.files import read_table
from promptbias.errors import InputError
from promptbias.labels import valence_to_3

COLUMNS = ("ID", "Tweet", "Affect Dimension", "Intensity Class")
SPLIT_KEYS = {"train": "train", "validation": "dev", "test": "test"}
_CLASS = re.compile(r"^\s*([+-]?\d)\s*(:|$)")


def find_split_file(folder: Path, split: str) -> Path:
    """The file of ``split`` in the release folder: the one .txt/.tsv whose name contains train, dev or test."""
    if not folder.is_dir():
        raise InputError(folder, "SemEval-2018 V-oc folder not found")
    key = SPLIT_KEYS[split]
    matches = sorted(
        p for p in folder.iterdir() if key in p.name.lower() and p.suffix.lower() in (".txt", ".tsv")
    )
    if len(matches) != 1:
        found = ", ".join(p.name for p in matches) or "none"
        raise InputError(folder, f"expected one V-oc file with {key!r} in its name, found {found}")
    return matches[0]


def read_voc_file(path: Path) -> pd.DataFrame:
    """One V-oc file (tab-separated, whatever its ending) as (text, label in 0..2)."""
    frame = read_table(path, required=COLUMNS, kind="tsv")
    labels = []
    for number, value in enumerate(frame["Intensity Class"], start=2):
        match = _CLASS.match(value)
        if match is None:
            raise InputError(path, f"line {number}: intensity class {value!r} does not start with -3..3")
        try:
            labels.append(valence_to_3(int(match.group(1))))
        except ValueError as error:
            raise InputError(path, f"line {number}: {error}") from None
    return pd.DataFrame({"text": frame["Tweet"].str.strip(), "label": labels})
