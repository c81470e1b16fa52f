"""Soft-prompt tuning (Lester et al. 2021) on a frozen causal LM, saved as a PEFT prompt-tuning adapter.

P virtual-token vectors, initialised from the embeddings of a task text or of the label words, are placed
before the prompt; the class scores are the label words' logits at the last real position; the loss is
cross-entropy over the three; AdamW with linear warm-up and decay; the prompt with the best dev accuracy is
kept. The prompt's key/value cache is computed once per batch and expanded over its rows (``scoring``).
Training checkpoints (prompt, optimizer, schedule, log) let an interrupted run continue where it stopped,
with results identical to an uninterrupted run.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch
from peft import PromptTuningConfig
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm
from transformers import get_linear_schedule_with_warmup

from promptbias import store
from promptbias.errors import InputError
from promptbias.lm.model import LanguageModel
from promptbias.lm.prompt_format import PromptTemplate, prefix_ids
from promptbias.lm.scoring import build_prefix, class_scores, encode_texts, score_texts
from promptbias.lm.verbalizer import Verbalizer
from promptbias.probes.kind import SOFT_PROMPT_TEMPLATE

if TYPE_CHECKING:
    from promptbias.probes.soft_prompt import SoftPromptConfig

ADAPTER_WEIGHTS = "adapter_model.safetensors"
PICKLED_WEIGHTS = "adapter_model.bin"
PROBE_FILE = "probe.json"
MAX_GRAD_NORM = 1.0


@dataclass
class TuningResult:
    """The kept prompt (best dev accuracy), when it was reached, and the training log."""

    prompt: torch.Tensor
    best_step: int
    best_dev_accuracy: float
    history: list[dict[str, Any]] = field(default_factory=list)


def init_prompt(lm: LanguageModel, verbalizer: Verbalizer, settings: SoftPromptConfig) -> torch.Tensor:
    """``[P, H]`` float32 vectors: the init text's (or label words') tokens as the model embeds them, cycled to P."""
    if settings.init == "text":
        ids = lm.tokenizer(settings.init_text, add_special_tokens=False)["input_ids"]
    else:  # labels
        ids = [token for word in verbalizer.token_ids for token in word]
    if not ids:
        raise InputError("init_text", "tokenizes to nothing")
    cycled = [ids[index % len(ids)] for index in range(settings.num_virtual_tokens)]
    embed = lm.model.get_input_embeddings()  # the module, not its weight: Gemma scales rows by sqrt(width)
    with torch.no_grad():
        return embed(torch.tensor(cycled, device=embed.weight.device)).float().clone()


def epoch_batches(lengths: list[int], batch_size: int, rng: np.random.Generator) -> list[list[int]]:
    """One epoch of batches: shuffled, then sorted by length inside pools of 32 batches, in shuffled order."""
    order = rng.permutation(len(lengths))
    pool = batch_size * 32
    batches = []
    for start in range(0, len(order), pool):
        chunk = sorted(order[start : start + pool].tolist(), key=lambda index: lengths[index])
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    return [batches[index] for index in rng.permutation(len(batches))]


def training_schedule(lengths: list[int], settings: SoftPromptConfig, seed: int) -> list[list[int]]:
    """Every step's batch, fixed by the seed before training starts (so a resumed run takes the same steps)."""
    rng = np.random.default_rng(seed)
    per_epoch = -(-len(lengths) // settings.batch_size)
    total = settings.max_steps or max(1, round(settings.epochs * per_epoch))
    steps: list[list[int]] = []
    while len(steps) < total:
        steps.extend(epoch_batches(lengths, settings.batch_size, rng))
    return steps[:total]


def dev_accuracy(
    lm: LanguageModel, verbalizer: Verbalizer, template: PromptTemplate, dev: pd.DataFrame, soft: torch.Tensor
) -> float:
    probabilities = score_texts(lm, verbalizer, template, list(dev["text"]), soft.detach(), progress=False)
    return float((probabilities.argmax(axis=1) == dev["label"].to_numpy()).mean())


def tune_soft_prompt(
    lm: LanguageModel,
    verbalizer: Verbalizer,
    template: PromptTemplate,
    train: pd.DataFrame,
    dev: pd.DataFrame,
    settings: SoftPromptConfig,
    seed: int,
    *,
    checkpoint_dir: Path | None = None,
    progress: bool = True,
    on_log: Callable[[dict[str, Any]], None] | None = None,
) -> TuningResult:
    """Tune a soft prompt on ``train`` (text, label), keeping the prompt with the best accuracy on ``dev``."""
    torch.manual_seed(seed)
    ids = prefix_ids(lm.tokenizer, template)
    rows = encode_texts(lm, verbalizer, template, list(train["text"]), settings.num_virtual_tokens + len(ids))
    labels = torch.tensor(train["label"].to_numpy(), dtype=torch.long, device=lm.device)
    schedule = training_schedule([len(row) for row in rows], settings, seed)
    soft = torch.nn.Parameter(init_prompt(lm, verbalizer, settings).to(lm.device))
    optimizer = torch.optim.AdamW([soft], lr=settings.learning_rate, weight_decay=settings.weight_decay)
    scheduler = get_linear_schedule_with_warmup(
        optimizer, round(settings.warmup_ratio * len(schedule)), len(schedule)
    )
    state = _TrainingState.resume(checkpoint_dir, soft, optimizer, scheduler) if checkpoint_dir else None
    if state is None:
        accuracy = dev_accuracy(lm, verbalizer, template, dev, soft)
        state = _TrainingState(0, soft.detach().clone(), 0, accuracy, [{"step": 0, "dev_accuracy": accuracy}])
    bar = tqdm(total=len(schedule), initial=state.step, desc="tuning", unit="step", disable=not progress)
    started, tokens = time.perf_counter(), 0
    for step in range(state.step + 1, len(schedule) + 1):
        batch = schedule[step - 1]
        batch_rows = [rows[index] for index in batch]
        scores = class_scores(lm, verbalizer, build_prefix(lm, soft, ids), batch_rows)
        loss = torch.nn.functional.cross_entropy(scores, labels[batch])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_([soft], MAX_GRAD_NORM)
        optimizer.step()
        scheduler.step()
        tokens += sum(len(row) for row in batch_rows)
        record: dict[str, Any] = {
            "step": step,
            "loss": round(loss.item(), 6),
            "lr": scheduler.get_last_lr()[0],
        }
        if step % settings.eval_every == 0 or step == len(schedule):
            record["dev_accuracy"] = dev_accuracy(lm, verbalizer, template, dev, soft)
            if record["dev_accuracy"] > state.best_dev_accuracy:
                state.best_step, state.best_dev_accuracy = step, record["dev_accuracy"]
                state.best_prompt = soft.detach().clone()
        state.history.append(record)
        state.step = step
        if on_log is not None:
            on_log(record)
        if "dev_accuracy" in record and checkpoint_dir is not None:
            state.save(checkpoint_dir, soft, optimizer, scheduler)
        # the speed is shown, not logged: the log of a resumed run is byte-identical to an uninterrupted one
        speed = tokens / (time.perf_counter() - started)
        bar.set_postfix(
            loss=f"{loss.item():.3f}", best_dev=f"{state.best_dev_accuracy:.3f}", tok_s=f"{speed:.0f}"
        )
        bar.update(1)
    bar.close()
    return TuningResult(state.best_prompt.cpu(), state.best_step, state.best_dev_accuracy, state.history)


@dataclass
class _TrainingState:
    """Where tuning stands: the step reached, the best prompt so far, and the log."""

    step: int
    best_prompt: torch.Tensor
    best_step: int
    best_dev_accuracy: float
    history: list[dict[str, Any]]

    def save(
        self, folder: Path, soft: torch.Tensor, optimizer: torch.optim.Optimizer, scheduler: Any
    ) -> None:
        """Everything needed to continue, written as one atomic folder (safetensors + JSON, no pickles)."""
        moments = optimizer.state[soft]
        tensors = {
            "soft": soft.detach().cpu().contiguous(),
            "best_prompt": self.best_prompt.cpu().contiguous(),
            "exp_avg": moments["exp_avg"].cpu().contiguous(),
            "exp_avg_sq": moments["exp_avg_sq"].cpu().contiguous(),
        }
        info = {
            "step": self.step,
            "best_step": self.best_step,
            "best_dev_accuracy": self.best_dev_accuracy,
            "adam_step": float(moments["step"]),
            "scheduler": scheduler.state_dict(),
            "history": self.history,
        }
        with store.atomic_dir(folder) as tmp:
            save_file(tensors, tmp / "state.safetensors")
            store.write_json(tmp / "state.json", info)
            store.write_manifest(tmp)

    @classmethod
    def resume(
        cls, folder: Path, soft: torch.Tensor, optimizer: torch.optim.Optimizer, scheduler: Any
    ) -> _TrainingState | None:
        """The saved state, loaded into ``soft``, ``optimizer`` and ``scheduler``; None when there is none."""
        if not store.is_complete(folder):
            return None
        tensors = load_file(folder / "state.safetensors")
        info = json.loads((folder / "state.json").read_text(encoding="utf-8"))
        with torch.no_grad():
            soft.copy_(tensors["soft"].to(soft.device))
        optimizer.state[soft] = {
            "step": torch.tensor(info["adam_step"]),
            "exp_avg": tensors["exp_avg"].to(soft.device),
            "exp_avg_sq": tensors["exp_avg_sq"].to(soft.device),
        }
        scheduler.load_state_dict(info["scheduler"])
        # the scheduler's state does not reach the optimizer: the resumed step must run at its own rate
        for group, lr in zip(optimizer.param_groups, scheduler.get_last_lr(), strict=True):
            group["lr"] = lr
        return cls(
            info["step"],
            tensors["best_prompt"].to(soft.device),
            info["best_step"],
            info["best_dev_accuracy"],
            info["history"],
        )


def save_soft_prompt(
    folder: Path, prompt: torch.Tensor, lm: LanguageModel, template: PromptTemplate, verbalizer: Verbalizer
) -> None:
    """The prompt as a PEFT prompt-tuning adapter (loadable with ``PeftModel.from_pretrained``) plus
    ``probe.json`` (the template and label words that PEFT does not store), written as one atomic folder."""
    config = PromptTuningConfig(
        task_type="CAUSAL_LM",
        num_virtual_tokens=int(prompt.shape[0]),
        token_dim=int(prompt.shape[1]),
        num_transformer_submodules=1,
        base_model_name_or_path=lm.name,
    )
    with store.atomic_dir(folder) as tmp:
        config.save_pretrained(str(tmp))
        save_file({"prompt_embeddings": prompt.detach().float().cpu().contiguous()}, tmp / ADAPTER_WEIGHTS)
        store.write_json(
            tmp / PROBE_FILE, {"template": template.render("{text}"), "label_words": verbalizer.words}
        )


@dataclass(frozen=True)
class SavedPrompt:
    prompt: torch.Tensor
    template: PromptTemplate
    label_words: tuple[str, ...]


def load_soft_prompt(folder: Path, *, allow_pickle: bool = False) -> SavedPrompt:
    """A saved prompt: safetensors only, unless ``allow_pickle`` lets a PEFT ``adapter_model.bin`` load.

    A folder whose files no longer match its MANIFEST.json is refused, never read as data.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(folder, "soft prompt folder not found")
    if (folder / store.MANIFEST).exists() and not store.is_complete(folder):
        raise InputError(folder, f"damaged: a file differs from its {store.MANIFEST}; tune the prompt again")
    weights = folder / ADAPTER_WEIGHTS
    if not weights.exists():
        if (folder / PICKLED_WEIGHTS).exists() and not allow_pickle:
            raise InputError(
                folder / PICKLED_WEIGHTS, "pickled checkpoint refused; pass --allow-pickle to load it"
            )
        if not (folder / PICKLED_WEIGHTS).exists():
            raise InputError(folder, f"no {ADAPTER_WEIGHTS} (not a saved soft prompt)")
        weights = folder / PICKLED_WEIGHTS
    try:
        if weights.name == PICKLED_WEIGHTS:
            tensors = torch.load(weights, map_location="cpu", weights_only=True)
        else:
            tensors = load_file(weights)
    except Exception as error:  # safetensors and torch raise several kinds for a damaged or foreign file
        raise InputError(weights, f"cannot read the prompt ({type(error).__name__})") from None
    embeddings = tensors.get("prompt_embeddings") if isinstance(tensors, dict) else None
    if not isinstance(embeddings, torch.Tensor) or embeddings.dim() != 2:
        raise InputError(weights, "no 2-D prompt_embeddings tensor (not a prompt-tuning adapter)")
    probe_file = folder / PROBE_FILE
    try:
        described = json.loads(probe_file.read_text(encoding="utf-8")) if probe_file.exists() else {}
    except (OSError, ValueError):
        raise InputError(probe_file, "not a readable JSON file") from None
    if not isinstance(described, dict):
        raise InputError(probe_file, "expected a JSON object")
    template = PromptTemplate.parse(described.get("template", SOFT_PROMPT_TEMPLATE))
    words = tuple(described.get("label_words", (" negative", " neutral", " positive")))
    return SavedPrompt(embeddings.float(), template, words)
