"""Which runs the verdicts read, said where the results are read.

A soft prompt is the instrument every gap is read through, so a run whose prompt did not learn (the failure
rule of ``probes/tuning.py``: its ``tuning.failed`` in ``unit.json``) is left out of every verdict,
comparison and figure unless ``keep_failed`` keeps it. The paper's selection, the best N runs of each model x
training set x probe by dev accuracy, is a choice the user makes explicitly (``best``). Every run left out is
listed, with why and its accuracies, in ``summary.json`` and the report. Prediction files of other tools
(without a unit folder) are always read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from promptbias import store

UNIT_RECORDS = ("unit.json", "tune.json")


class RunSelection(BaseModel):
    """The runs a metrics stage reads (the study file's ``metrics: {runs: ...}``, ``promptbias metrics``'s
    ``--keep-failed`` and ``--best-runs``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    keep_failed: bool = False  # failed soft prompts enter the verdicts too
    best: int | None = Field(
        default=None, gt=0
    )  # keep the best N runs per model x dataset x probe (dev accuracy)


def run_facts(unit: Path) -> dict[str, Any] | None:
    """A unit folder's run: names, seed, dev and test accuracy, restarts and failure; None for a file that is
    not in a unit folder."""
    record = next((unit / name for name in UNIT_RECORDS if (unit / name).is_file()), None)
    if record is None:
        return None
    written = store.read_json_object(record)
    evaluation = (
        store.read_json_object(unit / "evaluation.json") if (unit / "evaluation.json").is_file() else {}
    )
    tuning = written.get("tuning") or {}
    return {
        "run_id": written.get("run_id", unit.name),
        "model": written.get("model"),
        "dataset": written.get("dataset"),
        "probe": written.get("probe"),
        "seed": written.get("seed"),
        "dev_accuracy": (evaluation.get("validation") or {}).get("accuracy", tuning.get("dev_accuracy")),
        "test_accuracy": (evaluation.get("test") or {}).get("accuracy"),
        "restarts": len(tuning.get("restarts", [])),
        "failed": tuning.get("failed"),
    }


def select_runs(files: list[Path], selection: RunSelection) -> tuple[list[Path], list[dict[str, Any]]]:
    """The prediction files the verdicts read, and the runs left out (each with ``reason``), in file order."""
    facts = {path: run_facts(path.parent) for path in files}
    left_out: dict[Path, str] = {}
    if not selection.keep_failed:
        for path, run in facts.items():
            if run is not None and run["failed"]:
                left_out[path] = f"failed: {run['failed']}"
    if selection.best is not None:
        left_out.update(_beyond_best(facts, left_out, selection.best))
    kept = [path for path in files if path not in left_out]
    excluded = [{**facts[path], "reason": reason} for path, reason in left_out.items() if facts[path]]
    return kept, excluded


def _beyond_best(
    facts: dict[Path, dict[str, Any] | None], left_out: dict[Path, str], best: int
) -> dict[Path, str]:
    """The runs of each model x dataset x probe ranked below the ``best`` highest dev accuracies (ties by
    seed); runs without a dev accuracy (hand-written probes) are never dropped."""
    groups: dict[tuple[Any, ...], list[tuple[Path, dict[str, Any]]]] = {}
    for path, run in facts.items():
        if run is not None and path not in left_out and run["dev_accuracy"] is not None:
            groups.setdefault((run["model"], run["dataset"], run["probe"]), []).append((path, run))
    dropped = {}
    for runs in groups.values():
        ranked = sorted(runs, key=lambda item: (-item[1]["dev_accuracy"], item[1]["seed"]))
        for path, run in ranked[best:]:
            dropped[path] = f"not among the best {best} runs by dev accuracy ({run['dev_accuracy']:.3f})"
    return dropped
