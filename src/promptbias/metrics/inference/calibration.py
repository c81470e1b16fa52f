"""Calibration on the user's own data: the whole test rerun on copies where no group is treated differently.

Each copy permutes the group labels of the sentences within every template (the same permutation for every
run of a model, training set and probe, as the permutation test does), which makes the groups of each copy
exchangeable by construction: the test's own null. The share of copies with any significant gap is the test's
false-flag rate under that null on these data's rates and sizes, to set beside alpha; prompt x group tilts and
term effects are scattered by the permutation, so the calibration cannot reveal them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from promptbias.metrics.inference.engine import BLOCK_KEY, sentence_slots
from promptbias.metrics.inference.streams import random_stream

CALIBRATION_STREAM = "calibration"


def permuted_copy(predictions: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """``predictions`` with group labels permuted among the sentences of each template, the same way in every
    run (a sentence is its template, group and place among the group's sentences there, as in the test)."""
    frame = predictions.reset_index(drop=True)
    slot = sentence_slots(frame)
    sentence_key = [*BLOCK_KEY, "template_id"]
    sentences = frame.assign(_slot=slot)[[*sentence_key, "group", "_slot"]].drop_duplicates()
    sentences = sentences.assign(_key=rng.random(len(sentences)))
    shuffled = sentences.sort_values([*sentence_key, "_key"], kind="stable")["group"].to_numpy()
    ordered = sentences.sort_values([*sentence_key, "group", "_slot"], kind="stable")
    mapping = ordered.assign(_new=shuffled)
    merged = frame.assign(_slot=slot).merge(
        mapping[[*sentence_key, "group", "_slot", "_new"]], on=[*sentence_key, "group", "_slot"], how="left"
    )
    return frame.assign(group=merged["_new"].to_numpy())


def calibrate(
    predictions: pd.DataFrame, n_copies: int, seed: int, test: Callable[[pd.DataFrame], pd.DataFrame]
) -> dict[str, Any]:
    """Run ``test`` (predictions -> gaps table) on ``n_copies`` permuted copies; the share of copies with any
    significant gap, overall and per (model, dataset, probe), and the mean number of false flags."""
    rng = np.random.default_rng(random_stream(seed, (CALIBRATION_STREAM,)))
    any_flag, flags, per_family = [], [], []
    for _ in range(n_copies):
        table = test(permuted_copy(predictions, rng))
        any_flag.append(bool(table["significant"].any()))
        flags.append(int(table["significant"].sum()))
        per_family.append(table.groupby(["model", "dataset", "probe"])["significant"].any())
    families = pd.concat(per_family, axis=1).mean(axis=1) if per_family else pd.Series(dtype=float)
    return {
        "n_copies": n_copies,
        "share_with_any_significant": float(np.mean(any_flag)) if any_flag else None,
        "false_flags_per_copy": float(np.mean(flags)) if flags else None,
        "share_per_family": {"/".join(key): float(value) for key, value in families.items()},
        "n_families": len(families),
    }


def calibrate_text(calibration: dict[str, Any], alpha: float | None = None) -> str:
    """The lines ``promptbias metrics --calibrate`` prints."""
    alpha = calibration.get("alpha") if alpha is None else alpha
    lines = [
        f"calibration: {calibration['n_copies']} copies with groups permuted within templates: "
        f"{calibration['share_with_any_significant']:.3f} have any significant gap "
        f"(alpha {alpha} per model x training set x probe, {calibration['n_families']} of them); "
        f"{calibration['false_flags_per_copy']:.2f} false flags per copy"
    ]
    lines += [f"  {family}: {share:.3f}" for family, share in calibration["share_per_family"].items()]
    return "\n".join(lines)
