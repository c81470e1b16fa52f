"""Where data lives: the study's ``data_dir`` entry, else the PROMPTBIAS_DATA environment variable, which
override the copies shipped inside the package (``package_data/``: SST-5 and the Czarnowska suite)."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

DATA_ENV_VAR = "PROMPTBIAS_DATA"
PACKAGE_DATA = "package_data"


def data_dir(configured: str | Path | None = None) -> Path | None:
    """The local data folder: ``configured`` when given, else ``$PROMPTBIAS_DATA``, else None."""
    value = configured if configured is not None else os.environ.get(DATA_ENV_VAR)
    return Path(value).expanduser() if value else None


def local_file(relative: str, configured: str | Path | None = None) -> Path | None:
    """``relative`` inside the data folder, or None when there is no folder or no such file."""
    root = data_dir(configured)
    if root is None:
        return None
    candidate = root / relative
    return candidate if candidate.exists() else None


def packaged_file(relative: str) -> Path:
    """``relative`` inside the data shipped with the package (see ``package_data/README.md``)."""
    return Path(str(resources.files("promptbias.data").joinpath(PACKAGE_DATA, relative)))
