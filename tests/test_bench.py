"""`promptbias bench` end to end on a tiny model, and its FLOP counts against torch's own counter."""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from promptbias.bench import (
    Work,
    batch_work,
    bench_text,
    class_distribution,
    linear_parameters,
    naive_work,
    parse_label,
    run_bench,
    scoring_work,
)
from promptbias.lm.model import load_model
from promptbias.lm.prompt_format import PromptTemplate, prefix_ids
from promptbias.lm.scoring import batch_plan, encode_texts, score_texts
from promptbias.lm.verbalizer import build_verbalizer
from test_scoring import SENTENCES


def test_parse_label_takes_the_first_label_word():
    assert parse_label(" positive") == 2
    assert parse_label(" Negative, not positive") == 0
    assert parse_label(" meh") is None


def test_class_distribution_counts_unparsed_answers():
    import numpy as np

    shares = class_distribution(np.array([0, 2, 2, -1]))
    assert shares == {"negative": 0.25, "neutral": 0.0, "positive": 0.5, "unparsed": 0.25}


def test_attention_pairs_are_the_causal_pairs_counted_one_by_one():
    # 3 rows of width 4 behind a cache of 5: query i sees 5 + i + 1 keys
    assert batch_work(3, 4, 5) == Work(12, 3 * sum(5 + i + 1 for i in range(4)))
    # the prefix once (5 tokens, causal: 1 + 2 + ... + 5 pairs), then two batches behind it
    work = scoring_work(5, [(3, 4), (1, 2)])
    assert work == Work(5 + 12 + 2, 15 + 3 * (6 + 7 + 8 + 9) + (6 + 7))
    # naive: batches of 2 in input order, prompt (5) and sentence padded together, no cache
    assert naive_work(5, [3, 1, 4], 2) == Work(2 * 8 + 1 * 9, 2 * 36 + 45)


@pytest.mark.parametrize("architecture", ["opt", "llama", "gpt2"])
def test_linear_flops_equal_torchs_count_of_the_scoring_path(tiny_models, architecture):
    """torch's FLOP counter over a real ``score_texts`` run: its matrix products are the linear FLOPs
    counted from the batch plan, plus the three-row head at one position per sentence."""
    lm = load_model(str(tiny_models[architecture]), dtype="float32", device="cpu")
    verbalizer = build_verbalizer(lm.tokenizer)
    template = PromptTemplate.parse("Review: {text}\nSentiment:")
    soft = torch.randn(5, lm.hidden_size)
    with FlopCounterMode(display=False) as counter:
        score_texts(lm, verbalizer, template, SENTENCES, soft, batch_tokens=40, progress=False)
    counted = counter.get_flop_counts()["Global"]
    products = sum(counted.get(op, 0) for op in (torch.ops.aten.mm, torch.ops.aten.addmm))
    prefix = 5 + len(prefix_ids(lm.tokenizer, template))
    rows = encode_texts(lm, verbalizer, template, SENTENCES, prefix)
    plan = batch_plan(rows, prefix, 40, 128)
    work = scoring_work(prefix, [(len(batch), max(len(rows[i]) for i in batch)) for batch in plan])
    head = lm.model.get_output_embeddings().weight.shape[1] * 3 * 2 * len(SENTENCES)
    assert products == 2 * linear_parameters(lm.model) * work.tokens + head


@pytest.mark.slow  # 90 s: it compiles the tiny model's scoring and tuning graphs (make test-slow)
def test_bench_on_a_tiny_model(tiny_models):
    result = run_bench(
        str(tiny_models["llama"]),
        40,
        device="cpu",
        dtype="float32",
        train_steps=1,
        tuning_steps=2,
        rate_seconds=0.05,
    )
    assert result.sentences == 40
    assert result.agreement == 1.0 and result.agreement_fp32 == 1.0  # fp32 on every path: the same labels
    assert result.max_abs_dp < 1e-5 and result.max_abs_dp_fp32 < 1e-5
    assert result.agreement_with_naive_fp32 == {"promptbias": 1.0, "naive_same_dtype": 1.0}
    assert result.agreement_ceiling == 1.0  # the exact path against naive in the same (fp32) dtype
    assert result.prompt.startswith("tuned here: 2 steps")
    assert set(result.prompt_dev_accuracy) == {"step_0", "step_2"}
    assert result.suite_seconds == pytest.approx(result.suite_size / result.promptbias_sps, rel=0.01)
    assert result.promptbias_tokens < result.naive_tokens  # the prompt runs once, not once per row
    for path in ("naive_same_dtype", "naive_fp32", "promptbias"):
        assert sum(result.class_distribution[path].values()) == pytest.approx(1.0, abs=1e-3)
    assert result.matmul_tflops_min <= result.matmul_tflops <= result.matmul_tflops_max
    for rate in ("reference_sps", "naive_same_dtype_sps", "naive_fp32_sps", "promptbias_sps"):
        assert result.as_dict()[rate] > 0
    assert result.scoring_fraction_of_peak > 0 and result.tuning_fraction_of_peak > 0
    assert result.naive_train_tps > 0 and result.promptbias_train_tps > 0
    assert "of the matmul rate" in bench_text(result)
    compiled = result.compiled  # the compiled path, on the same sentences and steps
    assert compiled is not None and "compiled (torch.compile) against eager" in bench_text(result)
    assert compiled.agreement_with_fp32 == {
        "eager": 1.0,
        "compiled": 1.0,
    }  # fp32 throughout: no rounding apart
    assert compiled.max_abs_dp_with_fp32["compiled"] < 1e-5
    assert compiled.compile_seconds["scoring"] > 0 and compiled.compile_seconds["tuning"] > 0
    assert compiled.sps == pytest.approx(result.promptbias_sps * compiled.scoring_speedup, rel=0.01)
