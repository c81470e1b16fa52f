"""SST-5: the PTB tree files (one tree per line, the root's digit is the label), or the copy shipped inside the
package (text and fine label per split, made from the tree files by ``scripts/package_data.py``)."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from promptbias.data.files import read_table, read_text
from promptbias.data.location import packaged_file
from promptbias.errors import InputError
from promptbias.labels import sst5_to_3

SPLIT_FILES = {"train": "train.txt", "validation": "dev.txt", "test": "test.txt"}
PACKAGED_FILE = "sst5/{split}.tsv.gz"  # columns label (fine, 0..4) and text
_LEAF = re.compile(r"\(\d ([^()\s]+)\)")
_ROOT = re.compile(r"^\((\d) ")
_PTB_ESCAPES = {"-LRB-": "(", "-RRB-": ")", "-LSB-": "[", "-RSB-": "]", "-LCB-": "{", "-RCB-": "}"}


def parse_tree(line: str) -> tuple[str, int]:
    """One PTB tree into (sentence, fine label 0..4): the leaves joined by spaces, PTB escapes undone."""
    root = _ROOT.match(line)
    leaves = _LEAF.findall(line)
    if root is None or not leaves:
        raise ValueError("not a PTB sentiment tree")
    words = [_PTB_ESCAPES.get(leaf, leaf).replace("\\/", "/").replace("\\*", "*") for leaf in leaves]
    return " ".join(words), int(root.group(1))


def read_fine_trees(path: Path) -> pd.DataFrame:
    """A PTB tree file as (text, fine label in 0..4)."""
    rows = []
    for number, line in enumerate(read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append(parse_tree(line.strip()))
        except ValueError as error:
            raise InputError(path, f"line {number}: {error}") from None
    return pd.DataFrame(rows, columns=["text", "label"])


def read_tree_file(path: Path) -> pd.DataFrame:
    """A PTB tree file as (text, label in 0..2)."""
    return to_three_classes(read_fine_trees(path))


def read_packaged_fine(split: str) -> pd.DataFrame:
    """The shipped copy of ``split`` as (text, fine label in 0..4)."""
    frame = read_table(
        packaged_file(PACKAGED_FILE.format(split=split)), required=("label", "text"), kind="tsv"
    )
    return pd.DataFrame({"text": frame["text"], "label": frame["label"].astype(int)})


def read_packaged(split: str) -> pd.DataFrame:
    """The shipped copy of ``split`` as (text, label in 0..2): the same frame as the tree file gives."""
    return to_three_classes(read_packaged_fine(split))


def to_three_classes(frame: pd.DataFrame) -> pd.DataFrame:
    """Fine labels 0,1 -> negative, 2 -> neutral, 3,4 -> positive."""
    return frame.assign(label=[sst5_to_3(int(label)) for label in frame["label"]])
