"""The embedded model (SmolLM2-135M from its GGUF file) through the real path: loading, a short tuning run,
the saved prompt through PEFT, and (slow) the accuracy checks of the quickstart."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from peft import PeftModel

from promptbias.data.training import load_split, subsample
from promptbias.lm.model import load_model
from promptbias.lm.prompt_format import PromptTemplate, prefix_ids, sentence_rows
from promptbias.lm.scoring import score_texts
from promptbias.lm.verbalizer import build_verbalizer
from promptbias.probes.soft_prompt import SoftPromptConfig
from promptbias.probes.tuning import load_soft_prompt, save_soft_prompt, tune_soft_prompt
from promptbias.suites.loading import load_suite


@pytest.fixture(scope="module")
def embedded():
    lm = load_model("smollm2-135m")
    return lm, build_verbalizer(lm.tokenizer)


def test_embedded_model_loads_as_a_plain_llama(embedded):
    lm, verbalizer = embedded
    assert type(lm.model).__name__ == "LlamaForCausalLM"
    assert lm.num_params == pytest.approx(0.135, abs=0.001)
    assert verbalizer.single_token
    assert all(not p.requires_grad for p in lm.model.parameters())


def test_saved_prompt_loads_in_peft_and_predicts_the_same(tmp_path):
    # in fp32, where both paths agree to rounding; in bf16 PEFT's full-vocabulary logits are rounded to 1/8 and
    # a near-tie between two classes of this untrained prompt flipped on one CPU and not on another
    lm = load_model("smollm2-135m", dtype="float32")
    verbalizer = build_verbalizer(lm.tokenizer)
    template = PromptTemplate.parse("{text}\nSentiment:")
    train = subsample(load_split("sst5", "train"), 48, 0)
    dev = subsample(load_split("sst5", "validation"), 24, 0)
    settings = SoftPromptConfig(
        num_virtual_tokens=8, max_steps=3, batch_size=16, eval_every=3, max_restarts=0
    )  # too short to learn
    result = tune_soft_prompt(lm, verbalizer, template, train, dev, settings, seed=0, progress=False)
    save_soft_prompt(tmp_path / "prompt", result.prompt, lm, template, verbalizer)
    saved = load_soft_prompt(tmp_path / "prompt")
    assert torch.equal(saved.prompt, result.prompt.float())

    texts = list(load_suite("czarnowska").sample(16, random_state=0)["text"])
    ours = score_texts(lm, verbalizer, saved.template, texts, saved.prompt, progress=False)
    peft_model = PeftModel.from_pretrained(lm.model, tmp_path / "prompt")
    head = prefix_ids(lm.tokenizer, saved.template)
    theirs = []
    with torch.no_grad():
        for row in sentence_rows(lm.tokenizer, saved.template, texts):
            ids = torch.tensor([head + row])
            logits = peft_model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits[0, -1].float()
            theirs.append(torch.softmax(logits[verbalizer.first_tokens], dim=-1).numpy())
    theirs = np.array(theirs)
    assert (ours.argmax(axis=1) == theirs.argmax(axis=1)).all()
    assert np.abs(ours - theirs).max() < 1e-4


@pytest.mark.slow
def test_zero_shot_reference_accuracy_on_sst5_test(embedded):
    lm, verbalizer = embedded
    test = load_split("sst5", "test")
    template = PromptTemplate.parse("Review: {text}\nSentiment:")
    probabilities = score_texts(lm, verbalizer, template, list(test["text"]), progress=False)
    accuracy = float((probabilities.argmax(axis=1) == test["label"].to_numpy()).mean())
    assert accuracy == pytest.approx(0.681, abs=0.003)
