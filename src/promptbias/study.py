"""A study: the plan of units, running them (each model loaded once), then metrics, probe comparison, report.

Resumable by construction: a complete unit (``store.is_complete``) is never recomputed, an interrupted one
restarts from its last finished stage, and the study-level outputs are recomputed only when the set of
complete units changed, so a second run of a finished study does no model work.
"""

from __future__ import annotations

import hashlib
import json
import platform
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import pandas as pd

from promptbias import store
from promptbias.config import ModelEntry, Study
from promptbias.data.suite import load_suite, sample_templates
from promptbias.machine import matmul_flops_per_second
from promptbias.metrics.comparison import compare_probes, largest_changes
from promptbias.metrics.compute import INTERVAL_NAMES
from promptbias.models import LanguageModel
from promptbias.preflight import check_study
from promptbias.resources import WorkerSettings, gpu_minutes, memory_budget, model_gpus, model_size_b
from promptbias.unit import SplitLoader, Unit, is_done, run_unit, split_loader
from promptbias.verbalizer import Verbalizer

# The CPU time of a 135M-parameter model (SmolLM2, bf16) on a machine whose bf16 2048x2048 matrix product runs
# at REFERENCE_MATMUL_TFLOPS, measured with the quickstart: sentences scored and trained on per second, loading
# the model, and the study's metrics and report. Estimates scale them by model size and by the rate measured on
# the machine at hand (machine.matmul_flops_per_second).
REFERENCE_MATMUL_TFLOPS = 0.65
REFERENCE_SCORE_RATE = 90.0  # SST-5 sentences score at about 75/s, the shorter suite sentences faster
REFERENCE_TRAIN_RATE = 20.0
REFERENCE_LOAD_SECONDS = 20.0
REFERENCE_FINISH_SECONDS = 30.0
REFERENCE_PARAMS_B = 0.135


def plan_units(study: Study) -> list[Unit]:
    """Every unit: model x training set x probe x seed (a zero-shot probe, having nothing random, runs once)."""
    units = []
    for model in study.models:
        for dataset in study.datasets:
            for probe in study.probes:
                seeds = study.seeds if probe.seeded else study.seeds[:1]
                units.extend(Unit(model, dataset, probe, seed) for seed in seeds)
    return units


def resolve_suite(study: Study) -> pd.DataFrame:
    """The study's suite, sampled as configured."""
    suite = load_suite(study.suite.source, study.data_dir)
    return sample_templates(suite, study.suite.templates_per_category, study.suite.seed)


@dataclass(frozen=True)
class UnitEstimate:
    unit_id: str
    train_sentences: int
    scored_sentences: int
    minutes_on_cpu: float | None


def estimate_unit(
    unit: Unit, suite_size: int, test_size: int, dev_size: int, train_size: int, slowdown: float = 1.0
) -> UnitEstimate:
    """Sentences trained on and scored by ``unit``, and a rough CPU time when the model's size is known, on a
    machine ``slowdown`` times slower than the reference machine (see REFERENCE_MATMUL_TFLOPS)."""
    probe = unit.probe
    trained = 0
    scored = suite_size + test_size
    if probe.kind == "soft_prompt":
        steps = probe.max_steps or round(probe.epochs * -(-train_size // probe.batch_size))
        trained = steps * probe.batch_size
        scored += dev_size * (steps // probe.eval_every + 2)
    size = model_size_b(unit.model.name)
    minutes = None
    if size is not None:
        seconds = _size_scale(size) * (scored / REFERENCE_SCORE_RATE + trained / REFERENCE_TRAIN_RATE)
        minutes = round(slowdown * seconds / 60, 1)
    return UnitEstimate(unit.unit_id, trained, scored, minutes)


def _size_scale(size_b: float) -> float:
    return max(size_b / REFERENCE_PARAMS_B, 1.0)


def slowdown_at(matmul_flops: float | None) -> float:
    """How many times slower than the reference machine a machine with this bf16 matmul rate is."""
    return 1.0 if matmul_flops is None else REFERENCE_MATMUL_TFLOPS * 1e12 / matmul_flops


def estimate_text(study: Study, units: Sequence[Unit], suite_size: int, matmul_flops: float) -> str:
    """The line ``run`` prints before it starts: the CPU time of ``units`` (loading each model once, then the
    metrics and report) at the measured matmul rate."""
    slowdown = slowdown_at(matmul_flops)
    known = [
        (unit, estimate_unit(unit, suite_size, *_split_sizes(unit), slowdown=slowdown).minutes_on_cpu)
        for unit in units
    ]
    minutes = sum(m for _, m in known if m is not None)
    models = {unit.model.name: model_size_b(unit.model.name) for unit, m in known if m is not None}
    fixed = REFERENCE_FINISH_SECONDS + sum(
        REFERENCE_LOAD_SECONDS * _size_scale(b or 0) for b in models.values()
    )
    minutes += slowdown * fixed / 60
    unknown = sum(m is None for _, m in known)
    tail = f" ({unknown} unit(s) of unknown model size not counted)" if unknown else ""
    return (
        f"Estimate: about {minutes:.1f} min on this CPU for {len(units)} unit(s){tail}, "
        f"bf16 matmul measured at {matmul_flops / 1e12:.2f} TFLOP/s (GPUs are 20-100x faster)"
    )


def plan_text(study: Study, cluster: WorkerSettings | None = None, matmul_flops: float | None = None) -> str:
    """The plan of ``--dry-run``: every unit with the sentences it trains on and scores, and a rough CPU time
    at the bf16 matmul rate ``matmul_flops`` (None: the reference machine's); with ``cluster``, also what each
    unit's worker asks the cluster for and its memory budget."""
    suite = resolve_suite(study)
    units = plan_units(study)
    rows = []
    for unit in units:
        sizes = _split_sizes(unit)
        estimate = estimate_unit(unit, len(suite), *sizes, slowdown=slowdown_at(matmul_flops))
        row = {
            "unit": estimate.unit_id,
            "trains_on": estimate.train_sentences,
            "scores": estimate.scored_sentences,
            "cpu_minutes": estimate.minutes_on_cpu,
        }
        if cluster is not None:
            row.update(cluster_columns(study, unit, estimate, cluster))
        rows.append({**row, "done": is_done(study.results_dir / "units" / unit.unit_id, unit, study)})
    table = pd.DataFrame(rows)
    known = table["cpu_minutes"].dropna()
    lines = [
        f"Study {study.name!r}: {len(units)} units -> {study.results_dir}",
        f"Suite: {study.suite.source}, {len(suite)} sentences, {suite['category'].nunique()} categories, "
        f"{suite.groupby('category')['group'].nunique().sum()} groups",
        table.to_string(index=False),
        f"Total: {int(table['trains_on'].sum())} training sentences, {int(table['scores'].sum())} scored; "
        f"about {known.sum():.0f} minutes of CPU for the units of known size, at a bf16 matmul rate of "
        f"{(matmul_flops or REFERENCE_MATMUL_TFLOPS * 1e12) / 1e12:.2f} TFLOP/s (GPUs are 20-100x faster)",
    ]
    if cluster is not None:
        lines.append(cluster_footer(study, table.assign(model=[u.model.name for u in units]), cluster))
    return "\n".join(lines)


def cluster_columns(
    study: Study, unit: Unit, estimate: UnitEstimate, cluster: WorkerSettings
) -> dict[str, float | None]:
    """What the unit's worker asks for (GPUs, CPUs), the unit's memory budget (GiB) and a GPU time."""
    size = model_size_b(unit.model.name)
    batch_tokens = study.scoring.batch_tokens
    known = size is not None
    return {
        "gpus": model_gpus(unit.model, study.probes, batch_tokens, cluster.gpu_memory_gb),
        "cpus": cluster.cpus,
        "memory_gb": round(memory_budget(size, unit.probe, unit.model.dtype, batch_tokens).total_gb, 1)
        if known
        else None,
        "gpu_minutes": round(gpu_minutes(size, estimate.train_sentences, estimate.scored_sentences), 1)
        if known
        else None,
    }


def cluster_footer(study: Study, table: pd.DataFrame, cluster: WorkerSettings) -> str:
    """The workers and the GPUs they hold at once; for the units of known size, the wall-clock time (the
    slowest model's units over its workers) and the GPU-hours held (each unit's time x its worker's GPUs)."""
    per_model = table.groupby("model", sort=False).agg(minutes=("gpu_minutes", "sum"), gpus=("gpus", "first"))
    wall = per_model["minutes"] / cluster.per_model
    held = (per_model["minutes"] * per_model["gpus"]).sum() / 60
    workers = len(per_model) * cluster.per_model
    return (
        f"Ray: {workers} workers ({cluster.per_model} per model) holding "
        f"{per_model['gpus'].sum() * cluster.per_model:g} GPUs at once ({cluster.gpu_memory_gb:g} GB each); "
        f"about {wall.max() / 60:.1f} h wall-clock (slowest: {wall.idxmax()}) and {held:.0f} GPU-hours "
        "for the units of known size (an estimate from FLOPs at 30% of an A100's bf16 peak; see docs/cluster.md)"
    )


def _split_sizes(unit: Unit) -> tuple[int, int, int]:
    """(test, dev, train) sentences a unit uses: the configured sizes, else the SST-5 split sizes."""
    dataset = unit.dataset
    return (dataset.test_size or 2210, dataset.dev_size or 1101, dataset.train_size or 8544)


def environment() -> dict[str, str]:
    """Versions of what produced the results."""
    packages = ["promptbias", "torch", "transformers", "peft", "pandas", "numpy", "scipy"]
    versions = {}
    for package in packages:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return {"python": sys.version.split()[0], "platform": platform.platform(), **versions}


def pending_units(study: Study) -> list[Unit]:
    """The units of the plan whose folders are not complete yet."""
    units_dir = study.results_dir / "units"
    return [unit for unit in plan_units(study) if not is_done(units_dir / unit.unit_id, unit, study)]


@dataclass
class LoadedModel:
    """What the units of one model share: the model, its verbalizer and the training-set reader."""

    lm: LanguageModel
    verbalizer: Verbalizer
    splits: SplitLoader


def load_for_units(study: Study, model: ModelEntry) -> LoadedModel:
    """Load ``model`` once for the units of ``study`` that use it."""
    from promptbias.models import load_model
    from promptbias.verbalizer import build_verbalizer

    lm = load_model(
        model.name,
        dtype=model.dtype,
        device=model.device,
        trust_remote_code=model.trust_remote_code,
        device_map=model.device_map,
    )
    return LoadedModel(lm, build_verbalizer(lm.tokenizer, study.label_words), split_loader(study.data_dir))


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
    loaded = loaded or load_for_units(study, model)
    for index, unit in enumerate(units, start=1):
        if progress:
            print(f"[{index}/{len(units)}] {unit.unit_id}", file=sys.stderr, flush=True)
        folder = study.results_dir / "units" / unit.unit_id
        run_unit(loaded.lm, loaded.verbalizer, unit, study, suite, loaded.splits, folder, progress=progress)


@dataclass(frozen=True)
class UnitOutcome:
    """How a unit ended under an executor: done, or failed with the error's first line."""

    unit_id: str
    error: str | None = None

    @property
    def failed(self) -> bool:
        return self.error is not None


# An executor runs the pending units, grouped by model, and says how each ended.
Executor = Callable[[Study, list[list[Unit]], pd.DataFrame, bool], list[UnitOutcome]]


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
            }
        )
    return pd.DataFrame(rows)


def finish_study(study: Study, units: list[Unit]) -> None:
    """Metrics over all units, the probe comparison and the report; skipped when nothing changed since."""
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
    result = run_metrics(
        [folder / "units" / unit.unit_id for unit in sorted(units, key=lambda u: u.unit_id)],
        folder / "metrics",
        ci=study.metrics.ci,
        groups_file=groups,
        correction=study.metrics.correction,
        suite=study.suite.source,
    )
    reference = next((p.label for p in study.probes if p.kind == "soft_prompt"), study.probes[0].label)
    comparison = compare_probes(result.gaps, accuracy, reference)
    if not comparison.empty:
        store.write_frame(folder / "probe_comparison.csv", comparison)
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
    columns = ["model", "probe", "category", "group", "metric", "n_runs", "gap_mean", "ci_low", "ci_high"]
    method = f"{study.metrics.ci} test, {study.metrics.correction} correction; intervals: {INTERVAL_NAMES[study.metrics.ci]}"
    lines += ["", f"{title} ({method}):"]
    lines.append(top[columns].to_string(index=False, float_format=lambda v: f"{v:+.3f}"))
    comparison_file = folder / "probe_comparison.csv"
    if comparison_file.exists():
        changes = largest_changes(pd.read_csv(comparison_file), 5)
        lines += ["", "Largest changes of a gap between a hand-written probe and the soft prompt:"]
        columns = [
            "model",
            "probe",
            "category",
            "group",
            "metric",
            "gap_mean",
            "reference_gap_mean",
            "gap_change",
        ]
        lines.append(changes[columns].to_string(index=False, float_format=lambda v: f"{v:+.3f}"))
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
) -> str:
    """Run (or resume) the whole study with ``executor`` and return the summary text.

    When units fail, the metrics, comparison and report still cover the complete ones, and IncompleteStudy
    carries that summary with the failed units named.
    """
    suite = resolve_suite(study)
    pending = pending_units(study)  # checksums every unit's files: once
    check_study(study, suite, pending)  # bad input: one InputError, nothing written
    if progress and pending:
        print(
            estimate_text(study, pending, len(suite), matmul_flops_per_second()), file=sys.stderr, flush=True
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
    summary = summary_text(study, failed)
    if failed:
        raise IncompleteStudy(summary, failed)
    return summary
