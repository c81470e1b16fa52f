"""The Ray executor: a study's units spread over a Ray cluster, each model loaded once per worker.

Each model gets a worker (or several, ``per_model``), a Ray actor holding the GPUs and CPUs that model needs
(``resources``), which loads the model once and runs its share of that model's units one call at a time
through ``runner.run_model_units``, writing into the same results folder (on storage every node sees). Ray
restarts a worker that dies and runs its unit again, which resumes from the unit's last finished stage; a
unit that raises is retried as well; a unit still failing after its retries is reported, and the other units
go on. See docs/cluster.md.
"""

from __future__ import annotations

import sys
from collections import Counter
from dataclasses import dataclass, field

import pandas as pd
import ray
from ray.exceptions import RayActorError, RayError, RayTaskError

from promptbias.data.location import data_dir
from promptbias.study.config import ModelEntry, Study
from promptbias.study.resources import WorkerSettings, model_gpus
from promptbias.study.runner import UnitOutcome, load_for_units, run_model_units
from promptbias.study.unit import Unit


@dataclass(frozen=True)
class RaySettings:
    """Where the cluster is (None: ``$RAY_ADDRESS``, else a local one started for the run) and how hard to try."""

    address: str | None = None
    retries: int = 2
    worker: WorkerSettings = field(default_factory=WorkerSettings)


class ModelWorker:
    """One model, loaded once in a Ray worker process; runs that model's units, one call each."""

    def __init__(self, study: Study, model: ModelEntry) -> None:
        self.study = study
        self.loaded = load_for_units(study, model)

    @ray.method(retry_exceptions=True)
    def run(self, unit: Unit, suite: pd.DataFrame) -> str:
        run_model_units(self.study, [unit], suite, progress=False, loaded=self.loaded)
        return unit.unit_id


def for_workers(study: Study) -> Study:
    """The study with absolute results and data folders, as a worker on another node or folder must see them."""
    data = data_dir(study.data_dir)
    return study.model_copy(
        update={
            "output_dir": study.results_dir.absolute(),
            "data_dir": data.absolute() if data is not None else None,
        }
    )


def worker_model(model: ModelEntry, gpus: float) -> ModelEntry:
    """The model as the worker loads it: spread over its GPUs (device_map auto) when it has more than one."""
    if gpus > 1 and model.device_map is None:
        return model.model_copy(update={"device_map": "auto"})
    return model


def worker_gpus(study: Study, model: ModelEntry, settings: WorkerSettings, cluster_gpus: float) -> float:
    """The GPUs of ``model``'s worker; none when the cluster has no GPU and the study does not ask for one."""
    if model.gpus is None and cluster_gpus == 0:
        return 0.0
    return model_gpus(model, study.probes, study.scoring.batch_tokens, settings.gpu_memory_gb)


def error_line(error: RayError) -> str:
    """One line of what went wrong: the unit's own exception, the worker's failure to load its model, or why
    the worker died."""
    cause = error.cause if isinstance(error, RayTaskError) else None
    if cause is not None:
        text = str(cause).strip().splitlines()
        return f"{type(cause).__name__}: {text[0]}" if text else type(cause).__name__
    lines = [line.strip() for line in str(error).splitlines() if line.strip()] or ["no message"]
    if isinstance(error, RayActorError) and error.actor_init_failed:
        return f"the worker could not start: {lines[-1]}"  # the last line of the constructor's traceback
    return f"{type(error).__name__}: {lines[0]}"


def run_ray(
    study: Study,
    groups: list[list[Unit]],
    suite: pd.DataFrame,
    progress: bool = True,
    settings: RaySettings | None = None,
) -> list[UnitOutcome]:
    """The Ray executor: ``groups`` (the pending units, by model) on the cluster; how each unit ended."""
    settings = settings or RaySettings()
    if not any(groups):
        return []
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=settings.address)
    try:
        return _run_on_cluster(for_workers(study), groups, suite, progress, settings)
    finally:
        if started_here:
            ray.shutdown()


def _run_on_cluster(
    study: Study, groups: list[list[Unit]], suite: pd.DataFrame, progress: bool, settings: RaySettings
) -> list[UnitOutcome]:
    cluster_gpus = ray.cluster_resources().get("GPU", 0)
    suite_ref = ray.put(suite)
    workers: list[ray.actor.ActorHandle] = []
    calls: dict[ray.ObjectRef, tuple[Unit, int]] = {}
    for units in groups:
        first = len(workers)
        workers += start_workers(study, units, settings, cluster_gpus)
        for index, unit in enumerate(units):
            worker = first + index % (len(workers) - first)
            calls[workers[worker].run.remote(unit, suite_ref)] = (unit, worker)
    try:
        outcomes = collect(calls, workers, progress)
    finally:
        for worker in workers:
            ray.kill(worker)
    return [outcomes[unit.unit_id] for units in groups for unit in units]


def start_workers(
    study: Study, units: list[Unit], settings: RaySettings, cluster_gpus: float
) -> list[ray.actor.ActorHandle]:
    """The workers of one model's ``units``, with the resources and the retries they get."""
    gpus = worker_gpus(study, units[0].model, settings.worker, cluster_gpus)
    options = ray.remote(ModelWorker).options(
        num_gpus=gpus,
        num_cpus=settings.worker.cpus,
        max_restarts=settings.retries * len(units),  # each unit may bring its worker down `retries` times
        max_task_retries=settings.retries,
    )
    model = worker_model(units[0].model, gpus)
    return [options.remote(study, model) for _ in range(min(settings.worker.per_model, len(units)))]


def collect(
    calls: dict[ray.ObjectRef, tuple[Unit, int]], workers: list[ray.actor.ActorHandle], progress: bool
) -> dict[str, UnitOutcome]:
    """Each unit's outcome as it ends (one line each); a worker whose units all ended gives its resources back."""
    left = Counter(worker for _, worker in calls.values())
    outcomes: dict[str, UnitOutcome] = {}
    waiting = list(calls)
    while waiting:
        finished, waiting = ray.wait(waiting, num_returns=1)
        unit, worker = calls[finished[0]]
        try:
            ray.get(finished[0])
            outcome = UnitOutcome(unit.unit_id)
        except RayError as error:
            outcome = UnitOutcome(unit.unit_id, error_line(error))
        outcomes[unit.unit_id] = outcome
        left[worker] -= 1
        if left[worker] == 0:
            ray.kill(workers[worker])
        if progress:
            state = f"failed: {outcome.error}" if outcome.failed else "done"
            print(f"[{len(outcomes)}/{len(calls)}] {unit.unit_id} {state}", file=sys.stderr, flush=True)
    return outcomes
