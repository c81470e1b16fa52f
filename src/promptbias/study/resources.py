"""What a unit needs on a cluster: accelerator memory, the GPUs that gives, and a rough GPU time.

All of it is estimated from the model's size in parameters (its name, e.g. opt-13b), since the plan is made
before any model is downloaded; ``docs/cluster.md`` derives the numbers. The memory budget of a unit:

- weights: parameters x bytes of the dtype (bf16 on GPUs: 2);
- activations: the larger of tuning and scoring. Tuning back-propagates through the whole frozen model to
  the prompt, so every layer keeps its activations for one batch (about 34 bytes per token, layer and
  hidden unit in 16-bit, Korthikanti et al. 2022). Scoring keeps, per layer, the keys and values of the
  prompt copied for every row of a batch plus the rows' own (a few-shot prompt of ~360 tokens dominates);
- the soft prompt's optimizer state: P x H float32 values for the prompt, its gradient and AdamW's two
  moments (kilobytes to a few megabytes: negligible, listed to show it).

Layers x hidden width is estimated from the parameter count (N ~ 12 L H^2 with L ~ H/100, as in OPT,
LLaMA and GPT-3), which slightly overestimates small models: the budget errs on the safe side.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from promptbias.lm.batching import DEFAULT_BATCH_TOKENS, DEFAULT_MAX_ROWS, PREFIX_COPY_TOKENS
from promptbias.probes.kind import ProbeConfig
from promptbias.study.config import ModelEntry

KNOWN_SIZES_B = {"smollm2-135m": 0.135}
GPU_MEMORY_GB = 80.0  # one A100/H100 80 GB; --gpu-memory for other cards
DTYPE_BYTES = {"auto": 2, "bfloat16": 2, "float16": 2, "float32": 4}  # auto: bf16 on a GPU
TUNING_TOKENS = 16 * 128  # a training batch of 16 sentences, up to 128 tokens each with the prompt
SHORT_ROW_TOKENS = 16  # a short suite sentence with the end of its template: the most rows per batch
SENTENCE_TOKENS = 32  # a suite or test sentence under its template, on average, generously
TEMPLATE_TOKENS = 16  # the text of a template around the sentence
ACTIVATION_BYTES_16BIT = 34  # per token, layer and hidden unit, without recomputation
OVERHEAD_GB = 2.0  # CUDA context and libraries
HEADROOM = 1.2  # allocator fragmentation, longer-than-usual sentences
GIB = 1024**3
# Time: frozen-model tuning costs ~4N FLOPs per token (forward and the activations' backward, no weight
# gradients), scoring ~2N; at 30% of an A100's 312 bf16 TFLOP/s.
EFFECTIVE_FLOPS = 0.3 * 312e12
TRAIN_TOKENS_PER_SENTENCE = 48  # an SST-5 sentence (~30 tokens) with the template, the prompt run per batch


@dataclass(frozen=True)
class WorkerSettings:
    """What a worker asks a cluster for besides its GPUs, the memory of one GPU there, workers per model."""

    cpus: float = 1.0
    gpu_memory_gb: float = GPU_MEMORY_GB
    per_model: int = 1  # workers that share a model's units, each loading the model once


def model_size_b(name: str) -> float | None:
    """A model's size in billions of parameters, from the alias table or its name (opt-1.3b, galactica-125m)."""
    if name in KNOWN_SIZES_B:
        return KNOWN_SIZES_B[name]
    match = re.search(r"(\d+(?:\.\d+)?)([mMbB])(?![a-zA-Z])", Path(name).name)
    if match is None:
        return None
    value = float(match.group(1))
    return value / 1000 if match.group(2).lower() == "m" else value


@dataclass(frozen=True)
class MemoryBudget:
    """Accelerator memory of one unit, in GiB."""

    weights_gb: float
    activations_gb: float
    prompt_state_gb: float

    @property
    def total_gb(self) -> float:
        return (self.weights_gb + self.activations_gb + self.prompt_state_gb) * HEADROOM + OVERHEAD_GB


def transformer_shape(size_b: float) -> tuple[float, float]:
    """(layers, hidden width) of a dense decoder of ``size_b`` billion parameters, estimated."""
    hidden = (size_b * 1e9 * 100 / 12) ** (1 / 3)
    return size_b * 1e9 / (12 * hidden**2), hidden


def prefix_tokens(probe: ProbeConfig) -> int:
    """Tokens of the probe's shared prompt: its kind's (soft vectors, demonstrations), and the template."""
    return probe.probe_kind.prefix_tokens(probe) + TEMPLATE_TOKENS


def memory_budget(
    size_b: float, probe: ProbeConfig, dtype: str = "auto", batch_tokens: int = DEFAULT_BATCH_TOKENS
) -> MemoryBudget:
    """The accelerator memory a unit of a ``size_b``-billion-parameter model with ``probe`` needs, scoring
    ``batch_tokens`` sentence tokens per batch (the study's ``scoring.batch_tokens``)."""
    layers, hidden = transformer_shape(size_b)
    width = DTYPE_BYTES[dtype]
    prefix = prefix_tokens(probe)
    rows = min(
        DEFAULT_MAX_ROWS, max(1, batch_tokens // SHORT_ROW_TOKENS), max(8, PREFIX_COPY_TOKENS // prefix)
    )
    scoring = 2 * width * layers * hidden * (rows * prefix + batch_tokens)  # keys and values
    activations = scoring
    prompt_state = 0.0
    kind = probe.probe_kind
    if kind.tuned:
        tuning = ACTIVATION_BYTES_16BIT * width / 2 * layers * hidden * TUNING_TOKENS
        activations = max(scoring, tuning)
        prompt_state = 4 * 4 * kind.prefix_tokens(probe) * hidden  # value, gradient, two AdamW moments
    return MemoryBudget(size_b * 1e9 * width / GIB, activations / GIB, prompt_state / GIB)


def gpus_for(memory_gb: float, gpu_memory_gb: float = GPU_MEMORY_GB) -> float:
    """GPUs for ``memory_gb``: a quarter, half, three quarters or one GPU (shared), else whole GPUs."""
    share = memory_gb / gpu_memory_gb
    return math.ceil(share * 4) / 4 if share <= 1 else float(math.ceil(share))


def model_gpus(
    model: ModelEntry,
    probes: list[ProbeConfig],
    batch_tokens: int = DEFAULT_BATCH_TOKENS,
    gpu_memory_gb: float = GPU_MEMORY_GB,
) -> float:
    """GPUs of the worker that runs ``model``'s units: the study's ``gpus`` when given; none on the CPU;
    else enough for the largest budget of its probes (and the fp32 copy that reads the suite); one when the
    size is unknown."""
    if model.gpus is not None:
        return model.gpus
    if model.device == "cpu":
        return 0.0
    size_b = model_size_b(model.name)
    if size_b is None:
        return 1.0
    need = max(memory_budget(size_b, probe, model.dtype, batch_tokens).total_gb for probe in probes)
    if model.suite_in_fp32(on_cpu=False) and model.dtype != "float32":  # the fp32 copy that reads the suite
        need += size_b * 1e9 * DTYPE_BYTES["float32"] / GIB
    return gpus_for(need, gpu_memory_gb)


def gpu_minutes(size_b: float, trained_sentences: int, scored_sentences: int) -> float:
    """A rough time of a unit on one A100-class GPU, from its FLOPs (see EFFECTIVE_FLOPS)."""
    tokens_flops = 4 * trained_sentences * TRAIN_TOKENS_PER_SENTENCE + 2 * scored_sentences * SENTENCE_TOKENS
    return tokens_flops * size_b * 1e9 / EFFECTIVE_FLOPS / 60


def cluster_columns(
    model: ModelEntry,
    probe: ProbeConfig,
    probes: list[ProbeConfig],
    batch_tokens: int,
    trained: int,
    scored: int,
    cluster: WorkerSettings,
) -> dict[str, float | None]:
    """The plan's columns for a unit of ``model`` with ``probe`` (one of the study's ``probes``) that trains on
    ``trained`` sentences and scores ``scored``: what its worker asks for (GPUs, CPUs), its memory budget
    (GiB) and a GPU time."""
    size = model_size_b(model.name)
    known = size is not None
    return {
        "gpus": model_gpus(model, probes, batch_tokens, cluster.gpu_memory_gb),
        "cpus": cluster.cpus,
        "memory_gb": round(memory_budget(size, probe, model.dtype, batch_tokens).total_gb, 1)
        if known
        else None,
        "gpu_minutes": round(gpu_minutes(size, trained, scored), 1) if known else None,
    }


def cluster_footer(table: pd.DataFrame, cluster: WorkerSettings) -> str:
    """The plan's last line: the workers and the GPUs they hold at once; for the units of known size, the wall-clock time (the
    slowest model's units over its workers) and the GPU-hours held (each unit's time x its worker's GPUs)."""
    per_model = table.groupby("model", sort=False).agg(minutes=("gpu_minutes", "sum"), gpus=("gpus", "first"))
    wall = per_model["minutes"] / cluster.per_model
    held = (per_model["minutes"] * per_model["gpus"]).sum() / 60
    workers = len(per_model) * cluster.per_model
    return (
        f"Ray: {workers} workers ({cluster.per_model} per model) holding "
        f"{per_model['gpus'].sum() * cluster.per_model:g} GPUs at once ({cluster.gpu_memory_gb:g} GB each); "
        f"about {wall.max() / 60:.1f} h wall-clock (slowest: {wall.idxmax()}) and {held:.0f} GPU-hours "
        "for the units of known size (an estimate from FLOPs at 30% of an A100's bf16 peak; see docs/cluster.md)"
    )
