"""Which dev check of a tuning run is kept: the rules of ``SoftPromptConfig.select_by``.

A check is the dev scores of the prompt at one step (the untuned prompt's at step 0 included). ``accuracy``
and ``macro_f1`` keep the check with the best of that score; ``balanced`` keeps, among the checks whose dev
accuracy is within ``tolerance`` of the run's best, the one with the best macro-F1, so that a prompt which
answers every class is preferred when it costs at most ``tolerance`` of accuracy. Ties go to the higher
accuracy, then to the earlier check.
"""

from __future__ import annotations

from collections.abc import Sequence

RULES = ("accuracy", "macro_f1", "balanced")
_EPSILON = 1e-12  # a check exactly ``tolerance`` below the best is within it despite rounding


def eligible(checks: Sequence[dict[str, float]], rule: str, tolerance: float) -> list[int]:
    """The indices of the checks the rule may keep: for ``balanced``, those within ``tolerance`` of the best
    dev accuracy (a later check can only raise the best, so a check left out now never comes back)."""
    if rule not in RULES:
        raise ValueError(f"unknown selection rule {rule!r}; expected one of {', '.join(RULES)}")
    if rule != "balanced":
        return list(range(len(checks)))
    best = max(check["dev_accuracy"] for check in checks)
    return [
        index for index, check in enumerate(checks) if check["dev_accuracy"] >= best - tolerance - _EPSILON
    ]


def kept_check(checks: Sequence[dict[str, float]], rule: str, tolerance: float) -> int:
    """The index of the check the rule keeps."""
    score = "dev_accuracy" if rule == "accuracy" else "dev_macro_f1"
    return max(
        eligible(checks, rule, tolerance),
        key=lambda index: (checks[index][score], checks[index]["dev_accuracy"], -index),
    )


def still_candidates(checks: Sequence[dict[str, float]], rule: str, tolerance: float) -> list[int]:
    """The checks a later check cannot rule out: the kept one for ``accuracy`` and ``macro_f1`` (a later check
    replaces it only by beating it), every eligible one for ``balanced``."""
    if rule == "balanced":
        return eligible(checks, rule, tolerance)
    return [kept_check(checks, rule, tolerance)]
