"""TweetEval sentiment: ``{split}_text.txt`` / ``{split}_labels.txt`` line by line, or the hub's copy."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from promptbias.data.files import read_text
from promptbias.errors import InputError
from promptbias.labels import parse_label

SPLIT_PREFIXES = {"train": "train", "validation": "val", "test": "test"}
HUB_ID = "cardiffnlp/tweet_eval"
HUB_CONFIG = "sentiment"


def read_split(folder: Path, split: str) -> pd.DataFrame:
    """The text and label files of one split as (text, label); the label files already use 0..2."""
    prefix = SPLIT_PREFIXES[split]
    text_path, label_path = folder / f"{prefix}_text.txt", folder / f"{prefix}_labels.txt"
    texts = read_text(text_path).splitlines()
    labels = read_text(label_path).splitlines()
    if len(texts) != len(labels):
        raise InputError(label_path, f"{len(labels)} labels for {len(texts)} lines of {text_path.name}")
    parsed = []
    for number, value in enumerate(labels, start=1):
        try:
            parsed.append(parse_label(value))
        except ValueError as error:
            raise InputError(label_path, f"line {number}: {error}") from None
    return pd.DataFrame({"text": [t.strip() for t in texts], "label": parsed})


def from_hub(split: str) -> pd.DataFrame:
    """The hub copy (needs a connection or the hub cache)."""
    from datasets import load_dataset

    table = load_dataset(HUB_ID, HUB_CONFIG, split=split).to_pandas()
    return pd.DataFrame({"text": table["text"], "label": table["label"].astype(int)})
