"""Training sets by name: sst5, tweeteval, semeval2018-voc, or files of one's own; each split as (text, label).

Local files come first (the study's ``data_dir`` or $PROMPTBIAS_DATA); then sst5 is read from the copy shipped
inside the package (never from the hub), and tweeteval from the Hugging Face hub.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
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
    CSV/TSV/JSONL files. ``path`` overrides the folder of a built-in set (for semeval2018-voc, which cannot
    be shipped, it is required unless the data folder holds ``semeval2018-voc/``).
    """
    if split not in SPLITS:
        raise InputError(name, f"unknown split {split!r} (expected one of {', '.join(SPLITS)})")
    if files is not None:
        if split not in files:
            raise InputError(name, f"no file given for the {split} split")
        return read_labelled_file(Path(files[split]), text_column, label_column, label_map)
    if name == "semeval2018-voc":
        folder = Path(path) if path is not None else _default_folder(name, data_root)
        if folder is None:
            raise InputError(
                name,
                f"give the folder of the NRC V-oc files as `path`, or put them in ${DATA_ENV_VAR}/{name}/ "
                "(they cannot be shipped)",
            )
        return semeval.read_voc_file(semeval.find_split_file(folder, split))
    if name == "sst5":
        return _local_or(name, split, path, data_root, _sst5_local, lambda _folder: sst5.read_packaged(split))
    if name == "tweeteval":
        return _local_or(name, split, path, data_root, _tweeteval_local, partial(_tweeteval_hub, split))
    raise InputError(name, f"unknown training set (built in: {', '.join(BUILTIN)}; or give `files`)")


def _sst5_local(folder: Path, split: str) -> pd.DataFrame | None:
    file = folder / sst5.SPLIT_FILES[split]
    return sst5.read_tree_file(file) if file.exists() else None


def _tweeteval_local(folder: Path, split: str) -> pd.DataFrame | None:
    prefix = tweeteval.SPLIT_PREFIXES[split]
    return tweeteval.read_split(folder, split) if (folder / f"{prefix}_text.txt").exists() else None


def _local_or(
    name: str,
    split: str,
    path: str | Path | None,
    data_root: str | Path | None,
    read_local: Callable[[Path, str], pd.DataFrame | None],
    read_elsewhere: Callable[[Path | None], pd.DataFrame],
) -> pd.DataFrame:
    """The split from the named folder (``path``), else from the data folder, else ``read_elsewhere``."""
    folder = Path(path) if path is not None else _default_folder(name, data_root)
    if folder is not None:
        frame = read_local(folder, split)
        if frame is not None:
            return frame
    if path is not None:  # a folder the user named: never silently replaced by another copy
        problem = "folder not found" if not folder.is_dir() else f"no {name} {split} split in this folder"
        raise InputError(folder, problem)
    return read_elsewhere(folder)


def _tweeteval_hub(split: str, folder: Path | None) -> pd.DataFrame:
    try:
        return tweeteval.from_hub(split)
    except Exception as error:  # the datasets library raises many kinds when offline
        where = f"{folder}" if folder is not None else f"${DATA_ENV_VAR} (not set)"
        raise InputError(
            "tweeteval",
            f"no local {split} split in {where} and the hub copy could not be loaded "
            f"({type(error).__name__}); set {DATA_ENV_VAR} or data_dir to a folder holding tweeteval_sentiment/",
        ) from None


def _default_folder(name: str, data_root: str | Path | None) -> Path | None:
    root = data_dir(data_root)
    folder_names = {"sst5": "sst5", "tweeteval": "tweeteval_sentiment", "semeval2018-voc": "semeval2018-voc"}
    return root / folder_names[name] if root is not None else None


def subsample(frame: pd.DataFrame, size: int | None, seed: int) -> pd.DataFrame:
    """``size`` rows drawn without replacement, stratified by label and seeded; all rows when size is None."""
    if size is None or size >= len(frame):
        return frame.reset_index(drop=True)
    kept, _ = train_test_split(frame, train_size=size, stratify=frame["label"], random_state=seed)
    return kept.sort_index().reset_index(drop=True)
