"""The measured matrix-product rate: a real measurement, checked against a second timing done here."""

from __future__ import annotations

import time

import torch

from promptbias.lm.machine import matmul_flops_per_second


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
