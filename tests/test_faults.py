"""Faults: SIGKILL at several points of ``tune``, ``predict``, ``metrics`` and ``report`` (run as the console
script), then the same command again (in this process, to save a start), gives the files of an uninterrupted
run byte for byte; a damaged file in
a results folder is detected, left out of the metrics and made again; the same study gives byte-identical
results on the CPU; a sentence longer than the model's context is truncated with a warning.
(SIGKILL of ``promptbias run`` is in test_study.py.)"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from cli_helpers import cli, snapshot
from promptbias import store
from promptbias.probes.soft_prompt import SoftPromptConfig
from promptbias.study.config import load_study
from promptbias.study.runner import run_study
from promptbias.study.stages import predict_stage
from random_model import RANDOM_MODEL

PROMPTBIAS = str(Path(sys.executable).parent / "promptbias")


def kill_when(command: list[str], env: dict[str, str], ready: Callable[[], bool], log: Path) -> int:
    """Run ``command`` (stderr into ``log``) and SIGKILL it as soon as ``ready()``; its exit status (-9 when
    the kill landed). A run that neither ends nor gets ready within two minutes is killed and fails the test."""
    with open(log, "wb") as stderr:
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=stderr)
        deadline = time.monotonic() + 120
        while process.poll() is None:
            if ready() or time.monotonic() > deadline:
                os.kill(process.pid, signal.SIGKILL)
                break
            time.sleep(0.002)
        code = process.wait()
    assert time.monotonic() <= deadline, f"{command[1]} never reached its kill point"
    return code


def logged(log: Path, text: str) -> Callable[[], bool]:
    return lambda: log.exists() and text in log.read_text(encoding="utf-8", errors="replace")


@pytest.fixture(scope="module")
def env() -> dict[str, str]:
    return dict(os.environ)


TUNE = [
    "--dtype",
    "float32",
    "--device",
    "cpu",
    "--train-size",
    "48",
    "--dev-size",
    "16",
    "--virtual-tokens",
    "4",
]
TUNE += [
    "--test-size",
    "600",
    "--batch-size",
    "8",
    "--max-steps",
    "20",
    "--eval-every",
    "5",
    "--max-restarts",
    "0",
]


@pytest.fixture(scope="module")
def tuned(tiny_models, tmp_path_factory) -> tuple[Path, dict[str, bytes]]:
    """An uninterrupted ``tune`` (in this process) and its files."""
    from promptbias.study.config import DatasetEntry, ModelEntry
    from promptbias.study.stages import tune_stage

    out = tmp_path_factory.mktemp("tuned") / "out"
    tune_stage(
        ModelEntry(name=str(tiny_models["llama"]), dtype="float32", device="cpu"),
        DatasetEntry(name="sst5", train_size=48, dev_size=16, test_size=600),
        SoftPromptConfig(num_virtual_tokens=4, batch_size=8, max_steps=20, eval_every=5, **RANDOM_MODEL),
        0,
        out,
        progress=False,
    )
    return out, snapshot(out)


def test_tune_killed_at_several_points_then_rerun(tiny_models, tuned, env, tmp_path, monkeypatch, capsys):
    clean = tuned[1]
    out = tmp_path / "out"
    command = [PROMPTBIAS, "tune", "--model", str(tiny_models["llama"]), *TUNE, "--out", str(out)]
    kill_points = {
        "tuning, after a checkpoint": lambda: (out / "tuning_state" / store.MANIFEST).exists(),
        "evaluating the prompt on the test split": lambda: (out / "prompt" / store.MANIFEST).exists(),
    }
    for point, ready in kill_points.items():
        assert kill_when(command, env, ready, tmp_path / "stderr.txt") == -signal.SIGKILL, point
    assert not (out / "evaluation.json").exists()
    assert cli(monkeypatch, capsys, *command[1:])[0] == 0  # the same command again, in this process
    assert snapshot(out) == clean
    steps = [json.loads(line)["step"] for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert steps == list(range(21))

    # a damaged prompt is detected by its checksum and tuned again, with the same result
    weights = out / "prompt" / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-8] + bytes(8))
    code, _, _ = cli(monkeypatch, capsys, "tune", "--model", tiny_models["llama"], *TUNE, "--out", out)
    assert code == 0 and snapshot(out) == clean


@pytest.fixture(scope="module")
def predicted(tiny_models, tuned, tmp_path_factory) -> tuple[list[str], Path, dict[str, bytes]]:
    """The arguments of a ``predict`` with the tuned prompt, and its files from an uninterrupted run."""
    folder = tmp_path_factory.mktemp("predicted")
    arguments = ["--model", str(tiny_models["llama"]), "--prompt", str(tuned[0] / "prompt")]
    arguments += ["--templates-per-category", "2", "--dtype", "float32", "--device", "cpu"]
    out = folder / "predictions.parquet"
    predict_stage(
        str(tiny_models["llama"]),
        out,
        prompt=tuned[0] / "prompt",
        templates_per_category=2,
        dtype="float32",
        device="cpu",
        progress=False,
    )
    return arguments, out, snapshot(folder)


def test_predict_killed_while_scoring_then_rerun(predicted, env, tmp_path, monkeypatch, capsys):
    arguments, _, clean = predicted
    folder = tmp_path / "predicted"
    folder.mkdir()
    command = [PROMPTBIAS, "predict", *arguments, "--out", str(folder / "predictions.parquet")]
    log = tmp_path / "stderr.txt"
    assert kill_when(command, env, logged(log, "suite (soft_prompt)"), log) == -signal.SIGKILL
    assert list(folder.iterdir()) == []
    assert cli(monkeypatch, capsys, *command[1:])[0] == 0
    assert snapshot(folder) == clean
    assert len(pd.read_parquet(folder / "predictions.parquet")) > 500


def test_metrics_and_report_killed_while_writing_then_rerun(predicted, env, tmp_path, monkeypatch, capsys):
    _, predictions, _ = predicted
    out, page = tmp_path / "metrics", tmp_path / "report"
    metrics = ["metrics", str(predictions), "--out", str(out), "--ci", "bootstrap", "--n-boot", "200"]
    report = ["report", str(out), "--out", str(page)]
    assert cli(monkeypatch, capsys, *metrics)[0] == 0
    assert cli(monkeypatch, capsys, *report)[0] == 0
    clean_metrics, clean_report = snapshot(out), snapshot(page)
    shutil.rmtree(out)
    shutil.rmtree(page)

    writing = lambda target: lambda: any(tmp_path.glob(f".{target.name}.*.tmp/*"))  # noqa: E731
    log = tmp_path / "stderr.txt"
    # metrics: killed while writing a first output, then while replacing a complete one
    for point in ("first output", "replacing the output"):
        for _ in range(5):  # the write takes milliseconds: try again when the run ended before the kill
            if kill_when([PROMPTBIAS, *metrics], env, writing(out), log) == -signal.SIGKILL:
                break
            if point == "first output":
                shutil.rmtree(out)
        else:
            pytest.fail(f"metrics: never killed at {point}")
        if point == "first output":
            assert not out.exists() or snapshot(out) == clean_metrics  # never a partial folder
        else:
            assert snapshot(out) == clean_metrics  # the earlier output, intact
        assert cli(monkeypatch, capsys, *metrics)[0] == 0
        assert snapshot(out) == clean_metrics

    # report: killed while drawing its figures
    figures = lambda: any(tmp_path.glob(f".{page.name}.*.tmp/figures/*.png"))  # noqa: E731
    assert kill_when([PROMPTBIAS, *report], env, figures, log) == -signal.SIGKILL
    assert not page.exists()  # no half-written report
    assert cli(monkeypatch, capsys, *report)[0] == 0
    assert snapshot(page) == clean_report
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no temporaries left


def write_study(folder: Path, model: Path) -> Path:
    study = {
        "name": "twice",
        "output_dir": "results",
        "models": [{"name": str(model), "dtype": "float32", "device": "cpu"}],
        "datasets": [{"name": "sst5", "train_size": 48, "dev_size": 16, "test_size": 24}],
        "probes": [
            {
                "kind": "soft_prompt",
                "num_virtual_tokens": 4,
                "max_steps": 2,
                "batch_size": 8,
                "eval_every": 1,
                **RANDOM_MODEL,
            },
            {"kind": "zero_shot", "template": "Review: {text}\nSentiment:"},
        ],
        "seeds": [0],
        "suite": {"source": "../suite.tsv"},  # one file for both studies: its path is part of the settings
        "metrics": {"runs": {"keep_failed": True}},  # a random model's prompts never learn
    }
    folder.mkdir()
    rows = [
        f"{label}\t{category}\t{group}\t{group.capitalize()} people {words}.\t{category}:{template}"
        for template, (label, words) in enumerate([(2, "are kind"), (0, "are rude"), (1, "are here")])
        for category, groups in (("age", ["old", "young", "middle-aged"]), ("religion", ["jewish", "muslim"]))
        for group in groups
    ]
    (folder.parent / "suite.tsv").write_text(
        "label\tcategory\tgroup\ttext\ttemplate_id\n" + "\n".join(rows) + "\n"
    )
    (folder / "study.yaml").write_text(yaml.safe_dump(study), encoding="utf-8")
    return folder / "study.yaml"


def test_same_study_twice_is_byte_identical_and_damage_is_detected_and_redone(
    tiny_models, tmp_path, monkeypatch, capsys
):
    first = load_study(write_study(tmp_path / "first", tiny_models["llama"]))
    second = load_study(write_study(tmp_path / "second", tiny_models["llama"]))
    run_study(first, progress=False)
    run_study(second, progress=False)
    units = snapshot(first.results_dir / "units")
    assert snapshot(second.results_dir / "units") == units  # determinism on the CPU
    assert sum(name.endswith("predictions.parquet") for name in units) == 2
    tables = [name for name in os.listdir(first.results_dir / "metrics") if name.endswith(".csv")]
    for name in tables:
        assert (first.results_dir / "metrics" / name).read_bytes() == (
            second.results_dir / "metrics" / name
        ).read_bytes()

    folders = sorted((second.results_dir / "units").iterdir())
    soft, zero = (next(f for f in folders if kind in f.name) for kind in ("soft_prompt", "zero_shot"))
    parquet = soft / "predictions.parquet"
    damaged = bytearray(parquet.read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF  # one flipped byte inside the data
    parquet.write_bytes(bytes(damaged))
    code, _, stderr = cli(monkeypatch, capsys, "metrics", second.results_dir, "--out", tmp_path / "m")
    assert code == 0
    assert f"promptbias: warning: {soft}: left out, not complete" in stderr
    assert json.loads((tmp_path / "m" / "summary.json").read_text())["n_runs"] == 1

    evaluation = zero / "evaluation.json"
    evaluation.write_bytes(evaluation.read_bytes()[:10])  # a truncated file
    run_study(second, progress=False)
    assert snapshot(second.results_dir / "units") == units


def test_a_sentence_longer_than_the_context_is_truncated_with_a_warning(embedded_tokenizer, tmp_path):
    import torch
    import transformers

    config = transformers.LlamaConfig(
        vocab_size=len(embedded_tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=64,
    )
    torch.manual_seed(0)
    model = tmp_path / "short-context"
    transformers.AutoModelForCausalLM.from_config(config).save_pretrained(model)
    embedded_tokenizer.save_pretrained(model)
    long = " ".join(["very"] * 500) + " kind people."
    suite = tmp_path / "suite.tsv"
    rows = [("2", "age", "old", f"Old {long}"), ("2", "age", "young", "Young people are kind.")]
    suite.write_text("".join("\t".join(row) + "\n" for row in rows), encoding="utf-8")
    out = tmp_path / "predictions.parquet"
    with pytest.warns(UserWarning, match=r"1 sentence\(s\) longer than the model's context \(64 tokens\)"):
        predict_stage(
            str(model),
            out,
            template="Review: {text}\nSentiment:",
            suite=str(suite),
            dtype="float32",
            device="cpu",
            progress=False,
        )
    table = pd.read_parquet(out)
    probabilities = table[["p_negative", "p_neutral", "p_positive"]].to_numpy()
    assert len(table) == 2 and np.isfinite(probabilities).all()
    assert np.allclose(probabilities.sum(axis=1), 1, atol=1e-5)


def test_damaged_folders_are_cleared_file_by_file_and_never_outside(tmp_path):
    folder = tmp_path / "unit"
    store.write_text(folder / "kept.txt", "kept")
    store.write_text(folder / "changed.txt", "original")
    store.write_manifest(folder)
    assert store.is_complete(folder) and store.discard_damaged(folder) == []
    (folder / "changed.txt").write_text("changed")
    assert not store.is_complete(folder)
    assert store.discard_damaged(folder) == ["changed.txt"]
    assert sorted(p.name for p in folder.iterdir()) == ["kept.txt"]

    outside = tmp_path / "precious.txt"
    outside.write_text("mine")
    store.write_json(folder / store.MANIFEST, {"files": {"../precious.txt": "0" * 64}})
    assert not store.is_complete(folder)
    assert store.discard_damaged(folder) == [store.MANIFEST]
    assert outside.read_text() == "mine" and (folder / "kept.txt").exists()
