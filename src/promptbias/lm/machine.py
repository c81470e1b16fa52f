"""The machine: the versions of what produces results, and its own limit, the dense matrix-product rate
measured in the working dtype, in this process.

Machines of one kind differ by 2.5x in speed, so absolute times say little. Budgets and speed figures are
stated against the rate measured here: a time at a rate, or a fraction of that rate.
"""

from __future__ import annotations

import platform
import sys
import time
from importlib import metadata
from pathlib import Path

import torch

MATMUL_SIZE = 2048


def synchronize(device: torch.device) -> None:
    """Wait until the device has finished the queued work (CUDA runs asynchronously; a CPU does not)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def cpu_has_fast_bf16(cpuinfo: str | None = None) -> bool:
    """Whether the CPU multiplies bf16 matrices natively (AMX or AVX512-BF16): there bf16 is several times fp32."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return False
    flags = set(cpuinfo.split())
    return bool({"amx_bf16", "avx512_bf16"} & flags)


def cpu_dtype() -> torch.dtype:
    """The dtype a model runs in on this CPU by default: bf16 where the CPU multiplies it natively, else fp32
    (elsewhere bf16 is emulated, about a hundred times slower than fp32)."""
    return torch.bfloat16 if cpu_has_fast_bf16() else torch.float32


def dtype_name(dtype: torch.dtype) -> str:
    """``bf16``, ``fp32``, ``fp16``: how the tool's messages name a dtype."""
    return {torch.bfloat16: "bf16", torch.float32: "fp32", torch.float16: "fp16"}.get(dtype, str(dtype))


def matmul_flops_per_second(
    dtype: torch.dtype | None = None,
    device: torch.device | str = "cpu",
    seconds: float = 1.0,
    size: int = MATMUL_SIZE,
) -> float:
    """FLOP/s of repeated ``size x size`` matrix products in ``dtype`` (None: this CPU's working dtype,
    ``cpu_dtype``) on ``device`` for about ``seconds``.

    One product is ``2 size^3`` floating-point operations; the first product (allocation, kernel choice) is
    not timed.
    """
    dtype = cpu_dtype() if dtype is None else dtype
    device = torch.device(device)
    generator = torch.Generator(device=device).manual_seed(0)
    left = torch.randn(size, size, generator=generator, device=device).to(dtype)
    right = torch.randn(size, size, generator=generator, device=device).to(dtype)
    torch.matmul(left, right)
    synchronize(device)
    products, started = 0, time.perf_counter()
    while True:
        torch.matmul(left, right)
        products += 1
        if products % 4 == 0:
            synchronize(device)
            elapsed = time.perf_counter() - started
            if elapsed >= seconds:
                return 2.0 * size**3 * products / elapsed


def environment() -> dict[str, str]:
    """Versions of what produced the results."""
    packages = ["promptbias", "torch", "transformers", "peft", "pandas", "numpy", "scipy"]
    versions = {}
    for package in packages:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return {"python": sys.version.split()[0], "platform": platform.platform(), **versions}
