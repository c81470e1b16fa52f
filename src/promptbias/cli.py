"""The command line: one subcommand per stage (run, tune, predict, metrics, report, bench, suite)."""

from __future__ import annotations

import sys
import warnings
from enum import StrEnum
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from promptbias.errors import InputError, show_warning_line
from promptbias.probes.soft_prompt import SoftPromptConfig
from promptbias.study.claim import ClaimSettings
from promptbias.study.config import ModelEntry

if TYPE_CHECKING:
    from promptbias.study.config import Study
    from promptbias.study.resources import WorkerSettings
    from promptbias.study.runner import Executor

T = TypeVar("T")
TUNING = {name: field.default for name, field in SoftPromptConfig.model_fields.items()}  # tune's defaults
COMPILE_DEFAULT = ModelEntry.model_fields["compile"].default
# predictions feed verdicts: fp32, as ModelEntry.suite_dtype reads the suite on a CPU
PREDICT_DTYPE = "float32"
COMPILE_HELP = "torch.compile the forward pass: on, off, or auto (when the work is long enough to repay it)."

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Measure social bias in causal language models through soft-prompt tuning.",
)


def main() -> None:
    """Entry point: bad input ends with one line on stderr and exit status 2, never a traceback; a warning
    about input is one line on stderr."""
    try:
        with warnings.catch_warnings():
            warnings.showwarning = show_warning_line
            app()
    except InputError as error:
        print(f"promptbias: error: {error}", file=sys.stderr)
        sys.exit(2)


class ExecutorName(StrEnum):
    local = "local"
    ray = "ray"


@app.command()
def run(
    study_file: Annotated[
        str,
        typer.Argument(
            help="The study YAML, or builtin:NAME for one shipped with the package "
            "(quickstart, standard, paper, builtin_suite; the repository's configs/ folder)."
        ),
    ],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the plan and an estimate; run nothing.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bars.")] = False,
    executor: Annotated[
        ExecutorName,
        typer.Option(help="local: one unit after another here; ray: the units spread over a Ray cluster."),
    ] = ExecutorName.local,
    address: Annotated[
        str | None,
        typer.Option(help="Ray: address of an existing cluster (default $RAY_ADDRESS, else a local one)."),
    ] = None,
    retries: Annotated[
        int, typer.Option(min=0, help="Ray: tries after a unit's first failure before it is reported.")
    ] = 2,
    cpus_per_worker: Annotated[
        float, typer.Option(min=0, help="Ray: CPUs of each model's worker (its torch threads on a CPU).")
    ] = 1.0,
    gpu_memory: Annotated[
        float, typer.Option(min=1, help="Ray: GB of one GPU, to size the GPUs a model needs.")
    ] = 80.0,
    workers_per_model: Annotated[
        int, typer.Option(min=1, help="Ray: workers sharing a model's units, each loading the model once.")
    ] = 1,
    wait: Annotated[
        bool,
        typer.Option(
            "--wait",
            help="When another run holds the results folder, wait for it (default: stop, naming it).",
        ),
    ] = ClaimSettings.model_fields["wait"].default,
    track: Annotated[
        str | None,
        typer.Option(
            "--track",
            metavar="URI",
            help="Log the study to MLflow at this tracking URI (a server, or sqlite:///FILE), as `tracking:` "
            "in the study file does (needs promptbias[mlflow]).",
        ),
    ] = None,
) -> None:
    """Run (or resume) a study: tune, evaluate and probe every unit, then metrics and the report.

    The dry run estimates at the reference machine's bf16 matmul rate (it loads no model and no torch); a run
    prints an estimate at the rate it measures before it starts, and at the end its wall time with the matmul rate measured
    then (machines of one kind differ 2.5x in speed, so a time means little without it)."""
    import time

    from promptbias.study.config import load_study
    from promptbias.study.plan import plan_text
    from promptbias.study.resources import WorkerSettings

    started = time.perf_counter()
    study = load_study(study_file)
    if track is not None:
        study = with_tracking(study, track)
    worker = WorkerSettings(cpus_per_worker, gpu_memory, workers_per_model)
    if dry_run:  # without torch: the estimate is at the reference machine's rate
        cluster = worker if executor == ExecutorName.ray else None
        typer.echo(plan_text(study, cluster))
        return
    from promptbias.lm.machine import cpu_dtype, dtype_name, matmul_flops_per_second
    from promptbias.study.runner import IncompleteStudy, run_study, run_units

    command = "promptbias " + " ".join(sys.argv[1:])
    chosen = ray_executor(address, retries, worker) if executor == ExecutorName.ray else run_units
    try:
        summary = run_study(
            study, command=command, progress=not quiet, executor=chosen, claim=ClaimSettings(wait=wait)
        )
    except IncompleteStudy as incomplete:
        typer.echo(incomplete.summary)
        raise typer.Exit(1) from None
    typer.echo(summary)
    rate = matmul_flops_per_second()
    typer.echo(wall_time_line(time.perf_counter() - started, rate, dtype_name(cpu_dtype())))


def with_tracking(study: Study, uri: str) -> Study:
    """``study`` tracked at ``uri`` (its other tracking settings kept)."""
    from promptbias.study.config import TrackingEntry

    tracking = study.tracking or TrackingEntry()
    return study.model_copy(update={"tracking": tracking.model_copy(update={"uri": uri})})


def wall_time_line(seconds: float, matmul_flops: float, dtype: str) -> str:
    """The last line of ``run``: how long it took, at which matmul rate measured in the models' ``dtype``."""
    minutes, rest = divmod(round(seconds), 60)
    return (
        f"\nWall time: {minutes} min {rest:02d} s; this CPU's {dtype} matmul rate now: "
        f"{matmul_flops / 1e12:.2f} TFLOP/s"
    )


def ray_executor(address: str | None, retries: int, worker: WorkerSettings) -> Executor:
    """``run_ray`` with these settings; one clear error when Ray is not installed."""
    try:
        from promptbias.study.cluster import RaySettings, run_ray
    except ImportError as error:
        if error.name != "ray":
            raise
        raise InputError(
            "--executor ray", "Ray is not installed: pip install 'promptbias[cluster]'"
        ) from None
    return partial(run_ray, settings=RaySettings(address, retries, worker))


@app.command()
def tune(
    out: Annotated[
        Path, typer.Option("--out", help="Folder for the prompt, its training log and evaluation.")
    ],
    model: Annotated[str, typer.Option(help="Alias, hub id, local folder or .gguf file.")] = "smollm2-135m",
    dataset: Annotated[str, typer.Option(help="sst5, tweeteval or semeval2018-voc.")] = "sst5",
    dataset_path: Annotated[Path | None, typer.Option(help="Folder of the training set's files.")] = None,
    train_size: Annotated[int | None, typer.Option(help="Train on a stratified sample of this size.")] = None,
    dev_size: Annotated[
        int | None, typer.Option(help="Select the prompt on a dev sample of this size.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the sample, the batches and the demonstrations.")] = 0,
    virtual_tokens: Annotated[
        int | None,
        typer.Option(help="Number of soft-prompt vectors; default: as many as the init has tokens."),
    ] = TUNING["num_virtual_tokens"],
    init: Annotated[
        str,
        typer.Option(
            help="Start as three one-word examples in front of the template (examples), a task text (text) "
            "or the label words (labels)."
        ),
    ] = TUNING["init"],
    epochs: Annotated[float, typer.Option(help="Passes over the training sample.")] = TUNING["epochs"],
    learning_rate: Annotated[
        float, typer.Option(help="AdamW learning rate, relative to the RMS of the model's input embeddings.")
    ] = TUNING["learning_rate"],
    batch_size: Annotated[int, typer.Option(help="Sentences per step.")] = TUNING["batch_size"],
    select_by: Annotated[
        str, typer.Option(help="The dev score that chooses the kept prompt: accuracy, macro_f1 or balanced.")
    ] = TUNING["select_by"],
    select_tolerance: Annotated[
        float, typer.Option(help="balanced: the dev accuracy a higher macro-F1 may cost.")
    ] = TUNING["select_tolerance"],
    class_weighted: Annotated[
        bool, typer.Option("--class-weighted", help="Weight the loss so that every class counts the same.")
    ] = TUNING["class_weighted"],
    class_weight_power: Annotated[
        float, typer.Option(help="With --class-weighted: the weights' power (1 balances, 0.5 half way).")
    ] = TUNING["class_weight_power"],
    max_restarts: Annotated[
        int, typer.Option(help="Restarts from derived seeds when the early dev check finds no learning.")
    ] = TUNING["max_restarts"],
    template: Annotated[str | None, typer.Option(help="Text around the sentence, with {text}.")] = None,
    test_size: Annotated[int | None, typer.Option(help="Evaluate on a sample of the test split.")] = None,
    max_steps: Annotated[
        int | None, typer.Option(help="Stop after this many steps (overrides epochs).")
    ] = TUNING["max_steps"],
    eval_every: Annotated[int, typer.Option(help="Steps between dev evaluations and checkpoints.")] = TUNING[
        "eval_every"
    ],
    dtype: Annotated[str, typer.Option(help="auto, float32, bfloat16 or float16.")] = "auto",
    device: Annotated[str, typer.Option(help="auto, cpu or cuda[:N].")] = "auto",
    compile: Annotated[str, typer.Option(help=COMPILE_HELP)] = COMPILE_DEFAULT,
    trust_remote_code: Annotated[
        bool, typer.Option("--trust-remote-code", help="Run Python code from the model's repository.")
    ] = False,
) -> None:
    """Tune a soft prompt alone (a one-unit study without the suite) and save it as a PEFT adapter."""
    import json

    from promptbias.study.config import DatasetEntry, ModelEntry
    from promptbias.study.preflight import TUNE_FILE
    from promptbias.study.stages import tune_stage

    model_entry = _entry(
        ModelEntry,
        {"name": "--model"},
        name=model,
        dtype=dtype,
        device=device,
        compile=compile,
        trust_remote_code=trust_remote_code,
    )
    dataset_entry = _entry(
        DatasetEntry,
        {"name": "--dataset", "path": "--dataset-path"},
        name=dataset,
        path=dataset_path,
        train_size=train_size,
        dev_size=dev_size,
        test_size=test_size,
    )
    probe_entry = _entry(
        SoftPromptConfig,
        {"num_virtual_tokens": "--virtual-tokens"},
        template=template,
        num_virtual_tokens=virtual_tokens,
        init=init,
        epochs=epochs,
        max_steps=max_steps,
        eval_every=eval_every,
        learning_rate=learning_rate,
        batch_size=batch_size,
        select_by=select_by,
        select_tolerance=select_tolerance,
        class_weighted=class_weighted,
        class_weight_power=class_weight_power,
        max_restarts=max_restarts,
    )
    folder = tune_stage(model_entry, dataset_entry, probe_entry, seed, out)
    typer.echo(f"wrote {folder}")
    tuning = json.loads((out / TUNE_FILE).read_text(encoding="utf-8")).get("tuning") or {}
    if tuning.get("restarts"):
        typer.echo(f"restarted {len(tuning['restarts'])} time(s): {tuning['restarts'][0]['reason']}")
    if tuning.get("failed"):
        typer.echo(f"promptbias: warning: the prompt did not learn ({tuning['failed']})", err=True)


def _entry(entry_type: type[T], options: dict[str, str], **values: object) -> T:
    """A study entry made of command-line values; a bad value is an InputError that names its option."""
    from pydantic import ValidationError

    try:
        return entry_type(**values)
    except ValidationError as error:
        first = error.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else ""
        raise InputError(options.get(field, "--" + field.replace("_", "-")), first["msg"]) from None


@app.command()
def bench(
    model: Annotated[str, typer.Option(help="Alias, hub id, local folder or .gguf file.")] = "smollm2-135m",
    sentences: Annotated[int, typer.Option(help="Suite sentences to classify with each method.")] = 2000,
    prompt: Annotated[
        Path | None,
        typer.Option(
            help="A saved soft prompt (the prompt/ folder of tune); default: one tuned in the bench."
        ),
    ] = None,
    device: Annotated[str, typer.Option(help="auto (CUDA when available), cpu or cuda[:N].")] = "auto",
    dtype: Annotated[
        str, typer.Option(help="The working dtype (all paths but naive fp32): auto, float32, bfloat16.")
    ] = "auto",
    train_steps: Annotated[int, typer.Option(help="Timed training steps of each kind (batch 16).")] = 8,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object instead of the table.")
    ] = False,
) -> None:
    """Speed of the reference method, the naive PEFT forward and the project's path, against the matmul rate."""
    import json

    from promptbias.bench import bench_text, run_bench

    result = run_bench(model, sentences, device=device, dtype=dtype, train_steps=train_steps, prompt=prompt)
    typer.echo(json.dumps(result.as_dict()) if as_json else bench_text(result))


@app.command()
def predict(
    out: Annotated[
        Path, typer.Option("--out", help="Predictions file (.parquet; a .tsv twin is written beside).")
    ],
    model: Annotated[str, typer.Option(help="Alias, hub id, local folder or .gguf file.")] = "smollm2-135m",
    prompt: Annotated[
        Path | None, typer.Option(help="A saved soft prompt (the prompt/ folder of tune).")
    ] = None,
    template: Annotated[
        str | None, typer.Option(help="A zero-shot template with {text}, instead of --prompt.")
    ] = None,
    suite: Annotated[str, typer.Option(help="czarnowska, builtin:NAME, or a suite TSV/YAML.")] = "czarnowska",
    templates_per_category: Annotated[
        int | None, typer.Option(help="Sample whole templates per category.")
    ] = None,
    run_id: Annotated[str, typer.Option(help="Run id recorded in the table.")] = "run1",
    dataset: Annotated[str, typer.Option(help="Training set name recorded in the table.")] = "sst5",
    allow_pickle: Annotated[
        bool, typer.Option("--allow-pickle", help="Load a pickled adapter_model.bin.")
    ] = False,
    trust_remote_code: Annotated[
        bool, typer.Option("--trust-remote-code", help="Run Python code from the model's repository.")
    ] = False,
    dtype: Annotated[
        str,
        typer.Option(
            help="float32 (the default: verdicts read in bf16 can move), auto, bfloat16 or float16."
        ),
    ] = PREDICT_DTYPE,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda[:N].")] = "auto",
    compile: Annotated[str, typer.Option(help=COMPILE_HELP)] = COMPILE_DEFAULT,
) -> None:
    """Classify a bias suite with a soft prompt or a template; write the predictions table."""
    from promptbias.study.stages import predict_stage

    written = predict_stage(
        model,
        out,
        prompt=prompt,
        template=template,
        suite=suite,
        templates_per_category=templates_per_category,
        run_id=run_id,
        dataset=dataset,
        allow_pickle=allow_pickle,
        trust_remote_code=trust_remote_code,
        dtype=dtype,
        device=device,
        compile=compile,
    )
    typer.echo(f"wrote {written} ({written.with_suffix('.tsv').name} beside it)")


@app.command()
def metrics(
    inputs: Annotated[list[Path], typer.Argument(help="Prediction files or results folders.")],
    out: Annotated[Path, typer.Option("--out", help="Output folder: new, empty or an earlier metrics one.")],
    ci: Annotated[
        str | None,
        typer.Option(
            help="Test and interval: permutation (the default: groups permuted within templates, the "
            "bootstrap of its scope as interval), t, z (the reference's), bootstrap (templates) or "
            "multibootstrap (runs and templates)."
        ),
    ] = None,
    groups: Annotated[Path | None, typer.Option(help="YAML file: category -> groups to compare.")] = None,
    correction: Annotated[
        str | None,
        typer.Option(
            help="maxt (permutation only), holm, bh or none; default: maxt for permutation, else holm."
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the permutations and the bootstrap.")] = 0,
    n_boot: Annotated[int | None, typer.Option("--n-boot", help="Bootstrap resamples.")] = None,
    n_permutations: Annotated[
        int | None, typer.Option("--n-permutations", help="Permutations of the permutation test.")
    ] = None,
    calibrate: Annotated[
        int,
        typer.Option(
            help="Also rerun the whole test on N copies of the predictions with groups permuted within "
            "templates, and print the share of copies with any significant gap beside alpha."
        ),
    ] = 0,
    keep_failed: Annotated[
        bool,
        typer.Option(
            "--keep-failed",
            help="Let runs whose soft prompt failed to learn into the verdicts (left out by default).",
        ),
    ] = False,
    best_runs: Annotated[
        int | None,
        typer.Option(
            "--best-runs",
            help="Keep only the best N runs of each model x dataset x probe by dev accuracy (the paper's "
            "selection); the others are listed as left out.",
        ),
    ] = None,
    scope: Annotated[
        str | None,
        typer.Option(
            help="What a verdict is about: model (the runs' prompts a sample of prompts) or prompts (these "
            "runs); default: model from 3 runs on, else prompts."
        ),
    ] = None,
    null: Annotated[
        str,
        typer.Option(
            help="What the permutation test holds exchangeable: terms (a template's terms) or groups (a "
            "group's terms are a sample of its names: a gap must exceed the spread between them)."
        ),
    ] = "terms",
    reference_probe: Annotated[
        str | None,
        typer.Option(help="The probe every other probe is compared with; default: the first by name."),
    ] = None,
) -> None:
    """Fairness metrics: group rates, gaps with tests and intervals, flip rates, generalized metrics."""
    from promptbias.metrics import run_metrics
    from promptbias.metrics.inference.calibration import calibrate_text
    from promptbias.metrics.run_selection import RunSelection

    chosen = {"ci": ci, "n_boot": n_boot, "n_permutations": n_permutations}  # None: the metrics' default
    result = run_metrics(
        inputs,
        out,
        groups_file=groups,
        correction=correction,
        seed=seed,
        calibrate=calibrate,
        runs=_entry(RunSelection, {"best": "--best-runs"}, keep_failed=keep_failed, best=best_runs),
        scope=scope,
        null=null,
        reference_probe=reference_probe,
        **{name: value for name, value in chosen.items() if value is not None},
    )
    summary = result.summary
    typer.echo(
        f"wrote {out}: {summary['n_runs']} run(s), {summary['n_gaps']} gaps, "
        f"{summary['n_significant']} significant ({summary['interval']['method']}, "
        f"{summary['correction']} correction, scope {summary['scope']}, null {summary['null']})"
    )
    for run in summary["excluded_runs"]:
        typer.echo(f"left out: {run['run_id']} ({run['reason']})")
    if summary.get("calibration"):
        typer.echo(calibrate_text(summary["calibration"]))
    shown = 5
    for message in summary["warnings"][:shown]:
        typer.echo(f"promptbias: warning: {message}", err=True)
    if len(summary["warnings"]) > shown:
        more = len(summary["warnings"]) - shown
        typer.echo(f"promptbias: warning: {more} more warnings in {out / 'summary.json'}", err=True)


@app.command()
def report(
    input: Annotated[Path, typer.Argument(help="A results folder of `promptbias run`, or a metrics folder.")],
    out: Annotated[Path | None, typer.Option("--out", help="Report folder; default: INPUT/report.")] = None,
) -> None:
    """The report: one offline HTML page and publication figures (PNG, SVG) for a study's results."""
    from promptbias.report import build_report

    page = build_report(input, out if out is not None else input / "report")
    typer.echo(f"wrote {page} (open it in a browser; figures in {page.parent / 'figures'})")


@app.command()
def card(
    results: Annotated[Path, typer.Argument(help="A results folder of `promptbias run`.")],
    out: Annotated[
        Path | None, typer.Option("--out", help="Markdown file; default: RESULTS/card.md.")
    ] = None,
    model: Annotated[
        str | None, typer.Option(help="The model the card is about (needed when the study has several).")
    ] = None,
) -> None:
    """The "Bias, Risks, and Limitations" section of a Hugging Face model card, with model-index metadata."""
    from promptbias.report.card import write_card

    typer.echo(f"wrote {write_card(results, out, model)}")


suite_app = typer.Typer(
    no_args_is_help=True,
    help="Bias suites: build a YAML suite of templates and lexicons, check a suite, list the built-in ones.",
)
app.add_typer(suite_app, name="suite")


@suite_app.command("build")
def suite_build(
    source: Annotated[str, typer.Argument(help="A suite YAML file or builtin:NAME.")],
    out: Annotated[Path, typer.Option("--out", help="The suite TSV to write.")],
    seed: Annotated[int | None, typer.Option(help="Seed of the sampling; default: the file's seed.")] = None,
) -> None:
    """Fill the templates of a suite file into sentences; write them as a TSV (nothing on error)."""
    from promptbias.suites import build_suite, write_suite

    suite = build_suite(source, seed=seed)
    write_suite(suite, out)
    categories = suite["category"].nunique()
    noun = "category" if categories == 1 else "categories"
    typer.echo(f"wrote {out}: {len(suite):,} sentences in {categories} {noun}")


@suite_app.command("check")
def suite_check(
    source: Annotated[str, typer.Argument(help="czarnowska, builtin:NAME, a suite YAML or a suite TSV.")],
    data_dir: Annotated[Path | None, typer.Option(help="Data folder; default $PROMPTBIAS_DATA.")] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Exit with status 1 on warnings.")] = False,
) -> None:
    """Sentences per group and class, and warnings: incomplete templates, duplicates, imbalance."""
    from promptbias.suites import check_suite
    from promptbias.suites.loading import load_suite

    report = check_suite(load_suite(source, data_root=data_dir), source=source)
    typer.echo(report.render())
    if strict and report.warnings:
        raise typer.Exit(1)


@suite_app.command("list")
def suite_list() -> None:
    """The built-in suites, with their descriptions and files (copy one to start your own)."""
    from promptbias.suites import builtin_path, list_builtin, load_spec

    for name in list_builtin():
        path = builtin_path(name)
        typer.echo(f"{name}\n  {load_spec(path).description}\n  {path}")
