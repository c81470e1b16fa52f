"""The plan of a study: its units (model x training set x probe x seed), the suite they classify, what each
unit trains on and scores, a rough CPU time, and the text of ``run --dry-run``. Nothing here loads a model
or torch."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from promptbias.lm.compilation import COMPILE_MINUTES, compile_wanted
from promptbias.study.config import Study
from promptbias.study.resources import WorkerSettings, cluster_columns, cluster_footer, model_size_b
from promptbias.study.unit import Unit, is_done
from promptbias.suites.loading import load_suite, sample_templates

# The CPU time of a 135M-parameter model (SmolLM2, bf16) on a machine whose bf16 2048x2048 matrix product runs
# at REFERENCE_MATMUL_TFLOPS, measured with the quickstart: sentences scored and trained on per second, loading
# the model, and the study's metrics and report. Estimates scale them by model size and by the rate measured on
# the machine at hand (machine.matmul_flops_per_second).
REFERENCE_MATMUL_TFLOPS = 0.65
REFERENCE_SCORE_RATE = 90.0  # SST-5 sentences score at about 75/s, the shorter suite sentences faster:
REFERENCE_SUITE_RATE = 130.0  # 159-165/s at 0.80-0.81 TFLOP/s in promptbias bench (docs/speed.md)
REFERENCE_TRAIN_RATE = 20.0
REFERENCE_LOAD_SECONDS = 20.0
REFERENCE_FINISH_SECONDS = 30.0
REFERENCE_PARAMS_B = 0.135
# the suite predicted in fp32 by a model that otherwise runs in bf16 takes this many times as long (the
# quickstart's three probes: 119.7 s against 51.0 s, benchmarks/precision_verdicts.py, docs/speed.md)
FP32_SCORING_SLOWDOWN = 2.3


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
    unit: Unit,
    suite_size: int,
    test_size: int,
    dev_size: int,
    train_size: int,
    slowdown: float = 1.0,
    bf16: bool = True,
) -> UnitEstimate:
    """Sentences trained on and scored by ``unit``, and a rough CPU time when the model's size is known, on a
    machine ``slowdown`` times slower than the reference machine (see REFERENCE_MATMUL_TFLOPS) whose models
    run in bf16 (``bf16``) or in fp32."""
    trained, building = unit.probe.probe_kind.work(unit.probe, train_size, dev_size)
    scored = suite_size + test_size + building
    size = model_size_b(unit.model.name)
    minutes = None
    if size is not None:
        # the suite read by a second, fp32 copy of a model that runs in bf16 (ModelEntry.suite_dtype)
        suite_cost = FP32_SCORING_SLOWDOWN if unit.model.suite_in_fp32(on_cpu=True) and bf16 else 1.0
        seconds = _size_scale(size) * (
            (scored - suite_size) / REFERENCE_SCORE_RATE
            + suite_cost * suite_size / REFERENCE_SUITE_RATE
            + trained / REFERENCE_TRAIN_RATE
        )
        minutes = round(slowdown * seconds / 60, 1)
    return UnitEstimate(unit.unit_id, trained, scored, minutes)


def eager_minutes(units: Sequence[Unit], suite_size: int) -> float | None:
    """The estimated minutes of ``units`` on the reference machine, uncompiled; None when a model's size is
    unknown (what ``compile: auto`` weighs against the cost of compiling)."""
    minutes = [estimate_unit(unit, suite_size, *_split_sizes(unit)).minutes_on_cpu for unit in units]
    return None if any(m is None for m in minutes) else sum(m for m in minutes if m is not None)


def scoring_minutes(model_name: str, sentences: int) -> float | None:
    """The estimated minutes of scoring ``sentences`` with the model on the reference machine, uncompiled;
    None when the model's size is unknown."""
    size = model_size_b(model_name)
    return None if size is None else _size_scale(size) * sentences / REFERENCE_SCORE_RATE / 60


def _size_scale(size_b: float) -> float:
    return max(size_b / REFERENCE_PARAMS_B, 1.0)


def slowdown_at(matmul_flops: float | None) -> float:
    """How many times slower than the reference machine a machine is whose matmul rate, in the dtype its
    models run in, is ``matmul_flops`` (the reference ran bf16 natively)."""
    return 1.0 if matmul_flops is None else REFERENCE_MATMUL_TFLOPS * 1e12 / matmul_flops


def estimate_text(
    study: Study, units: Sequence[Unit], suite_size: int, matmul_flops: float, dtype: str = "bf16"
) -> str:
    """The line ``run`` prints before it starts: the CPU time of ``units`` (loading each model once, then the
    metrics and report) at the matmul rate measured in ``dtype``, the one the models run in."""
    slowdown = slowdown_at(matmul_flops)
    known = [
        (
            unit,
            estimate_unit(
                unit, suite_size, *_split_sizes(unit), slowdown=slowdown, bf16=dtype == "bf16"
            ).minutes_on_cpu,
        )
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
    compiled = [
        model.name
        for model in study.models
        if compile_wanted(model.compile, eager_minutes([u for u in units if u.model == model], suite_size))
    ]
    compiling = (
        f", plus up to about {COMPILE_MINUTES:.0f} min per model to compile ({', '.join(compiled)}; torch.compile, "
        "less when its cache is warm)"
        if compiled
        else ""
    )
    return (
        f"Estimate: about {minutes:.1f} min on this CPU for {len(units)} unit(s){tail}{compiling}, "
        f"{dtype} matmul measured at {matmul_flops / 1e12:.2f} TFLOP/s (GPUs are 20-100x faster)"
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
            trained, scored = estimate.train_sentences, estimate.scored_sentences
            batch_tokens = study.scoring.batch_tokens
            row.update(
                cluster_columns(unit.model, unit.probe, study.probes, batch_tokens, trained, scored, cluster)
            )
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
        f"{(matmul_flops or REFERENCE_MATMUL_TFLOPS * 1e12) / 1e12:.2f} TFLOP/s"
        f"{' (the reference machine; run measures this one before it starts)' if matmul_flops is None else ''}"
        " (GPUs are 20-100x faster)",
    ]
    if cluster is not None:
        lines.append(cluster_footer(table.assign(model=[u.model.name for u in units]), cluster))
    return "\n".join(lines)


def _split_sizes(unit: Unit) -> tuple[int, int, int]:
    """(test, dev, train) sentences a unit uses: the configured sizes, else the SST-5 split sizes."""
    dataset = unit.dataset
    return (dataset.test_size or 2210, dataset.dev_size or 1101, dataset.train_size or 8544)


def pending_units(study: Study) -> list[Unit]:
    """The units of the plan whose folders are not complete yet."""
    units_dir = study.results_dir / "units"
    return [unit for unit in plan_units(study) if not is_done(units_dir / unit.unit_id, unit, study)]
