"""A study: the plan of units, running them (each model loaded once), then metrics, probe comparison, report.

Resumable by construction: a complete unit (``store.is_complete``) is never recomputed, an interrupted one
restarts from its last finished stage, and the study-level outputs are recomputed only when the set of
complete units changed, so a second run of a finished study does no model work.
"""

from __future__ import annotations

import hashlib
import json
import platform
import re
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import pandas as pd

from promptbias import store
from promptbias.comparison import compare_probes, largest_changes
from promptbias.config import Study
from promptbias.data.suite import CZARNOWSKA, czarnowska_path, load_suite, sample_templates
from promptbias.unit import Unit, run_unit, split_loader

# Sentences per second on a 2-core AVX512-BF16 CPU for a 135M-parameter model (measured with promptbias bench);
# used, scaled by model size, for the --dry-run estimate only.
REFERENCE_SCORE_RATE = 180.0
REFERENCE_TRAIN_RATE = 25.0
REFERENCE_PARAMS_B = 0.135
KNOWN_SIZES_B = {"smollm2-135m": 0.135}


def plan_units(study: Study) -> list[Unit]:
    """Every unit: model x training set x probe x seed (a zero-shot probe, having nothing random, runs once)."""
    units = []
    for model in study.models:
        for dataset in study.datasets:
            for probe in study.probes:
                seeds = study.seeds if probe.seeded else study.seeds[:1]
                units.extend(Unit(model, dataset, probe, seed) for seed in seeds)
    return units


def resolve_suite(study: Study) -> tuple[pd.DataFrame, str]:
    """The study's suite (its fallback when the Czarnowska file is not available), sampled as configured."""
    source = study.suite.source
    if source == CZARNOWSKA and czarnowska_path(study.data_dir) is None and study.suite.fallback:
        source = study.suite.fallback
    suite = load_suite(source, study.data_dir)
    return sample_templates(suite, study.suite.templates_per_category, study.suite.seed), source


def model_size_b(name: str) -> float | None:
    """A model's size in billions of parameters, from the alias table or its name (opt-1.3b, galactica-125m)."""
    if name in KNOWN_SIZES_B:
        return KNOWN_SIZES_B[name]
    match = re.search(r"(\d+(?:\.\d+)?)([mMbB])(?![a-zA-Z])", Path(name).name)
    if match is None:
        return None
    value = float(match.group(1))
    return value / 1000 if match.group(2).lower() == "m" else value


@dataclass(frozen=True)
class UnitEstimate:
    unit_id: str
    train_sentences: int
    scored_sentences: int
    minutes_on_cpu: float | None


def estimate_unit(unit: Unit, suite_size: int, test_size: int, dev_size: int, train_size: int) -> UnitEstimate:
    """Sentences trained on and scored by ``unit``, and a rough 2-core CPU time when the size is known."""
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
        scale = max(size / REFERENCE_PARAMS_B, 1.0)
        seconds = scale * (scored / REFERENCE_SCORE_RATE + trained / REFERENCE_TRAIN_RATE)
        minutes = round(seconds / 60, 1)
    return UnitEstimate(unit.unit_id, trained, scored, minutes)


def plan_text(study: Study) -> str:
    """The plan of ``--dry-run``: every unit with the sentences it trains on and scores, and a rough time."""
    suite, source = resolve_suite(study)
    units = plan_units(study)
    rows = []
    for unit in units:
        sizes = _split_sizes(unit)
        estimate = estimate_unit(unit, len(suite), *sizes)
        rows.append(
            {
                "unit": estimate.unit_id,
                "trains_on": estimate.train_sentences,
                "scores": estimate.scored_sentences,
                "cpu_minutes": estimate.minutes_on_cpu,
                "done": store.is_complete(study.results_dir / "units" / unit.unit_id),
            }
        )
    table = pd.DataFrame(rows)
    known = table["cpu_minutes"].dropna()
    lines = [
        f"Study {study.name!r}: {len(units)} units -> {study.results_dir}",
        f"Suite: {source}, {len(suite)} sentences, {suite['category'].nunique()} categories, "
        f"{suite.groupby('category')['group'].nunique().sum()} groups",
        table.to_string(index=False),
        f"Total: {int(table['trains_on'].sum())} training sentences, {int(table['scores'].sum())} scored; "
        f"about {known.sum():.0f} minutes on a 2-core CPU for the units of known size "
        "(GPUs are 20-100x faster)",
    ]
    return "\n".join(lines)


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


def run_units(study: Study, suite: pd.DataFrame, progress: bool = True) -> list[Unit]:
    """Run every unit not complete yet, loading each model once; returns the plan."""
    from promptbias.models import load_model
    from promptbias.verbalizer import build_verbalizer

    units = plan_units(study)
    splits = split_loader(study.data_dir)
    units_dir = study.results_dir / "units"
    for model in study.models:
        pending = [u for u in units if u.model == model and not store.is_complete(units_dir / u.unit_id)]
        if not pending:
            continue
        lm = load_model(model.name, dtype=model.dtype, device=model.device, trust_remote_code=model.trust_remote_code)
        verbalizer = build_verbalizer(lm.tokenizer, study.label_words)
        for index, unit in enumerate(pending, start=1):
            if progress:
                print(f"[{index}/{len(pending)}] {unit.unit_id}", file=sys.stderr, flush=True)
            run_unit(lm, verbalizer, unit, study, suite, splits, units_dir / unit.unit_id, progress=progress)
    return units


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
        evaluation = json.loads((folder / "units" / unit.unit_id / "evaluation.json").read_text(encoding="utf-8"))
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


def finish_study(study: Study, units: list[Unit], suite_source: str) -> None:
    """Metrics over all units, the probe comparison and the report; skipped when nothing changed since."""
    from promptbias.metrics import run_metrics
    from promptbias.report import build_report

    folder = study.results_dir
    fingerprint = units_fingerprint(folder, units)
    done = folder / "finished.json"
    if done.exists() and json.loads(done.read_text(encoding="utf-8")).get("units") == fingerprint:
        if store.is_complete(folder / "metrics") and (folder / "report" / "index.html").exists():
            return
    accuracy = test_accuracy_table(folder, units)
    store.write_frame(folder / "test_accuracy.csv", accuracy)
    groups = str(study.metrics.groups) if study.metrics.groups else None
    result = run_metrics(
        [folder], folder / "metrics", ci=study.metrics.ci, groups_file=groups, correction=study.metrics.correction
    )
    reference = next((p.label for p in study.probes if p.kind == "soft_prompt"), study.probes[0].label)
    comparison = compare_probes(result.gaps, accuracy, reference)
    if not comparison.empty:
        store.write_frame(folder / "probe_comparison.csv", comparison)
    build_report(folder, folder / "report")
    store.write_json(done, {"units": fingerprint, "suite": suite_source})


def write_study_files(study: Study, command: str) -> None:
    folder = study.results_dir
    store.write_json(folder / "study.json", study.model_dump(mode="json"))
    store.write_json(folder / "environment.json", environment())
    store.write_text(folder / "command.txt", command + "\n")


def summary_text(study: Study, units: list[Unit]) -> str:
    """What a user reads at the end: where the results are, test accuracy per run, the largest gaps."""
    folder = study.results_dir
    accuracy = pd.read_csv(folder / "test_accuracy.csv")
    lines = [f"Results: {folder}", f"Report:  {folder / 'report' / 'index.html'}", "", "Test accuracy per run:"]
    lines.append(accuracy.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    gaps = pd.read_csv(folder / "metrics" / "gaps.csv")
    significant = gaps[gaps["significant"].astype(bool)]
    shown = significant if not significant.empty else gaps
    title = "Largest significant gaps" if not significant.empty else "Largest gaps (none significant)"
    top = shown.reindex(shown["gap_mean"].abs().sort_values(ascending=False).index).head(10)
    columns = ["model", "probe", "category", "group", "metric", "n_runs", "gap_mean", "ci_low", "ci_high"]
    lines += ["", f"{title} ({study.metrics.ci} intervals, {study.metrics.correction} correction):"]
    lines.append(top[columns].to_string(index=False, float_format=lambda v: f"{v:+.3f}"))
    comparison_file = folder / "probe_comparison.csv"
    if comparison_file.exists():
        changes = largest_changes(pd.read_csv(comparison_file), 5)
        lines += ["", "Largest changes of a gap between a hand-written probe and the soft prompt:"]
        columns = ["model", "probe", "category", "group", "metric", "gap_mean", "reference_gap_mean", "gap_change"]
        lines.append(changes[columns].to_string(index=False, float_format=lambda v: f"{v:+.3f}"))
    return "\n".join(lines)


def run_study(study: Study, *, command: str = "promptbias run", progress: bool = True) -> str:
    """Run (or resume) the whole study and return the summary text."""
    suite, source = resolve_suite(study)
    write_study_files(study, command)
    units = run_units(study, suite, progress)
    finish_study(study, units, source)
    return summary_text(study, units)
