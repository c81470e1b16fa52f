"""Reading user files with one clear error per problem: missing, empty, not UTF-8, ragged or short of columns."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from promptbias.errors import InputError


def read_text(path: str | Path) -> str:
    """The whole file as UTF-8 text; InputError when it is missing, a folder, empty or not UTF-8."""
    path = Path(path)
    if not path.exists():
        raise InputError(path, "file not found")
    if path.is_dir():
        raise InputError(path, "is a folder, expected a file")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise InputError(path, f"line {line}: not UTF-8 (byte 0x{raw[error.start]:02x})") from None
    if not text.strip():
        raise InputError(path, "file is empty")
    return text.removeprefix("\ufeff")


def table_format(path: str | Path) -> str:
    """``csv``, ``tsv`` or ``jsonl`` by the file's ending."""
    suffix = Path(path).suffix.lower()
    formats = {".csv": "csv", ".tsv": "tsv", ".txt": "tsv", ".jsonl": "jsonl", ".json": "jsonl"}
    if suffix not in formats:
        raise InputError(path, f"unknown table format {suffix!r} (expected .csv, .tsv or .jsonl)")
    return formats[suffix]


def read_table(
    path: str | Path,
    *,
    required: Sequence[str] = (),
    header: bool = True,
    names: Sequence[str] | None = None,
    kind: str | None = None,
) -> pd.DataFrame:
    """A CSV, TSV or JSONL file as a frame of strings, checked for shape and for the ``required`` columns.

    ``kind`` (csv, tsv, jsonl) defaults to the file's ending. TSV files are read without quoting (a quote is
    an ordinary character, as in the Czarnowska suite). With ``header=False`` the columns are ``names`` and
    every line must have exactly that many fields.
    """
    text = read_text(path)
    kind = kind or table_format(path)
    frame = _read_jsonl(path, text) if kind == "jsonl" else _read_delimited(path, text, kind, header, names)
    if frame.empty:
        raise InputError(path, "no rows")
    missing = [column for column in required if column not in frame.columns]
    if missing:
        found = ", ".join(map(str, frame.columns))
        raise InputError(path, f"missing column {', '.join(missing)} (found: {found})")
    return frame


def _read_delimited(
    path: str | Path, text: str, kind: str, header: bool, names: Sequence[str] | None
) -> pd.DataFrame:
    sep = "\t" if kind == "tsv" else ","
    quoting = csv.QUOTE_NONE if kind == "tsv" else csv.QUOTE_MINIMAL
    expected = len(names) if names is not None else None
    lines = text.splitlines()
    if kind != "tsv":
        _check_csv_records(path, text, None if header else expected)
    elif header:
        expected = len(lines[0].split(sep))
    if kind == "tsv" and expected is not None:
        for number, line in enumerate(lines, start=1):
            if line and len(line.split(sep)) != expected:
                found = len(line.split(sep))
                raise InputError(path, f"line {number}: expected {expected} columns, found {found}")
    try:
        return pd.read_csv(
            io.StringIO(text),
            sep=sep,
            quoting=quoting,
            header=0 if header else None,
            names=list(names) if names is not None else None,
            dtype=str,
            keep_default_na=False,
            skip_blank_lines=True,
        )
    except pd.errors.ParserError as error:
        raise InputError(path, f"cannot parse: {str(error).strip()}") from None


def _check_csv_records(path: str | Path, text: str, expected: int | None) -> None:
    """Every CSV record has ``expected`` fields (the header's count when None); quoted fields may hold
    commas and line breaks."""
    reader = csv.reader(io.StringIO(text))
    try:
        for record in reader:
            if not record:
                continue
            if expected is None:
                expected = len(record)
            elif len(record) != expected:
                raise InputError(
                    path, f"line {reader.line_num}: expected {expected} columns, found {len(record)}"
                )
    except csv.Error as error:
        raise InputError(path, f"line {reader.line_num}: cannot parse ({error})") from None


def _read_jsonl(path: str | Path, text: str) -> pd.DataFrame:
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise InputError(path, f"line {number}: not JSON ({error.msg})") from None
        if not isinstance(record, dict):
            raise InputError(path, f"line {number}: expected a JSON object")
        records.append({key: "" if value is None else str(value) for key, value in record.items()})
    return pd.DataFrame.from_records(records)
