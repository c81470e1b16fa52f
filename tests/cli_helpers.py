"""Helpers shared by the CLI tests: running the command in-process, and snapshots of what it wrote."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from promptbias.cli import main


def cli(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, *args: object
) -> tuple[int, str, str]:
    """``promptbias ARGS`` in this process: (exit status, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["promptbias", *map(str, args)])
    with pytest.raises(SystemExit) as stopped:
        main()
    captured = capsys.readouterr()
    return stopped.value.code, captured.out, captured.err


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file below ``folder`` (or ``folder`` itself, a file) by relative path."""
    if folder.is_file():
        return {folder.name: folder.read_bytes()}
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
