"""The soft prompt's initialisation: vectors the model reads exactly as it reads the init text."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from promptbias.lm.model import load_model
from promptbias.lm.prompt_format import PromptTemplate, prefix_ids
from promptbias.lm.scoring import score_texts
from promptbias.lm.verbalizer import build_verbalizer
from promptbias.probes.soft_prompt import SoftPromptConfig
from promptbias.probes.tuning import init_prompt

INIT_TEXT = "Is this review positive, neutral or negative?\n"
TEMPLATE = "Review: {text}\nSentiment:"
TEXTS = ["A warm, funny film.", "It was fine, I guess.", "A tedious, ugly mess that never ends."]


# gemma3 scales its embeddings by sqrt(width); its tiny model's sliding window (24) is shorter than the examples
@pytest.mark.parametrize(
    ("architecture", "init"), [("llama", "text"), ("gemma3", "text"), ("llama", "examples")]
)
def test_an_untuned_prompt_scores_like_its_written_text(tiny_models, architecture, init):
    lm = load_model(str(tiny_models[architecture]), dtype="float32", device="cpu")
    verbalizer = build_verbalizer(lm.tokenizer)
    template = PromptTemplate.parse(TEMPLATE)
    settings = SoftPromptConfig(init=init, init_text=INIT_TEXT)
    written = INIT_TEXT
    if init == "examples":  # by hand: three demonstrations, positive first, as the few-shot probe writes them
        words = verbalizer.words
        written = (
            f"Review: Great.\nSentiment:{words[2]}\n\nReview: Okay.\nSentiment:{words[1]}\n\n"
            f"Review: Awful.\nSentiment:{words[0]}\n\n"
        )
    hard = PromptTemplate.parse(written + TEMPLATE)
    soft = init_prompt(lm, verbalizer, template, settings)
    assert soft.shape[0] == len(prefix_ids(lm.tokenizer, hard)) - len(prefix_ids(lm.tokenizer, template))
    with_vectors = score_texts(lm, verbalizer, template, TEXTS, soft, progress=False)
    with_text = score_texts(lm, verbalizer, hard, TEXTS, None, progress=False)
    assert np.abs(with_vectors - with_text).max() < 1e-5


def test_a_set_number_of_vectors_cycles_the_init(tiny_models):
    lm = load_model(str(tiny_models["llama"]), dtype="float32", device="cpu")
    verbalizer = build_verbalizer(lm.tokenizer)
    template = PromptTemplate.parse(TEMPLATE)
    own = init_prompt(lm, verbalizer, template, SoftPromptConfig(init="text", init_text=INIT_TEXT))
    longer = own.shape[0] + 3
    settings = SoftPromptConfig(init="text", init_text=INIT_TEXT, num_virtual_tokens=longer)
    cycled = init_prompt(lm, verbalizer, template, settings)
    assert cycled.shape[0] == longer and torch.equal(cycled[: own.shape[0]], own)
    assert torch.equal(cycled[own.shape[0] :], own[:3])
