"""Side-by-side speed of three ways to classify suite sentences, and of two ways to tune, in one process.

- ``reference``: the reference pipeline's method: the transformers text-generation pipeline on a hand-written
  prompt, batch 4, two new tokens, the label parsed from the generated text, in the model's default dtype
  (fp32 on a CPU, as the reference code runs there);
- ``naive``: the PEFT prompt-tuning model's plain forward pass, full-vocabulary logits, fp32, batch 32;
- ``promptbias``: the project's scoring path as ``predict`` runs it (``scoring.score_texts``).
All three see the same sentences; ``naive`` and ``promptbias`` the same soft prompt and the same token ids.
For tuning, training tokens per second of the plain PEFT step (fp32, full logits) and of the project's step.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import torch
from peft import PromptTuningConfig, get_peft_model
from transformers import PreTrainedModel, pipeline

from promptbias.config import REFERENCE_TEMPLATE
from promptbias.data.suite import load_suite
from promptbias.labels import LABELS
from promptbias.models import LanguageModel, load_model, select_dtype
from promptbias.probes.soft_prompt import DEFAULT_TEMPLATE, TuningSettings, init_prompt
from promptbias.prompt_format import PromptTemplate, prefix_ids, sentence_rows
from promptbias.scoring import build_prefix, class_scores, pad_rows, score_texts
from promptbias.verbalizer import Verbalizer, build_verbalizer

NAIVE_BATCH = 32
REFERENCE_BATCH = 4
TRAIN_BATCH = 16


@dataclass(frozen=True)
class BenchResult:
    sentences: int
    device: str
    dtype: str
    reference_sps: float
    naive_sps: float
    promptbias_sps: float
    agreement: float
    reference_parse_failures: int
    naive_train_tps: float
    promptbias_train_tps: float

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(device: torch.device, work: Callable[[], object]) -> tuple[object, float]:
    """``work()`` and its wall time in seconds, with the device's queue drained before and after."""
    _synchronize(device)
    started = time.perf_counter()
    result = work()
    _synchronize(device)
    return result, time.perf_counter() - started


def parse_label(generated: str) -> int | None:
    """The first label word in generated text (the reference's parse); None when there is none."""
    lowered = generated.lower()
    found = [(lowered.find(label), index) for index, label in enumerate(LABELS) if label in lowered]
    return min(found)[1] if found else None


def reference_predictions(lm: LanguageModel, texts: list[str]) -> tuple[np.ndarray, int]:
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
    return np.array([-1 if label is None else label for label in labels]), labels.count(None)


def _peft_model(model: PreTrainedModel, soft: torch.Tensor) -> torch.nn.Module:
    config = PromptTuningConfig(
        task_type="CAUSAL_LM", num_virtual_tokens=soft.shape[0], token_dim=soft.shape[1]
    )
    peft_model = get_peft_model(model, config)
    with torch.no_grad():
        peft_model.prompt_encoder["default"].embedding.weight.copy_(soft)
    return peft_model


def naive_predictions(
    peft_model: torch.nn.Module, rows: list[list[int]], verbalizer: Verbalizer, device: torch.device
) -> np.ndarray:
    """Labels from PEFT's forward pass: batches of 32 in input order, full logits, the label tokens compared."""
    virtual = peft_model.peft_config["default"].num_virtual_tokens
    labels = []
    with torch.no_grad():
        for start in range(0, len(rows), NAIVE_BATCH):
            ids, lengths = pad_rows(rows[start : start + NAIVE_BATCH], 0, device)
            mask = (torch.arange(ids.shape[1], device=device)[None] < lengths[:, None]).long()
            logits = peft_model(input_ids=ids, attention_mask=mask).logits
            last = logits[torch.arange(len(ids), device=device), virtual + lengths - 1]
            labels.append(last[:, verbalizer.first_tokens].argmax(dim=-1).cpu())
    return torch.cat(labels).numpy()


def naive_train_rate(
    peft_model: torch.nn.Module,
    rows: list[list[int]],
    labels: np.ndarray,
    verbalizer: Verbalizer,
    device: torch.device,
    steps: int,
) -> float:
    """Training tokens per second of the plain PEFT step: fp32 forward with full logits, backward, AdamW."""
    parameters = [p for p in peft_model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(parameters, lr=1e-2)
    virtual = peft_model.peft_config["default"].num_virtual_tokens
    targets = torch.tensor(labels, device=device)

    def step(batch: slice) -> int:
        ids, lengths = pad_rows(rows[batch], 0, device)
        mask = (torch.arange(ids.shape[1], device=device)[None] < lengths[:, None]).long()
        logits = peft_model(input_ids=ids, attention_mask=mask).logits
        last = logits[torch.arange(len(ids), device=device), virtual + lengths - 1][
            :, verbalizer.first_tokens
        ]
        loss = torch.nn.functional.cross_entropy(last.float(), targets[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return int(lengths.sum())

    return _train_rate(device, step, len(rows), steps)


def promptbias_train_rate(
    lm: LanguageModel,
    template: PromptTemplate,
    soft: torch.Tensor,
    rows: list[list[int]],
    labels: np.ndarray,
    verbalizer: Verbalizer,
    steps: int,
) -> float:
    """Training tokens per second of the project's tuning step (the loop body of ``tune_soft_prompt``)."""
    parameter = torch.nn.Parameter(soft.clone().to(lm.device))
    optimizer = torch.optim.AdamW([parameter], lr=1e-2)
    ids = prefix_ids(lm.tokenizer, template)
    targets = torch.tensor(labels, device=lm.device)

    def step(batch: slice) -> int:
        scores = class_scores(lm, verbalizer, build_prefix(lm, parameter, ids), rows[batch])
        loss = torch.nn.functional.cross_entropy(scores, targets[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return sum(len(row) for row in rows[batch])

    return _train_rate(lm.device, step, len(rows), steps)


def _train_rate(device: torch.device, step: Callable[[slice], int], available: int, steps: int) -> float:
    batches = [slice(start, start + TRAIN_BATCH) for start in range(0, available, TRAIN_BATCH)][: steps + 1]
    step(batches[0])  # warm-up, not timed
    tokens, seconds = timed(device, lambda: sum(step(batch) for batch in batches[1:]))
    return float(tokens) / seconds  # type: ignore[arg-type]


def bench_sentences(count: int, seed: int = 0) -> pd.DataFrame:
    """``count`` sentences of the suite (the Czarnowska file when available, else the built-in suite)."""
    from promptbias.data.suite import czarnowska_path

    suite = load_suite("czarnowska" if czarnowska_path() is not None else "builtin:general")
    return suite.sample(n=min(count, len(suite)), random_state=seed).reset_index(drop=True)


def run_bench(
    model: str = "smollm2-135m",
    sentences: int = 2000,
    *,
    device: str = "auto",
    dtype: str = "auto",
    train_steps: int = 8,
) -> BenchResult:
    """Measure the three scoring methods and the two training steps on the same sentences and soft prompt.

    ``reference`` and ``naive`` run in fp32; ``promptbias`` in ``dtype`` (auto: as ``predict`` runs).
    """
    suite = bench_sentences(sentences)
    texts = list(suite["text"])
    full = load_model(model, dtype="float32", device=device)
    fast_dtype = select_dtype(dtype, full.device)
    fast = copy.copy(full)
    if fast_dtype != torch.float32:
        fast = LanguageModel(
            copy.deepcopy(full.model).to(fast_dtype),
            full.tokenizer,
            full.name,
            full.num_params,
            full.device,
            fast_dtype,
        )
    verbalizer = build_verbalizer(full.tokenizer)
    template = PromptTemplate.parse(DEFAULT_TEMPLATE)
    soft = init_prompt(full, verbalizer, TuningSettings())

    fast_probabilities, fast_seconds = timed(
        fast.device, lambda: score_texts(fast, verbalizer, template, texts, soft, progress=False)
    )
    head = prefix_ids(full.tokenizer, template)
    rows = [head + row for row in sentence_rows(full.tokenizer, template, texts)]
    peft_model = _peft_model(full.model, soft)
    naive_labels, naive_seconds = timed(
        full.device, lambda: naive_predictions(peft_model, rows, verbalizer, full.device)
    )
    agreement = float((np.asarray(fast_probabilities).argmax(axis=1) == naive_labels).mean())

    train_labels = suite["label"].to_numpy()
    naive_tps = naive_train_rate(peft_model, rows, train_labels, verbalizer, full.device, train_steps)
    bare_rows = sentence_rows(full.tokenizer, template, texts)
    fast_tps = promptbias_train_rate(fast, template, soft, bare_rows, train_labels, verbalizer, train_steps)

    (_, failures), reference_seconds = timed(full.device, lambda: reference_predictions(full, texts))
    return BenchResult(
        sentences=len(texts),
        device=str(full.device),
        dtype=str(fast_dtype).removeprefix("torch."),
        reference_sps=round(len(texts) / reference_seconds, 2),
        naive_sps=round(len(texts) / naive_seconds, 2),
        promptbias_sps=round(len(texts) / fast_seconds, 2),
        agreement=round(agreement, 4),
        reference_parse_failures=failures,
        naive_train_tps=round(naive_tps, 1),
        promptbias_train_tps=round(fast_tps, 1),
    )


def bench_text(result: BenchResult) -> str:
    """The measurements as a short table with the ratios."""
    rows = [
        ("reference (generate + parse, batch 4)", result.reference_sps),
        ("naive (PEFT forward, fp32, batch 32)", result.naive_sps),
        (f"promptbias ({result.dtype}, prefix cache, 3-row head)", result.promptbias_sps),
    ]
    lines = [f"{result.sentences} suite sentences on {result.device}", "", "scoring, sentences per second:"]
    lines += [f"  {name:<52} {value:10.1f}" for name, value in rows]
    lines += [
        f"  promptbias / naive: {result.promptbias_sps / result.naive_sps:.1f}x, "
        f"promptbias / reference: {result.promptbias_sps / result.reference_sps:.1f}x",
        f"  agreement of promptbias with naive: {result.agreement:.4f}; "
        f"reference parse failures: {result.reference_parse_failures}",
        f"  full suite (31,972 sentences) at this rate: {31972 / result.promptbias_sps:.0f} s",
        "",
        "tuning, training tokens per second:",
        f"  {'naive (PEFT, fp32, full logits)':<52} {result.naive_train_tps:10.1f}",
        f"  {'promptbias (tuning step)':<52} {result.promptbias_train_tps:10.1f}",
        f"  promptbias / naive: {result.promptbias_train_tps / result.naive_train_tps:.1f}x",
    ]
    return "\n".join(lines)
