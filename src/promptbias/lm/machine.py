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

import torch

MATMUL_SIZE = 2048


def synchronize(device: torch.device) -> None:
    """Wait until the device has finished the queued work (CUDA runs asynchronously; a CPU does not)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_flops_per_second(
    dtype: torch.dtype = torch.bfloat16,
    device: torch.device | str = "cpu",
    seconds: float = 1.0,
    size: int = MATMUL_SIZE,
) -> float:
    """FLOP/s of repeated ``size x size`` matrix products in ``dtype`` on ``device`` for about ``seconds``.

    One product is ``2 size^3`` floating-point operations; the first product (allocation, kernel choice) is
    not timed.
    """
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
