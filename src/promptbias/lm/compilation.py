"""The compiled forward pass: the model's decoder through ``torch.compile`` (inductor), which fuses the per-layer
element-wise work (norms, rotary embeddings, the activation, the cache's copies) that eager PyTorch runs one
kernel at a time.

Shapes vary with sentence length and batch size; the decoder is compiled with dynamic shapes, so one
compilation serves every length and every batch of two rows or more (a one-row batch or a one-token row would
be compiled again: ``scoring`` pads them to two). The graphs compiled are then at most: the prompt's prefix,
the batches behind it (and without one, for a prompt with no prefix), each for scoring and for tuning.

Compiling costs minutes of CPU (docs/speed.md measures it) and saves a share of every step after it, so it
pays only on long work: ``auto`` compiles when the work ahead is estimated at ``COMPILE_PAYS_AFTER_MINUTES``
or more. Where compilation is not available (no C++ compiler, an unsupported model), the first call says so
once and the decoder runs uncompiled, with the same results.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any, Literal

# torch is imported where a decoder is compiled: the study file reads this module without it
if TYPE_CHECKING:
    import torch

CompileChoice = Literal["auto", "on", "off"]
COMPILE_CHOICES: tuple[CompileChoice, ...] = ("auto", "on", "off")
# measured on SmolLM2-135M, bf16, 2 cores (docs/speed.md): compiling scoring and tuning costs 2-8 minutes
# and saves 20-35% of their time afterwards, so it repays itself from about this much eager work
COMPILE_PAYS_AFTER_MINUTES = 30.0
COMPILE_MINUTES = 8.0  # scoring and tuning compiled with a cold cache, on the machine of docs/speed.md
# the sizes compiled as varying from the first call: rows and tokens of a batch, the tokens of the prefix
DYNAMIC_DIMS = {"input_ids": [0, 1], "inputs_embeds": [1]}
CACHE_DYNAMIC_DIMS = [0, 2]  # [rows, heads, positions, head width]
MIN_ROWS = 2  # dynamic shapes are specialised at 1: a batch is padded to 2 rows, a row to 2 tokens


def compile_wanted(choice: CompileChoice, eager_minutes: float | None) -> bool:
    """Whether to compile: ``on``/``off`` as said; ``auto`` when the work ahead (minutes uncompiled, None
    when unknown) is long enough to repay the compilation."""
    if choice != "auto":
        return choice == "on"
    return eager_minutes is not None and eager_minutes >= COMPILE_PAYS_AFTER_MINUTES


class CompiledDecoder:
    """``module`` (a model's ``base_model``) called through ``torch.compile``; until one call has succeeded, a
    failure to compile warns once and runs ``module`` uncompiled from then on."""

    def __init__(self, module: torch.nn.Module) -> None:
        import torch

        self.module = module
        self.compiled = torch.compile(module)
        self.mark = torch._dynamo.maybe_mark_dynamic
        self.state: Literal["untried", "compiled", "uncompiled"] = "untried"

    def mark_dynamic(self, inputs: dict[str, Any]) -> None:
        """Mark the sizes that vary as dynamic: the batch's rows and tokens, the prefix's length, and the same
        in the prefix's key/value cache. Only these: a size left to guess could be taken for a fixed one it
        happens to equal (a batch of 3 rows and 3 key/value heads) and compiled again."""
        for name, dims in DYNAMIC_DIMS.items():
            if name in inputs:
                self.mark(inputs[name], dims)
        cache = inputs.get("cache")
        for layer in getattr(cache, "layers", []):
            self.mark(layer.keys, CACHE_DYNAMIC_DIMS)
            self.mark(layer.values, CACHE_DYNAMIC_DIMS)

    @property
    def active(self) -> bool:
        """Whether calls go through the compiled decoder (not after a fallback)."""
        return self.state != "uncompiled"

    def __call__(self, **inputs: Any) -> Any:
        if self.state == "uncompiled":
            return self.module(**inputs)
        self.mark_dynamic(inputs)
        if self.state == "compiled":
            return self.compiled(**inputs)
        try:
            output = self.compiled(**inputs)
        except Exception as error:  # inductor and dynamo raise many kinds; none leaves partial results
            self.state = "uncompiled"
            warnings.warn(
                f"torch.compile is not available here ({_first_line(error)}); running uncompiled",
                stacklevel=2,
            )
            return self.module(**inputs)
        self.state = "compiled"
        return output


def _first_line(error: BaseException) -> str:
    """The first line of the error at the root of ``error``'s causes (the backend's failure says little)."""
    while error.__cause__ is not None:
        error = error.__cause__
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__
