"""The compiled forward pass: the same class scores and gradients as the eager one, one compilation for every
batch shape, and a fall-back to eager, said once, where compilation is not available."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
import torch

from promptbias.lm.compilation import COMPILE_PAYS_AFTER_MINUTES, compile_wanted
from promptbias.lm.model import load_model
from promptbias.lm.prompt_format import PromptTemplate, prefix_ids
from promptbias.lm.scoring import build_prefix, class_scores, encode_texts, score_texts
from promptbias.lm.verbalizer import build_verbalizer

PROMPTBIAS = [sys.executable, "-c", "from promptbias.cli import main; main()"]
TEMPLATE = PromptTemplate.parse("Review: {text}\nSentiment:")
# lengths from 1 token up: batches of one row and of many, rows of one token and of many
SENTENCES = [
    "Fine.",
    "I hate how deaf people act.",
    "Mature people are inspiring.",
    "It was okay.",
    "x",
] * 3 + ["The film is a quiet, lovely piece of work that stays with you for days after the credits roll."]


@pytest.fixture
def llama(tiny_models):
    torch._dynamo.reset()  # every test compiles afresh: a graph cached by another test proves nothing here
    yield load_model(str(tiny_models["llama"]), dtype="float32")
    torch._dynamo.reset()  # and leaves nothing behind (a failed compilation is remembered)


def test_auto_compiles_only_work_that_repays_it():
    assert not compile_wanted("auto", None)  # unknown size: not compiled
    assert not compile_wanted("auto", COMPILE_PAYS_AFTER_MINUTES - 1)
    assert compile_wanted("auto", COMPILE_PAYS_AFTER_MINUTES)
    assert compile_wanted("on", 0.1) and not compile_wanted("off", 1000.0)


def test_compiled_scores_and_gradients_match_eager(llama):
    verbalizer = build_verbalizer(llama.tokenizer)
    soft = torch.randn(4, llama.hidden_size, generator=torch.Generator().manual_seed(1))
    eager = score_texts(llama, verbalizer, TEMPLATE, SENTENCES, soft, progress=False, batch_tokens=64)
    compiled = llama.compiled()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no fall-back here: a C++ compiler is present
        fast = score_texts(compiled, verbalizer, TEMPLATE, SENTENCES, soft, progress=False, batch_tokens=64)
        one = score_texts(compiled, verbalizer, TEMPLATE, ["x"], soft, progress=False)
    assert compiled.runs_compiled
    np.testing.assert_allclose(fast, eager, atol=1e-5)
    np.testing.assert_allclose(one[0], eager[SENTENCES.index("x")], atol=1e-5)

    head = prefix_ids(llama.tokenizer, TEMPLATE)
    rows = encode_texts(llama, verbalizer, TEMPLATE, SENTENCES[:5], len(head) + 4)
    labels = torch.tensor([0, 1, 2, 1, 0])
    gradients = []
    for lm in (llama, compiled):
        parameter = torch.nn.Parameter(soft.clone())
        scores = class_scores(lm, verbalizer, build_prefix(lm, parameter, head), rows)
        torch.nn.functional.cross_entropy(scores, labels).backward()
        gradients.append(parameter.grad)
    torch.testing.assert_close(gradients[1], gradients[0], atol=1e-5, rtol=1e-4)


def test_one_compilation_serves_every_batch_shape(llama):
    verbalizer = build_verbalizer(llama.tokenizer)
    compiled = llama.compiled()
    score_texts(compiled, verbalizer, TEMPLATE, SENTENCES[:2], progress=False)  # compiles the graphs
    before = torch._dynamo.utils.counters["stats"]["unique_graphs"]
    for size in (1, 3, 7, len(SENTENCES)):  # other batch sizes and row lengths, one row alone included
        score_texts(compiled, verbalizer, TEMPLATE, SENTENCES[:size], progress=False, batch_tokens=48)
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] == before


def test_without_a_compiler_predict_runs_uncompiled_and_says_so_once(tiny_models, tmp_path):
    """A machine without a C++ compiler (CXX names none): ``predict --compile on`` warns once, exits 0, and
    writes the same predictions as ``--compile off``."""
    tables = {}
    for choice in ("on", "off"):
        out = tmp_path / f"{choice}.parquet"
        done = subprocess.run(
            [
                *PROMPTBIAS,
                "predict",
                "--model",
                str(tiny_models["llama"]),
                "--template",
                "Review: {text}\nSentiment:",
                "--suite",
                "builtin:general",
                "--templates-per-category",
                "1",
                "--out",
                str(out),
                "--compile",
                choice,
            ],
            env={**os.environ, "CXX": str(tmp_path / "no-such-compiler")},
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stderr
        tables[choice] = pd.read_parquet(out)
        assert done.stderr.count("torch.compile is not available here") == (choice == "on")
    pd.testing.assert_frame_equal(tables["on"], tables["off"])


def test_the_estimate_says_what_compiling_costs_where_it_compiles():
    from promptbias.lm.compilation import COMPILE_MINUTES
    from promptbias.study.config import load_study
    from promptbias.study.plan import estimate_text, plan_units, resolve_suite

    said = f"plus up to about {COMPILE_MINUTES:.0f} min per model to compile"
    for name, compiles in (("quickstart", False), ("full", True)):  # 8 minutes of work, and about 90
        study = load_study(f"builtin:{name}")
        text = estimate_text(study, plan_units(study), len(resolve_suite(study)), 0.35e12)
        assert (said in text) == compiles, text
    quick = load_study("builtin:quickstart")
    forced = quick.model_copy(update={"models": [quick.models[0].model_copy(update={"compile": "on"})]})
    assert said in estimate_text(forced, plan_units(forced), len(resolve_suite(forced)), 0.35e12)
