"""Soft-prompt tuning (Lester et al. 2021) on a frozen causal LM, saved as a PEFT prompt-tuning adapter.

P virtual-token vectors, initialised from the embeddings of a task text or of the label words, are placed
before the prompt; the class scores are the label words' logits at the last real position; the loss is
cross-entropy over the three (optionally weighted by class); AdamW with linear warm-up and decay, its
learning rate a multiple of the RMS of the model's input embeddings; the prompt of the dev check that
``select_by`` chooses (``prompt_selection``; the untuned prompt included) is kept. The prompt's key/value
cache is computed once per batch and expanded over its rows (``scoring``).

The failure rule, fixed before any run: at the first dev check at or after ``check_at`` of the steps, a run
whose dev accuracy is no better than the larger of its written prompt's (the template alone) and the largest
class's share, or that predicts one class for ``ONE_CLASS_SHARE`` of dev or more, restarts from a seed
derived from its own, at most ``max_restarts`` times. A run whose kept prompt still fails that rule at the
end is marked failed, with the reason. Training checkpoints (prompt, optimizer, schedule, restarts, log) let
an interrupted run continue where it stopped, with results identical to an uninterrupted run.
"""

from __future__ import annotations

import json
import math
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
from promptbias.metrics.evaluation import classification_summary
from promptbias.probes.few_shot import DEMONSTRATION_SEPARATOR
from promptbias.probes.kind import SOFT_PROMPT_TEMPLATE
from promptbias.probes.prompt_selection import kept_check, still_candidates

if TYPE_CHECKING:
    from promptbias.probes.soft_prompt import SoftPromptConfig

ADAPTER_WEIGHTS = "adapter_model.safetensors"
PICKLED_WEIGHTS = "adapter_model.bin"
PROBE_FILE = "probe.json"
MAX_GRAD_NORM = 1.0
ONE_CLASS_SHARE = 0.95  # "predicts one class for nearly every sentence"
EMBEDDING_SAMPLE = 4096  # token ids whose embeddings set the learning rate's scale


@dataclass
class TuningResult:
    """The kept prompt, when it was reached and its dev scores, the log, the restarts, and whether it failed."""

    prompt: torch.Tensor
    best_step: int
    best_dev: dict[str, float]  # dev_accuracy, dev_macro_f1, dev_neutral_share of the kept prompt
    history: list[dict[str, Any]] = field(default_factory=list)
    restarts: list[dict[str, Any]] = field(default_factory=list)
    baseline: dict[str, float] = field(default_factory=dict)  # the written prompt's dev scores, largest class
    failed: str | None = None  # why the kept prompt did not learn; None when it did

    @property
    def best_dev_accuracy(self) -> float:
        return self.best_dev["dev_accuracy"]

    def outcome(self) -> dict[str, Any]:
        """What ``unit.json`` and the prompt's manifest say about the tuning: kept step, scores, restarts, failure."""
        return {
            "best_step": self.best_step,
            **self.best_dev,
            "baseline": self.baseline,
            "restarts": self.restarts,
            "failed": self.failed,
        }


def init_prompt(
    lm: LanguageModel, verbalizer: Verbalizer, template: PromptTemplate, settings: SoftPromptConfig
) -> torch.Tensor:
    """``[P, H]`` float32 vectors: the init's tokens as the model embeds them (``init_ids``)."""
    embed = lm.model.get_input_embeddings()  # the module, not its weight: Gemma scales rows by sqrt(width)
    with torch.no_grad():
        ids = torch.tensor(init_ids(lm, verbalizer, template, settings), device=embed.weight.device)
        return embed(ids).float().clone()


def init_ids(
    lm: LanguageModel, verbalizer: Verbalizer, template: PromptTemplate, settings: SoftPromptConfig
) -> list[int]:
    """The token ids the vectors start as: the examples as a three-shot prompt (``examples_text``) or the init
    text, each tokenized as it reads in front of the template (``ids_in_front``), or the label words; cycled
    or cut to ``num_virtual_tokens`` when it is set."""
    if settings.init == "labels":
        ids = [token for word in verbalizer.token_ids for token in word]
    else:
        text = settings.init_text
        if settings.init == "examples":
            text = examples_text(template, verbalizer.words, settings.init_examples)
        ids = ids_in_front(lm, text, template)
    if not ids:
        raise InputError("init_text", "tokenizes to nothing")
    length = settings.num_virtual_tokens or len(ids)
    return [ids[index % len(ids)] for index in range(length)]


def examples_text(template: PromptTemplate, words: tuple[str, ...], examples: tuple[str, ...]) -> str:
    """One example per class, positive first, each rendered through ``template`` with its label word after it
    and a blank line, as the few-shot probe writes demonstrations."""
    order = range(len(examples) - 1, -1, -1)
    return "".join(
        template.render(examples[label]) + words[label] + DEMONSTRATION_SEPARATOR for label in order
    )


def ids_in_front(lm: LanguageModel, text: str, template: PromptTemplate) -> list[int]:
    """Token ids of ``text`` as it tokenizes at the start of a prompt in front of ``template``'s prefix (the
    tokenizer's special tokens, e.g. a BOS, first): the untuned vectors then read exactly as the written text
    would. Where the prefix's own tokens do not end the joint tokenization, the text alone."""
    joint = list(lm.tokenizer(text + template.prefix_text, add_special_tokens=True)["input_ids"])
    tail = list(lm.tokenizer(template.prefix_text, add_special_tokens=False)["input_ids"])
    if not tail:
        return joint
    if len(joint) > len(tail) and joint[-len(tail) :] == tail:
        return joint[: -len(tail)]
    return list(lm.tokenizer(text, add_special_tokens=True)["input_ids"])


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


def dev_scores(
    lm: LanguageModel,
    verbalizer: Verbalizer,
    template: PromptTemplate,
    dev: pd.DataFrame,
    soft: torch.Tensor | None,
) -> dict[str, float]:
    """Accuracy, macro-F1 and the share of neutral answers on ``dev``, and the largest share of one class."""
    vectors = None if soft is None else soft.detach()
    probabilities = score_texts(lm, verbalizer, template, list(dev["text"]), vectors, progress=False)
    summary = classification_summary(dev["label"].to_numpy(), probabilities)
    shares = summary["predicted_share"]
    return {
        "dev_accuracy": summary["accuracy"],
        "dev_macro_f1": summary["macro_f1"],
        "dev_neutral_share": shares[1],
        "dev_top_share": max(shares),
    }


def written_baseline(
    lm: LanguageModel, verbalizer: Verbalizer, template: PromptTemplate, dev: pd.DataFrame
) -> dict[str, float]:
    """What a tuned prompt must beat: the template alone on dev, and the share of dev's largest class."""
    written = dev_scores(lm, verbalizer, template, dev, None)
    largest = float(np.bincount(dev["label"].to_numpy(), minlength=3).max() / max(len(dev), 1))
    return {
        "written_accuracy": written["dev_accuracy"],
        "written_macro_f1": written["dev_macro_f1"],
        "largest_class": largest,
    }


def failure_reason(scores: dict[str, float], baseline: dict[str, float]) -> str | None:
    """Why a prompt with these dev scores has not learned (the failure rule), or None when it has."""
    if scores["dev_top_share"] >= ONE_CLASS_SHARE:
        return f"predicts one class for {scores['dev_top_share']:.0%} of the dev sentences"
    bar = max(baseline["written_accuracy"], baseline["largest_class"])
    if scores["dev_accuracy"] <= bar:
        return (
            f"dev accuracy {scores['dev_accuracy']:.3f} is no better than {bar:.3f} (the written prompt "
            f"{baseline['written_accuracy']:.3f}, the largest class {baseline['largest_class']:.3f})"
        )
    return None


def attempt_seed(seed: int, attempt: int) -> int:
    """The seed of a restart: derived from the run's own seed and the attempt number (attempt 0: the seed)."""
    if attempt == 0:
        return seed
    return int(np.random.SeedSequence([seed, attempt]).generate_state(1)[0])


def check_step(total: int, settings: SoftPromptConfig) -> int:
    """The step of the failure rule's early check: the first dev check at or after ``check_at`` of the run."""
    earliest = max(1, math.ceil(round(settings.check_at * total, 6)))  # rounded first: 0.5 * 63 is 31.5
    step = -(-earliest // settings.eval_every) * settings.eval_every
    return min(step, total)


def embedding_rms(lm: LanguageModel) -> float:
    """The scale of the model's input embeddings: the RMS of the embedding module's output (so Gemma's
    multiplier counts) over ``EMBEDDING_SAMPLE`` token ids spread evenly over the vocabulary."""
    module = lm.model.get_input_embeddings()
    count = int(module.weight.shape[0])
    ids = torch.arange(0, count, max(1, count // EMBEDDING_SAMPLE), device=module.weight.device)
    with torch.no_grad():
        return float(module(ids).float().pow(2).mean().sqrt())


def class_weights(labels: np.ndarray, power: float = 1.0) -> torch.Tensor:
    """Loss weights that give each class present the same total weight, n / (k n_c) over the k classes
    present, raised to ``power`` (an absent class gets 1, which no sentence uses)."""
    counts = np.bincount(labels, minlength=3).astype(float)
    present = int((counts > 0).sum())
    weights = np.where(counts > 0, len(labels) / (max(present, 1) * np.maximum(counts, 1)), 1.0)
    return torch.tensor(weights**power, dtype=torch.float32)


@dataclass
class _Setup:
    """What every attempt of one tuning run shares."""

    lm: LanguageModel
    verbalizer: Verbalizer
    template: PromptTemplate
    start: torch.Tensor  # the untuned prompt every attempt starts from (``init_prompt``)
    ids: list[int]
    rows: list[list[int]]
    labels: torch.Tensor
    dev: pd.DataFrame
    settings: SoftPromptConfig
    baseline: dict[str, float]
    learning_rate: float  # absolute: the setting times the embeddings' RMS
    weights: torch.Tensor | None

    def score(self, soft: torch.Tensor | None) -> dict[str, float]:
        return dev_scores(self.lm, self.verbalizer, self.template, self.dev, soft)

    def kept(self, checks: list[_Check]) -> _Check:
        """The check ``select_by`` keeps."""
        scores = [check.scores for check in checks]
        return checks[kept_check(scores, self.settings.select_by, self.settings.select_tolerance)]

    def pruned(self, checks: list[_Check]) -> list[_Check]:
        """The checks that ``select_by`` may still keep after later ones."""
        scores = [check.scores for check in checks]
        rule, tolerance = self.settings.select_by, self.settings.select_tolerance
        return [checks[index] for index in still_candidates(scores, rule, tolerance)]


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
    """Tune a soft prompt on ``train`` (text, label), keeping the prompt with the best score on ``dev``, under
    the failure rule (restarts from derived seeds; a run that still does not learn is marked failed)."""
    ids = prefix_ids(lm.tokenizer, template)
    start = init_prompt(lm, verbalizer, template, settings)
    rows = encode_texts(lm, verbalizer, template, list(train["text"]), start.shape[0] + len(ids))
    label_values = train["label"].to_numpy()
    setup = _Setup(
        lm,
        verbalizer,
        template,
        start,
        ids,
        rows,
        torch.tensor(label_values, dtype=torch.long, device=lm.device),
        dev,
        settings,
        written_baseline(lm, verbalizer, template, dev),
        settings.learning_rate * embedding_rms(lm),
        (
            class_weights(label_values, settings.class_weight_power).to(lm.device)
            if settings.class_weighted
            else None
        ),
    )
    saved = _TrainingState.read(checkpoint_dir) if checkpoint_dir else None
    state: _TrainingState | None = None
    attempt = saved[0]["attempt"] if saved else 0
    while True:
        state, restart = _run_attempt(setup, seed, attempt, saved or state, progress, on_log, checkpoint_dir)
        if not restart:
            break
        saved, attempt = None, attempt + 1
    kept = setup.kept(state.candidates)
    failed = failure_reason(kept.scores, setup.baseline)
    return TuningResult(
        kept.prompt.cpu(),
        kept.step,
        _public(kept.scores),
        state.history,
        state.restarts,
        setup.baseline,
        failed,
    )


def _public(scores: dict[str, float]) -> dict[str, float]:
    return {key: value for key, value in scores.items() if key != "dev_top_share"}


def _run_attempt(
    setup: _Setup,
    seed: int,
    attempt: int,
    earlier: tuple[dict[str, Any], dict[str, torch.Tensor]] | _TrainingState | None,
    progress: bool,
    on_log: Callable[[dict[str, Any]], None] | None,
    checkpoint_dir: Path | None,
) -> tuple[_TrainingState, bool]:
    """One attempt, from a saved checkpoint of it, or from its start after the ``earlier`` attempts (their log
    and restarts carried on): the state at its end, and whether the failure rule restarts the run."""
    settings = setup.settings
    run_seed = attempt_seed(seed, attempt)
    torch.manual_seed(run_seed)
    schedule = training_schedule([len(row) for row in setup.rows], settings, run_seed)
    soft = torch.nn.Parameter(setup.start.clone().to(setup.lm.device))
    optimizer = torch.optim.AdamW([soft], lr=setup.learning_rate, weight_decay=settings.weight_decay)
    scheduler = get_linear_schedule_with_warmup(
        optimizer, round(settings.warmup_ratio * len(schedule)), len(schedule)
    )
    if isinstance(earlier, tuple):
        state = _TrainingState.restore(earlier, soft, optimizer, scheduler)
    else:
        state = _TrainingState.start(attempt, _Check(0, setup.score(soft), soft.detach().clone()), earlier)
    check = check_step(len(schedule), settings) if attempt < settings.max_restarts else None
    bar = tqdm(
        total=len(schedule), initial=state.step, desc=_description(attempt), unit="step", disable=not progress
    )
    started, tokens = time.perf_counter(), 0
    for step in range(state.step + 1, len(schedule) + 1):
        batch = schedule[step - 1]
        batch_rows = [setup.rows[index] for index in batch]
        scores = class_scores(setup.lm, setup.verbalizer, build_prefix(setup.lm, soft, setup.ids), batch_rows)
        loss = torch.nn.functional.cross_entropy(scores, setup.labels[batch], weight=setup.weights)
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
        if attempt:
            record["attempt"] = attempt
        reason = None
        if step % settings.eval_every == 0 or step == len(schedule) or step == check:
            dev = setup.score(soft)
            record.update(_public(dev))
            state.candidates = setup.pruned([*state.candidates, _Check(step, dev, soft.detach().clone())])
            if step == check:
                reason = failure_reason(dev, setup.baseline)
        state.history.append(record)
        state.step = step
        if on_log is not None:
            on_log(record)
        if reason is not None:
            bar.close()
            state.record_restart(attempt_seed(seed, attempt + 1), reason)
            return state, True
        if "dev_accuracy" in record and checkpoint_dir is not None:
            state.save(checkpoint_dir, soft, optimizer, scheduler)
        # the speed is shown, not logged: the log of a resumed run is byte-identical to an uninterrupted one
        speed = tokens / (time.perf_counter() - started)
        bar.set_postfix(
            loss=f"{loss.item():.3f}", kept_dev=f"{_kept(state, setup):.3f}", tok_s=f"{speed:.0f}"
        )
        bar.update(1)
    bar.close()
    return state, False


def _description(attempt: int) -> str:
    return "tuning" if attempt == 0 else f"tuning (restart {attempt})"


def _kept(state: _TrainingState, setup: _Setup) -> float:
    """The dev accuracy of the prompt kept so far, for the progress bar."""
    return setup.kept(state.candidates).scores["dev_accuracy"]


@dataclass
class _Check:
    """One dev check of the prompt: its step, its dev scores, and the prompt."""

    step: int
    scores: dict[str, float]
    prompt: torch.Tensor


@dataclass
class _TrainingState:
    """Where tuning stands: the attempt and step reached, the checks the selection may still keep, the
    restarts, and the log."""

    attempt: int
    step: int
    candidates: list[_Check]
    history: list[dict[str, Any]]
    restarts: list[dict[str, Any]]

    @classmethod
    def start(cls, attempt: int, untuned: _Check, earlier: _TrainingState | None) -> _TrainingState:
        """An attempt before its first step, the untuned prompt its first candidate, after ``earlier``'s log."""
        record: dict[str, Any] = {"step": 0, **_public(untuned.scores)}
        if attempt:
            record["attempt"] = attempt
        history = [*earlier.history, record] if earlier else [record]
        restarts = list(earlier.restarts) if earlier else []
        return cls(attempt, 0, [untuned], history, restarts)

    def record_restart(self, seed: int, reason: str) -> None:
        """The failure rule restarts the run: the event goes into the log and the list of restarts."""
        event = {"restart": self.attempt + 1, "after_step": self.step, "seed": seed, "reason": reason}
        self.history.append(event)
        self.restarts.append(event)

    def save(
        self, folder: Path, soft: torch.Tensor, optimizer: torch.optim.Optimizer, scheduler: Any
    ) -> None:
        """Everything needed to continue, written as one atomic folder (safetensors + JSON, no pickles)."""
        moments = optimizer.state[soft]
        tensors = {
            "soft": soft.detach().cpu().contiguous(),
            "candidates": torch.stack([check.prompt.cpu() for check in self.candidates]).contiguous(),
            "exp_avg": moments["exp_avg"].cpu().contiguous(),
            "exp_avg_sq": moments["exp_avg_sq"].cpu().contiguous(),
        }
        info = {
            "attempt": self.attempt,
            "step": self.step,
            "candidates": [{"step": check.step, "scores": check.scores} for check in self.candidates],
            "adam_step": float(moments["step"]),
            "scheduler": scheduler.state_dict(),
            "history": self.history,
            "restarts": self.restarts,
        }
        with store.atomic_dir(folder) as tmp:
            save_file(tensors, tmp / "state.safetensors")
            store.write_json(tmp / "state.json", info)
            store.write_manifest(tmp)

    @staticmethod
    def read(folder: Path) -> tuple[dict[str, Any], dict[str, torch.Tensor]] | None:
        """The saved state's JSON and tensors; None when there is no complete one."""
        if not store.is_complete(folder):
            return None
        info = json.loads((folder / "state.json").read_text(encoding="utf-8"))
        return info, load_file(folder / "state.safetensors")

    @classmethod
    def restore(
        cls,
        saved: tuple[dict[str, Any], dict[str, torch.Tensor]],
        soft: torch.Tensor,
        optimizer: torch.optim.Optimizer,
        scheduler: Any,
    ) -> _TrainingState:
        """The saved state, loaded into ``soft``, ``optimizer`` and ``scheduler``."""
        info, tensors = saved
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
        prompts = tensors["candidates"].to(soft.device)
        candidates = [
            _Check(check["step"], check["scores"], prompt)
            for check, prompt in zip(info["candidates"], prompts, strict=True)
        ]
        return cls(info["attempt"], info["step"], candidates, info["history"], info["restarts"])


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
    described = store.read_json_object(probe_file) if probe_file.exists() else {}
    template = PromptTemplate.parse(described.get("template", SOFT_PROMPT_TEMPLATE))
    words = tuple(described.get("label_words", (" negative", " neutral", " positive")))
    return SavedPrompt(embeddings.float(), template, words)
