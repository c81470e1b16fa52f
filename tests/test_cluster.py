"""Studies on a local Ray cluster (2 CPUs, tiny models): the serial run's results, a worker killed mid-unit,
a unit that fails; and what the plan says a unit needs on a cluster."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import psutil
import pytest
import ray
import torch
import yaml
from typer.testing import CliRunner

from promptbias import store
from promptbias.cli import app
from promptbias.study.cluster import RaySettings, run_ray
from promptbias.study.config import load_study
from promptbias.study.plan import pending_units, plan_units, resolve_suite
from promptbias.study.runner import IncompleteStudy, group_by_model, run_study, run_units
from random_model import RANDOM_MODEL

PAPER = Path(__file__).resolve().parents[1] / "configs" / "paper.yaml"


def write_study(folder: Path, models: list[Path], probes: list[dict] | None = None) -> Path:
    """Two probes by two seeds on each model: the soft prompt tunes long enough to be killed mid-way."""
    study = {
        "name": "tiny",
        "output_dir": "results",
        "models": [{"name": str(path), "dtype": "float32", "device": "cpu"} for path in models],
        "datasets": [{"name": "sst5", "train_size": 48, "dev_size": 16, "test_size": 24}],
        "probes": probes
        or [
            {
                "kind": "soft_prompt",
                "num_virtual_tokens": 4,
                "max_steps": 16,
                "batch_size": 8,
                "eval_every": 4,
                **RANDOM_MODEL,
            },
            {"kind": "few_shot", "template": "Review: {text}\nSentiment:", "shots": 3},
        ],
        "seeds": [0, 1],
        "suite": {"source": "czarnowska", "templates_per_category": 1},
        "metrics": {"runs": {"keep_failed": True}},  # a random model's prompts never learn
    }
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "study.yaml"
    path.write_text(yaml.safe_dump(study))
    return path


def unit_outputs(results: Path) -> dict[str, bytes]:
    """The bytes of every unit's predictions, evaluation and prompt, by relative path."""
    patterns = ("predictions.parquet", "evaluation.json", "prompt/adapter_model.safetensors")
    files = sorted(path for pattern in patterns for path in results.glob(f"units/*/{pattern}"))
    return {str(path.relative_to(results)): path.read_bytes() for path in files}


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def models(tiny_models) -> list[Path]:
    return [tiny_models["llama"], tiny_models["gpt2"]]


@pytest.fixture(scope="module")
def serial_outputs(models, tmp_path_factory) -> dict[str, bytes]:
    """The study run by the local executor, in this process, with the workers' one torch thread: CPU kernels
    sum in an order that depends on the number of threads, so equal bytes need equal threads."""
    study = load_study(write_study(tmp_path_factory.mktemp("serial"), models))
    suite = resolve_suite(study)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        run_units(study, group_by_model(pending_units(study)), suite, progress=False)
    finally:
        torch.set_num_threads(threads)
    outputs = unit_outputs(study.results_dir)
    assert len(outputs) == 2 * (2 * 3 + 2 * 2)  # per model: 2 soft prompts x 3 files, 2 few-shot x 2 files
    return outputs


@pytest.mark.slow  # 30 s: a local Ray cluster runs a study (make test-slow)
def test_ray_run_gives_the_serial_results(ray_cluster, models, serial_outputs, tmp_path):
    study = load_study(write_study(tmp_path, models))
    summary = run_study(study, progress=False, executor=partial(run_ray, settings=RaySettings(retries=1)))
    assert unit_outputs(study.results_dir) == serial_outputs
    assert "Test accuracy per run" in summary and "Failed" not in summary
    assert (study.results_dir / "report" / "index.html").exists()


def kill_a_worker_when(ready: Callable[[], bool], killed: list[int], stop: threading.Event) -> None:
    """Once ``ready()``, SIGKILL a Ray worker process that is running a unit (its title: ray::ModelWorker.run)."""
    while not stop.is_set() and not killed:
        if ready():
            for process in psutil.Process().children(recursive=True):
                try:
                    title = process.cmdline()
                except psutil.Error:
                    continue
                if title and title[0].startswith("ray::ModelWorker.run"):
                    process.kill()
                    killed.append(process.pid)
                    return
        time.sleep(0.005)


@pytest.mark.slow  # 15 s: a Ray worker killed mid-unit (make test-slow)
def test_a_worker_killed_mid_unit_is_restarted_and_every_unit_completes(
    ray_cluster, models, serial_outputs, tmp_path
):
    study = load_study(write_study(tmp_path, models))
    units_dir = study.results_dir / "units"

    def tuning_under_way() -> bool:  # a checkpoint written, the prompt not saved yet
        return any(units_dir.glob(f"*soft_prompt*/tuning_state/{store.MANIFEST}"))

    killed: list[int] = []
    stop = threading.Event()
    watcher = threading.Thread(target=kill_a_worker_when, args=(tuning_under_way, killed, stop))
    watcher.start()
    suite = resolve_suite(study)
    try:
        outcomes = run_ray(study, group_by_model(pending_units(study)), suite, False, RaySettings(retries=2))
    finally:
        stop.set()
        watcher.join()
    assert killed, "no worker was caught mid-unit"
    assert [outcome.error for outcome in outcomes] == [None] * 8
    assert unit_outputs(study.results_dir) == serial_outputs


@pytest.mark.slow  # 20 s: Ray retries a failing unit (make test-slow)
def test_a_unit_that_keeps_failing_is_reported_and_the_others_complete(ray_cluster, tiny_models, tmp_path):
    broken = tmp_path / "broken-model"
    shutil.copytree(tiny_models["gpt2"], broken)
    (broken / "model.safetensors").write_bytes(b"not a safetensors file")
    zero_shot = [{"kind": "zero_shot", "template": "Review: {text}\nSentiment:"}]
    study_file = write_study(tmp_path, [tiny_models["llama"], broken], probes=zero_shot)
    study = load_study(study_file)

    with pytest.raises(IncompleteStudy) as raised:
        run_study(study, progress=False, executor=partial(run_ray, settings=RaySettings(retries=1)))
    good, bad = plan_units(study)
    assert [(outcome.unit_id, outcome.error[:26]) for outcome in raised.value.failed] == [
        (bad.unit_id, "the worker could not start")
    ]
    assert "Failed units (1)" in raised.value.summary and bad.unit_id in raised.value.summary
    assert "Test accuracy per run" in raised.value.summary  # the metrics cover the complete unit
    assert store.is_complete(study.results_dir / "units" / good.unit_id)

    result = CliRunner().invoke(
        app, ["run", str(study_file), "--executor", "ray", "--quiet", "--retries", "0"]
    )
    assert result.exit_code == 1
    assert f"{bad.unit_id}: the worker could not start" in result.output


def test_the_paper_grid_dry_run_shows_what_each_unit_needs():
    result = CliRunner().invoke(app, ["run", str(PAPER), "--executor", "ray", "--dry-run"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("Study 'paper': 176 units")
    header = lines[2].split()
    assert header[:1] == ["unit"] and {"gpus", "cpus", "memory_gb", "gpu_minutes"} <= set(header)
    rows = {line.split()[0]: dict(zip(header, line.split(), strict=True)) for line in lines[3:179]}
    soft_13b = rows["facebook-opt-13b__sst5__soft_prompt__seed0"]
    assert float(soft_13b["gpus"]) == 0.75  # all three probes of a 13B model fit in one 80 GB GPU
    assert 30 < float(soft_13b["memory_gb"]) < 80
    assert float(rows["facebook-galactica-125m__sst5__zero_shot__seed0"]["gpus"]) == 0.25
    assert lines[-1].startswith("Ray: 8 workers (1 per model)")


def test_the_local_dry_run_has_no_cluster_columns():
    result = CliRunner().invoke(app, ["run", str(PAPER), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "gpus" not in result.output.splitlines()[2] and "Ray:" not in result.output
