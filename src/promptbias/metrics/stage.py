"""Writing a metrics folder atomically, and the whole stage as one call (what the CLI and ``run`` use)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from promptbias import store
from promptbias.errors import InputError, collected_input_warnings
from promptbias.metrics.compute import DEFAULT_BOOTSTRAP, MetricsResult, check_options, compute_metrics
from promptbias.metrics.inference import uncertainty
from promptbias.metrics.inference.engine import DEFAULT_PERMUTATIONS
from promptbias.metrics.inference.terms import TERMS
from promptbias.metrics.loading import (
    incomplete_units,
    load_predictions,
    prediction_files,
    read_groups_file,
    resolve_groups,
)
from promptbias.metrics.run_selection import RunSelection, select_runs

SUMMARY_FILE = "summary.json"
OUTPUT_KIND = "promptbias-metrics"


def check_out_dir(out_dir: str | Path) -> None:
    """``out_dir`` may be new, empty, or an earlier metrics folder (which is replaced); nothing else."""
    out_dir = Path(out_dir)
    if not out_dir.exists():
        return
    if not out_dir.is_dir():
        raise InputError(out_dir, "exists and is not a folder")
    if any(out_dir.iterdir()) and _kind(out_dir) != OUTPUT_KIND:
        raise InputError(out_dir, "exists and is not a metrics output folder; choose a new or empty folder")


def _kind(folder: Path) -> str | None:
    try:
        return json.loads((folder / store.MANIFEST).read_text(encoding="utf-8")).get("kind")
    except (OSError, ValueError, AttributeError):
        return None


def write_metrics(result: MetricsResult, out_dir: str | Path, inputs: Sequence[str | Path]) -> None:
    """Every table of ``result``, ``summary.json`` and a manifest, built beside ``out_dir`` and renamed
    onto it, so that an interrupted run leaves the old folder (or none), never a half-written one."""
    out_dir = Path(out_dir)
    check_out_dir(out_dir)
    tables = result.tables()
    summary = {
        **result.summary,
        "inputs": [str(item) for item in inputs],
        "files": sorted([*tables, SUMMARY_FILE]),
    }
    store.remove_interrupted(out_dir)
    with store.atomic_dir(out_dir) as building:
        for name, frame in tables.items():
            store.write_frame(building / name, frame)
        store.write_json(building / SUMMARY_FILE, summary)
        store.write_manifest(building, {"kind": OUTPUT_KIND})


def run_metrics(
    inputs: Sequence[str | Path],
    out_dir: str | Path,
    *,
    ci: str = uncertainty.DEFAULT_METHOD,
    groups_file: str | Path | None = None,
    correction: str | None = None,
    seed: int = 0,
    n_boot: int = DEFAULT_BOOTSTRAP,
    n_permutations: int = DEFAULT_PERMUTATIONS,
    calibrate: int = 0,
    suite: str | Path | None = None,
    runs: RunSelection | None = None,
    scope: str | None = None,
    null: str = TERMS,
    reference_probe: str | None = None,
) -> MetricsResult:
    """Load ``inputs``, compute every metric, write them to ``out_dir``; bad input changes nothing on disk.

    ``runs`` says which runs enter (default: all but failed soft prompts, see ``metrics/run_selection.py``);
    the runs left out are listed in the summary. Warnings about the inputs (see ``load_predictions``) go into
    the summary's warnings, first."""
    check_options(ci, correction, n_boot, n_permutations, calibrate, scope, null)
    check_out_dir(out_dir)
    runs = runs or RunSelection()
    kept, excluded = select_runs(prediction_files(inputs), runs)
    if not kept:
        raise InputError(inputs[0], f"every run is left out ({excluded[0]['reason']}); see --keep-failed")
    with collected_input_warnings() as read_warnings:
        predictions = load_predictions(kept)
    groups = None
    if groups_file is not None:
        groups = read_groups_file(groups_file)
        resolve_groups(predictions, groups, where=groups_file)
    result = compute_metrics(
        predictions,
        ci=ci,
        groups=groups,
        correction=correction,
        seed=seed,
        n_boot=n_boot,
        n_permutations=n_permutations,
        calibrate=calibrate,
        suite=suite,
        scope=scope,
        null=null,
        reference_probe=reference_probe,
    )
    result.summary["groups_file"] = str(groups_file) if groups_file is not None else None
    result.summary["run_selection"] = runs.model_dump()
    result.summary["excluded_runs"] = excluded
    result.summary["warnings"] = [*read_warnings, *incomplete_units(inputs), *result.summary["warnings"]]
    write_metrics(result, out_dir, inputs)
    return result
