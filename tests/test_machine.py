"""The measured matrix-product rate: a real measurement, checked against a second timing done here."""

from __future__ import annotations

import time

import torch

from promptbias.cli import wall_time_line
from promptbias.lm.machine import cpu_dtype, cpu_has_fast_bf16, dtype_name, matmul_flops_per_second


def test_matmul_rate_agrees_with_a_direct_timing():
    rate = matmul_flops_per_second(torch.float32, seconds=0.3, size=256)
    left, right = torch.ones(256, 256), torch.ones(256, 256)
    started = time.perf_counter()
    for _ in range(20):
        torch.matmul(left, right)
    direct = 20 * 2 * 256**3 / (time.perf_counter() - started)
    assert rate > 0
    # the same work timed two ways agrees within a factor that machine noise cannot exceed
    assert direct / 10 < rate < direct * 10


def test_the_rate_is_measured_in_the_dtype_models_run_in_here():
    # a CPU without native bf16 emulates it about a hundred times slower than fp32: its models run in fp32,
    # and a bf16 rate would put the estimate of a few minutes at days
    assert cpu_dtype() == (torch.bfloat16 if cpu_has_fast_bf16() else torch.float32)
    assert dtype_name(torch.float32) == "fp32" and dtype_name(torch.bfloat16) == "bf16"
    line = wall_time_line(125.4, 0.7e12, "fp32")
    assert line.strip() == "Wall time: 2 min 05 s; this CPU's fp32 matmul rate now: 0.70 TFLOP/s"
