"""Shared fixtures: the shared data folder (PROMPTBIAS_DATA, set by the Makefile), tiny models, the tokenizer.

Every test runs without the shared folder (SST-5 and the Czarnowska suite ship inside the package), except the
ones that compare with what only that folder holds: the reference prediction files of other tools, and the
originals of the shipped data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared data folder; the tests that need it are skipped where it is not configured."""
    value = os.environ.get("PROMPTBIAS_DATA")
    if not value or not Path(value).is_dir():
        pytest.skip("PROMPTBIAS_DATA is not set to the shared data folder")
    return Path(value)


TINY_CONFIGS = {
    # OPT-350m's layout: post-layer-norm, embeddings projected in and out of a smaller width
    "opt": (
        "OPTConfig",
        {
            "hidden_size": 32,
            "num_hidden_layers": 2,
            "ffn_dim": 64,
            "num_attention_heads": 4,
            "word_embed_proj_dim": 16,
            "do_layer_norm_before": False,
            "max_position_embeddings": 256,
        },
    ),
    # Galactica: the OPT class with GeLU and pre-layer-norm
    "galactica": (
        "OPTConfig",
        {
            "hidden_size": 32,
            "num_hidden_layers": 2,
            "ffn_dim": 64,
            "num_attention_heads": 4,
            "word_embed_proj_dim": 32,
            "do_layer_norm_before": True,
            "activation_function": "gelu",
            "max_position_embeddings": 256,
        },
    ),
    "llama": (
        "LlamaConfig",
        {
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "max_position_embeddings": 256,
            "tie_word_embeddings": False,
        },
    ),
    # Gemma 3 (gemma-3-270m's class): embeddings scaled by sqrt(width) inside the embedding module, sliding-window
    # layers (a window shorter than prompt + sentence, longer than the shared prefix) beside a global one
    "gemma3": (
        "Gemma3TextConfig",
        {
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 3,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "head_dim": 8,
            "sliding_window": 24,
            "layer_types": ["sliding_attention", "sliding_attention", "full_attention"],
            "max_position_embeddings": 256,
        },
    ),
    "gpt2": (
        "GPT2Config",
        {"n_embd": 32, "n_layer": 2, "n_head": 4, "n_positions": 256, "bos_token_id": 2, "eos_token_id": 2},
    ),
}


@pytest.fixture(scope="session")
def embedded_tokenizer():
    """The embedded model's tokenizer (a byte-level BPE), shared by the tiny models."""
    from transformers import AutoTokenizer

    from promptbias.lm.model import resolve_source

    source = resolve_source("smollm2-135m")
    return AutoTokenizer.from_pretrained(source.location, gguf_file=source.gguf_file)


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory, embedded_tokenizer) -> dict[str, Path]:
    """Folders of tiny randomly initialised models of the OPT, Galactica, LLaMA, Gemma 3 and GPT-2 architectures."""
    import torch
    import transformers
    from transformers import AutoModelForCausalLM

    root = tmp_path_factory.mktemp("tiny_models")
    folders = {}
    for name, (config_class, settings) in TINY_CONFIGS.items():
        config = getattr(transformers, config_class)(vocab_size=len(embedded_tokenizer), **settings)
        torch.manual_seed(0)
        model = AutoModelForCausalLM.from_config(config)
        folder = root / name
        model.save_pretrained(folder)
        embedded_tokenizer.save_pretrained(folder)
        folders[name] = folder
    return folders
