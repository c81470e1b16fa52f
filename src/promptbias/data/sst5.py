"""SST-5: the PTB tree files (one tree per line, the root's digit is the label), or the hub's SetFit/sst5."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from promptbias.data.files import read_text
from promptbias.errors import InputError
from promptbias.labels import sst5_to_3

SPLIT_FILES = {"train": "train.txt", "validation": "dev.txt", "test": "test.txt"}
HUB_ID = "SetFit/sst5"
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


def read_tree_file(path: Path) -> pd.DataFrame:
    """A PTB tree file as (text, label in 0..2)."""
    rows = []
    for number, line in enumerate(read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            text, fine = parse_tree(line.strip())
        except ValueError as error:
            raise InputError(path, f"line {number}: {error}") from None
        rows.append((text, sst5_to_3(fine)))
    return pd.DataFrame(rows, columns=["text", "label"])


def from_hub(split: str) -> pd.DataFrame:
    """The hub copy (needs a connection or the hub cache)."""
    from datasets import load_dataset

    table = load_dataset(HUB_ID, split=split).to_pandas()
    return pd.DataFrame({"text": table["text"], "label": [sst5_to_3(int(v)) for v in table["label"]]})
