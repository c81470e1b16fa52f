"""A model loaded with a device map (accelerate), as models larger than one GPU are: on this CPU-only machine
``device_map="auto"`` places everything on the CPU, and scoring and tuning must give what a plain load gives."""

from __future__ import annotations

import pandas as pd
import torch

from promptbias.lm.model import load_model
from promptbias.lm.prompt_format import PromptTemplate
from promptbias.lm.scoring import score_texts
from promptbias.lm.verbalizer import build_verbalizer
from promptbias.probes.soft_prompt import SoftPromptConfig
from promptbias.probes.tuning import tune_soft_prompt
from promptbias.probes.zero_shot import ZeroShotConfig
from promptbias.study.config import DatasetEntry, ModelEntry, Study
from promptbias.study.unit import Unit
from random_model import RANDOM_MODEL

TEXTS = ["A lovely, quiet film.", "I hated every minute.", "It was fine.", "Old people are wise."]
TRAIN = pd.DataFrame({"text": TEXTS * 2, "label": [2, 0, 1, 2] * 2})


def test_device_map_auto_scores_and_tunes_like_a_plain_load(tiny_models):
    plain = load_model(str(tiny_models["llama"]), dtype="float32", device="cpu")
    mapped = load_model(str(tiny_models["llama"]), dtype="float32", device="cpu", device_map="auto")
    assert mapped.device == mapped.model.get_input_embeddings().weight.device == torch.device("cpu")
    verbalizer = build_verbalizer(plain.tokenizer)
    template = PromptTemplate.parse("Review: {text}\nSentiment:")
    soft = torch.randn(3, plain.hidden_size, generator=torch.Generator().manual_seed(0))
    expected = score_texts(plain, verbalizer, template, TEXTS, soft, progress=False)
    assert (score_texts(mapped, verbalizer, template, TEXTS, soft, progress=False) == expected).all()

    settings = SoftPromptConfig(num_virtual_tokens=3, max_steps=1, batch_size=4, eval_every=1, **RANDOM_MODEL)
    tuned = [
        tune_soft_prompt(lm, verbalizer, template, TRAIN, TRAIN, settings, seed=0, progress=False)
        for lm in (plain, mapped)
    ]
    assert [record["step"] for record in tuned[1].history] == [0, 1]
    assert tuned[1].history[1]["loss"] == tuned[0].history[1]["loss"]
    assert torch.equal(tuned[1].prompt, tuned[0].prompt)


def test_the_device_map_does_not_change_which_results_a_unit_reuses():
    def fingerprint(model: ModelEntry) -> str:
        study = Study(name="s", models=[model])
        return Unit(model, DatasetEntry(name="sst5"), ZeroShotConfig(), 0).fingerprint(study)

    assert fingerprint(ModelEntry(name="m")) == fingerprint(ModelEntry(name="m", device_map="auto", gpus=2))
