"""Attention kernels of the scoring path, timed alternately against the measured matmul rate.

    PROMPTBIAS_DATA=... PYTHONPATH=src python benchmarks/attention.py [--sentences 2000] [--rounds 3] [--tuning-steps 40]

Tunes the bench's prompt (40 seeded steps on SST-5 train, as ``promptbias bench`` does), then scores the same
suite sentences with ``score_texts`` in the working dtype under each attention implementation in turn (A B A
B ...), each timing between two one-second samples of the matmul rate, and prints per timing the fraction of
that rate (the bench's FLOP count) and, per implementation, the agreement and the largest probability
difference against the fp32 path. Run it under the CPU lock.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from promptbias import bench
from promptbias.data.training import load_split
from promptbias.lm.model import load_model, select_dtype
from promptbias.lm.prompt_format import prefix_ids
from promptbias.lm.scoring import (
    DEFAULT_BATCH_TOKENS,
    DEFAULT_MAX_ROWS,
    batch_plan,
    encode_texts,
    score_texts,
)

IMPLEMENTATIONS = ("sdpa", "eager")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tuning-steps", type=int, default=bench.BENCH_TUNING_STEPS)
    args = parser.parse_args()
    _, suite = bench.bench_suite()
    texts = list(suite.sample(n=min(args.sentences, len(suite)), random_state=0)["text"])
    working = select_dtype("auto", torch.device("cpu"))
    fast = load_model(dtype=str(working).removeprefix("torch."), device="cpu")
    full = load_model(dtype="float32", device="cpu")
    prompt = bench.tuned_prompt(fast, load_split("sst5", "train"), args.tuning_steps, 0)
    exact = score_texts(full, prompt.verbalizer, prompt.template, texts, prompt.soft, progress=False)

    prefix_length = prompt.soft.shape[0] + len(prefix_ids(fast.tokenizer, prompt.template))
    rows = encode_texts(fast, prompt.verbalizer, prompt.template, list(dict.fromkeys(texts)), prefix_length)
    plan = batch_plan(rows, prefix_length, DEFAULT_BATCH_TOKENS, DEFAULT_MAX_ROWS)
    widths = [(len(batch), max(len(rows[index]) for index in batch)) for batch in plan]
    flops = bench.scoring_work(prefix_length, widths).flops(fast.model)
    meter = bench.RateMeter(fast.device, working)

    def score(implementation: str) -> np.ndarray:
        fast.model.set_attn_implementation(implementation)
        return score_texts(fast, prompt.verbalizer, prompt.template, texts, prompt.soft, progress=False)

    fractions: dict[str, list[float]] = {name: [] for name in IMPLEMENTATIONS}
    for name in IMPLEMENTATIONS:  # warm-up, not timed
        score(name)
    for round_index in range(args.rounds):
        for name in IMPLEMENTATIONS:
            probabilities, timing = meter.time(lambda name=name: score(name))
            fractions[name].append(flops / timing.seconds / timing.limit)
            agreement, max_abs_dp = bench.compare(probabilities, exact)
            print(
                f"round {round_index} {name:<6} {timing.seconds:6.2f} s at {timing.limit / 1e12:.3f} TFLOP/s: "
                f"fraction {fractions[name][-1]:.3f}; against fp32 agreement {agreement:.4f}, "
                f"max |dp| {max_abs_dp:.4f}",
                flush=True,
            )
    for name, values in fractions.items():
        print(
            f"{name:<6} fractions {' '.join(f'{value:.3f}' for value in values)}, mean {np.mean(values):.3f}"
        )


if __name__ == "__main__":
    main()
