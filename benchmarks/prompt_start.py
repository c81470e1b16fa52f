"""Where an untuned soft prompt starts: dev accuracy and predicted class shares of a template with P vectors
in front, for several ways of choosing those vectors, against the template alone.

A soft prompt must start where its written prompt stands: vectors that break the template leave tuning to win
back what the written prompt already knew. Run: python benchmarks/prompt_start.py [--model M] [--dev-size N]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from promptbias.data.training import load_split, subsample
from promptbias.labels import LABELS
from promptbias.lm.model import LanguageModel, load_model
from promptbias.lm.prompt_format import PromptTemplate
from promptbias.lm.scoring import score_texts
from promptbias.lm.verbalizer import Verbalizer, build_verbalizer
from promptbias.probes.soft_prompt import DEFAULT_INIT_TEXT, SoftPromptConfig
from promptbias.probes.tuning import init_prompt
from promptbias.study.unit import DEV_SEED

TEMPLATE = "Review: {text}\nSentiment:"


def embed(lm: LanguageModel, ids: list[int]) -> torch.Tensor:
    module = lm.model.get_input_embeddings()
    with torch.no_grad():
        return module(torch.tensor(ids, device=module.weight.device)).float()


def tokens(lm: LanguageModel, text: str) -> list[int]:
    return list(lm.tokenizer(text, add_special_tokens=False)["input_ids"])


def cycled(ids: list[int], length: int) -> list[int]:
    return [ids[index % len(ids)] for index in range(length)]


def ending(ids: list[int], length: int) -> list[int]:
    """``length`` tokens that end with the text's own end: its last tokens, or the text preceded by its tail."""
    return [ids[(index - length) % len(ids)] for index in range(length)]


def starts(
    lm: LanguageModel, verbalizer: Verbalizer, texts: list[str], lengths: list[int]
) -> dict[str, torch.Tensor | None]:
    """Candidate starting vectors, by name: the default (``init: examples``), the init text cycled from its
    start (the earlier default), the label words, and each text at its own length and fitted to each length so
    that it ends where the template begins."""
    words = verbalizer.token_ids
    found: dict[str, torch.Tensor | None] = {"template alone (no vectors)": None}
    default_start = init_prompt(lm, verbalizer, PromptTemplate.parse(TEMPLATE), SoftPromptConfig())
    found[f"three one-word examples, their own length ({default_start.shape[0]}; the default)"] = (
        default_start
    )
    default = tokens(lm, DEFAULT_INIT_TEXT)
    for length in lengths:
        found[f"init text cycled from its start to {length} (earlier default)"] = embed(
            lm, cycled(default, length)
        )
        found[f"label words cycled to {length}"] = embed(
            lm, cycled([t for word in words for t in word], length)
        )
    for text in texts:
        ids = tokens(lm, text)
        found[f"{text!r}, its own length ({len(ids)})"] = embed(lm, ids)
        for length in lengths:
            found[f"{text!r}, ending at the template, {length}"] = embed(lm, ending(ids, length))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--dev-size", type=int, default=200)
    parser.add_argument("--lengths", type=int, nargs="+", default=[20, 8])
    parser.add_argument("--texts", nargs="+", default=[DEFAULT_INIT_TEXT + "\n"])
    parser.add_argument(
        "--skip", nargs="*", default=[], help="names of starts not to score (already measured)"
    )
    args = parser.parse_args()
    lm = load_model(args.model)
    verbalizer = build_verbalizer(lm.tokenizer)
    dev = subsample(load_split("sst5", "validation"), args.dev_size, DEV_SEED)
    truth = dev["label"].to_numpy()
    majority = np.bincount(truth, minlength=3).max() / len(truth)
    print(
        f"{args.model}, {lm.dtype}; dev {len(dev)} sentences, largest class {majority:.3f}; template {TEMPLATE!r}"
    )
    print(f"{'start':<70} {'dev acc':>7}  predicted " + " / ".join(LABELS))
    for name, vectors in starts(lm, verbalizer, args.texts, args.lengths).items():
        if any(skipped in name for skipped in args.skip):
            continue
        started = time.perf_counter()
        probabilities = score_texts(
            lm, verbalizer, PromptTemplate.parse(TEMPLATE), list(dev["text"]), vectors, progress=False
        )
        predicted = probabilities.argmax(axis=1)
        shares = np.bincount(predicted, minlength=3) / len(predicted)
        accuracy = float((predicted == truth).mean())
        print(
            f"{name:<70} {accuracy:7.3f}  "
            + " / ".join(f"{share:.2f}" for share in shares)
            + f"  ({time.perf_counter() - started:.0f} s)"
        )


if __name__ == "__main__":
    main()
