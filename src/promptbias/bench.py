"""Speed against the machine's own limit: four ways to classify the same suite sentences under the same
soft prompt, and two ways to tune, in one process, each stated as a fraction of the measured matmul rate.

- ``reference``: the reference pipeline's method: the transformers text-generation pipeline on its
  hand-written prompt, batch 4, two new tokens, the label parsed from the generated text;
- ``naive``: PEFT's prompt-tuning model, its plain forward pass over prompt + sentence, full-vocabulary
  logits, batch 32 in input order; once in the working dtype and once in fp32;
- ``promptbias``: the project's scoring path as ``predict`` runs it (``scoring.score_texts``).
``reference``, ``naive`` (same dtype) and ``promptbias`` run in the working dtype, so their ratios measure the
method alone. The prompt is a saved adapter or one tuned here for a few dozen seeded steps on SST-5 train.

The machine's limit is the dense matmul rate in the working dtype (``machine.matmul_flops_per_second``),
sampled right before and right after every timed piece of work: the rate of one machine drifts within
seconds, so each piece is judged against the rate around it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from peft import PromptTuningConfig, get_peft_model
from transformers import PreTrainedModel, pipeline

from promptbias.data.training import load_split
from promptbias.labels import LABELS
from promptbias.lm.machine import matmul_flops_per_second, synchronize
from promptbias.lm.model import LanguageModel, load_model, select_dtype
from promptbias.lm.prompt_format import PromptTemplate, prefix_ids
from promptbias.lm.scoring import (
    DEFAULT_BATCH_TOKENS,
    DEFAULT_MAX_ROWS,
    batch_plan,
    build_prefix,
    class_scores,
    encode_texts,
    pad_rows,
    score_texts,
)
from promptbias.lm.verbalizer import Verbalizer, build_verbalizer
from promptbias.probes.kind import REFERENCE_TEMPLATE, SOFT_PROMPT_TEMPLATE
from promptbias.probes.soft_prompt import SoftPromptConfig
from promptbias.probes.tuning import load_soft_prompt, training_schedule, tune_soft_prompt
from promptbias.suites.loading import czarnowska_path, load_suite

TIMED_STEP_LR = 0.01  # the rate of the timed training steps: only their speed is measured

NAIVE_BATCH = 32
REFERENCE_BATCH = 4
BENCH_TUNING_STEPS = 40  # steps of the prompt tuned in the bench when no --prompt is given
BENCH_DEV_SENTENCES = 200  # SST-5 validation sentences that pick the bench prompt (step 0 or the last)
RATE_SECONDS = 1.0  # length of one sample of the matmul rate
# Tuning with frozen weights: the backward pass computes gradients of the activations (one more product per
# matrix product of the forward pass) and none of the weights, so a step costs 2x its forward FLOPs.
TRAINING_FLOPS_FACTOR = 2


@dataclass(frozen=True)
class CompiledSpeed:
    """The promptbias path compiled (``torch.compile``), beside the eager one: speeds, fractions of the matmul
    rate, speed-ups, the compilation's own time, and agreement with the exact fp32 path."""

    sps: float
    scoring_fraction_of_peak: float
    train_tps: float
    tuning_fraction_of_peak: float
    scoring_speedup: float
    tuning_speedup: float
    # scoring: the first compiled pass less a second one; tuning: the first compiled step less a mean step
    compile_seconds: dict[str, float]
    agreement_with_fp32: dict[str, float]  # eager and compiled, each against the fp32 promptbias path
    max_abs_dp_with_fp32: dict[str, float]


@dataclass(frozen=True)
class BenchResult:
    sentences: int
    suite: str
    suite_size: int
    model: str
    device: str
    dtype: str
    prompt: str
    prompt_dev_accuracy: dict[str, float] | None
    matmul_tflops: float
    matmul_tflops_min: float
    matmul_tflops_max: float
    reference_sps: float
    naive_same_dtype_sps: float
    naive_fp32_sps: float
    promptbias_sps: float
    agreement: float
    max_abs_dp: float
    agreement_fp32: float
    max_abs_dp_fp32: float
    agreement_with_naive_fp32: dict[str, float]
    agreement_ceiling: float
    class_distribution: dict[str, dict[str, float]]
    reference_parse_failures: int
    promptbias_tokens: int
    naive_tokens: int
    scoring_tflops: float
    scoring_fraction_of_peak: float
    suite_seconds: float
    train_steps: int
    naive_train_tps: float
    promptbias_train_tps: float
    tuning_tflops: float
    tuning_fraction_of_peak: float
    compiled: CompiledSpeed | None  # None where torch.compile is not available

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def timed(device: torch.device, work: Callable[[], object]) -> tuple[object, float]:
    """``work()`` and its wall time in seconds, with the device's queue drained before and after."""
    synchronize(device)
    started = time.perf_counter()
    result = work()
    synchronize(device)
    return result, time.perf_counter() - started


@dataclass(frozen=True)
class Timing:
    """Wall seconds of one piece of work and the matmul rate (FLOP/s) measured around it."""

    seconds: float
    limit: float


@dataclass
class RateMeter:
    """Times work between two samples of the matmul rate, and keeps every sample."""

    device: torch.device
    dtype: torch.dtype
    seconds: float = RATE_SECONDS
    samples: list[float] = field(default_factory=list)

    def sample(self) -> float:
        rate = matmul_flops_per_second(self.dtype, self.device, seconds=self.seconds)
        self.samples.append(rate)
        return rate

    def time(self, work: Callable[[], Any]) -> tuple[Any, Timing]:
        before = self.sample()
        result, seconds = timed(self.device, work)
        return result, Timing(seconds, (before + self.sample()) / 2)


# ---- FLOPs: what each path actually ran -------------------------------------------------------------------


def linear_parameters(model: PreTrainedModel) -> int:
    """Entries of the weight matrices that multiply every token a layer stack processes: all matrices but
    the embedding tables (lookups) and the output head (the scoring path projects three of its rows, at one
    position). Norm weights and biases are additions, not products."""
    skipped = {id(p) for m in model.modules() if isinstance(m, torch.nn.Embedding) for p in m.parameters()}
    head = model.get_output_embeddings()
    if head is not None:
        skipped |= {id(p) for p in head.parameters()}
    return sum(p.numel() for p in model.parameters() if p.dim() >= 2 and id(p) not in skipped)


@dataclass(frozen=True)
class Work:
    """Token positions run through the layers, and query-key pairs of causal attention."""

    tokens: int = 0
    attention_pairs: int = 0

    def __add__(self, other: Work) -> Work:
        return Work(self.tokens + other.tokens, self.attention_pairs + other.attention_pairs)

    def flops(self, model: PreTrainedModel) -> float:
        """Matrix-product FLOPs: 2 per linear parameter per token, and per layer 4 x width per query-key
        pair (scores and the weighted sum of values)."""
        config = model.config.get_text_config()
        return 2.0 * linear_parameters(model) * self.tokens + (
            4.0 * config.hidden_size * config.num_hidden_layers * self.attention_pairs
        )


def batch_work(rows: int, width: int, behind: int) -> Work:
    """``rows`` rows padded to ``width`` (pads are computed too) behind a cache of ``behind`` positions:
    query ``i`` of a row sees the cache and the ``i + 1`` positions up to itself."""
    return Work(rows * width, rows * (width * behind + width * (width + 1) // 2))


def scoring_work(prefix_length: int, widths: Sequence[tuple[int, int]], passes: int = 1) -> Work:
    """The promptbias path: the prefix once, then each ``(rows, width)`` batch behind its cache, ``passes``
    times (one per label word when words have several tokens)."""
    work = batch_work(1, prefix_length, 0)
    for rows, width in widths:
        for _ in range(passes):
            work += batch_work(rows, width, prefix_length)
    return work


def naive_work(prefix_length: int, lengths: Sequence[int], batch: int) -> Work:
    """The naive path: each batch of ``batch`` rows in input order, prompt and sentence padded together."""
    work = Work()
    for start in range(0, len(lengths), batch):
        chunk = lengths[start : start + batch]
        work += batch_work(len(chunk), prefix_length + max(chunk), 0)
    return work


# ---- the four scoring paths -------------------------------------------------------------------------------


def parse_label(generated: str) -> int | None:
    """The first label word in generated text (the reference's parse); None when there is none."""
    lowered = generated.lower()
    found = [(lowered.find(label), index) for index, label in enumerate(LABELS) if label in lowered]
    return min(found)[1] if found else None


def reference_predictions(lm: LanguageModel, texts: list[str]) -> np.ndarray:
    """Labels by generation: the text-generation pipeline, batch 4, two new tokens, parsed; failures are -1."""
    template = PromptTemplate.parse(REFERENCE_TEMPLATE)
    generator = pipeline("text-generation", model=lm.model, tokenizer=lm.tokenizer, device=lm.device)
    outputs = generator(
        [template.render(text) for text in texts],
        batch_size=REFERENCE_BATCH,
        max_new_tokens=2,
        do_sample=False,
        return_full_text=False,
        pad_token_id=lm.tokenizer.pad_token_id,
    )
    labels = [parse_label(output[0]["generated_text"]) for output in outputs]
    return np.array([-1 if label is None else label for label in labels])


def peft_model(model: PreTrainedModel, soft: torch.Tensor) -> torch.nn.Module:
    """PEFT's prompt-tuning model around ``model`` with ``soft`` as its virtual tokens."""
    config = PromptTuningConfig(
        task_type="CAUSAL_LM", num_virtual_tokens=soft.shape[0], token_dim=soft.shape[1]
    )
    wrapped = get_peft_model(model, config)
    with torch.no_grad():
        wrapped.prompt_encoder["default"].embedding.weight.copy_(soft)
    return wrapped


def naive_probabilities(
    wrapped: torch.nn.Module, rows: list[list[int]], verbalizer: Verbalizer, device: torch.device
) -> np.ndarray:
    """Class probabilities from PEFT's forward pass: batches of 32 in input order, full logits, the label
    tokens' logits at the last real position softmaxed."""
    virtual = wrapped.peft_config["default"].num_virtual_tokens
    probabilities = []
    with torch.inference_mode():
        for start in range(0, len(rows), NAIVE_BATCH):
            ids, lengths = pad_rows(rows[start : start + NAIVE_BATCH], 0, device)
            mask = (torch.arange(ids.shape[1], device=device)[None] < lengths[:, None]).long()
            logits = wrapped(input_ids=ids, attention_mask=mask).logits
            last = logits[torch.arange(len(ids), device=device), virtual + lengths - 1]
            probabilities.append(torch.softmax(last[:, verbalizer.first_tokens].float(), dim=-1).cpu())
    return torch.cat(probabilities).numpy()


# ---- the two training steps -------------------------------------------------------------------------------


def naive_train_tokens(
    wrapped: torch.nn.Module,
    head: list[int],
    rows: list[list[int]],
    labels: torch.Tensor,
    verbalizer: Verbalizer,
    device: torch.device,
) -> Callable[[list[int]], int]:
    """The plain PEFT step (full logits, cross-entropy over the label tokens, AdamW) as a function of one
    batch; it returns the batch's sentence tokens."""
    parameters = [p for p in wrapped.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(parameters, lr=TIMED_STEP_LR)
    virtual = wrapped.peft_config["default"].num_virtual_tokens

    def step(batch: list[int]) -> int:
        ids, lengths = pad_rows([head + rows[index] for index in batch], 0, device)
        mask = (torch.arange(ids.shape[1], device=device)[None] < lengths[:, None]).long()
        logits = wrapped(input_ids=ids, attention_mask=mask).logits
        last = logits[torch.arange(len(ids), device=device), virtual + lengths - 1]
        loss = torch.nn.functional.cross_entropy(last[:, verbalizer.first_tokens].float(), labels[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return sum(len(rows[index]) for index in batch)

    return step


def promptbias_train_tokens(
    lm: LanguageModel,
    head: list[int],
    soft: torch.Tensor,
    rows: list[list[int]],
    labels: torch.Tensor,
    verbalizer: Verbalizer,
) -> Callable[[list[int]], int]:
    """The project's tuning step (the loop body of ``tune_soft_prompt``) as a function of one batch; it
    returns the batch's sentence tokens."""
    parameter = torch.nn.Parameter(soft.clone().to(lm.device))
    optimizer = torch.optim.AdamW([parameter], lr=TIMED_STEP_LR)

    def step(batch: list[int]) -> int:
        batch_rows = [rows[index] for index in batch]
        scores = class_scores(lm, verbalizer, build_prefix(lm, parameter, head), batch_rows)
        loss = torch.nn.functional.cross_entropy(scores, labels[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return sum(len(row) for row in batch_rows)

    return step


def train_rate(
    meter: RateMeter, step: Callable[[list[int]], int], batches: list[list[int]]
) -> tuple[float, Timing]:
    """Sentence tokens per second over ``batches[1:]`` (the first is a warm-up, not timed)."""
    step(batches[0])
    tokens, timing = meter.time(lambda: sum(step(batch) for batch in batches[1:]))
    return tokens / timing.seconds, timing


# ---- the prompt and the sentences ------------------------------------------------------------------------


@dataclass(frozen=True)
class BenchPrompt:
    soft: torch.Tensor
    template: PromptTemplate
    verbalizer: Verbalizer
    description: str
    dev_accuracy: dict[str, float] | None


def saved_prompt(lm: LanguageModel, folder: Path) -> BenchPrompt:
    saved = load_soft_prompt(folder)
    verbalizer = build_verbalizer(lm.tokenizer, saved.label_words)
    return BenchPrompt(saved.prompt, saved.template, verbalizer, f"saved: {folder}", None)


def tuned_prompt(lm: LanguageModel, train: pd.DataFrame, steps: int, seed: int) -> BenchPrompt:
    """A prompt tuned for ``steps`` seeded steps on SST-5 train; dev accuracy at step 0 and at the end."""
    verbalizer = build_verbalizer(lm.tokenizer)
    template = PromptTemplate.parse(SOFT_PROMPT_TEMPLATE)
    dev = load_split("sst5", "validation").sample(n=BENCH_DEV_SENTENCES, random_state=seed)
    settings = SoftPromptConfig(max_steps=steps, eval_every=steps)
    result = tune_soft_prompt(lm, verbalizer, template, train, dev, settings, seed, progress=False)
    accuracy = {
        "step_0": result.history[0]["dev_accuracy"],
        f"step_{steps}": result.history[-1]["dev_accuracy"],
    }
    description = f"tuned here: {steps} steps on SST-5 train (seed {seed}), kept step {result.best_step}"
    return BenchPrompt(result.prompt, template, verbalizer, description, accuracy)


def bench_suite(seed: int = 0) -> tuple[str, pd.DataFrame]:
    """The suite the bench samples: the Czarnowska file when available, else the built-in suite."""
    name = "czarnowska" if czarnowska_path() is not None else "builtin:general"
    return name, load_suite(name)


def compare(probabilities: np.ndarray, reference: np.ndarray) -> tuple[float, float]:
    """Share of equal argmax, and the largest absolute difference of a class probability."""
    same = probabilities.argmax(axis=1) == reference.argmax(axis=1)
    return round(float(same.mean()), 4), round(float(np.abs(probabilities - reference).max()), 4)


def class_distribution(labels: np.ndarray) -> dict[str, float]:
    """Share of each predicted class (and of unparsed answers, label -1, when there are any)."""
    shares = {label: round(float((labels == index).mean()), 4) for index, label in enumerate(LABELS)}
    if (labels == -1).any():
        shares["unparsed"] = round(float((labels == -1).mean()), 4)
    return shares


def run_bench(
    model: str = "smollm2-135m",
    sentences: int = 2000,
    *,
    device: str = "auto",
    dtype: str = "auto",
    train_steps: int = 8,
    prompt: Path | None = None,
    tuning_steps: int = BENCH_TUNING_STEPS,
    seed: int = 0,
    rate_seconds: float = RATE_SECONDS,
) -> BenchResult:
    """Measure the four scoring paths and the two training steps on the same sentences and soft prompt."""
    suite_name, suite = bench_suite()
    sample = suite.sample(n=min(sentences, len(suite)), random_state=seed).reset_index(drop=True)
    texts = list(sample["text"])
    full = load_model(model, dtype="float32", device=device)
    working = select_dtype(dtype, full.device)
    # loaded again rather than copied and cast: a cast copy of the fp32 model scored at half the speed
    fast = load_model(model, dtype=str(working).removeprefix("torch."), device=device)
    meter = RateMeter(full.device, working, rate_seconds)
    train = load_split("sst5", "train")
    bench_prompt = saved_prompt(fast, prompt) if prompt else tuned_prompt(fast, train, tuning_steps, seed)
    soft, template, verbalizer = bench_prompt.soft, bench_prompt.template, bench_prompt.verbalizer

    fast_probabilities, fast_timing = meter.time(
        lambda: score_texts(fast, verbalizer, template, texts, soft, progress=False)
    )
    head = prefix_ids(full.tokenizer, template)
    prefix_length = soft.shape[0] + len(head)
    unique = list(dict.fromkeys(texts))
    unique_rows = encode_texts(fast, verbalizer, template, unique, prefix_length)
    plan = batch_plan(unique_rows, prefix_length, DEFAULT_BATCH_TOKENS, DEFAULT_MAX_ROWS)
    widths = [(len(batch), max(len(unique_rows[index]) for index in batch)) for batch in plan]
    passes = 1 if verbalizer.single_token else len(verbalizer.token_ids)
    promptbias_work = scoring_work(prefix_length, widths, passes)
    scoring_flops = promptbias_work.flops(fast.model)

    rows = [head + row for row in encode_texts(fast, verbalizer, template, texts, prefix_length)]
    naive_fast = peft_model(fast.model, soft)
    naive_same, naive_same_timing = meter.time(
        lambda: naive_probabilities(naive_fast, rows, verbalizer, fast.device)
    )
    naive_full = peft_model(full.model, soft)
    naive_fp32, naive_fp32_timing = meter.time(
        lambda: naive_probabilities(naive_full, rows, verbalizer, full.device)
    )
    reference_labels, reference_timing = meter.time(lambda: reference_predictions(fast, texts))

    train_rows = encode_texts(fast, verbalizer, template, list(train["text"]), prefix_length)
    train_labels = torch.tensor(train["label"].to_numpy(), device=fast.device)
    schedule = training_schedule(
        [len(row) for row in train_rows], SoftPromptConfig(max_steps=train_steps + 1), seed
    )
    fast_step = promptbias_train_tokens(fast, head, soft, train_rows, train_labels, verbalizer)
    fast_tps, fast_train_timing = train_rate(meter, fast_step, schedule)
    naive_step = naive_train_tokens(naive_fast, head, train_rows, train_labels, verbalizer, fast.device)
    naive_tps, _ = train_rate(meter, naive_step, schedule)
    tuning_flops = TRAINING_FLOPS_FACTOR * sum(
        (
            scoring_work(prefix_length, [(len(batch), max(len(train_rows[i]) for i in batch))], passes)
            for batch in schedule[1:]
        ),
        Work(),
    ).flops(fast.model)

    exact = score_texts(full, verbalizer, template, texts, soft, progress=False)
    eager = EagerSpeed(
        len(texts) / fast_timing.seconds, fast_tps, scoring_flops, tuning_flops, fast_probabilities, exact
    )
    compiled = compiled_speed(
        meter,
        fast,
        lambda lm: score_texts(lm, verbalizer, template, texts, soft, progress=False),
        lambda lm: promptbias_train_tokens(lm, head, soft, train_rows, train_labels, verbalizer),
        schedule,
        eager,
    )
    agreement, max_abs_dp = compare(fast_probabilities, naive_same)
    agreement_fp32, max_abs_dp_fp32 = compare(exact, naive_fp32)
    fast_labels = np.asarray(fast_probabilities).argmax(axis=1)
    sps = len(texts) / fast_timing.seconds
    return BenchResult(
        sentences=len(texts),
        suite=suite_name,
        suite_size=len(suite),
        model=model,
        device=str(full.device),
        dtype=str(working).removeprefix("torch."),
        prompt=bench_prompt.description,
        prompt_dev_accuracy=bench_prompt.dev_accuracy,
        matmul_tflops=figures(float(np.mean(meter.samples)) / 1e12),
        matmul_tflops_min=figures(min(meter.samples) / 1e12),
        matmul_tflops_max=figures(max(meter.samples) / 1e12),
        reference_sps=figures(len(texts) / reference_timing.seconds),
        naive_same_dtype_sps=figures(len(texts) / naive_same_timing.seconds),
        naive_fp32_sps=figures(len(texts) / naive_fp32_timing.seconds),
        promptbias_sps=figures(sps),
        agreement=agreement,
        max_abs_dp=max_abs_dp,
        agreement_fp32=agreement_fp32,
        max_abs_dp_fp32=max_abs_dp_fp32,
        agreement_with_naive_fp32={
            "promptbias": compare(fast_probabilities, naive_fp32)[0],
            "naive_same_dtype": compare(naive_same, naive_fp32)[0],
        },
        agreement_ceiling=compare(exact, naive_same)[0],
        class_distribution={
            "reference": class_distribution(reference_labels),
            "naive_same_dtype": class_distribution(naive_same.argmax(axis=1)),
            "naive_fp32": class_distribution(naive_fp32.argmax(axis=1)),
            "promptbias": class_distribution(fast_labels),
        },
        reference_parse_failures=int((reference_labels == -1).sum()),
        promptbias_tokens=promptbias_work.tokens,
        naive_tokens=naive_work(prefix_length, [len(row) - len(head) for row in rows], NAIVE_BATCH).tokens,
        scoring_tflops=figures(scoring_flops / fast_timing.seconds / 1e12),
        scoring_fraction_of_peak=figures(scoring_flops / fast_timing.seconds / fast_timing.limit),
        suite_seconds=figures(len(suite) / sps),
        train_steps=train_steps,
        naive_train_tps=figures(naive_tps),
        promptbias_train_tps=figures(fast_tps),
        tuning_tflops=figures(tuning_flops / fast_train_timing.seconds / 1e12),
        tuning_fraction_of_peak=figures(tuning_flops / fast_train_timing.seconds / fast_train_timing.limit),
        compiled=compiled,
    )


@dataclass(frozen=True)
class EagerSpeed:
    """What the compiled path is set against: the eager path's speeds, the FLOPs of the timed work, the eager
    bf16 class probabilities and the exact fp32 ones."""

    sps: float
    train_tps: float
    scoring_flops: float
    tuning_flops: float
    probabilities: np.ndarray
    exact: np.ndarray


def compiled_speed(
    meter: RateMeter,
    lm: LanguageModel,
    score: Callable[[LanguageModel], np.ndarray],
    make_step: Callable[[LanguageModel], Callable[[list[int]], int]],
    schedule: list[list[int]],
    eager: EagerSpeed,
) -> CompiledSpeed | None:
    """The promptbias path compiled, on the same sentences and steps as the eager one; None when compiling
    is not available here (``lm`` then ran uncompiled, and said so)."""
    compiled = lm.compiled()
    _, first_scoring = timed(lm.device, lambda: score(compiled))  # compiles the scoring graphs
    if not compiled.runs_compiled:
        return None
    probabilities, scoring = meter.time(lambda: score(compiled))
    step = make_step(compiled)
    _, first_step = timed(lm.device, lambda: step(schedule[0]))  # compiles the tuning graphs
    tokens, tuning = meter.time(lambda: sum(step(batch) for batch in schedule[1:]))
    sps, tps = len(probabilities) / scoring.seconds, tokens / tuning.seconds
    agreement = {
        "eager": compare(eager.probabilities, eager.exact),
        "compiled": compare(probabilities, eager.exact),
    }
    return CompiledSpeed(
        sps=figures(sps),
        scoring_fraction_of_peak=figures(eager.scoring_flops / scoring.seconds / scoring.limit),
        train_tps=figures(tps),
        tuning_fraction_of_peak=figures(eager.tuning_flops / tuning.seconds / tuning.limit),
        scoring_speedup=figures(sps / eager.sps),
        tuning_speedup=figures(tps / eager.train_tps),
        compile_seconds={
            "scoring": figures(first_scoring - scoring.seconds),
            "tuning": figures(first_step - tuning.seconds / (len(schedule) - 1)),
        },
        agreement_with_fp32={path: pair[0] for path, pair in agreement.items()},
        max_abs_dp_with_fp32={path: pair[1] for path, pair in agreement.items()},
    )


def figures(value: float) -> float:
    """A measured speed to 4 significant figures: decimals would round a tiny model's share of the peak to 0."""
    return float(f"{value:.4g}")


def bench_text(result: BenchResult) -> str:
    """The measurements as a short table: rates, ratios in one dtype, agreement, fractions of the limit."""
    scoring = [
        (f"reference (generate + parse, batch 4, {result.dtype})", result.reference_sps),
        (f"naive (PEFT forward, batch 32, {result.dtype})", result.naive_same_dtype_sps),
        ("naive (PEFT forward, batch 32, float32)", result.naive_fp32_sps),
        (f"promptbias ({result.dtype}, prefix cache, 3-row head)", result.promptbias_sps),
    ]
    same = result.naive_same_dtype_sps
    lines = [
        f"{result.model} on {result.device}, {result.dtype}; {result.sentences} sentences of {result.suite}",
        f"prompt: {result.prompt}"
        + (f"; dev accuracy {result.prompt_dev_accuracy}" if result.prompt_dev_accuracy else ""),
        f"matmul rate ({result.dtype}, measured around each timing): {result.matmul_tflops:.3f} TFLOP/s "
        f"(range {result.matmul_tflops_min:.3f} to {result.matmul_tflops_max:.3f})",
        "",
        "scoring, sentences per second:",
    ]
    lines += [f"  {name:<52} {value:10.1f}" for name, value in scoring]
    lines += [
        f"  promptbias / naive, same dtype: {result.promptbias_sps / same:.1f}x; "
        f"/ naive fp32: {result.promptbias_sps / result.naive_fp32_sps:.1f}x; "
        f"/ reference: {result.promptbias_sps / result.reference_sps:.1f}x",
        f"  agreement with naive, both {result.dtype}: {result.agreement:.4f}, max |dp| {result.max_abs_dp:.4f}; "
        f"both float32: {result.agreement_fp32:.4f}, max |dp| {result.max_abs_dp_fp32:.4f}",
        "  agreement of each {} path with naive float32: {}".format(
            result.dtype,
            ", ".join(f"{path} {share:.4f}" for path, share in result.agreement_with_naive_fp32.items()),
        ),
        f"  agreement ceiling (the exact float32 path against naive {result.dtype}): {result.agreement_ceiling:.4f}",
        f"  tokens run: promptbias {result.promptbias_tokens:,}, naive {result.naive_tokens:,}",
        f"  promptbias achieved {result.scoring_tflops:.3f} TFLOP/s = "
        f"{result.scoring_fraction_of_peak:.2f} of the matmul rate",
        f"  whole suite ({result.suite_size:,} sentences) at this rate: {result.suite_seconds:.0f} s",
        "",
        "  predicted classes (negative / neutral / positive):",
    ]
    for path, shares in result.class_distribution.items():
        lines.append(f"    {path:<18} " + " / ".join(f"{share:.3f}" for share in shares.values()))
    lines += [
        "",
        f"tuning, sentence tokens per second ({result.train_steps} steps of 16, {result.dtype}):",
        f"  {'naive (PEFT, full logits)':<52} {result.naive_train_tps:10.1f}",
        f"  {'promptbias (tuning step)':<52} {result.promptbias_train_tps:10.1f}",
        f"  promptbias / naive: {result.promptbias_train_tps / result.naive_train_tps:.1f}x; promptbias achieved "
        f"{result.tuning_tflops:.3f} TFLOP/s = {result.tuning_fraction_of_peak:.2f} of the matmul rate",
        "",
    ]
    return "\n".join(lines + compiled_lines(result))


def compiled_lines(result: BenchResult) -> list[str]:
    """The compiled path beside the eager one."""
    speed = result.compiled
    if speed is None:
        return ["compiled (torch.compile): not available here; only the eager path was measured"]
    agreement = speed.agreement_with_fp32
    return [
        "compiled (torch.compile) against eager, the same sentences and steps:",
        f"  {'':<24} {'eager':>10} {'compiled':>10} {'speed-up':>9}",
        f"  {'scoring, sentences/s':<24} {result.promptbias_sps:10.1f} {speed.sps:10.1f} {speed.scoring_speedup:8.2f}x",
        f"  {'  fraction of the rate':<24} {result.scoring_fraction_of_peak:10.2f} {speed.scoring_fraction_of_peak:10.2f}",
        f"  {'tuning, tokens/s':<24} {result.promptbias_train_tps:10.1f} {speed.train_tps:10.1f} {speed.tuning_speedup:8.2f}x",
        f"  {'  fraction of the rate':<24} {result.tuning_fraction_of_peak:10.2f} {speed.tuning_fraction_of_peak:10.2f}",
        f"  {'agreement with fp32':<24} {agreement['eager']:10.4f} {agreement['compiled']:10.4f}",
        f"  compile time: scoring {speed.compile_seconds['scoring']:.0f} s, tuning {speed.compile_seconds['tuning']:.0f} s "
        "(once per process; less when the compile cache is warm)",
    ]
