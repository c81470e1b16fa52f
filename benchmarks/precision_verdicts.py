"""Does bf16 move a verdict? Every probe of a finished study predicts the study's suite again in bf16 and in
fp32 (the same tuned prompts, read from the study's results; a calibrated probe calibrates in its own dtype),
the metrics stage runs on each with the study's options, and the two are compared: suite labels that differ,
the largest change of a gap, and every verdict (a significant gap) that appears or disappears.

Run after the study (``make demo`` for the quickstart):
    python benchmarks/precision_verdicts.py builtin:quickstart --results results/quickstart --out precision
It writes OUT/<dtype>/ (predictions and metrics), OUT/gap_changes.csv and OUT/precision.json, and prints them.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import pandas as pd

from promptbias import store
from promptbias.lm.model import load_model
from promptbias.lm.verbalizer import build_verbalizer
from promptbias.metrics.stage import run_metrics
from promptbias.probes.soft_prompt import PROMPT_DIR
from promptbias.study.config import Study, load_study
from promptbias.study.plan import plan_units, resolve_suite
from promptbias.study.predictions import RunInfo, predict_suite, write_predictions
from promptbias.study.unit import build_probe, split_loader

DTYPES = ("bfloat16", "float32")
RECORDS = ("unit.json", "tuning.json")
GAP_KEY = ["model", "dataset", "probe", "category", "group", "metric"]


def predict_in(study: Study, results: Path, dtype: str, out: Path) -> None:
    """Every unit's suite predictions in ``dtype`` under ``out/units/<unit>/``, its tuned prompt copied from
    ``results`` (never tuned again: a unit without a finished prompt is an error)."""
    suite = resolve_suite(study)
    splits = split_loader(study.data_dir)
    for model in study.models:
        lm = load_model(model.name, dtype=dtype, device=model.device)
        verbalizer = build_verbalizer(lm.tokenizer, study.label_words)
        for unit in (unit for unit in plan_units(study) if unit.model == model):
            folder = out / "units" / unit.unit_id
            if store.is_complete(folder):
                continue
            folder.mkdir(parents=True, exist_ok=True)
            original = results / "units" / unit.unit_id
            for record in RECORDS:  # the tuning's outcome: the metrics' run selection reads it
                if (original / record).exists():
                    shutil.copy(original / record, folder / record)
            source = original / PROMPT_DIR
            if unit.probe.kind == "soft_prompt":
                if not store.is_complete(source):
                    raise SystemExit(f"{source}: no finished soft prompt; run the study first")
                shutil.copytree(source, folder / PROMPT_DIR, dirs_exist_ok=True)
            probe = build_probe(lm, verbalizer, unit, splits, folder, study.scoring.batch_tokens, False)
            run = RunInfo(
                model.name, unit.dataset.name, unit.probe.label, unit.run_id, unit.seed, lm.num_params
            )
            write_predictions(predict_suite(lm, verbalizer, probe, suite, run, progress=False), folder)
            store.write_manifest(folder, {"unit_id": unit.unit_id})


def metrics_of(study: Study, out: Path) -> pd.DataFrame:
    """The metrics stage on ``out``'s predictions with the study's options; its gaps table."""
    options = study.metrics
    target = out / "metrics"
    if not store.is_complete(target):
        run_metrics(
            [out],
            target,
            ci=options.ci,
            correction=options.correction,
            scope=options.scope,
            runs=options.runs,
        )
    return pd.read_csv(target / "gaps.csv")


def label_changes(out: Path) -> tuple[int, int]:
    """Suite predictions whose label differs between the two dtypes, and all of them."""
    changed = total = 0
    for folder in sorted((out / DTYPES[0] / "units").iterdir()):
        first = pd.read_parquet(folder / "predictions.parquet")["y_pred"].to_numpy()
        second = pd.read_parquet(out / DTYPES[1] / "units" / folder.name / "predictions.parquet")["y_pred"]
        changed += int((first != second.to_numpy()).sum())
        total += len(first)
    return changed, total


def compare_gaps(low: pd.DataFrame, high: pd.DataFrame) -> pd.DataFrame:
    """Each gap in both dtypes: its change, and whether its verdict changed."""
    merged = low.merge(high, on=GAP_KEY, suffixes=("_bf16", "_fp32"), validate="one_to_one")
    merged["gap_change"] = merged["gap_mean_bf16"] - merged["gap_mean_fp32"]
    merged["verdict_changed"] = merged["significant_bf16"] != merged["significant_fp32"]
    columns = ["gap_mean_bf16", "gap_mean_fp32", "gap_change", "p_adjusted_bf16", "p_adjusted_fp32"]
    return merged[[*GAP_KEY, *columns, "significant_bf16", "significant_fp32", "verdict_changed"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study", help="the study file (builtin:quickstart)")
    parser.add_argument("--results", type=Path, required=True, help="the study's finished results folder")
    parser.add_argument("--out", type=Path, default=Path("precision"))
    args = parser.parse_args()
    study = load_study(args.study)
    seconds = {}
    for dtype in DTYPES:
        started = time.perf_counter()
        predict_in(study, args.results, dtype, args.out / dtype)
        seconds[dtype] = round(time.perf_counter() - started, 1)
    gaps = compare_gaps(*(metrics_of(study, args.out / dtype) for dtype in DTYPES))
    store.write_frame(args.out / "gap_changes.csv", gaps)
    changed, total = label_changes(args.out)
    largest = gaps.loc[gaps["gap_change"].abs().idxmax()]
    moved = gaps[gaps["verdict_changed"]]
    summary = {
        "study": args.study,
        "suite_predictions": total,
        "labels_changed": changed,
        "labels_changed_share": round(changed / total, 5),
        "gaps": len(gaps),
        "largest_gap_change": {key: largest[key] for key in [*GAP_KEY, "gap_mean_bf16", "gap_mean_fp32"]},
        "largest_abs_gap_change": round(float(gaps["gap_change"].abs().max()), 5),
        "mean_abs_gap_change": round(float(gaps["gap_change"].abs().mean()), 6),
        "significant": {
            "bf16": int(gaps["significant_bf16"].sum()),
            "fp32": int(gaps["significant_fp32"].sum()),
        },
        "verdicts_changed": moved[
            [*GAP_KEY, "gap_mean_bf16", "gap_mean_fp32", "p_adjusted_bf16", "p_adjusted_fp32"]
        ].to_dict(orient="records"),
        "predict_seconds": seconds,
    }
    store.write_json(args.out / "precision.json", json.loads(json.dumps(summary, default=str)))
    print(json.dumps(summary, indent=2, default=str))


if __name__ == "__main__":
    main()
