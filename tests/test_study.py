"""Studies end to end on tiny models: the plan, the results folder, resuming, and SIGKILL at several points."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from promptbias import store
from promptbias.study.config import load_study
from promptbias.study.plan import plan_text, plan_units
from promptbias.study.runner import run_study
from random_model import RANDOM_MODEL
from study_helpers import run_until, unit_outputs, write_study


def test_plan_expands_units_and_zero_shot_runs_once(tiny_models, tmp_path):
    study = load_study(write_study(tmp_path, {"llama": tiny_models["llama"]}))
    units = plan_units(study)
    assert [(u.probe.label, u.seed) for u in units] == [
        ("soft_prompt", 0),
        ("soft_prompt", 1),
        ("zero_shot", 0),
        ("few_shot", 0),
        ("few_shot", 1),
    ]
    assert study.results_dir == tmp_path / "results"
    text = plan_text(study)
    assert "5 units" in text and "soft_prompt" in text


def test_study_end_to_end_then_second_run_does_no_work(tiny_models, tmp_path):
    study = load_study(write_study(tmp_path, {"llama": tiny_models["llama"], "gpt2": tiny_models["gpt2"]}))
    summary = run_study(study, progress=False)
    results = study.results_dir
    units = sorted(p.name for p in (results / "units").iterdir())
    assert len(units) == 10
    assert all(store.is_complete(results / "units" / unit) for unit in units)
    accuracy = pd.read_csv(results / "test_accuracy.csv")
    assert len(accuracy) == 10 and accuracy["test_n"].eq(24).all()
    comparison = pd.read_csv(results / "metrics" / "probe_differences.csv")
    assert set(comparison["probe"]) == {"zero_shot", "few_shot"}
    assert set(comparison["reference_probe"]) == {"soft_prompt"}
    assert "Probe differences against soft_prompt" in summary or "between a probe and soft_prompt" in summary
    assert (results / "report" / "index.html").exists()
    assert "Test accuracy per run" in summary and "gap" in summary

    before = {path: path.stat().st_mtime_ns for path in results.rglob("*") if path.is_file()}
    started = time.perf_counter()
    run_study(study, progress=False)
    assert time.perf_counter() - started < 10
    after = {path: path.stat().st_mtime_ns for path in results.rglob("*") if path.is_file()}
    changed = {path.name for path in before if after.get(path) != before[path]}
    assert changed <= {"study.json", "environment.json", "command.txt"}


@pytest.mark.slow  # 75 s: a study killed at every stage (make test-slow); test_faults kills tune and predict
def test_sigkill_at_several_points_then_rerun_gives_identical_results(tiny_models, tmp_path):
    models = {"llama": tiny_models["llama"]}
    probe = {
        "kind": "soft_prompt",
        "num_virtual_tokens": 4,
        "max_steps": 40,
        "batch_size": 8,
        "eval_every": 5,
        **RANDOM_MODEL,
    }
    overrides = {"probes": [probe, {"kind": "zero_shot"}], "seeds": [0]}
    clean_dir, killed_dir = tmp_path / "clean", tmp_path / "killed"
    clean_dir.mkdir()
    killed_dir.mkdir()
    command = [str(Path(sys.executable).parent / "promptbias"), "run", "--quiet"]
    env = dict(os.environ)
    subprocess.run(
        [*command, str(write_study(clean_dir, models, **overrides))], env=env, check=True, capture_output=True
    )

    study_file = write_study(killed_dir, models, **overrides)
    unit = killed_dir / "results" / "units"

    def soft_unit() -> Path | None:
        found = sorted(unit.glob("*soft_prompt*")) if unit.exists() else []
        return found[0] if found else None

    def unit_has(relative: str):
        return lambda: (found := soft_unit()) is not None and (found / relative).exists()

    kill_points = [
        unit_has(f"tuning_state/{store.MANIFEST}"),  # mid-tuning, after a checkpoint
        unit_has(f"prompt/{store.MANIFEST}"),  # the prompt saved, evaluation under way
        unit_has("evaluation.json"),  # classifying the suite
        lambda: (killed_dir / "results" / "metrics").exists(),  # metrics or report under way
    ]
    for ready in kill_points:
        run_until([*command, str(study_file)], env, ready)
    subprocess.run([*command, str(study_file)], env=env, check=True, capture_output=True)

    clean, killed = unit_outputs(clean_dir / "results"), unit_outputs(killed_dir / "results")
    assert clean.keys() == killed.keys() and len(clean) == 5
    assert clean == killed
    for name in ("group_metrics.csv", "gaps.csv"):
        assert (clean_dir / "results" / "metrics" / name).read_bytes() == (
            killed_dir / "results" / "metrics" / name
        ).read_bytes()
    log = (next((killed_dir / "results" / "units").glob("*soft_prompt*")) / "train_log.jsonl").read_text()
    steps = [json.loads(line)["step"] for line in log.splitlines()]
    assert steps == list(range(41))


def test_a_data_folder_without_the_czarnowska_file_leaves_the_shipped_copy_in_use(tmp_path):
    from promptbias.study.plan import resolve_suite

    (tmp_path / "data").mkdir()
    study_file = tmp_path / "study.yaml"
    study_file.write_text(
        yaml.safe_dump(
            {
                "name": "x",
                "data_dir": "data",
                "models": [{"name": "smollm2-135m"}],
                "suite": {"templates_per_category": 2},
            }
        )
    )
    suite = resolve_suite(load_study(study_file))
    assert suite["category"].nunique() == 8
    assert suite.groupby("category")["template_id"].nunique().eq(2).all()
    assert suite.groupby("category")["group"].nunique().sum() == 53  # whole templates: every group


def test_a_bf16_model_reads_the_suite_in_fp32(tiny_models, tmp_path):
    """Tuning and the test split run in the model's dtype; the suite, which every verdict reads, is predicted
    by an fp32 copy (ModelEntry.suite_dtype), through the same tuned prompt."""
    import numpy as np

    from promptbias.lm.model import load_model
    from promptbias.lm.scoring import score_texts
    from promptbias.lm.verbalizer import build_verbalizer
    from promptbias.probes.tuning import load_soft_prompt
    from promptbias.schema import PROBABILITY_COLUMNS

    path = write_study(tmp_path, {"llama": tiny_models["llama"]}, seeds=[0])
    spec = yaml.safe_load(path.read_text())
    spec["models"][0]["dtype"] = "bfloat16"
    spec["probes"] = spec["probes"][:1]
    path.write_text(yaml.safe_dump(spec))
    study = load_study(path)
    run_study(study, progress=False)
    folder = study.results_dir / "units" / plan_units(study)[0].unit_id
    record = json.loads((folder / "unit.json").read_text())
    assert (record["dtype"], record["suite_dtype"]) == ("bf16", "fp32")
    table = pd.read_parquet(folder / "predictions.parquet")
    saved = load_soft_prompt(folder / "prompt")
    computed = {}
    for dtype in ("float32", "bfloat16"):
        lm = load_model(str(tiny_models["llama"]), dtype=dtype)
        verbalizer = build_verbalizer(lm.tokenizer)
        computed[dtype] = score_texts(
            lm, verbalizer, saved.template, list(table["text"]), saved.prompt, progress=False
        )
    written = table[list(PROBABILITY_COLUMNS)].to_numpy()
    np.testing.assert_allclose(written, computed["float32"], atol=1e-6)
    assert np.abs(written - computed["bfloat16"]).max() > 1e-4  # the bf16 reading would have differed
