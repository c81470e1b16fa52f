"""Shared fixtures: the local data folder (PROMPTBIAS_DATA, set by the Makefile) and small helpers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The shared data folder; tests that need it are skipped where it is not configured."""
    value = os.environ.get("PROMPTBIAS_DATA")
    if not value or not Path(value).is_dir():
        pytest.skip("PROMPTBIAS_DATA is not set to the shared data folder")
    return Path(value)
