"""One soft-prompt recipe on N seeds: dev and test accuracy, macro-F1, neutral share, restarts and failures.

The recipe is the first soft prompt of a study file (its model, training set and settings), tuned with
``promptbias tune``'s stage per seed into OUT/seed<k>/ (resumable: a finished seed is read, not redone).
Run: python benchmarks/seed_stability.py builtin:quickstart --seeds 20 --out seeds/quickstart
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd

from promptbias.study.config import load_study
from promptbias.study.preflight import TUNE_FILE
from promptbias.study.stages import tune_stage


def seed_row(folder: Path, seed: int, seconds: float | None) -> dict[str, object]:
    tuning = json.loads((folder / TUNE_FILE).read_text(encoding="utf-8")).get("tuning") or {}
    test = json.loads((folder / "evaluation.json").read_text(encoding="utf-8"))["test"]
    return {
        "seed": seed,
        "dev_accuracy": tuning.get("dev_accuracy"),
        "dev_macro_f1": tuning.get("dev_macro_f1"),
        "test_accuracy": test["accuracy"],
        "test_macro_f1": test["macro_f1"],
        "test_neutral_share": test["predicted_share"][1],
        "best_step": tuning.get("best_step"),
        "restarts": len(tuning.get("restarts", [])),
        "failed": bool(tuning.get("failed")),
        "minutes": None if seconds is None else round(seconds / 60, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("study", help="a study file or builtin:NAME; its first soft prompt is the recipe")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    study = load_study(args.study)
    probe = next(probe for probe in study.probes if probe.kind == "soft_prompt")
    model, dataset = study.models[0], study.datasets[0]
    print(f"{model.name} / {dataset.name} / {probe.model_dump(exclude_defaults=True)}", flush=True)
    rows = []
    for seed in range(args.seeds):
        folder = args.out / f"seed{seed}"
        started = time.perf_counter()
        done = (folder / "MANIFEST.json").exists()
        tune_stage(model, dataset, probe, seed, folder, progress=False)
        rows.append(seed_row(folder, seed, None if done else time.perf_counter() - started))
        print(pd.DataFrame(rows[-1:]).to_string(index=False, header=seed == 0), flush=True)
    table = pd.DataFrame(rows)
    print(
        "\nmean:",
        table[["dev_accuracy", "test_accuracy", "test_macro_f1", "test_neutral_share"]]
        .mean()
        .round(3)
        .to_dict(),
    )
    print(
        f"min test accuracy {table['test_accuracy'].min():.3f}; restarts {table['restarts'].sum()} on "
        f"{(table['restarts'] > 0).sum()} seed(s); failed {table['failed'].sum()}"
    )


if __name__ == "__main__":
    main()
