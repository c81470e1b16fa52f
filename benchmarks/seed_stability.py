"""One soft-prompt recipe on N seeds: dev and test accuracy, macro-F1, neutral share, restarts and failures.

The recipe is the first soft prompt of a study file (its model, training set and settings), tuned with
``promptbias tune``'s stage per seed into OUT/seed<k>/ (resumable: a finished seed is read, not redone).
Run: python benchmarks/seed_stability.py builtin:quickstart --seeds 20 --out seeds/quickstart
The same recipe on another model (its relative learning rate unchanged): add --model gemma-3-270m. A setting
changed: --set class_weighted=true, --set dataset.dev_size=500 (repeatable).

Besides the kept prompt's scores, each row shows the dev scores of the prompt each selection rule would keep
from the same run's log (by_accuracy_*, by_macro_f1_*, by_balanced_*), so one run compares the rules on dev.
With --heldout (for a dev_size below the dev split) the kept prompt is also scored on the dev sentences
outside the dev sample (heldout_*): dev data that chose nothing, free of the optimism of a prompt scored where
it was kept.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import pandas as pd

from promptbias.lm.model import LanguageModel, load_model
from promptbias.lm.scoring import score_texts
from promptbias.lm.verbalizer import build_verbalizer
from promptbias.metrics.evaluation import classification_summary
from promptbias.probes.prompt_selection import RULES, kept_check
from promptbias.probes.soft_prompt import PROMPT_DIR, SoftPromptConfig
from promptbias.probes.tuning import load_soft_prompt
from promptbias.study.config import DatasetEntry, ModelEntry, load_study
from promptbias.study.preflight import TUNE_FILE
from promptbias.study.stages import tune_stage
from promptbias.study.unit import Unit, split_loader, unit_sample


def kept_by(log: list[dict[str, Any]], rule: str, tolerance: float) -> dict[str, Any]:
    """The dev record of the last attempt that the selection ``rule`` keeps."""
    last = max(int(record.get("attempt", 0)) for record in log)
    checks = [r for r in log if "dev_accuracy" in r and int(r.get("attempt", 0)) == last]
    return checks[kept_check(checks, rule, tolerance)]


def seed_row(folder: Path, seed: int, seconds: float | None, tolerance: float) -> dict[str, object]:
    tuning = json.loads((folder / TUNE_FILE).read_text(encoding="utf-8")).get("tuning") or {}
    test = json.loads((folder / "evaluation.json").read_text(encoding="utf-8"))["test"]
    log = [json.loads(line) for line in (folder / "train_log.jsonl").read_text(encoding="utf-8").splitlines()]
    row: dict[str, object] = {
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
    for rule in RULES:
        record = kept_by(log, rule, tolerance)
        for key in ("step", "dev_accuracy", "dev_macro_f1", "dev_neutral_share"):
            row[f"by_{rule}_{key.removeprefix('dev_')}"] = record[key]
    return row


def heldout_dev(unit: Unit) -> pd.DataFrame:
    """The dev sentences outside the dev sample that tuning selects on (the same for every seed)."""
    splits = split_loader(None)
    dev = splits(unit.dataset, "validation")
    sample = unit_sample(splits, unit, "validation")
    rest = dev[~dev["text"].isin(set(sample["text"]))]
    if rest.empty:
        raise SystemExit(
            f"--heldout: dev_size {unit.dataset.dev_size} leaves no dev sentence outside the sample"
        )
    return rest


def heldout_scores(folder: Path, lm: LanguageModel, rest: pd.DataFrame) -> dict[str, object]:
    saved = load_soft_prompt(folder / PROMPT_DIR)
    verbalizer = build_verbalizer(lm.tokenizer, saved.label_words)
    texts = list(rest["text"])
    probabilities = score_texts(
        lm, verbalizer, saved.template, texts, saved.prompt.to(lm.device), progress=False
    )
    summary = classification_summary(rest["label"].to_numpy(), probabilities)
    return {
        "heldout_accuracy": summary["accuracy"],
        "heldout_macro_f1": summary["macro_f1"],
        "heldout_neutral_share": summary["predicted_share"][1],
    }


def overridden(
    probe: SoftPromptConfig, dataset: DatasetEntry, settings: list[str]
) -> tuple[SoftPromptConfig, DatasetEntry]:
    """The recipe with KEY=VALUE settings changed (dataset.KEY for the training set's), validated again."""
    probe_changes: dict[str, str] = {}
    dataset_changes: dict[str, str] = {}
    for setting in settings:
        key, _, value = setting.partition("=")
        if key.startswith("dataset."):
            dataset_changes[key.removeprefix("dataset.")] = value
        else:
            probe_changes[key] = value
    probe = SoftPromptConfig.model_validate({**probe.model_dump(exclude_defaults=True), **probe_changes})
    dataset = DatasetEntry.model_validate({**dataset.model_dump(exclude_defaults=True), **dataset_changes})
    return probe, dataset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("study", help="a study file or builtin:NAME; its first soft prompt is the recipe")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--model", help="another model for the same recipe (default: the study's first)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="change a setting")
    parser.add_argument("--heldout", action="store_true", help="score kept prompts on dev outside the sample")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    study = load_study(args.study)
    recipe = next(probe for probe in study.probes if isinstance(probe, SoftPromptConfig))
    probe, dataset = overridden(recipe, study.datasets[0], args.set)
    model = ModelEntry(name=args.model) if args.model else study.models[0]
    print(
        f"{model.name} / {dataset.model_dump(exclude_defaults=True)} / {probe.model_dump(exclude_defaults=True)}"
    )
    # the scoring model is loaded once here; tune_stage loads its own for each seed it tunes
    heldout = None
    if args.heldout:
        rest = heldout_dev(Unit(model, dataset, probe, args.first_seed))
        heldout = (load_model(model.name, dtype=model.dtype, device=model.device), rest)
    rows = []
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        folder = args.out / f"seed{seed}"
        started = time.perf_counter()
        done = (folder / "MANIFEST.json").exists()
        tune_stage(model, dataset, probe, seed, folder, progress=False)
        seconds = None if done else time.perf_counter() - started
        rows.append(seed_row(folder, seed, seconds, probe.select_tolerance))
        if heldout is not None:
            rows[-1].update(heldout_scores(folder, *heldout))
        print(pd.DataFrame(rows[-1:]).round(3).to_string(index=False, header=len(rows) == 1), flush=True)
    table = pd.DataFrame(rows)
    scored = ("accuracy", "f1", "neutral")
    scores = [column for column in table.columns if any(w in column for w in scored) and "step" not in column]
    print("\nmean:", table[scores].mean().round(3).to_dict())
    print(
        f"min test accuracy {table['test_accuracy'].min():.3f}; restarts {table['restarts'].sum()} on "
        f"{(table['restarts'] > 0).sum()} seed(s); failed {table['failed'].sum()}"
    )


if __name__ == "__main__":
    main()
