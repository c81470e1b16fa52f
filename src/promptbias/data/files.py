"""Reading user files with one clear error per problem: missing, empty, not UTF-8, ragged or short of columns;
rows that leave out optional trailing columns are read, with one warning per file."""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from promptbias.errors import InputError, warn_input


def read_text(path: str | Path) -> str:
    """The whole file as UTF-8 text (a ``.gz`` file decompressed); InputError when it is missing, a folder,
    empty, not gzip data or not UTF-8."""
    path = Path(path)
    if not path.exists():
        raise InputError(path, "file not found")
    if path.is_dir():
        raise InputError(path, "is a folder, expected a file")
    raw = path.read_bytes()
    if path.suffix.lower() == ".gz":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as error:
            raise InputError(path, f"not a readable gzip file ({error})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise InputError(path, f"line {line}: not UTF-8 (byte 0x{raw[error.start]:02x})") from None
    if not text.strip():
        raise InputError(path, "file is empty")
    return text.removeprefix("\ufeff")


def table_format(path: str | Path) -> str:
    """``csv``, ``tsv`` or ``jsonl`` by the file's ending (before a ``.gz``)."""
    path = Path(path)
    suffix = Path(path.stem).suffix.lower() if path.suffix.lower() == ".gz" else path.suffix.lower()
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
    every line must have exactly that many fields. With a header, a line may stop before trailing columns
    that are not ``required``: they are read as empty, with one :class:`InputWarning` for the file; a line
    short of a required column, or longer than the header, is an error.
    """
    text = read_text(path)
    kind = kind or table_format(path)
    if kind == "jsonl":
        frame = _read_jsonl(path, text)
    else:
        _check_shape(path, _field_counts(path, text, kind), header, names, required)
        frame = _read_delimited(path, text, kind, header, names)
    if frame.empty:
        raise InputError(path, "no rows")
    missing = [column for column in required if column not in frame.columns]
    if missing:
        found = ", ".join(map(str, frame.columns))
        raise InputError(path, f"missing column {', '.join(missing)} (found: {found})")
    return frame


def _field_counts(path: str | Path, text: str, kind: str) -> list[tuple[int, list[str]]]:
    """(line number, fields) of every record that is not blank; CSV fields may hold commas and line breaks
    inside quotes, TSV fields are split on every tab."""
    if kind == "tsv":
        return [(number, line.split("\t")) for number, line in enumerate(text.splitlines(), start=1) if line]
    reader = csv.reader(io.StringIO(text))
    records = []
    try:
        for record in reader:
            if record:
                records.append((reader.line_num, record))
    except csv.Error as error:
        raise InputError(path, f"line {reader.line_num}: cannot parse ({error})") from None
    return records


def _check_shape(
    path: str | Path,
    records: list[tuple[int, list[str]]],
    header: bool,
    names: Sequence[str] | None,
    required: Sequence[str],
) -> None:
    """Every record has as many fields as there are columns, or (with a header) stops before trailing
    columns that are not required; those short records get one warning for the file."""
    if not records:
        return
    columns = list(names) if names is not None else [field.strip() for field in records[0][1]]
    if header:
        records = records[1:]
    needed = (
        len(columns)
        if not header
        else max((columns.index(c) + 1 for c in required if c in columns), default=0)
    )
    short: list[int] = []
    shortest = len(columns)
    for number, fields in records:
        found = len(fields)
        if found == len(columns):
            continue
        if found > len(columns) or found < needed:
            raise InputError(path, f"line {number}: expected {len(columns)} columns, found {found}")
        short.append(number)
        shortest = min(shortest, found)
    if short:
        lacking = ", ".join(columns[shortest:])
        warn_input(
            path,
            f"{len(short)} line(s) stop before the optional column(s) {lacking} (first: line {short[0]}); "
            "read as empty",
        )


def _read_delimited(
    path: str | Path, text: str, kind: str, header: bool, names: Sequence[str] | None
) -> pd.DataFrame:
    sep = "\t" if kind == "tsv" else ","
    quoting = csv.QUOTE_NONE if kind == "tsv" else csv.QUOTE_MINIMAL
    try:
        frame = pd.read_csv(
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
    return frame.fillna("")  # the optional columns a short line leaves out


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
