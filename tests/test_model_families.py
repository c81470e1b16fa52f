"""Tiny random OPT, Galactica, LLaMA and GPT-2 models through the stages the real model takes:
tune -> predict -> metrics, via the same functions the CLI calls."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from peft import PeftModel

from promptbias.lm.model import load_model
from promptbias.metrics import run_metrics
from promptbias.probes.soft_prompt import SoftPromptConfig
from promptbias.schema import PREDICTION_COLUMNS, REFERENCE_COLUMNS
from promptbias.study.config import DatasetEntry, ModelEntry
from promptbias.study.stages import predict_stage, tune_stage
from random_model import RANDOM_MODEL


@pytest.mark.parametrize("architecture", ["opt", "galactica", "llama", "gemma3", "gpt2"])
def test_tune_predict_metrics(tiny_models, tmp_path, architecture):
    model = ModelEntry(name=str(tiny_models[architecture]), dtype="float32", device="cpu")
    dataset = DatasetEntry(name="sst5", train_size=48, dev_size=24, test_size=30)
    probe = SoftPromptConfig(num_virtual_tokens=4, max_steps=4, batch_size=8, eval_every=2, **RANDOM_MODEL)
    prompt_dir = tune_stage(model, dataset, probe, seed=0, out=tmp_path / "tuned", progress=False)

    log = [json.loads(line) for line in (tmp_path / "tuned" / "train_log.jsonl").read_text().splitlines()]
    assert [record["step"] for record in log] == [0, 1, 2, 3, 4]
    evaluation = json.loads((tmp_path / "tuned" / "evaluation.json").read_text())
    assert evaluation["test"]["n"] == 30
    assert sum(map(sum, evaluation["test"]["confusion"])) == 30

    # the adapter is a PEFT prompt-tuning adapter
    lm = load_model(model.name, dtype="float32", device="cpu")
    peft_model = PeftModel.from_pretrained(lm.model, prompt_dir)
    assert peft_model.peft_config["default"].num_virtual_tokens == 4

    out = tmp_path / "predictions.parquet"
    predict_stage(
        model.name,
        out,
        prompt=prompt_dir,
        templates_per_category=1,
        dtype="float32",
        device="cpu",
        progress=False,
    )
    table = pd.read_parquet(out)
    assert list(table.columns) == list(PREDICTION_COLUMNS)
    assert table["category"].nunique() == 8
    probabilities = table[["p_negative", "p_neutral", "p_positive"]].to_numpy()
    assert abs(probabilities.sum(axis=1) - 1).max() < 1e-5
    assert (probabilities.argmax(axis=1) == table["y_pred"]).all()
    assert list(pd.read_csv(out.with_suffix(".tsv"), sep="\t").columns) == list(REFERENCE_COLUMNS)

    result = run_metrics([out], tmp_path / "metrics")
    assert (tmp_path / "metrics" / "gaps.csv").exists()
    assert set(result.gaps["category"]) == set(table["category"])
