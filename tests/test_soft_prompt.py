"""The soft prompt's initialisation: vectors the model reads exactly as it reads the init text."""

from __future__ import annotations

import numpy as np
import pytest

from promptbias.lm.model import load_model
from promptbias.lm.prompt_format import PromptTemplate, prefix_ids
from promptbias.lm.scoring import score_texts
from promptbias.lm.verbalizer import build_verbalizer
from promptbias.probes.soft_prompt import SoftPromptConfig
from promptbias.probes.tuning import init_prompt

INIT_TEXT = "Is this review positive, neutral or negative?\n"
TEMPLATE = "Review: {text}\nSentiment:"
TEXTS = ["A warm, funny film.", "It was fine, I guess.", "A tedious, ugly mess that never ends."]


@pytest.mark.parametrize("architecture", ["llama", "gemma3"])  # gemma3 scales its embeddings by sqrt(width)
def test_a_text_initialised_prompt_scores_like_the_text_itself(tiny_models, architecture):
    lm = load_model(str(tiny_models[architecture]), dtype="float32", device="cpu")
    verbalizer = build_verbalizer(lm.tokenizer)
    init_ids = lm.tokenizer(INIT_TEXT, add_special_tokens=False)["input_ids"]
    hard = PromptTemplate.parse(INIT_TEXT + TEMPLATE)
    assert prefix_ids(lm.tokenizer, hard) == init_ids + prefix_ids(
        lm.tokenizer, PromptTemplate.parse(TEMPLATE)
    )
    settings = SoftPromptConfig(init="text", init_text=INIT_TEXT, num_virtual_tokens=len(init_ids))
    soft = init_prompt(lm, verbalizer, settings)
    with_vectors = score_texts(lm, verbalizer, PromptTemplate.parse(TEMPLATE), TEXTS, soft, progress=False)
    with_text = score_texts(lm, verbalizer, hard, TEXTS, None, progress=False)
    assert np.abs(with_vectors - with_text).max() < 1e-5
