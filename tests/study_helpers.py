"""Helpers shared by the tests that run small studies: the study file, what its units wrote, a run killed at
a chosen point."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import yaml

from random_model import RANDOM_MODEL

# a soft prompt short enough for the tests of a study's mechanics (claims, tracking), beside the zero-shot probe
SOFT_PROMPT = {
    "kind": "soft_prompt",
    "num_virtual_tokens": 4,
    "max_steps": 4,
    "batch_size": 8,
    "eval_every": 2,
    **RANDOM_MODEL,
}
OVERRIDES = {"probes": [SOFT_PROMPT, {"kind": "zero_shot"}], "seeds": [0]}


def write_study(folder: Path, models: dict[str, Path], **overrides) -> Path:
    study = {
        "name": "tiny",
        "output_dir": "results",
        "models": [{"name": str(path), "dtype": "float32", "device": "cpu"} for path in models.values()],
        "datasets": [{"name": "sst5", "train_size": 48, "dev_size": 16, "test_size": 24}],
        "probes": [
            {
                "kind": "soft_prompt",
                "num_virtual_tokens": 4,
                "max_steps": 4,
                "batch_size": 8,
                "eval_every": 2,
                **RANDOM_MODEL,
            },
            {"kind": "zero_shot", "template": "Review: {text}\nSentiment:"},
            {"kind": "few_shot", "template": "Review: {text}\nSentiment:", "shots": 3},
        ],
        "seeds": [0, 1],
        "suite": {"source": "czarnowska", "templates_per_category": 1},
        "metrics": {"runs": {"keep_failed": True}},  # a random model's prompts never learn
        **overrides,
    }
    path = folder / "study.yaml"
    path.write_text(yaml.safe_dump(study))
    return path


def unit_outputs(results: Path) -> dict[str, bytes]:
    """The bytes of every unit's predictions and evaluation, by relative path."""
    files = sorted(results.glob("units/*/predictions.parquet")) + sorted(
        results.glob("units/*/evaluation.json")
    )
    files += sorted(results.glob("units/*/prompt/adapter_model.safetensors"))
    return {str(path.relative_to(results)): path.read_bytes() for path in files}


def run_until(command: list[str], env: dict[str, str], ready, timeout: float = 240) -> None:
    """Start ``command``, SIGKILL it as soon as ``ready()`` is true (or when it ends by itself)."""
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    while process.poll() is None and time.monotonic() < deadline:
        if ready():
            os.kill(process.pid, signal.SIGKILL)
            break
        time.sleep(0.02)
    process.wait()
