"""Where the compiled path's time goes, by operation: torch.profiler over compiled scoring and compiled tuning
steps of the embedded model (after their compilation), the operations' shares of the time.

Run: PROMPTBIAS_DATA=../shared/data python benchmarks/compiled_profile.py [--sentences 1000] [--steps 8]
"""

from __future__ import annotations

import argparse

import torch
from torch.profiler import ProfilerActivity, profile

from promptbias.data.training import load_split
from promptbias.lm.model import load_model
from promptbias.lm.prompt_format import PromptTemplate, prefix_ids
from promptbias.lm.scoring import build_prefix, class_scores, encode_texts, score_texts
from promptbias.lm.verbalizer import build_verbalizer
from promptbias.probes.kind import SOFT_PROMPT_TEMPLATE
from promptbias.probes.soft_prompt import SoftPromptConfig
from promptbias.probes.tuning import init_prompt, training_schedule
from promptbias.suites.loading import load_suite


def shares(prof: profile, top: int) -> list[str]:
    """The operations with the most self CPU time, each as a share of the total."""
    events = prof.key_averages()
    total = sum(event.self_cpu_time_total for event in events)
    ranked = sorted(events, key=lambda event: event.self_cpu_time_total, reverse=True)[:top]
    return [f"  {event.self_cpu_time_total / total:6.1%}  {event.key[:90]}" for event in ranked]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--top", type=int, default=20)
    args = parser.parse_args()
    lm = load_model("smollm2-135m").compiled()
    verbalizer = build_verbalizer(lm.tokenizer)
    template = PromptTemplate.parse(SOFT_PROMPT_TEMPLATE)
    settings = SoftPromptConfig(max_steps=args.steps + 1)
    soft = torch.nn.Parameter(init_prompt(lm, verbalizer, template, settings))
    texts = list(load_suite("czarnowska")["text"].drop_duplicates().sample(args.sentences, random_state=0))
    score_texts(lm, verbalizer, template, texts[:4], soft.detach(), progress=False)  # compiles
    with profile(activities=[ProfilerActivity.CPU]) as scoring:
        score_texts(lm, verbalizer, template, texts, soft.detach(), progress=False)
    print(
        f"compiled scoring, {args.sentences} suite sentences ({lm.dtype}):",
        *shares(scoring, args.top),
        sep="\n",
    )

    train = load_split("sst5", "train")
    head = prefix_ids(lm.tokenizer, template)
    rows = encode_texts(lm, verbalizer, template, list(train["text"]), soft.shape[0] + len(head))
    labels = torch.tensor(train["label"].to_numpy())
    optimizer = torch.optim.AdamW([soft], lr=1e-3)

    def step(batch: list[int]) -> None:
        scores = class_scores(lm, verbalizer, build_prefix(lm, soft, head), [rows[i] for i in batch])
        loss = torch.nn.functional.cross_entropy(scores, labels[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    schedule = training_schedule([len(row) for row in rows], settings, 0)
    step(schedule[0])  # compiles
    with profile(activities=[ProfilerActivity.CPU]) as tuning:
        for batch in schedule[1:]:
            step(batch)
    print(
        f"\ncompiled tuning, {args.steps} steps of {settings.batch_size}:",
        *shares(tuning, args.top),
        sep="\n",
    )


if __name__ == "__main__":
    main()
