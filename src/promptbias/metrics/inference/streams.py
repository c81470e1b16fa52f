"""One random stream per key: the seed of a study and the key of a draw (a model x training set x probe, a
calibration) make its own ``SeedSequence``, so that adding a key never moves another key's draws."""

from __future__ import annotations

import zlib

import numpy as np


def random_stream(seed: int, key: tuple[str, ...]) -> np.random.SeedSequence:
    """The stream of ``key`` under ``seed``: the study's seed and a CRC-32 of the key's parts."""
    return np.random.SeedSequence([seed, zlib.crc32("\x1f".join(key).encode("utf-8"))])
