"""The fast scoring path: class scores of the three label words for many sentences under one prompt.

What makes it fast, measured in ``promptbias bench``:
- the prompt (soft tokens and the text before the sentence) is the same for every sentence, so its
  key/value cache is computed once and expanded over each batch;
- only the hidden state at each sentence's last real position is projected, onto the three label rows;
- rows are right-padded, so causal attention never lets a real token see a pad and no mask is needed
  beyond the causal one; positions continue from the prefix as in one unbroken sequence;
- rows are sorted by length and batched by a token budget; identical sentences are scored once;
- inference mode, and the model's dtype (bf16 where the hardware multiplies it natively).
The same ``class_scores`` serves tuning, with gradients flowing into the soft prompt through the cache.
"""

from __future__ import annotations

import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm
from transformers import DynamicCache

from promptbias.errors import InputError
from promptbias.lm.batching import DEFAULT_BATCH_TOKENS, DEFAULT_MAX_ROWS, PREFIX_COPY_TOKENS
from promptbias.lm.compilation import MIN_ROWS
from promptbias.lm.model import LanguageModel
from promptbias.lm.prompt_format import PromptTemplate, fit_rows, prefix_ids, sentence_rows, tokens_after
from promptbias.lm.verbalizer import Verbalizer

WARMUP_TEMPLATE = "Review: {text}\nSentiment:"  # what the compiled graphs are first run on


@dataclass
class Prefix:
    """The shared start of every row: per layer the key and value states for one sequence, and its length."""

    layers: list[tuple[torch.Tensor, torch.Tensor]]
    length: int


def prefix_embeddings(lm: LanguageModel, soft: torch.Tensor | None, ids: Sequence[int]) -> torch.Tensor:
    """Embeddings of the prefix, ``[1, P, H]``: the soft prompt's vectors, then the prefix tokens' embeddings."""
    embed = lm.model.get_input_embeddings()
    parts = []
    if soft is not None:
        parts.append(soft.to(device=lm.device, dtype=embed.weight.dtype))
    if ids:
        parts.append(embed(torch.tensor(list(ids), device=lm.device)))
    if not parts:
        return torch.zeros(0, embed.weight.shape[1], device=lm.device, dtype=embed.weight.dtype)[None]
    return torch.cat(parts)[None]


def sliding_window(lm: LanguageModel) -> int | None:
    """The attention window of the model's sliding-window layers (Gemma 2/3, Mistral), None when none slides."""
    config = lm.model.config.get_text_config()
    window = getattr(config, "sliding_window", None)
    layer_types = getattr(config, "layer_types", None)
    if not window or (layer_types is not None and "sliding_attention" not in layer_types):
        return None
    return int(window)


def build_prefix(lm: LanguageModel, soft: torch.Tensor | None, ids: Sequence[int]) -> Prefix:
    """Run the prefix once and keep its key/value cache (differentiable in ``soft`` when it requires grad).

    A sliding-window layer keeps only the last ``window - 1`` positions in its cache, so a prefix that long or
    longer cannot be shared: that is refused rather than scored wrongly."""
    embeddings = prefix_embeddings(lm, soft, ids)
    if embeddings.shape[1] == 0:
        return Prefix([], 0)
    window = sliding_window(lm)
    if window is not None and embeddings.shape[1] >= window:
        raise InputError(
            lm.name,
            f"the prompt's shared prefix ({embeddings.shape[1]} tokens: virtual tokens, template and "
            f"demonstrations) does not fit the model's sliding attention window ({window} tokens); use a "
            "shorter prompt (fewer shots or virtual tokens)",
        )
    output = lm.decode(inputs_embeds=embeddings, use_cache=True)
    layers = [(layer.keys, layer.values) for layer in output.cache.layers]
    return Prefix(layers, embeddings.shape[1])


def _cache_for_batch(lm: LanguageModel, prefix: Prefix, batch: int) -> DynamicCache | None:
    if prefix.length == 0:
        return None
    expanded = [(k.expand(batch, -1, -1, -1), v.expand(batch, -1, -1, -1)) for k, v in prefix.layers]
    return DynamicCache(ddp_cache_data=expanded, config=lm.model.config)


def pad_rows(
    rows: Sequence[Sequence[int]], pad_id: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ids ``[B, L]`` and each row's length ``[B]``."""
    width = max(len(row) for row in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    for index, row in enumerate(rows):
        ids[index, : len(row)] = torch.tensor(row, dtype=torch.long)
    lengths = torch.tensor([len(row) for row in rows], dtype=torch.long)
    return ids.to(device), lengths.to(device)


def at_least_two(ids: torch.Tensor) -> torch.Tensor:
    """``ids`` ``[B, L]`` with at least ``MIN_ROWS`` rows (copies of the first) and columns (pads on the right),
    the shapes a decoder compiled for dynamic shapes serves without compiling again."""
    if ids.shape[1] < MIN_ROWS:
        ids = torch.nn.functional.pad(ids, (0, MIN_ROWS - ids.shape[1]))
    if ids.shape[0] < MIN_ROWS:
        ids = torch.cat([ids, ids[:1].expand(MIN_ROWS - ids.shape[0], -1)])
    return ids


def hidden_at(lm: LanguageModel, prefix: Prefix, ids: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """Final hidden states ``[B, K, H]`` at ``positions`` ``[B, K]`` of right-padded rows behind the prefix."""
    rows = ids.shape[0]
    if lm.decoder is not None:  # compiled: the extra row and columns are computed and dropped
        ids = at_least_two(ids)
    cache = _cache_for_batch(lm, prefix, ids.shape[0])
    output = lm.decode(input_ids=ids, cache=cache, use_cache=cache is not None)
    hidden = output.last_hidden_state[:rows]
    index = positions[..., None].expand(-1, -1, hidden.shape[-1]).to(hidden.device)  # last layer's device
    return hidden.gather(1, index)


def project(lm: LanguageModel, hidden: torch.Tensor, token_ids: Sequence[int] | None = None) -> torch.Tensor:
    """Output logits of ``hidden`` for ``token_ids`` only (all of the vocabulary when None), in float32."""
    head = lm.model.get_output_embeddings()
    hidden = hidden.to(head.weight.device)  # under a device_map the head may sit elsewhere
    bias = getattr(head, "bias", None)
    if token_ids is None:
        logits = (hidden @ head.weight.T).float()
    else:  # three rows: cheap enough to multiply in float32, which keeps the class scores' last bits
        logits = hidden.float() @ head.weight[list(token_ids)].float().T
        bias = None if bias is None else bias[list(token_ids)]
    if bias is not None:
        logits = logits + bias.float()
    logits = logits.to(lm.device)
    cap = getattr(lm.model.config.get_text_config(), "final_logit_softcapping", None)
    return torch.tanh(logits / cap) * cap if cap else logits


def class_scores(
    lm: LanguageModel, verbalizer: Verbalizer, prefix: Prefix, rows: Sequence[Sequence[int]]
) -> torch.Tensor:
    """``[B, 3]`` class scores whose softmax gives the class probabilities.

    Single-token label words: the label tokens' logits at the last real position. Otherwise: the summed
    log-probability of each word's tokens, teacher-forced after the sentence.
    """
    pad = lm.tokenizer.pad_token_id or 0
    if verbalizer.single_token:
        ids, lengths = pad_rows(rows, pad, lm.device)
        hidden = hidden_at(lm, prefix, ids, (lengths - 1)[:, None])[:, 0]
        return project(lm, hidden, verbalizer.first_tokens)
    scores = []
    for word in verbalizer.token_ids:
        extended = [list(row) + list(word[:-1]) for row in rows]
        ids, lengths = pad_rows(extended, pad, lm.device)
        steps = torch.arange(len(word), device=lm.device)
        positions = (lengths - len(word))[:, None] + steps[None]
        log_probs = torch.log_softmax(project(lm, hidden_at(lm, prefix, ids, positions)), dim=-1)
        targets = torch.tensor(word, device=lm.device)[None, :, None].expand(len(rows), -1, 1)
        scores.append(log_probs.gather(2, targets)[..., 0].sum(dim=1))
    return torch.stack(scores, dim=1)


def length_batches(lengths: Sequence[int], batch_tokens: int, max_rows: int) -> list[list[int]]:
    """Row indices grouped into batches of similar length, each within ``batch_tokens`` padded tokens."""
    order = sorted(range(len(lengths)), key=lambda index: (lengths[index], index))
    batches: list[list[int]] = []
    current: list[int] = []
    for index in order:
        width = lengths[index]
        if current and ((len(current) + 1) * width > batch_tokens or len(current) >= max_rows):
            batches.append(current)
            current = []
        current.append(index)
    if current:
        batches.append(current)
    return batches


def batch_plan(
    rows: Sequence[Sequence[int]], prefix_length: int, batch_tokens: int, max_rows: int
) -> list[list[int]]:
    """The batches ``score_texts`` runs: by length within the token budget, fewer rows behind a long prefix."""
    rows_for_prefix = max(8, PREFIX_COPY_TOKENS // max(prefix_length, 1))
    return length_batches([len(row) for row in rows], batch_tokens, min(max_rows, rows_for_prefix))


def encode_texts(
    lm: LanguageModel,
    verbalizer: Verbalizer,
    template: PromptTemplate,
    texts: Sequence[str],
    prefix_length: int,
) -> list[list[int]]:
    """Token rows of ``texts`` under ``template``, cut (with a warning) to fit the model's context."""
    rows = sentence_rows(lm.tokenizer, template, list(texts))
    limit = lm.max_positions
    if limit is None:
        return rows
    extra = max(len(ids) for ids in verbalizer.token_ids) - 1
    tail = len(tokens_after(lm.tokenizer, "x", [template.after])[0]) if template.after else 0
    fitted, cut = fit_rows(rows, limit - prefix_length - extra, tail)
    if cut:
        warnings.warn(
            f"{cut} sentence(s) longer than the model's context ({limit} tokens) were truncated", stacklevel=2
        )
    return fitted


def score_texts(
    lm: LanguageModel,
    verbalizer: Verbalizer,
    template: PromptTemplate,
    texts: Sequence[str],
    soft: torch.Tensor | None = None,
    *,
    batch_tokens: int = DEFAULT_BATCH_TOKENS,
    max_rows: int = DEFAULT_MAX_ROWS,
    progress: bool = True,
    description: str = "scoring",
) -> np.ndarray:
    """Class probabilities ``[N, 3]`` (negative, neutral, positive) of each text under the prompt."""
    unique, inverse = np.unique(np.asarray(list(texts), dtype=object), return_inverse=True)
    if len(unique) == 0:
        return np.zeros((0, 3), dtype=np.float32)
    with torch.inference_mode():
        ids = prefix_ids(lm.tokenizer, template)
        prefix = build_prefix(lm, soft, ids)
        rows = encode_texts(lm, verbalizer, template, list(unique), prefix.length)
        probabilities = np.zeros((len(rows), 3), dtype=np.float32)
        batches = batch_plan(rows, prefix.length, batch_tokens, max_rows)
        with tqdm(total=len(rows), desc=description, unit="sent", disable=not progress, leave=False) as bar:
            for batch in batches:
                scores = class_scores(lm, verbalizer, prefix, [rows[index] for index in batch])
                probabilities[batch] = torch.softmax(scores, dim=-1).cpu().numpy()
                bar.update(len(batch))
    return probabilities[inverse.reshape(-1)]


def compile_scoring(lm: LanguageModel, verbalizer: Verbalizer, progress: bool = True) -> LanguageModel:
    """``lm`` with its decoder compiled, the scoring graphs compiled now (two sentences behind a prompt with
    text before the sentence, so the prefix's graph too): the time it takes is said once, and a machine that
    cannot compile falls back before any real work starts."""
    if progress:
        print(f"Compiling {lm.name}'s forward pass (torch.compile, once)", file=sys.stderr, flush=True)
    started = time.perf_counter()
    compiled = lm.compiled()
    score_texts(compiled, verbalizer, PromptTemplate.parse(WARMUP_TEMPLATE), ["a b", "c d e"], progress=False)
    if progress and compiled.runs_compiled:
        seconds = time.perf_counter() - started
        print(f"Compiled for scoring in {seconds:.0f} s; tuning compiles at its first step", file=sys.stderr)
    return compiled
