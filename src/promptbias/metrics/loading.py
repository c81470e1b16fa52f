"""Reading predictions for the metrics: this project's files and results folders, and other tools' TSVs.

Every input becomes one normalised frame with the run key (model, dataset, probe, run_id) as strings,
``num_params`` as a float, integer labels 0..2, a ``template_id`` for every sentence and, where the input has
them, the class probabilities ``p_negative``, ``p_neutral``, ``p_positive``. Bad input raises ``InputError``
naming the file and the line or field; input read other than as written (rows without their optional
trailing columns, a run with several ``num_params`` values) gives one ``InputWarning`` each.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from promptbias import store
from promptbias.data.files import read_table, read_text
from promptbias.errors import InputError, warn_input
from promptbias.schema import PROBABILITY_COLUMNS, REQUIRED_COLUMNS, RUN_KEY
from promptbias.suites.loading import recover_template_ids

EXTERNAL_PROBE = "external"
PREDICTIONS_PARQUET = "predictions.parquet"
PREDICTIONS_TSV = "predictions.tsv"

_INTEGRAL_DECIMAL = re.compile(r"^(-?\d+)\.0*$")


def load_predictions(inputs: Sequence[str | Path]) -> pd.DataFrame:
    """All predictions of ``inputs`` (files or results folders) as one normalised frame, in input order.

    A ``source`` column names the file each row came from. The same run (model, dataset, probe, run_id) in
    two files is an error: metrics across runs would count it twice.
    """
    if not inputs:
        raise InputError(None, "no prediction files given")
    frames: list[pd.DataFrame] = []
    seen: dict[tuple[str, ...], str] = {}
    for path in prediction_files(inputs):
        frame = read_prediction_file(path).assign(source=str(path))
        for key in frame[list(RUN_KEY)].drop_duplicates().itertuples(index=False, name=None):
            if key in seen:
                described = ", ".join(f"{name}={value}" for name, value in zip(RUN_KEY, key, strict=True))
                raise InputError(path, f"duplicate run ({described}), already read from {seen[key]}")
            seen[key] = str(path)
        frames.append(frame)
    predictions = pd.concat(frames, ignore_index=True)
    if any(column in predictions for column in PROBABILITY_COLUMNS):
        for column in PROBABILITY_COLUMNS:
            predictions[column] = predictions.get(column, np.nan)
    return predictions


def prediction_files(inputs: Sequence[str | Path]) -> list[Path]:
    """The prediction files behind ``inputs``: files as given, results folders as their complete units."""
    files: list[Path] = []
    for item in inputs:
        path = Path(item)
        files.extend(_results_folder_files(path) if path.is_dir() else [path])
    return files


def _results_folder_files(folder: Path) -> list[Path]:
    """A results folder's predictions, one file per complete unit; a single unit folder is accepted too."""
    for name in (PREDICTIONS_PARQUET, PREDICTIONS_TSV):
        if (folder / name).is_file():
            return [folder / name]
    units = folder / "units"
    if not units.is_dir():
        raise InputError(folder, "is a folder but not a results folder (no units/ subfolder)")
    files = [
        unit / PREDICTIONS_PARQUET if (unit / PREDICTIONS_PARQUET).is_file() else unit / PREDICTIONS_TSV
        for unit in sorted(units.iterdir())
        if unit.is_dir() and store.is_complete(unit)
    ]
    files = [path for path in files if path.is_file()]
    if not files:
        raise InputError(folder, "no complete unit with predictions under units/")
    return files


def incomplete_units(inputs: Sequence[str | Path]) -> list[str]:
    """A warning for each unit folder of a results-folder input that is not complete (still running,
    interrupted, or a file changed since its manifest): its predictions are left out, never read as data."""
    messages = []
    for item in inputs:
        units = Path(item) / "units"
        folders = sorted(units.iterdir()) if units.is_dir() else []
        messages.extend(
            f"{folder}: left out, not complete (interrupted, or a file differs from its {store.MANIFEST})"
            for folder in folders
            if folder.is_dir() and not store.is_complete(folder)
        )
    return messages


def read_prediction_file(path: str | Path) -> pd.DataFrame:
    """One prediction file (Parquet, TSV, CSV or JSONL), validated and normalised."""
    path = Path(path)
    if path.suffix.lower() == ".parquet":
        return normalise_predictions(_read_parquet(path), path, lambda row: f"row {row + 1}")
    frame = read_table(path, required=REQUIRED_COLUMNS)
    header_lines = 0 if path.suffix.lower() in (".jsonl", ".json") else 1
    return normalise_predictions(frame, path, lambda row: f"line {row + 1 + header_lines}")


def _read_parquet(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise InputError(path, "file not found" if not path.exists() else "is a folder, expected a file")
    try:
        frame = pd.read_parquet(path)
    except Exception as error:  # pyarrow raises several types for a damaged or foreign file
        raise InputError(path, f"not a readable Parquet file ({type(error).__name__})") from None
    if frame.empty:
        raise InputError(path, "no rows")
    return frame


def normalise_predictions(
    frame: pd.DataFrame,
    where: str | Path = "predictions",
    locate: Callable[[int], str] = lambda row: f"row {row + 1}",
) -> pd.DataFrame:
    """The frame with checked labels and normalised metadata; ``locate`` turns a row number into a place.

    Adds ``probe = external`` and ``template_id`` (recovered from row order, per run) when they are missing.
    Idempotent: a normalised frame comes back unchanged.
    """
    missing = [column for column in REQUIRED_COLUMNS if column not in frame.columns]
    if missing:
        raise InputError(where, f"missing column {', '.join(missing)} (found: {', '.join(map(str, frame))})")
    if frame.empty:
        raise InputError(where, "no rows")
    result = frame.reset_index(drop=True).copy()
    for column in ("y_true", "y_pred"):
        result[column] = _labels(result[column], column, where, locate)
    if "probe" not in result.columns:
        result["probe"] = EXTERNAL_PROBE
    for column in (*RUN_KEY, "category", "group"):
        result[column] = _normalise_text(result[column])
        empty = result[column].eq("")
        if empty.any():
            raise InputError(where, f"{locate(int(np.argmax(empty.to_numpy())))}: empty {column}")
    result["text"] = result["text"].astype(str) if "text" in result.columns else ""
    result["num_params"] = _numbers(result.get("num_params"), len(result), "num_params", where, locate)
    for column in PROBABILITY_COLUMNS:
        if column in result.columns:
            result[column] = _numbers(result[column], len(result), column, where, locate)
    _settle_num_params(result, where)
    _check_categories(result, where)
    if "template_id" not in result.columns or result["template_id"].astype(str).str.strip().eq("").all():
        result["template_id"] = _recovered_template_ids(result)
    result["template_id"] = _normalise_text(result["template_id"])
    return result


def _labels(values: pd.Series, column: str, where: str | Path, locate: Callable[[int], str]) -> np.ndarray:
    """Integer labels 0..2; the first value that is not an integer or lies outside 0..2 is reported."""
    numbers = pd.to_numeric(values.astype(str).str.strip(), errors="coerce").to_numpy(dtype=float)
    not_integer = ~np.isfinite(numbers) | (numbers % 1 != 0)
    outside = ~not_integer & ~np.isin(numbers, (0.0, 1.0, 2.0))
    if not_integer.any():
        row = int(np.argmax(not_integer))
        raise InputError(
            where, f"{locate(row)}: {column} {values.iloc[row]!r} is not an integer label (0, 1, 2)"
        )
    if outside.any():
        row = int(np.argmax(outside))
        raise InputError(where, f"{locate(row)}: {column} {values.iloc[row]!r} is outside 0..2")
    return numbers.astype(np.int64)


def _numbers(
    values: pd.Series | None, length: int, column: str, where: str | Path, locate: Callable[[int], str]
) -> np.ndarray:
    """A float column (blank is NaN); the first value that is not a number is reported."""
    if values is None:
        return np.full(length, np.nan)
    text = values.astype(str).str.strip()
    blank = text.eq("") | text.str.lower().isin(("nan", "none", "<na>"))
    numbers = pd.to_numeric(text.where(~blank, "nan"), errors="coerce").to_numpy(dtype=float)
    bad = np.isnan(numbers) & ~blank.to_numpy()
    if bad.any():
        row = int(np.argmax(bad))
        raise InputError(where, f"{locate(row)}: {column} {values.iloc[row]!r} is not a number")
    return numbers


def _normalise_text(values: pd.Series) -> pd.Series:
    """Stripped strings; an integral decimal such as ``175.0`` is written as ``175``."""
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    normalised = np.array([_normalise_value(value) for value in uniques], dtype=object)
    return pd.Series(normalised[codes], index=values.index, dtype=str)


def _normalise_value(value: object) -> str:
    text = "" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value).strip()
    match = _INTEGRAL_DECIMAL.match(text)
    return match.group(1) if match else text


def _settle_num_params(frame: pd.DataFrame, where: str | Path) -> None:
    """One ``num_params`` per run (``175`` and ``175.0`` are the same value): where a run has several, a
    warning names them and the most common is used for the whole run (on a tie, the first in the file)."""
    for key, rows in frame.groupby(list(RUN_KEY), sort=True)["num_params"]:
        counts = rows.dropna().groupby(rows.dropna(), sort=False).size()
        if len(counts) < 2:
            continue
        chosen = counts.idxmax()  # the first of the most common values, in file order
        described = ", ".join(f"{value:g} on {count} rows" for value, count in counts.items())
        warn_input(
            where,
            f"run {'/'.join(key)} has several num_params values ({described}); "
            f"using {chosen:g}, the most common (on a tie, the first in the file)",
        )
        frame.loc[rows.index, "num_params"] = chosen


def _check_categories(frame: pd.DataFrame, where: str | Path) -> None:
    """Every category of every run needs two groups or more: a gap compares a group with the others."""
    counts = frame.groupby([*RUN_KEY, "category"], sort=True)["group"].agg(["nunique", "first"])
    single = counts[counts["nunique"] < 2]
    if not single.empty:
        category, group = single.index[0][-1], single["first"].iloc[0]
        raise InputError(where, f"category {category!r} has a single group ({group}); gaps need two or more")


def _recovered_template_ids(frame: pd.DataFrame) -> pd.Series:
    """Template ids from row order, run by run (each run lists the suite in its own order)."""
    ids = pd.Series("", index=frame.index, dtype=object)
    for _, rows in frame.groupby(list(RUN_KEY), sort=False):
        columns = {"label": rows["y_true"], "category": rows["category"], "group": rows["group"]}
        suite = pd.DataFrame({name: column.to_numpy(dtype=object) for name, column in columns.items()})
        ids.loc[rows.index] = recover_template_ids(suite)
    return ids


def read_groups_file(path: str | Path) -> dict[str, list[str]]:
    """A YAML (or JSON) mapping from category to the groups to use, e.g. ``religion: [islam, judaism]``."""
    text = read_text(path)
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        place = f"line {mark.line + 1}: " if mark is not None else ""
        raise InputError(path, f"{place}not valid YAML") from None
    if not isinstance(value, Mapping):
        raise InputError(path, "expected a mapping from category to a list of groups")
    groups: dict[str, list[str]] = {}
    for category, names in value.items():
        if not isinstance(names, list) or not all(isinstance(name, str | int | float) for name in names):
            raise InputError(path, f"category {category!r}: expected a list of group names")
        groups[str(category)] = [str(name) for name in names]
    return groups


def resolve_groups(
    predictions: pd.DataFrame, groups: Mapping[str, Sequence[str]] | None, where: str | Path = "--groups"
) -> dict[str, list[str]]:
    """The groups used per category: those of ``groups`` where it names the category, else all of them.

    A category or group that the predictions lack, or a selection of fewer than two groups, is an error.
    """
    present = predictions.groupby("category", sort=True)["group"].unique()
    chosen = {str(category): sorted(map(str, names)) for category, names in present.items()}
    for category, names in (groups or {}).items():
        if category not in chosen:
            raise InputError(where, f"category {category!r} is not in the predictions")
        unknown = sorted(set(names) - set(chosen[category]))
        if unknown:
            raise InputError(where, f"category {category!r}: group {unknown[0]!r} is not in the predictions")
        selected = sorted(set(names))
        if len(selected) < 2:
            raise InputError(where, f"category {category!r}: select two groups or more, got {len(selected)}")
        chosen[category] = selected
    return chosen
