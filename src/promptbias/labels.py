"""The 3-class label space (0 negative, 1 neutral, 2 positive) and every mapping into it."""

from __future__ import annotations

from collections.abc import Mapping

LABELS: tuple[str, str, str] = ("negative", "neutral", "positive")
LABEL_IDS: dict[str, int] = {name: index for index, name in enumerate(LABELS)}


def sst5_to_3(fine: int) -> int:
    """SST-5 (0 very negative .. 4 very positive): 0, 1 -> negative; 2 -> neutral; 3, 4 -> positive."""
    if fine not in (0, 1, 2, 3, 4):
        raise ValueError(f"SST-5 label must be 0..4, got {fine!r}")
    return 0 if fine < 2 else 1 if fine == 2 else 2


def valence_to_3(ordinal: int) -> int:
    """SemEval-2018 V-oc (-3 .. 3): the sign of the ordinal class."""
    if ordinal not in range(-3, 4):
        raise ValueError(f"V-oc class must be -3..3, got {ordinal!r}")
    return 0 if ordinal < 0 else 1 if ordinal == 0 else 2


def parse_label(value: object, mapping: Mapping[str, str | int] | None = None) -> int:
    """One label into 0..2: through ``mapping`` when given (keys compared as strings), else a label id or name.

    Mapping values may be label names (``negative``) or ids (``0``). Raises ``ValueError`` with the offending
    value; callers add the file and line.
    """
    key = str(value).strip()
    if mapping is not None:
        if key not in mapping:
            raise ValueError(f"label {key!r} is not in the label mapping ({', '.join(map(str, mapping))})")
        return parse_label(mapping[key])
    if key.lower() in LABEL_IDS:
        return LABEL_IDS[key.lower()]
    try:
        number = float(key)
    except ValueError:
        raise ValueError(f"unknown label {key!r} (expected 0, 1, 2 or negative, neutral, positive)") from None
    if number not in (0.0, 1.0, 2.0):
        raise ValueError(f"label {key!r} is outside 0..2")
    return int(number)
