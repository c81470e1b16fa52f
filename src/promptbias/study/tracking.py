"""MLflow tracking (the extra ``promptbias[mlflow]``): a finished study logged as one run, each unit as a run
nested in it.

A unit's run has its settings as params; dev and test accuracy, test macro-F1 and the share of test sentences
predicted neutral, and the training loss and dev accuracy per step, as metrics; its adapter, evaluation and
predictions as artifacts. The study's run has the counts of significant gaps per attribute and scope and the
minimum detectable gaps as metrics, and the report, the failed runs (if any) and the tables as artifacts.

Logging is idempotent: the study's run is found by its key (the results folder and the study's settings), a
unit's run by the unit's fingerprint, so a resumed study adds no run; the study's metrics are logged again
only when its units changed. The default store is SQLite in the results folder; any tracking URI (a server)
works the same. Imported only when a study asks for tracking, so that MLflow costs nothing otherwise; any
failure is one warning, after the study's own results are written.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mlflow import MlflowClient
from mlflow.entities import Metric, Param, Run, RunStatus

from promptbias.errors import warn_input
from promptbias.labels import LABELS
from promptbias.report.findings import excluded_runs, verdicts
from promptbias.report.results import load_results
from promptbias.study.config import Study
from promptbias.study.unit import Unit

SQLITE = "sqlite:///"
STORE_FILE = "mlflow.db"
ARTIFACTS_DIR = "mlartifacts"
STUDY_KEY = "promptbias.study_key"
UNITS_KEY = "promptbias.units"
FINGERPRINT = "promptbias.fingerprint"
PARENT = "mlflow.parentRunId"
METRICS_BATCH, PARAMS_BATCH = 1000, 100  # the most a log_batch call takes
FINISHED = RunStatus.to_string(RunStatus.FINISHED)


def tracking_uri(study: Study) -> str:
    """The study's tracking URI: its own, else a SQLite store in its results folder."""
    assert study.tracking is not None
    if study.tracking.uri is not None:
        return study.tracking.uri
    return f"{SQLITE}{(study.results_dir / STORE_FILE).absolute()}"


def study_key(study: Study) -> str:
    """What identifies a study's run: its results folder and settings (tracking aside)."""
    described = {
        "results": str(study.results_dir.absolute()),
        "study": study.model_dump(mode="json", exclude={"tracking"}),
    }
    return hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()[:16]


def track_study(study: Study, units: list[Unit], units_state: str) -> None:
    """Log ``study`` and its complete ``units``; a failure is one warning (the results are already written)."""
    uri = tracking_uri(study)
    try:
        log_study(MlflowClient(tracking_uri=uri), study, units, units_state)
    except Exception as error:  # any failure of the tracker leaves the study's own results as they are
        line = (str(error).strip().splitlines() or [""])[0]
        warn_input(
            f"tracking {uri}", f"not logged ({type(error).__name__}: {line}); the results are unaffected"
        )


def experiment_id(client: MlflowClient, study: Study) -> str:
    """The study's experiment, created when missing."""
    assert study.tracking is not None
    name = study.tracking.experiment or study.name
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    return client.create_experiment(name, artifact_location=artifact_location(tracking_uri(study)))


def artifact_location(uri: str) -> str | None:
    """Where a new experiment keeps its artifacts: beside a SQLite store (the default one: in the results
    folder), else where the tracking server puts them."""
    if not uri.startswith(SQLITE):
        return None
    return (Path(uri.removeprefix(SQLITE)).parent / ARTIFACTS_DIR).absolute().as_uri()


def finished_runs(client: MlflowClient, experiment: str, query: str) -> Iterator[Run]:
    """The finished runs of ``experiment`` that match ``query``; unfinished ones (a logging cut short) deleted."""
    for run in client.search_runs([experiment], filter_string=query, max_results=50000):
        if run.info.status == FINISHED:
            yield run
        else:
            client.delete_run(run.info.run_id)


def log_study(client: MlflowClient, study: Study, units: list[Unit], units_state: str) -> None:
    """The study's run (found by its key, or new; one cut short is completed) with a nested run per unit not
    logged yet, and the study's findings; nothing when it is logged with these units already."""
    experiment = experiment_id(client, study)
    key = study_key(study)
    found = next(iter(client.search_runs([experiment], f"tags.`{STUDY_KEY}` = '{key}'", max_results=1)), None)
    finished = found is not None and found.info.status == FINISHED
    if found is not None and finished and found.data.tags.get(UNITS_KEY) == units_state:
        return  # logged as it is
    run_id = found.info.run_id if found else start_run(client, experiment, study.name, {STUDY_KEY: key})
    if not finished:  # params are logged once (the same value again is accepted)
        log_all(client, run_id, params=study_params(study))
    logged = {
        run.data.tags[FINGERPRINT]
        for run in finished_runs(client, experiment, f"tags.`{PARENT}` = '{run_id}'")
        if FINGERPRINT in run.data.tags
    }
    for unit in units:
        if unit.fingerprint(study) not in logged:
            log_unit(client, experiment, run_id, study, unit)
    log_findings(client, run_id, study.results_dir)
    client.set_tag(run_id, UNITS_KEY, units_state)
    client.set_terminated(run_id, FINISHED)


def start_run(client: MlflowClient, experiment: str, name: str, tags: dict[str, str]) -> str:
    """A new run (RUNNING until ``set_terminated``), its id."""
    return client.create_run(experiment, run_name=name, tags=tags).info.run_id


def log_all(
    client: MlflowClient,
    run_id: str,
    params: dict[str, Any] | None = None,
    metrics: list[Metric] | None = None,
) -> None:
    """``params`` and ``metrics``, in as many batches as they need."""
    entries = [Param(name, str(value)) for name, value in (params or {}).items()]
    for start in range(0, len(entries), PARAMS_BATCH):
        client.log_batch(run_id, params=entries[start : start + PARAMS_BATCH])
    metrics = metrics or []
    for start in range(0, len(metrics), METRICS_BATCH):
        client.log_batch(run_id, metrics=metrics[start : start + METRICS_BATCH])


def flat(prefix: str, value: Any) -> dict[str, Any]:
    """A nested mapping as ``prefix.key.subkey`` -> value."""
    if not isinstance(value, dict):
        return {prefix: value}
    return {
        name: item for key, inner in value.items() for name, item in flat(f"{prefix}.{key}", inner).items()
    }


def study_params(study: Study) -> dict[str, Any]:
    """The study's settings but its units' own (logged in each unit's run)."""
    described = study.model_dump(mode="json", include={"name", "suite", "metrics", "scoring", "label_words"})
    described["models"] = [model.name for model in study.models]
    described["datasets"] = [dataset.name for dataset in study.datasets]
    described["probes"] = [probe.label for probe in study.probes]
    described["seeds"] = study.seeds
    return {name: value for key, inner in described.items() for name, value in flat(key, inner).items()}


def unit_params(study: Study, unit: Unit) -> dict[str, Any]:
    described = {
        "model": unit.model.model_dump(mode="json", exclude={"gpus", "device_map"}),
        "dataset": unit.dataset.model_dump(mode="json"),
        "probe": unit.probe.model_dump(mode="json"),
    }
    params = {name: value for key, inner in described.items() for name, value in flat(key, inner).items()}
    return {**params, "seed": unit.seed, "unit_id": unit.unit_id, "fingerprint": unit.fingerprint(study)}


def unit_metrics(folder: Path) -> list[Metric]:
    """Test accuracy, macro-F1 and neutral share, dev accuracy of the prompt chosen, and per step the
    training loss and dev accuracy (``train_log.jsonl``)."""
    now = int(time.time() * 1000)
    evaluation = json.loads((folder / "evaluation.json").read_text(encoding="utf-8"))
    test = evaluation["test"]
    values = {
        "test_accuracy": test["accuracy"],
        "test_macro_f1": test["macro_f1"],
        "test_neutral_share": test["predicted_share"][LABELS.index("neutral")],
    }
    if evaluation.get("validation", {}).get("accuracy") is not None:
        values["dev_accuracy"] = evaluation["validation"]["accuracy"]
    metrics = [Metric(name, float(value), now, 0) for name, value in values.items()]
    log = folder / "train_log.jsonl"
    steps = (
        [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()] if log.exists() else []
    )
    for entry in steps:
        for source, name in (("loss", "train/loss"), ("dev_accuracy", "train/dev_accuracy")):
            if entry.get(source) is not None:
                metrics.append(Metric(name, float(entry[source]), now, int(entry["step"])))
    return metrics


def log_unit(client: MlflowClient, experiment: str, parent: str, study: Study, unit: Unit) -> None:
    """One unit as a finished run nested in ``parent``: params, metrics, artifacts."""
    folder = study.results_dir / "units" / unit.unit_id
    run_id = start_run(
        client, experiment, unit.unit_id, {PARENT: parent, FINGERPRINT: unit.fingerprint(study)}
    )
    log_all(client, run_id, params=unit_params(study, unit), metrics=unit_metrics(folder))
    for name in ("evaluation.json", "unit.json", "train_log.jsonl", "predictions.parquet"):
        if (folder / name).exists():
            client.log_artifact(run_id, str(folder / name))
    if (folder / "prompt").is_dir():
        client.log_artifacts(run_id, str(folder / "prompt"), artifact_path="adapter")
    client.set_terminated(run_id, FINISHED)


def metric_key(*parts: str) -> str:
    """A metric name MLflow accepts, from ``parts`` joined by '/'."""
    return "/".join(re.sub(r"[^A-Za-z0-9_\-. ]+", "_", part) for part in parts)


def findings_metrics(folder: Path) -> list[Metric]:
    """Per attribute and scope, the significant gaps (over every model, training set and probe) and the
    largest minimum detectable gap; and the number of failed runs."""
    now = int(time.time() * 1000)
    found = verdicts(load_results(folder).gaps, keys=("category", "scope"))
    metrics = [Metric("excluded_runs", float(len(excluded_runs(folder))), now, 0)]
    for row in found.itertuples(index=False):
        metrics.append(
            Metric(metric_key("significant_gaps", row.category, row.scope), float(row.n_significant), now, 0)
        )
        if row.min_detectable_gap == row.min_detectable_gap:  # not NaN
            metrics.append(
                Metric(
                    metric_key("min_detectable_gap", row.category, row.scope),
                    float(row.min_detectable_gap),
                    now,
                    0,
                )
            )
    return metrics


def log_findings(client: MlflowClient, run_id: str, folder: Path) -> None:
    """The study's verdicts as metrics; its report, tables and failed runs as artifacts."""
    log_all(client, run_id, metrics=findings_metrics(folder))
    client.log_artifacts(run_id, str(folder / "report"), artifact_path="report")
    for name in ("test_accuracy.csv", "metrics/gaps.csv", "metrics/summary.json"):
        client.log_artifact(run_id, str(folder / name), artifact_path="metrics" if "/" in name else None)
    failed = excluded_runs(folder)
    if failed:
        client.log_dict(run_id, {"excluded_runs": failed}, "excluded_runs.json")
