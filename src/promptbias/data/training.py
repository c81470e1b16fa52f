"""Training sets by name: sst5, tweeteval, semeval2018-voc, or files of one's own; each split as (text, label).

Local files come first (the study's ``data_dir`` or $PROMPTBIAS_DATA); sst5 and tweeteval fall back to the
Hugging Face hub when no local copy exists.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
from sklearn.model_selection import train_test_split

from promptbias.data import semeval, sst5, tweeteval
from promptbias.data.location import DATA_ENV_VAR, data_dir
from promptbias.data.tabular import read_labelled_file
from promptbias.errors import InputError

SPLITS = ("train", "validation", "test")
BUILTIN = ("sst5", "tweeteval", "semeval2018-voc")


def load_split(
    name: str,
    split: str,
    *,
    path: str | Path | None = None,
    files: dict[str, str | Path] | None = None,
    text_column: str = "text",
    label_column: str = "label",
    label_map: dict[str, str | int] | None = None,
    data_root: str | Path | None = None,
) -> pd.DataFrame:
    """One split of a training set as a frame with columns ``text`` (str) and ``label`` (0..2).

    ``name`` is a built-in set (sst5, tweeteval, semeval2018-voc) or any name when ``files`` maps splits to
    CSV/TSV/JSONL files. ``path`` overrides the folder of a built-in set (required for semeval2018-voc).
    """
    if split not in SPLITS:
        raise InputError(name, f"unknown split {split!r} (expected one of {', '.join(SPLITS)})")
    if files is not None:
        if split not in files:
            raise InputError(name, f"no file given for the {split} split")
        return read_labelled_file(Path(files[split]), text_column, label_column, label_map)
    if name == "semeval2018-voc":
        if path is None:
            raise InputError(name, "give the folder of the NRC V-oc files as `path` (they cannot be shipped)")
        return semeval.read_voc_file(semeval.find_split_file(Path(path), split))
    if name == "sst5":
        return _local_or_hub(name, split, path, data_root, _sst5_local, sst5.from_hub)
    if name == "tweeteval":
        return _local_or_hub(name, split, path, data_root, _tweeteval_local, tweeteval.from_hub)
    raise InputError(name, f"unknown training set (built in: {', '.join(BUILTIN)}; or give `files`)")


def _sst5_local(folder: Path, split: str) -> pd.DataFrame | None:
    file = folder / sst5.SPLIT_FILES[split]
    return sst5.read_tree_file(file) if file.exists() else None


def _tweeteval_local(folder: Path, split: str) -> pd.DataFrame | None:
    prefix = tweeteval.SPLIT_PREFIXES[split]
    return tweeteval.read_split(folder, split) if (folder / f"{prefix}_text.txt").exists() else None


def _local_or_hub(
    name: str,
    split: str,
    path: str | Path | None,
    data_root: str | Path | None,
    read_local: Callable[[Path, str], pd.DataFrame | None],
    read_hub: Callable[[str], pd.DataFrame],
) -> pd.DataFrame:
    folder = Path(path) if path is not None else _default_folder(name, data_root)
    if folder is not None:
        frame = read_local(folder, split)
        if frame is not None:
            return frame
    if path is not None:  # a folder the user named: never silently replaced by the hub's copy
        problem = "folder not found" if not folder.is_dir() else f"no {name} {split} split in this folder"
        raise InputError(folder, problem)
    try:
        return read_hub(split)
    except Exception as error:  # the datasets library raises many kinds when offline
        where = f"{folder}" if folder is not None else f"${DATA_ENV_VAR} (not set)"
        raise InputError(
            name,
            f"no local {split} split in {where} and the hub copy could not be loaded "
            f"({type(error).__name__}); set {DATA_ENV_VAR} or data_dir to a folder holding {name}/",
        ) from None


def _default_folder(name: str, data_root: str | Path | None) -> Path | None:
    root = data_dir(data_root)
    folder_names = {"sst5": "sst5", "tweeteval": "tweeteval_sentiment"}
    return root / folder_names[name] if root is not None else None


def subsample(frame: pd.DataFrame, size: int | None, seed: int) -> pd.DataFrame:
    """``size`` rows drawn without replacement, stratified by label and seeded; all rows when size is None."""
    if size is None or size >= len(frame):
        return frame.reset_index(drop=True)
    kept, _ = train_test_split(frame, train_size=size, stratify=frame["label"], random_state=seed)
    return kept.sort_index().reset_index(drop=True)
