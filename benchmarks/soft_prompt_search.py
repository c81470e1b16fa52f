"""Choose a soft prompt's settings on dev accuracy alone: a grid of learning rates, prompt lengths and initialisations.

    PYTHONPATH=src python benchmarks/soft_prompt_search.py [--model smollm2-135m] [--train-size 2000]
        [--dev-size 500] [--seeds 0 1] [--learning-rates 0.01 0.03] [--virtual-tokens 20 50] [--inits text labels]

Every setting is tuned on the seed's stratified sample of the SST-5 training split (drawn as a study draws it) and
scored on the dev split (or a ``--dev-size`` sample of it, the same for every run) every ``--eval-every`` steps; the
test split is never read. Prints one JSON line per run (best dev accuracy, the step that reached it, dev accuracy
at the end, minutes) as it finishes, then a table of the mean best dev accuracy per setting over the seeds.
configs/full.yaml was chosen this way.
"""

from __future__ import annotations

import argparse
import itertools
import json
import time

import pandas as pd

from promptbias.data.training import load_split, subsample
from promptbias.lm.model import load_model
from promptbias.lm.prompt_format import PromptTemplate
from promptbias.lm.verbalizer import build_verbalizer
from promptbias.probes.soft_prompt import SoftPromptConfig
from promptbias.probes.tuning import tune_soft_prompt
from promptbias.study.unit import DEV_SEED

TEMPLATE = "Review: {text}\nSentiment:"


def search(args: argparse.Namespace) -> pd.DataFrame:
    lm = load_model(args.model)
    verbalizer = build_verbalizer(lm.tokenizer)
    template = PromptTemplate.parse(TEMPLATE)
    train = load_split("sst5", "train")
    dev = subsample(load_split("sst5", "validation"), args.dev_size, DEV_SEED)
    rows = []
    grid = itertools.product(args.learning_rates, args.virtual_tokens, args.inits, args.seeds)
    for learning_rate, tokens, init, seed in grid:
        settings = SoftPromptConfig(
            template=TEMPLATE,
            learning_rate=learning_rate,
            num_virtual_tokens=tokens,
            init=init,
            epochs=args.epochs,
            eval_every=args.eval_every,
        )
        started = time.perf_counter()
        sample = subsample(train, args.train_size, seed)
        result = tune_soft_prompt(lm, verbalizer, template, sample, dev, settings, seed, progress=False)
        row = {
            "learning_rate": learning_rate,
            "virtual_tokens": tokens,
            "init": init,
            "seed": seed,
            "best_dev": result.best_dev_accuracy,
            "best_step": result.best_step,
            "last_dev": result.history[-1]["dev_accuracy"],
            "minutes": round((time.perf_counter() - started) / 60, 2),
        }
        print(json.dumps(row), flush=True)
        rows.append(row)
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--train-size", type=int, default=2000)
    parser.add_argument("--dev-size", type=int, default=None)
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--eval-every", type=int, default=25)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--learning-rates", type=float, nargs="+", default=[0.01, 0.03])
    parser.add_argument("--virtual-tokens", type=int, nargs="+", default=[20, 50])
    parser.add_argument("--inits", nargs="+", default=["text", "labels"], choices=["text", "labels"])
    table = search(parser.parse_args())
    summary = table.groupby(["learning_rate", "virtual_tokens", "init"]).agg(
        mean_best_dev=("best_dev", "mean"), min_best_dev=("best_dev", "min"), runs=("seed", "size")
    )
    print(summary.sort_values("mean_best_dev", ascending=False).round(4).to_string())


if __name__ == "__main__":
    main()
