"""Model sources, device and dtype selection (the logic ``predict`` and ``bench`` share), on the CPU."""

from __future__ import annotations

import pytest
import torch

from promptbias.errors import InputError
from promptbias.lm.machine import cpu_has_fast_bf16
from promptbias.lm.model import resolve_source, select_device, select_dtype

AMX_CPU = "flags : fpu vme avx512f avx512bw amx_bf16 amx_tile amx_int8"
AVX512_BF16_CPU = "flags : fpu vme avx512f avx512_bf16"
PLAIN_CPU = "flags : fpu vme sse2 avx2 fma"


def test_fast_bf16_is_read_from_the_cpu_flags():
    assert cpu_has_fast_bf16(AMX_CPU)
    assert cpu_has_fast_bf16(AVX512_BF16_CPU)
    assert not cpu_has_fast_bf16(PLAIN_CPU)


def test_auto_device_is_cuda_when_there_is_one():
    assert select_device("auto", cuda_available=True) == torch.device("cuda")
    assert select_device("auto", cuda_available=False) == torch.device("cpu")
    assert select_device("cpu", cuda_available=True) == torch.device("cpu")
    assert select_device("cuda:1", cuda_available=True) == torch.device("cuda:1")


def test_asking_for_cuda_without_one_is_an_input_error():
    with pytest.raises(InputError, match="no CUDA device"):
        select_device("cuda", cuda_available=False)


def test_auto_dtype_follows_the_device_and_the_cpu():
    assert select_dtype("auto", torch.device("cuda")) == torch.bfloat16
    assert select_dtype("auto", torch.device("cpu"), fast_cpu_bf16=True) == torch.bfloat16
    assert select_dtype("auto", torch.device("cpu"), fast_cpu_bf16=False) == torch.float32
    assert select_dtype("float16", torch.device("cpu")) == torch.float16
    with pytest.raises(InputError, match="unknown dtype"):
        select_dtype("int8", torch.device("cpu"))


def test_sources(tmp_path, tiny_models):
    alias = resolve_source("smollm2-135m")
    assert alias.gguf_file == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert resolve_source(str(tiny_models["opt"])).gguf_file is None
    assert resolve_source("facebook/opt-350m").location == "facebook/opt-350m"  # a hub id, checked on loading
    with pytest.raises(InputError, match="model path does not exist"):
        resolve_source(str(tmp_path / "missing"))
    with pytest.raises(InputError, match="GGUF file not found"):
        resolve_source(str(tmp_path / "model.gguf"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match=r"no config\.json"):
        resolve_source(str(tmp_path / "empty"))
