"""MLflow tracking of a small study, read back with MLflow's own client: one study run, one nested run per unit,
their params, per-step metrics and artifacts; a resumed study adds no run; a tracking failure is one warning;
a study without ``tracking:`` runs as before and never imports MLflow."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from mlflow import MlflowClient

from cli_helpers import snapshot
from promptbias.errors import InputWarning
from promptbias.study.config import TrackingEntry, load_study
from promptbias.study.plan import plan_units
from promptbias.study.runner import run_study, units_fingerprint
from promptbias.study.tracking import PARENT, UNITS_KEY, track_study, tracking_uri
from study_helpers import OVERRIDES, unit_outputs, write_study

RESULT_FILES = ("metrics/gaps.csv", "metrics/group_metrics.csv", "test_accuracy.csv")


@pytest.fixture(scope="module")
def tracked(tiny_models, tmp_path_factory):
    """A small study tracked into the default store (in its results folder), and that store's client."""
    folder = tmp_path_factory.mktemp("tracked")
    study = load_study(write_study(folder, {"llama": tiny_models["llama"]}, tracking=True, **OVERRIDES))
    run_study(study, progress=False)
    return study, MlflowClient(tracking_uri=tracking_uri(study))


def all_runs(client: MlflowClient, name: str) -> list:
    experiment = client.get_experiment_by_name(name)
    return client.search_runs([experiment.experiment_id], max_results=1000)


def test_the_study_is_one_run_with_a_nested_run_per_unit(tracked, tmp_path):
    study, client = tracked
    assert tracking_uri(study) == f"sqlite:///{study.results_dir / 'mlflow.db'}"
    runs = all_runs(client, "tiny")
    parents = [run for run in runs if PARENT not in run.data.tags]
    assert len(parents) == 1 and len(runs) == 3
    parent = parents[0]
    children = {
        run.data.params["unit_id"]: run for run in runs if run.data.tags.get(PARENT) == parent.info.run_id
    }
    units = {unit.unit_id: unit for unit in plan_units(study)}
    assert children.keys() == units.keys()
    accuracy = pd.read_csv(study.results_dir / "test_accuracy.csv")
    for unit_id, run in children.items():
        unit, folder = units[unit_id], study.results_dir / "units" / unit_id
        assert run.info.status == "FINISHED"
        assert run.data.params["fingerprint"] == unit.fingerprint(study)
        assert run.data.params["probe.kind"] == unit.probe.kind and run.data.params["seed"] == "0"
        row = accuracy[accuracy["probe"] == unit.probe.label].iloc[0]
        assert run.data.metrics["test_accuracy"] == row["test_accuracy"]
        assert run.data.metrics["test_macro_f1"] == row["test_macro_f1"]
        evaluation = json.loads((folder / "evaluation.json").read_text())
        assert run.data.metrics["test_neutral_share"] == evaluation["test"]["predicted_share"][1]
        names = {item.path for item in client.list_artifacts(run.info.run_id)}
        assert {"evaluation.json", "predictions.parquet"} <= names
    soft = children[next(unit_id for unit_id in units if "soft_prompt" in unit_id)]
    assert soft.data.params["probe.num_virtual_tokens"] == "4"
    log = [
        json.loads(line)
        for line in (study.results_dir / "units" / soft.data.params["unit_id"] / "train_log.jsonl")
        .read_text()
        .splitlines()
    ]
    loss = client.get_metric_history(soft.info.run_id, "train/loss")
    assert [(m.step, m.value) for m in loss] == [(e["step"], e["loss"]) for e in log if "loss" in e]
    assert [m.step for m in client.get_metric_history(soft.info.run_id, "train/dev_accuracy")] == [0, 2, 4]
    adapter = Path(client.download_artifacts(soft.info.run_id, "adapter", str(tmp_path)))
    prompt = study.results_dir / "units" / soft.data.params["unit_id"] / "prompt"
    assert (adapter / "adapter_model.safetensors").read_bytes() == (
        prompt / "adapter_model.safetensors"
    ).read_bytes()

    gaps = pd.read_csv(study.results_dir / "metrics" / "gaps.csv")
    scopes = gaps["scope"].fillna("all")  # a gap that could not be tested counts under "all"
    for (category, scope), rows in gaps.assign(scope=scopes).groupby(["category", "scope"]):
        assert parent.data.metrics[f"significant_gaps/{category}/{scope}"] == rows["significant"].sum()
        detectable = rows["min_detectable_gap"].max()
        if detectable == detectable:  # not NaN: a design that can detect no gap logs none
            assert parent.data.metrics[f"min_detectable_gap/{category}/{scope}"] == pytest.approx(detectable)
    assert parent.data.metrics["excluded_runs"] == 0
    assert parent.data.params["probes"] == "['soft_prompt', 'zero_shot']"
    names = {item.path for item in client.list_artifacts(parent.info.run_id, "report")}
    assert "report/index.html" in names


def test_a_resumed_study_adds_no_run(tracked):
    study, client = tracked
    before = {run.info.run_id for run in all_runs(client, "tiny")}
    run_study(study, progress=False)
    assert {run.info.run_id for run in all_runs(client, "tiny")} == before
    # a logging cut short: the study's run and one unit's run left RUNNING, the study's run without its mark
    parent = next(run for run in all_runs(client, "tiny") if PARENT not in run.data.tags)
    child = next(run for run in all_runs(client, "tiny") if PARENT in run.data.tags)
    for run in (parent, child):
        client.update_run(run.info.run_id, status="RUNNING")
    client.delete_tag(parent.info.run_id, UNITS_KEY)
    run_study(study, progress=False)
    after = all_runs(client, "tiny")
    assert len(after) == len(before) and all(run.info.status == "FINISHED" for run in after)
    assert parent.info.run_id in {run.info.run_id for run in after}  # the study's run completed
    assert child.info.run_id not in {run.info.run_id for run in after}  # the unit's run logged anew
    assert {run.data.params["unit_id"] for run in after if PARENT in run.data.tags} == {
        unit.unit_id for unit in plan_units(study)
    }
    assert UNITS_KEY in client.get_run(parent.info.run_id).data.tags


def test_a_tracking_failure_is_one_warning_and_leaves_the_results(tracked, tmp_path):
    study, _ = tracked
    (tmp_path / "file").write_text("not a folder")
    broken = study.model_copy(
        update={"tracking": TrackingEntry(uri=f"sqlite:///{tmp_path / 'file' / 'x.db'}")}
    )
    before = snapshot(study.results_dir)
    units = plan_units(study)
    with pytest.warns(InputWarning) as caught:
        track_study(broken, units, units_fingerprint(study.results_dir, units))
    assert len(caught) == 1 and "not logged" in str(caught[0].message)
    assert "\n" not in str(caught[0].message)
    assert snapshot(study.results_dir) == before


def test_a_tracking_uri_of_ones_own_gets_the_same_runs(tracked, tmp_path):
    """``--track URI`` (here a SQLite store elsewhere; a server's URI is used the same way)."""
    from promptbias.cli import with_tracking

    study, client = tracked
    elsewhere = with_tracking(study, f"sqlite:///{tmp_path / 'store.db'}")
    assert elsewhere.tracking == TrackingEntry(uri=f"sqlite:///{tmp_path / 'store.db'}")
    run_study(elsewhere, progress=False)
    mine = MlflowClient(tracking_uri=tracking_uri(elsewhere))
    runs, first = all_runs(mine, "tiny"), all_runs(client, "tiny")
    assert sorted(run.info.run_name for run in runs) == sorted(run.info.run_name for run in first)
    assert {run.info.run_id for run in runs}.isdisjoint(run.info.run_id for run in first)
    assert all(run.info.artifact_uri.startswith((tmp_path / "mlartifacts").as_uri()) for run in runs)


UNTRACKED = (
    "import sys\nfrom promptbias.study.config import load_study\nfrom promptbias.study.runner import run_study\n"
    "run_study(load_study(sys.argv[1]), progress=False)\n"
    "assert 'mlflow' not in sys.modules\n"
)


@pytest.mark.slow  # 20 s: a study run twice, with and without tracking (make test-slow)
def test_a_study_without_tracking_runs_as_before_without_mlflow(tiny_models, tracked, tmp_path):
    study, _ = tracked
    study_file = write_study(tmp_path, {"llama": tiny_models["llama"]}, **OVERRIDES)
    subprocess.run([sys.executable, "-c", UNTRACKED, str(study_file)], check=True, capture_output=True)
    results = tmp_path / "results"
    assert unit_outputs(results) == unit_outputs(study.results_dir)
    for name in RESULT_FILES:
        assert (results / name).read_bytes() == (study.results_dir / name).read_bytes()
    assert not (results / "mlflow.db").exists() and not (results / "mlartifacts").exists()
    assert json.loads((results / "study.json").read_text())["tracking"] is None
