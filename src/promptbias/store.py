"""Writing results so that nothing is half-written: atomic files and folders, and per-folder manifests.

Every file is written to a temporary name beside its target and renamed into place; a folder is built under a
temporary name and renamed. A folder is complete when its ``MANIFEST.json`` lists every file with its SHA-256
and each file still matches: a partial or corrupt folder is detected and redone, never read as data.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from promptbias.errors import InputError

MANIFEST = "MANIFEST.json"


def _current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fsync_replace(tmp: Path, target: Path) -> None:
    """Give ``tmp`` the permissions a plainly created file or folder would have, then rename it onto ``target``."""
    os.chmod(tmp, (0o777 if tmp.is_dir() else 0o666) & ~_current_umask())
    os.replace(tmp, target)
    with contextlib.suppress(OSError):
        fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """A temporary path beside ``target``; renamed onto it when the block ends without error, removed otherwise."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(handle)
    tmp = Path(name)
    try:
        yield tmp
        with open(tmp, "rb+") as written:
            os.fsync(written.fileno())
        _fsync_replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes(target: str | Path, data: bytes) -> None:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def write_text(target: str | Path, text: str) -> None:
    write_bytes(target, text.encode("utf-8"))


def read_json_object(path: str | Path) -> dict[str, Any]:
    """A JSON file holding an object; InputError when it cannot be read, is not JSON or holds something else."""
    path = Path(path)
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise InputError(path, "not a readable JSON file") from None
    if not isinstance(value, dict):
        raise InputError(path, "expected a JSON object")
    return value


def write_json(target: str | Path, value: Any) -> None:
    """JSON with sorted keys and a final newline, so that equal values give equal bytes."""
    write_text(target, json.dumps(value, indent=2, sort_keys=True, allow_nan=True, default=str) + "\n")


def write_frame(target: str | Path, frame: pd.DataFrame) -> None:
    """A frame as Parquet, CSV or TSV by the target's ending (no index; TSV without quoting)."""
    target = Path(target)
    with atomic_path(target) as tmp:
        if target.suffix == ".parquet":
            frame.to_parquet(tmp, index=False)
        elif target.suffix == ".tsv":
            frame.to_csv(tmp, sep="\t", index=False, quoting=3, lineterminator="\n")
        elif target.suffix == ".csv":
            frame.to_csv(tmp, index=False, lineterminator="\n")
        else:
            raise ValueError(f"unknown table format: {target.name}")


@contextlib.contextmanager
def atomic_dir(target: str | Path) -> Iterator[Path]:
    """A fresh temporary folder beside ``target``; it replaces ``target`` when the block succeeds."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        yield tmp
        _replace_dir(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def _replace_dir(tmp: Path, target: Path) -> None:
    """Rename ``tmp`` onto ``target``. An existing ``target`` is first renamed aside, then deleted: a kill at
    any point leaves the old folder, the new one, or neither (with temporaries), never a half-deleted one."""
    if not target.exists():
        _fsync_replace(tmp, target)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old.tmp", dir=target.parent))
    os.replace(target, old)
    _fsync_replace(tmp, target)
    shutil.rmtree(old, ignore_errors=True)


def sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_manifest(folder: str | Path, info: dict[str, Any] | None = None) -> None:
    """Mark ``folder`` complete: every file below it (but the manifest) with its SHA-256, plus ``info``."""
    folder = Path(folder)
    files = {
        str(path.relative_to(folder)): sha256(path)
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.name != MANIFEST and not path.name.startswith(".")
    }
    write_json(folder / MANIFEST, {"files": files, **(info or {})})


def _listed_files(folder: Path) -> dict[str, str] | None:
    """The manifest's file -> SHA-256 table; None when there is no readable manifest or it names a file
    outside ``folder``."""
    try:
        files = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not isinstance(files, dict) or not all(_inside(name) for name in files):
        return None
    return files


def _inside(name: object) -> bool:
    return isinstance(name, str) and not Path(name).is_absolute() and ".." not in Path(name).parts


def _damaged(folder: Path, files: dict[str, str]) -> list[str]:
    return [
        name
        for name, digest in files.items()
        if not (folder / name).is_file() or sha256(folder / name) != digest
    ]


def is_complete(folder: str | Path) -> bool:
    """True when ``folder`` has a manifest and every file it lists exists with the recorded checksum."""
    files = _listed_files(Path(folder))
    return files is not None and not _damaged(Path(folder), files)


def discard_damaged(folder: str | Path) -> list[str]:
    """Delete the files of ``folder`` that are missing or differ from its manifest, and then the manifest, so
    that they are made again instead of being read as data; returns their names. A sound folder is unchanged."""
    folder = Path(folder)
    if not (folder / MANIFEST).exists():
        return []
    files = _listed_files(folder)
    damaged = [MANIFEST] if files is None else _damaged(folder, files)
    for name in damaged:
        (folder / name).unlink(missing_ok=True)
    if damaged:
        (folder / MANIFEST).unlink(missing_ok=True)
    return damaged


def remove_stale_temporaries(folder: str | Path) -> None:
    """Delete the temporary files and folders that an interrupted write left below ``folder``."""
    for path in Path(folder).rglob(".*.tmp"):
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def remove_interrupted(target: str | Path) -> None:
    """Delete the temporaries that interrupted atomic writes of ``target`` left beside it."""
    target = Path(target)
    for path in target.parent.glob(f".{target.name}.*.tmp"):
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
