"""Bias suites as one frame: label (0..2), category (the sensitive attribute), group, text, template_id.

The Czarnowska et al. file has 4 tab-separated columns and no header; its templates are recovered from the
row order: inside a category, a template is a run of rows with one label that walks through the groups in
alphabetical order, so a new template starts where the label changes or the group name steps back.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from promptbias.data.files import read_table, read_text
from promptbias.data.location import local_file, packaged_file
from promptbias.errors import InputError
from promptbias.labels import parse_label
from promptbias.suites import build_suite, is_template_suite

SUITE_COLUMNS = ("label", "category", "group", "text")
CZARNOWSKA = "czarnowska"
CZARNOWSKA_FILE = "czarnowska/sentiment_fairness_tests.tsv"


def czarnowska_path(data_root: str | Path | None = None) -> Path:
    """The Czarnowska file in the local data folder when it is there, else the copy shipped in the package."""
    return local_file(CZARNOWSKA_FILE, data_root) or packaged_file(CZARNOWSKA_FILE + ".gz")


def load_suite(source: str | Path, data_root: str | Path | None = None) -> pd.DataFrame:
    """A suite by name (``czarnowska``, ``builtin:NAME``) or path: a TSV in the Czarnowska layout (with or
    without template_id), or a suite YAML file of templates and lexicons (built in memory)."""
    if is_template_suite(source):
        return build_suite(source)
    if str(source) == CZARNOWSKA:
        return read_suite_tsv(czarnowska_path(data_root))
    return read_suite_tsv(Path(source))


def read_suite_tsv(path: Path) -> pd.DataFrame:
    """A suite TSV (or .tsv.gz): 4 columns without header, or a header with those columns plus ``template_id``."""
    first_line = read_text(path).split("\n", 1)[0]
    has_header = first_line.split("\t")[:4] == list(SUITE_COLUMNS)
    if has_header:
        frame = read_table(path, required=(*SUITE_COLUMNS, "template_id"), kind="tsv")
    else:
        frame = read_table(path, header=False, names=SUITE_COLUMNS, kind="tsv")
    return validate_suite(frame, path, first_line=2 if has_header else 1)


def validate_suite(frame: pd.DataFrame, where: str | Path, first_line: int = 1) -> pd.DataFrame:
    """Labels parsed into 0..2, text stripped, template ids recovered when absent; every category needs 2 groups."""
    labels = []
    for number, value in enumerate(frame["label"], start=first_line):
        try:
            labels.append(parse_label(value))
        except ValueError as error:
            raise InputError(where, f"line {number}: {error}") from None
    suite = frame.assign(label=np.array(labels, dtype=np.int64), text=frame["text"].str.strip())
    for column in ("category", "group", "text"):
        empty = suite[column].eq("")
        if empty.any():
            raise InputError(where, f"line {int(np.argmax(empty.to_numpy())) + first_line}: empty {column}")
    groups = suite.groupby("category", sort=False)["group"].unique()
    for category, names in groups.items():
        if len(names) < 2:
            raise InputError(
                where, f"category {category!r} has a single group ({names[0]}); gaps need two or more"
            )
    if "template_id" not in suite.columns:
        suite["template_id"] = recover_template_ids(suite)
    return suite[[*SUITE_COLUMNS, "template_id"]].reset_index(drop=True)


def recover_template_ids(suite: pd.DataFrame) -> list[str]:
    """Template ids (``category:k``) from the row order of a Czarnowska-layout suite."""
    ids: list[str] = []
    state: dict[str, tuple[int, int, str]] = {}  # category -> (template number, label, group)
    for label, category, group in zip(suite["label"], suite["category"], suite["group"], strict=True):
        number, last_label, last_group = state.get(category, (0, label, group))
        if label != last_label or group < last_group:
            number += 1
        state[category] = (number, label, group)
        ids.append(f"{category}:{number}")
    return ids


def sample_templates(suite: pd.DataFrame, per_category: int | None, seed: int) -> pd.DataFrame:
    """Whole templates, ``per_category`` of each category drawn with ``seed`` (every group of a template kept)."""
    if per_category is None:
        return suite
    rng = np.random.default_rng(seed)
    kept: list[str] = []
    for _, templates in suite.groupby("category", sort=True)["template_id"]:
        unique = templates.unique()
        kept.extend(rng.choice(unique, size=min(per_category, len(unique)), replace=False))
    return suite[suite["template_id"].isin(set(kept))].reset_index(drop=True)
