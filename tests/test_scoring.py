"""The fast scoring path against the plain PEFT forward pass, and its parts against simple re-computations."""

from __future__ import annotations

import pytest
import torch
from peft import PromptTuningConfig, get_peft_model

from promptbias.errors import InputError
from promptbias.lm.model import load_model
from promptbias.lm.prompt_format import PromptTemplate, prefix_ids, sentence_rows
from promptbias.lm.scoring import length_batches, score_texts
from promptbias.lm.verbalizer import Verbalizer, build_verbalizer

SENTENCES = [
    "Mature people are inspiring.",
    "I hate how deaf people act.",
    "Alice feels angry.",
    "The film is a quiet, lovely piece of work that stays with you.",
    "It was okay.",
    "Muslim people are admirable.",
]


def peft_probabilities(lm, verbalizer, template, soft, texts):
    """The reference computation: PEFT's prompt-tuning model on the whole sequence, full-vocabulary logits."""
    peft_model = get_peft_model(
        lm.model,
        PromptTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=soft.shape[0], token_dim=soft.shape[1]),
    )
    with torch.no_grad():
        peft_model.prompt_encoder["default"].embedding.weight.copy_(soft)
    head = prefix_ids(lm.tokenizer, template)
    results = []
    for row in sentence_rows(lm.tokenizer, template, texts):
        ids = torch.tensor([head + row])
        with torch.no_grad():
            logits = peft_model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits[0, -1].float()
        results.append(torch.softmax(logits[verbalizer.first_tokens], dim=-1))
    return torch.stack(results).numpy()


@pytest.mark.parametrize("architecture", ["opt", "galactica", "llama", "gemma3", "gpt2"])
def test_fast_path_matches_peft_forward_in_fp32(tiny_models, architecture):
    lm = load_model(str(tiny_models[architecture]), dtype="float32", device="cpu")
    verbalizer = build_verbalizer(lm.tokenizer)
    template = PromptTemplate.parse("Review: {text}\nSentiment:")
    torch.manual_seed(1)
    soft = torch.randn(5, lm.hidden_size) * 0.5
    fast = score_texts(lm, verbalizer, template, SENTENCES, soft, batch_tokens=64, progress=False)
    expected = peft_probabilities(lm, verbalizer, template, soft, SENTENCES)
    assert fast.shape == (len(SENTENCES), 3)
    assert (fast.argmax(axis=1) == expected.argmax(axis=1)).all()
    assert abs(fast - expected).max() < 1e-5


def test_multi_token_label_words_sum_log_probabilities(tiny_models):
    lm = load_model(str(tiny_models["llama"]), dtype="float32", device="cpu")
    words = (" very negative", " neutral", " quite positive")
    verbalizer = build_verbalizer(lm.tokenizer, words)
    assert not verbalizer.single_token
    template = PromptTemplate.parse("{text} Sentiment:")
    fast = score_texts(lm, verbalizer, template, SENTENCES[:3], batch_tokens=40, progress=False)
    # second computation: each (sentence + word) scored as one full sequence, log-probabilities summed
    head = prefix_ids(lm.tokenizer, template)
    for row, got in zip(sentence_rows(lm.tokenizer, template, SENTENCES[:3]), fast, strict=True):
        scores = []
        for word in verbalizer.token_ids:
            ids = torch.tensor([head + row + list(word)])
            with torch.no_grad():
                log_probs = torch.log_softmax(lm.model(input_ids=ids).logits[0].float(), dim=-1)
            start = len(head) + len(row) - 1
            scores.append(sum(log_probs[start + k, token] for k, token in enumerate(word)))
        expected = torch.softmax(torch.stack(scores), dim=0).numpy()
        assert abs(got - expected).max() < 1e-5


def test_duplicates_and_order_do_not_change_scores(tiny_models):
    lm = load_model(str(tiny_models["gpt2"]), dtype="float32", device="cpu")
    verbalizer = build_verbalizer(lm.tokenizer)
    template = PromptTemplate.parse("{text}\nSentiment:")
    once = score_texts(lm, verbalizer, template, SENTENCES, progress=False)
    shuffled = [*reversed(SENTENCES), SENTENCES[0]]
    again = score_texts(lm, verbalizer, template, shuffled, batch_tokens=32, progress=False)
    assert abs(again[:-1][::-1] - once).max() < 1e-5
    assert abs(again[-1] - once[0]).max() < 1e-6


def test_rows_tokenize_like_the_whole_prompt(embedded_tokenizer):
    template = PromptTemplate.parse("Review: {text}\nSentiment:")
    head = prefix_ids(embedded_tokenizer, template)
    for text, row in zip(SENTENCES, sentence_rows(embedded_tokenizer, template, SENTENCES), strict=True):
        whole = embedded_tokenizer(template.render(text), add_special_tokens=True)["input_ids"]
        assert head + row == whole


def test_label_words_are_single_tokens_of_the_embedded_tokenizer(embedded_tokenizer):
    verbalizer = build_verbalizer(embedded_tokenizer)
    assert verbalizer.single_token
    decoded = [embedded_tokenizer.decode(list(ids)) for ids in verbalizer.token_ids]
    assert decoded == [" negative", " neutral", " positive"]


def test_two_label_words_that_tokenize_alike_are_refused(embedded_tokenizer):
    from promptbias.errors import InputError

    with pytest.raises(InputError, match="tokenize the same"):
        build_verbalizer(embedded_tokenizer, (" good", " good", " bad"))


def test_length_batches_respect_the_token_budget():
    lengths = [5, 3, 9, 3, 7, 1, 9]
    batches = length_batches(lengths, batch_tokens=16, max_rows=3)
    assert sorted(i for batch in batches for i in batch) == list(range(len(lengths)))
    for batch in batches:
        assert len(batch) <= 3
        assert len(batch) * max(lengths[i] for i in batch) <= 16
    # sorted by length: [5(1), 3(3), 3(1)...] -> rows 5,1,3 first
    assert batches[0] == [5, 1, 3]


def test_verbalizer_single_token_property():
    assert Verbalizer((" a", " b", " c"), ((1,), (2,), (3,))).single_token
    assert not Verbalizer((" a", " b", " c"), ((1,), (2, 5), (3,))).single_token
    assert not Verbalizer((" a", " b", " c"), ((1,), (1,), (3,))).single_token


def test_a_prefix_longer_than_the_sliding_window_is_refused_not_scored_wrongly(tiny_models):
    lm = load_model(str(tiny_models["gemma3"]), dtype="float32", device="cpu")
    window = lm.model.config.get_text_config().sliding_window
    verbalizer = build_verbalizer(lm.tokenizer)
    template = PromptTemplate.parse("Review: {text}\nSentiment:")
    prefix = len(prefix_ids(lm.tokenizer, template))
    fits = torch.zeros(window - 1 - prefix, lm.hidden_size)  # one position short of the window: still exact
    fast = score_texts(lm, verbalizer, template, SENTENCES, fits, progress=False)
    assert abs(fast - peft_probabilities(lm, verbalizer, template, fits, SENTENCES)).max() < 1e-5
    with pytest.raises(
        InputError, match=rf"does not fit the model's sliding attention window \({window} tokens\)"
    ):
        score_texts(lm, verbalizer, template, SENTENCES, torch.zeros(window - prefix, lm.hidden_size))
