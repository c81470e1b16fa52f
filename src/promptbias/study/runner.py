"""Running a study's plan: an executor runs the units (each model loaded once), then the finishing: metrics,
probe comparison, report.

Resumable by construction: a complete unit (``store.is_complete``) is never recomputed, an interrupted one
restarts from its last finished stage, and the study-level outputs are recomputed only when the set of
complete units changed, so a second run of a finished study does no model work.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import pandas as pd

from promptbias import store
from promptbias.lm.compilation import compile_wanted
from promptbias.lm.machine import cpu_dtype, dtype_name, environment, matmul_flops_per_second
from promptbias.lm.scoring import compile_scoring
from promptbias.lm.verbalizer import Verbalizer
from promptbias.metrics.compute import INTERVAL_NAMES
from promptbias.metrics.probe_comparison import probe_differences_text, reference_probe
from promptbias.metrics.run_selection import run_facts
from promptbias.study.claim import ClaimSettings, claim_folder
from promptbias.study.config import ModelEntry, Study
from promptbias.study.plan import eager_minutes, estimate_text, pending_units, plan_units, resolve_suite
from promptbias.study.preflight import check_study
from promptbias.study.unit import SplitLoader, Unit, is_done, run_unit, split_loader

if TYPE_CHECKING:
    from promptbias.lm.model import LanguageModel


@dataclass
class LoadedModel:
    """What the units of one model share: the model, its verbalizer and the training-set reader."""

    lm: LanguageModel
    verbalizer: Verbalizer
    splits: SplitLoader
    suite_lm: LanguageModel | None = None  # the fp32 copy that reads the suite (ModelEntry.suite_dtype)


def load_for_units(
    study: Study, model: ModelEntry, work_minutes: float | None = None, progress: bool = True
) -> LoadedModel:
    """Load ``model`` once for the units of ``study`` that use it, compiled when ``model.compile`` says so for
    ``work_minutes`` of work (uncompiled, on the reference machine)."""
    from promptbias.lm.model import load_model
    from promptbias.lm.verbalizer import build_verbalizer

    def load(dtype: str) -> LanguageModel:
        return load_model(
            model.name,
            dtype=dtype,
            device=model.device,
            trust_remote_code=model.trust_remote_code,
            device_map=model.device_map,
        )

    lm = load(model.dtype)
    verbalizer = build_verbalizer(lm.tokenizer, study.label_words)
    fp32_suite = model.suite_in_fp32(lm.device.type == "cpu") and dtype_name(lm.dtype) != "fp32"
    suite_lm = load("float32") if fp32_suite else None
    if compile_wanted(model.compile, work_minutes):
        lm = compile_scoring(lm, verbalizer, progress)
        suite_lm = compile_scoring(suite_lm, verbalizer, progress) if suite_lm is not None else None
    return LoadedModel(lm, verbalizer, split_loader(study.data_dir), suite_lm)


def run_model_units(
    study: Study,
    units: list[Unit],
    suite: pd.DataFrame,
    progress: bool = True,
    loaded: LoadedModel | None = None,
) -> None:
    """Run ``units``, all of one model, loading that model once (or using ``loaded``); what every executor calls."""
    if not units:
        return
    model = units[0].model
    if any(unit.model != model for unit in units):
        raise ValueError("run_model_units takes the units of one model")
    loaded = loaded or load_for_units(study, model, eager_minutes(units, len(suite)), progress)
    for index, unit in enumerate(units, start=1):
        if progress:
            print(f"[{index}/{len(units)}] {unit.unit_id}", file=sys.stderr, flush=True)
        folder = study.results_dir / "units" / unit.unit_id
        started = time.perf_counter()
        run_unit(
            loaded.lm,
            loaded.verbalizer,
            unit,
            study,
            suite,
            loaded.splits,
            folder,
            progress=progress,
            suite_lm=loaded.suite_lm,
        )
        if progress:
            minutes = (time.perf_counter() - started) / 60
            print(f"[{index}/{len(units)}] {unit.unit_id}: {minutes:.1f} min", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class UnitOutcome:
    """How a unit ended under an executor: done, or failed with the error's first line."""

    unit_id: str
    error: str | None = None

    @property
    def failed(self) -> bool:
        return self.error is not None


class Executor(Protocol):
    """Runs the pending units, grouped by model, and says how each ended: ``run_units`` here, in this process;
    ``cluster.run_ray`` on a Ray cluster. Each group is one model's units (``run_model_units``)."""

    def __call__(
        self, study: Study, groups: list[list[Unit]], suite: pd.DataFrame, progress: bool
    ) -> list[UnitOutcome]: ...


def group_by_model(units: Sequence[Unit]) -> list[list[Unit]]:
    """``units`` grouped by model, in the order the models first appear, so that each is loaded once."""
    groups: dict[ModelEntry, list[Unit]] = {}
    for unit in units:
        groups.setdefault(unit.model, []).append(unit)
    return list(groups.values())


def run_units(
    study: Study, groups: list[list[Unit]], suite: pd.DataFrame, progress: bool = True
) -> list[UnitOutcome]:
    """The local executor: model by model, in this process; the first error stops the run."""
    for units in groups:
        run_model_units(study, units, suite, progress)
    return [UnitOutcome(unit.unit_id) for units in groups for unit in units]


def units_fingerprint(folder: Path, units: list[Unit]) -> str:
    """A hash of the manifests of the study's units: it changes when any unit's results change."""
    digest = hashlib.sha256()
    for unit in sorted(units, key=lambda u: u.unit_id):
        digest.update((folder / "units" / unit.unit_id / store.MANIFEST).read_bytes())
    return digest.hexdigest()


def test_accuracy_table(folder: Path, units: list[Unit]) -> pd.DataFrame:
    """Test accuracy and macro-F1 of every unit."""
    rows = []
    for unit in units:
        evaluation = json.loads(
            (folder / "units" / unit.unit_id / "evaluation.json").read_text(encoding="utf-8")
        )
        rows.append(
            {
                "model": unit.model.name,
                "dataset": unit.dataset.name,
                "probe": unit.probe.label,
                "seed": unit.seed,
                "test_accuracy": evaluation["test"]["accuracy"],
                "test_macro_f1": evaluation["test"]["macro_f1"],
                "test_n": evaluation["test"]["n"],
                "dev_accuracy": evaluation.get("validation", {}).get("accuracy"),
                **_tuning_columns(folder / "units" / unit.unit_id),
            }
        )
    return pd.DataFrame(rows)


def _tuning_columns(unit_folder: Path) -> dict[str, object]:
    """How many times the failure rule restarted a soft prompt, and whether it still failed (as the run
    selection reads them)."""
    run = run_facts(unit_folder) or {}
    return {"restarts": run.get("restarts", 0), "failed": bool(run.get("failed"))}


def finish_study(study: Study, units: list[Unit]) -> None:
    """Metrics over all units (with the probe differences) and the report; skipped when nothing changed
    since."""
    from promptbias.metrics import run_metrics
    from promptbias.report import build_report

    folder = study.results_dir
    state = {"units": units_fingerprint(folder, units), "metrics": study.metrics.model_dump(mode="json")}
    done = folder / "finished.json"
    finished = done.exists() and json.loads(done.read_text(encoding="utf-8")) == {
        **state,
        "suite": study.suite.source,
    }
    if finished and store.is_complete(folder / "metrics") and (folder / "report" / "index.html").exists():
        return
    accuracy = test_accuracy_table(folder, units)
    store.write_frame(folder / "test_accuracy.csv", accuracy)
    groups = str(study.metrics.groups) if study.metrics.groups else None
    labels = [probe.label for probe in study.probes]
    reference = reference_probe(labels, {probe.label for probe in study.probes if probe.probe_kind.tuned})
    run_metrics(
        [folder / "units" / unit.unit_id for unit in sorted(units, key=lambda u: u.unit_id)],
        folder / "metrics",
        ci=study.metrics.ci,
        groups_file=groups,
        correction=study.metrics.correction,
        suite=study.suite.source,
        runs=study.metrics.runs,
        scope=study.metrics.scope,
        reference_probe=reference,
    )
    build_report(folder, folder / "report")
    store.write_json(done, {**state, "suite": study.suite.source})


def write_study_files(study: Study, command: str) -> None:
    folder = study.results_dir
    store.write_json(folder / "study.json", study.model_dump(mode="json"))
    store.write_json(folder / "environment.json", environment())
    store.write_text(folder / "command.txt", command + "\n")


def summary_text(study: Study, failed: Sequence[UnitOutcome] = ()) -> str:
    """What a user reads at the end: where the results are, test accuracy per run, the largest gaps, and the
    units that failed (left out of all of it)."""
    folder = study.results_dir
    accuracy = pd.read_csv(folder / "test_accuracy.csv")
    lines = [
        f"Results: {folder}",
        f"Report:  {folder / 'report' / 'index.html'}",
        "",
        "Test accuracy per run:",
    ]
    lines.append(accuracy.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    gaps = pd.read_csv(folder / "metrics" / "gaps.csv")
    significant = gaps[gaps["significant"].astype(bool)]
    shown = significant if not significant.empty else gaps
    title = "Largest significant gaps" if not significant.empty else "Largest gaps (none significant)"
    top = shown.reindex(shown["gap_mean"].abs().sort_values(ascending=False).index).head(10)
    columns = [
        "model",
        "probe",
        "category",
        "group",
        "metric",
        "n_runs",
        "gap_mean",
        "ci_low",
        "ci_high",
        "scope",
    ]
    method = f"{study.metrics.ci} test, {study.metrics.correction} correction; intervals: {INTERVAL_NAMES[study.metrics.ci]}"
    lines += ["", f"{title} ({method}):"]
    lines.append(top[columns].to_string(index=False, float_format=lambda v: f"{v:+.3f}"))
    differences = pd.read_csv(folder / "metrics" / "probe_differences.csv")
    if not differences.empty:
        lines += ["", probe_differences_text(differences)]
    excluded = json.loads((folder / "metrics" / "summary.json").read_text(encoding="utf-8"))["excluded_runs"]
    if excluded:
        lines += ["", "Left out of every verdict, comparison and figure:"]
        lines += [
            f"  {run['run_id']} (test accuracy {run['test_accuracy']:.3f}): {run['reason']}"
            for run in excluded
        ]
    if failed:
        lines += ["", failures_text(failed)]
    return "\n".join(lines)


def failures_text(failed: Sequence[UnitOutcome]) -> str:
    """The failed units with their errors, and how to retry them."""
    lines = [
        f"Failed units ({len(failed)}), left out of the results; run the same command again to retry them:"
    ]
    lines += [f"  {outcome.unit_id}: {outcome.error}" for outcome in failed]
    return "\n".join(lines)


class IncompleteStudy(Exception):
    """Units failed after their retries: ``summary`` covers the complete units and names the failed ones."""

    def __init__(self, summary: str, failed: list[UnitOutcome]) -> None:
        super().__init__(f"{len(failed)} unit(s) failed")
        self.summary = summary
        self.failed = failed


def run_study(
    study: Study,
    *,
    command: str = "promptbias run",
    progress: bool = True,
    executor: Executor = run_units,
    claim: ClaimSettings | None = None,
) -> str:
    """Run (or resume) the whole study with ``executor`` and return the summary text. The results folder is
    claimed once the input is checked, for the rest of the run (``claim``: wait for a run that holds it, or
    stop with FolderInUse); a unit that such a run completed meanwhile is skipped by ``run_unit``.

    When units fail, the metrics, comparison and report still cover the complete ones, and IncompleteStudy
    carries that summary with the failed units named.
    """
    suite = resolve_suite(study)
    pending = pending_units(study)  # checksums every unit's files: once
    check_study(study, suite, pending)  # bad input: one InputError, nothing written
    with claim_folder(study.results_dir, command, claim):
        return _run_claimed(study, suite, pending, command, progress, executor)


def _run_claimed(
    study: Study, suite: pd.DataFrame, pending: list[Unit], command: str, progress: bool, executor: Executor
) -> str:
    if progress and pending:
        print(
            estimate_text(study, pending, len(suite), matmul_flops_per_second(), dtype_name(cpu_dtype())),
            file=sys.stderr,
            flush=True,
        )
    write_study_files(study, command)
    outcomes = executor(study, group_by_model(pending), suite, progress)
    errors = {outcome.unit_id: outcome.error for outcome in outcomes if outcome.failed}
    units_dir = study.results_dir / "units"
    complete: list[Unit] = []
    failed: list[UnitOutcome] = []
    for unit in plan_units(study):
        if is_done(units_dir / unit.unit_id, unit, study):
            complete.append(unit)
        else:
            failed.append(UnitOutcome(unit.unit_id, errors.get(unit.unit_id, "not complete after the run")))
    if not complete:
        raise IncompleteStudy(failures_text(failed), failed)
    finish_study(study, complete)
    if study.tracking is not None:
        from promptbias.study.tracking import track_study  # MLflow: imported only when a study is tracked

        track_study(study, complete, units_fingerprint(study.results_dir, complete))
    summary = summary_text(study, failed)
    if failed:
        raise IncompleteStudy(summary, failed)
    return summary
