"""The soft prompt as an instrument: a learning rate relative to the embeddings, the failure rule fixed in
advance (restarts from derived seeds, a run that still fails marked failed), resuming across a restart, and
the run selection that keeps failed runs out of the verdicts and discloses every run it leaves out."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from cli_helpers import cli
from promptbias.data.training import load_split, subsample
from promptbias.lm.model import load_model
from promptbias.lm.prompt_format import PromptTemplate
from promptbias.lm.verbalizer import build_verbalizer
from promptbias.metrics.run_selection import RunSelection, select_runs
from promptbias.probes.prompt_selection import kept_check
from promptbias.probes.soft_prompt import SoftPromptConfig
from promptbias.probes.tuning import (
    attempt_seed,
    check_step,
    class_weights,
    embedding_rms,
    failure_reason,
    tune_soft_prompt,
)
from promptbias.study.config import load_study
from promptbias.study.runner import run_study

BASELINE = {"written_accuracy": 0.64, "written_macro_f1": 0.45, "largest_class": 0.405}
TEMPLATE = PromptTemplate.parse("Review: {text}\nSentiment:")


def scores(accuracy: float, top: float) -> dict[str, float]:
    return {"dev_accuracy": accuracy, "dev_macro_f1": 0.5, "dev_neutral_share": 0.1, "dev_top_share": top}


def test_the_rule_fails_a_prompt_no_better_than_its_written_prompt_or_one_that_answers_one_class():
    assert failure_reason(scores(0.70, 0.50), BASELINE) is None
    assert "no better than 0.640" in failure_reason(scores(0.64, 0.50), BASELINE)  # equal is not better
    assert "no better than 0.640" in failure_reason(scores(0.41, 0.89), BASELINE)
    assert "one class for 95%" in failure_reason(scores(0.80, 0.95), BASELINE)
    weak = {**BASELINE, "written_accuracy": 0.30}  # a written prompt below the largest class: that is the bar
    assert "no better than 0.405" in failure_reason(scores(0.40, 0.60), weak)


def test_restart_seeds_are_derived_from_the_run_seed_and_differ():
    assert attempt_seed(7, 0) == 7
    seeds = [attempt_seed(seed, attempt) for seed in range(20) for attempt in (1, 2)]
    assert len(set(seeds)) == len(seeds) and attempt_seed(3, 1) == attempt_seed(3, 1)
    assert set(seeds).isdisjoint(range(20))


@pytest.mark.parametrize(
    ("total", "eval_every", "check_at", "expected"),
    [(63, 24, 0.25, 24), (8, 2, 0.25, 2), (10, 3, 0.5, 6), (5, 50, 0.25, 5), (100, 10, 0.25, 30)],
)
def test_the_early_check_is_the_first_dev_check_at_or_after_its_share(total, eval_every, check_at, expected):
    settings = SoftPromptConfig(eval_every=eval_every, check_at=check_at)
    assert check_step(total, settings) == expected


def test_class_weights_give_every_class_the_same_total_weight():
    weights = class_weights(np.array([0, 0, 0, 1, 2, 2]))
    assert torch.allclose(weights, torch.tensor([6 / 9, 6 / 3, 6 / 6]))
    assert torch.allclose(class_weights(np.array([0, 2])), torch.tensor([1.0, 1.0, 1.0]))  # absent class: 1
    halfway = class_weights(np.array([0, 0, 0, 1, 2, 2]), power=0.5)
    assert torch.allclose(halfway, torch.tensor([(6 / 9) ** 0.5, 2**0.5, 1.0]))


@pytest.mark.parametrize("architecture", ["llama", "gemma3"])
def test_the_learning_rate_scale_is_the_rms_of_the_embeddings_as_the_model_reads_them(
    tiny_models, architecture
):
    lm = load_model(str(tiny_models[architecture]), dtype="float32", device="cpu")
    weight = lm.model.get_input_embeddings().weight.detach()
    scale = (
        lm.model.config.hidden_size**0.5 if architecture == "gemma3" else 1.0
    )  # Gemma's embedding multiplier
    direct = float((weight * scale).pow(2).mean().sqrt())
    assert embedding_rms(lm) == pytest.approx(direct, rel=0.02)  # a spread sample of ids against every row


def tune(lm, settings, seed=0, **options):
    train = subsample(load_split("sst5", "train"), 32, seed)
    dev = subsample(load_split("sst5", "validation"), 16, 0)
    return tune_soft_prompt(
        lm, build_verbalizer(lm.tokenizer), TEMPLATE, train, dev, settings, seed, **options
    )


FORCED = {"num_virtual_tokens": 2, "max_steps": 4, "batch_size": 8, "eval_every": 2, "learning_rate": 1e-9}


def test_a_prompt_that_cannot_learn_restarts_twice_then_is_marked_failed(tiny_models):
    lm = load_model(str(tiny_models["llama"]), dtype="float32", device="cpu")
    result = tune(lm, SoftPromptConfig(**FORCED))  # a learning rate that cannot move the prompt
    assert [event["restart"] for event in result.restarts] == [1, 2]
    assert [event["seed"] for event in result.restarts] == [attempt_seed(0, 1), attempt_seed(0, 2)]
    assert all(event["after_step"] == 2 for event in result.restarts)  # the check at half of 4 steps: step 2
    assert result.failed is not None and ("no better than" in result.failed or "one class" in result.failed)
    logged = [record for record in result.history if "restart" in record]
    assert logged == result.restarts
    assert {record.get("attempt", 0) for record in result.history if "step" in record} == {0, 1, 2}
    assert result.outcome()["failed"] == result.failed
    again = tune(lm, SoftPromptConfig(**FORCED, max_restarts=0))
    assert again.restarts == [] and again.failed is not None  # no restarts allowed: failed at once


class Killed(Exception):
    pass


# balanced with a tolerance of 0.99: every check stays a candidate, so the checkpoint holds several prompts
@pytest.mark.parametrize("selection", [{}, {"select_by": "balanced", "select_tolerance": 0.99}])
def test_a_run_killed_after_a_restart_resumes_to_the_same_log_and_prompt(tiny_models, tmp_path, selection):
    lm = load_model(str(tiny_models["llama"]), dtype="float32", device="cpu")
    settings = SoftPromptConfig(**{**FORCED, "max_steps": 6, **selection})
    whole = tune(lm, settings, checkpoint_dir=tmp_path / "whole")

    def kill(record):  # in the last attempt, after its step-2 checkpoint and before its step-4 one
        if record.get("attempt") == 2 and record.get("step") == 4:
            raise Killed

    with pytest.raises(Killed):
        tune(lm, settings, checkpoint_dir=tmp_path / "state", on_log=kill)
    resumed = tune(lm, settings, checkpoint_dir=tmp_path / "state")
    assert json.dumps(resumed.history, sort_keys=True) == json.dumps(
        whole.history, sort_keys=True
    )  # as logged
    assert resumed.restarts == whole.restarts and resumed.failed == whole.failed
    assert torch.equal(resumed.prompt, whole.prompt)
    last = [record for record in whole.history if record.get("attempt") == 2 and "dev_accuracy" in record]
    rule = settings.select_by
    assert whole.best_step == last[kept_check(last, rule, settings.select_tolerance)]["step"]


def write_unit(
    folder: Path, run_id: str, seed: int, dev: float | None, test: float, failed: str | None
) -> Path:
    folder.mkdir(parents=True)
    record = {"run_id": run_id, "model": "m", "dataset": "sst5", "probe": "soft_prompt", "seed": seed}
    if failed is not None or dev is not None:
        record["tuning"] = {"restarts": [{}, {}] if failed else [], "failed": failed}
    (folder / "unit.json").write_text(json.dumps(record))
    evaluation = {
        "test": {"accuracy": test},
        **({"validation": {"accuracy": dev}} if dev is not None else {}),
    }
    (folder / "evaluation.json").write_text(json.dumps(evaluation))
    path = folder / "predictions.parquet"
    path.write_bytes(b"")
    return path


def test_failed_runs_are_left_out_and_listed_unless_kept(tmp_path):
    files = [
        write_unit(tmp_path / "a", "seed0", 0, 0.72, 0.73, None),
        write_unit(
            tmp_path / "b", "seed1", 1, 0.40, 0.419, "predicts one class for 96% of the dev sentences"
        ),
        write_unit(tmp_path / "c", "seed2", 2, 0.70, 0.71, None),
    ]
    kept, excluded = select_runs(files, RunSelection())
    assert kept == [files[0], files[2]]
    assert [(run["run_id"], run["test_accuracy"], run["restarts"]) for run in excluded] == [
        ("seed1", 0.419, 2)
    ]
    assert excluded[0]["reason"] == "failed: predicts one class for 96% of the dev sentences"
    assert select_runs(files, RunSelection(keep_failed=True)) == (files, [])


def test_the_papers_best_runs_selection_ranks_by_dev_accuracy_and_says_what_it_drops(tmp_path):
    files = [
        write_unit(tmp_path / f"u{seed}", f"seed{seed}", seed, dev, 0.7, None)
        for seed, dev in enumerate([0.70, 0.74, 0.70, 0.69, 0.75])
    ]
    other_tool = tmp_path / "reference.tsv"  # a prediction file outside a unit folder is always read
    other_tool.write_text("")
    kept, excluded = select_runs([*files, other_tool], RunSelection(best=3))
    assert kept == [files[0], files[1], files[4], other_tool]  # 0.75, 0.74, then 0.70 of the lower seed
    assert [run["run_id"] for run in excluded] == ["seed2", "seed3"]
    assert excluded[0]["reason"] == "not among the best 3 runs by dev accuracy (0.700)"


def test_a_study_leaves_a_failed_prompt_out_of_every_verdict_and_names_it(tiny_models, tmp_path):
    study_file = tmp_path / "study.yaml"
    study_file.write_text(
        yaml.safe_dump(
            {
                "name": "forced",
                "output_dir": "results",
                "models": [{"name": str(tiny_models["llama"]), "dtype": "float32", "device": "cpu"}],
                "datasets": [{"name": "sst5", "train_size": 32, "dev_size": 16, "test_size": 24}],
                "probes": [
                    {"kind": "soft_prompt", **FORCED},
                    {"kind": "zero_shot", "template": "{text}\nSentiment:"},
                ],
                "seeds": [0],
                "suite": {"source": "czarnowska", "templates_per_category": 1},
            }
        )
    )
    study = load_study(study_file)
    summary = run_study(study, progress=False)
    results = study.results_dir
    unit = json.loads(next((results / "units").glob("*soft_prompt*")).joinpath("unit.json").read_text())
    assert len(unit["tuning"]["restarts"]) == 2 and unit["tuning"]["failed"]
    metrics = json.loads((results / "metrics" / "summary.json").read_text())
    assert [run["probe"] for run in metrics["excluded_runs"]] == ["soft_prompt"]
    assert metrics["excluded_runs"][0]["reason"] == f"failed: {unit['tuning']['failed']}"
    gaps = pd.read_csv(results / "metrics" / "gaps.csv")
    assert set(gaps["probe"]) == {"zero_shot"}  # the failed prompt's gaps are in no verdict
    differences = pd.read_csv(results / "metrics" / "probe_differences.csv")
    assert differences.empty or "soft_prompt" not in set(differences["probe"]) | set(
        differences["reference_probe"]
    )  # nor in a comparison with the written probe
    accuracy = pd.read_csv(results / "test_accuracy.csv").set_index("probe")
    assert accuracy.loc["soft_prompt", "failed"] and accuracy.loc["soft_prompt", "restarts"] == 2
    page = (results / "report" / "index.html").read_text()
    assert "Left out of every verdict" in page and unit["tuning"]["failed"] in page
    assert "Left out of every verdict, comparison and figure:" in summary and "seed0" in summary


def test_metrics_refuse_a_selection_that_keeps_nothing_with_one_line(tmp_path, monkeypatch, capsys):
    failed = write_unit(
        tmp_path / "u", "seed0", 0, 0.40, 0.41, "predicts one class for 99% of the dev sentences"
    )
    code, _, err = cli(
        monkeypatch, capsys, "metrics", failed.parent, "--out", tmp_path / "m", "--best-runs", "0"
    )
    assert (code, err) == (2, "promptbias: error: --best-runs: Input should be greater than 0\n")
    code, _, err = cli(monkeypatch, capsys, "metrics", failed.parent, "--out", tmp_path / "m")
    assert code == 2 and err.startswith(
        f"promptbias: error: {failed.parent}: every run is left out (failed: "
    )
    assert err.endswith("; see --keep-failed\n") and err.count("\n") == 1 and not (tmp_path / "m").exists()
