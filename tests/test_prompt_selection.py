"""The rules that keep one dev check of a tuning run: by hand, and against a plain second implementation over
every check at once (a tuning run that keeps many candidates is killed and resumed in test_failure_rule)."""

from __future__ import annotations

import numpy as np
import pytest

from promptbias.probes.prompt_selection import RULES, kept_check, still_candidates


def check(accuracy: float, macro_f1: float) -> dict[str, float]:
    return {"dev_accuracy": accuracy, "dev_macro_f1": macro_f1}


CHECKS = [
    check(0.60, 0.40),  # step 0
    check(0.73, 0.55),  # the best accuracy
    check(0.72, 0.64),  # 0.01 below it, exactly: within the tolerance
    check(0.719, 0.70),  # 0.011 below: out
    check(0.73, 0.58),  # ties the best accuracy, later
]


def test_each_rule_keeps_the_check_worked_out_by_hand():
    assert kept_check(CHECKS, "accuracy", 0.01) == 1  # the earlier of the two 0.73s
    assert kept_check(CHECKS, "macro_f1", 0.01) == 3
    assert kept_check(CHECKS, "balanced", 0.01) == 2
    assert kept_check(CHECKS, "balanced", 0.0) == 4  # only the 0.73s: the better macro-F1
    assert kept_check(CHECKS, "balanced", 0.02) == 3


def reference(checks: list[dict[str, float]], rule: str, tolerance: float) -> int:
    """The rule as the docs state it, over every check at once, by sorting."""
    best = max(c["dev_accuracy"] for c in checks)
    allowed = [
        i
        for i, c in enumerate(checks)
        if rule != "balanced" or round(best - c["dev_accuracy"], 9) <= tolerance
    ]
    score = "dev_accuracy" if rule == "accuracy" else "dev_macro_f1"
    ranked = sorted(allowed, key=lambda i: (-checks[i][score], -checks[i]["dev_accuracy"], i))
    return ranked[0]


@pytest.mark.parametrize("rule", RULES)
def test_pruning_as_checks_arrive_keeps_what_the_whole_list_keeps(rule):
    rng = np.random.default_rng(7)
    for _ in range(300):
        # scores on a 1/200 grid, as dev sets of 200 give them: ties and exact tolerances happen
        scores = [check(rng.integers(80, 160) / 200, rng.integers(40, 140) / 200) for _ in range(12)]
        pool: list[int] = []  # indices into scores, as the tuning state holds them
        for index in range(len(scores)):
            pool = [*pool, index]
            pool = [pool[i] for i in still_candidates([scores[j] for j in pool], rule, 0.01)]
            kept = pool[kept_check([scores[j] for j in pool], rule, 0.01)]
            assert kept == reference(scores[: index + 1], rule, 0.01)


def test_an_unknown_rule_is_refused():
    with pytest.raises(ValueError, match="unknown selection rule 'f1'"):
        kept_check(CHECKS, "f1", 0.01)
