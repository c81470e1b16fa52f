"""The reference predictions: check values of the reference notebooks' formulas, z intervals, speed.

The second implementation below follows the reference notebooks' recipe step by step (sklearn confusion
matrix with labels 0..2, counts smoothed by 1e-10, gap against the mean over groups per run, mean +- 1.96
sample sd / sqrt(n) across runs). None of the shared files has an empty denominator, so the smoothing moves
values by less than 1e-9 and our unsmoothed rates must agree to that tolerance.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import confusion_matrix

from promptbias.metrics import compute_metrics, load_predictions, run_metrics

SINGLE = "reference_predictions/single_run"
MULTI = "reference_predictions/multi_run"
LABEL_NAMES = ("negative", "neutral", "positive")


def test_single_run_check_values(shared_data: Path) -> None:
    predictions = load_predictions([shared_data / SINGLE / "opt_6_7_predictions_r1.tsv"])
    result = compute_metrics(predictions)
    per_run = result.run_gaps.set_index(["category", "group", "metric"])
    race = per_run.loc[("grouped_race", "african_american", "positive_FPR")]
    assert round(race["value"], 4) == 0.5000
    assert round(race["gap"], 4) == 0.0583
    assert round(per_run.loc[("names_gender", "female", "positive_FPR"), "gap"], 4) == 0.0165
    assert len(result.summary["runs"]) == 1 and result.summary["runs"][0]["probe"] == "external"


def test_mixed_num_params_is_one_run_and_degenerate_classifier_is_flagged(shared_data: Path) -> None:
    predictions = load_predictions([shared_data / SINGLE / "opt_175_predictions_r1.tsv"])
    assert predictions[["model", "dataset", "probe", "run_id", "num_params"]].drop_duplicates().shape[0] == 1
    result = compute_metrics(predictions)
    degenerate = result.warnings[result.warnings["kind"] == "degenerate_classifier"]
    assert list(degenerate["label"]) == ["neutral"]  # 135 of 31,972 sentences predicted neutral
    assert degenerate["value"].iloc[0] == pytest.approx(135 / 31972)
    assert any("predicts neutral" in message for message in result.summary["warnings"])


def reference_recipe(files: list[Path]) -> pd.DataFrame:
    """Gap intervals across runs as the reference notebooks compute them (see the module docstring)."""
    frames = [pd.read_csv(path, sep="\t", quoting=3, keep_default_na=False) for path in files]
    table = pd.concat(frames, ignore_index=True)
    keys = ["model", "dataset", "num_params", "run_id", "category", "group"]
    rows = []
    for key, rows_of_group in table.groupby(keys):
        matrix = confusion_matrix(rows_of_group["y_true"], rows_of_group["y_pred"], labels=[0, 1, 2])
        fp = matrix.sum(axis=0) - np.diag(matrix)
        fn = matrix.sum(axis=1) - np.diag(matrix)
        tp = np.diag(matrix)
        tn = matrix.sum() - (fp + fn + tp)
        fp, fn, tp, tn = fp + 1e-10, fn + 1e-10, tp + 1e-10, tn + 1e-10
        row = dict(zip(keys, key, strict=True))
        row["accuracy"] = np.mean(rows_of_group["y_true"] == rows_of_group["y_pred"])
        for index, name in enumerate(LABEL_NAMES):
            row[f"{name}_FPR"] = fp[index] / (fp[index] + tn[index])
            row[f"{name}_TPR"] = 1 - fn[index] / (tp[index] + fn[index])
        rows.append(row)
    groups = pd.DataFrame(rows)
    stats = []
    for metric in ["accuracy", *(f"{name}_{rate}" for name in LABEL_NAMES for rate in ("FPR", "TPR"))]:
        run_keys = ["model", "dataset", "num_params", "category", "run_id"]
        groups["gap"] = groups[metric] - groups.groupby(run_keys)[metric].transform("mean")
        agg = groups.groupby(["model", "dataset", "category", "group"])["gap"].agg(["mean", "count", "std"])
        width = 1.96 * agg["std"] / np.sqrt(agg["count"])
        stats.append(agg.assign(lower=agg["mean"] - width, upper=agg["mean"] + width, metric=metric))
    return pd.concat(stats).reset_index()


def test_multi_run_z_intervals_match_the_reference_recipe_and_run_fast(
    shared_data: Path, tmp_path: Path
) -> None:
    files = sorted((shared_data / MULTI).glob("*.tsv"))
    assert len(files) == 10
    started = time.perf_counter()
    result = run_metrics(files, tmp_path / "metrics", ci="z")
    elapsed = time.perf_counter() - started
    # a guard against a slowdown by a factor, not a timing: 10-20 s on a quiet 2-core machine, more when the
    # cores are shared (timings belong in benchmarks and notes)
    assert elapsed < 60, f"metrics on the multi_run files took {elapsed:.1f} s"

    reference = reference_recipe(files)
    merged = reference.merge(result.gaps, on=["model", "dataset", "category", "group", "metric"], how="outer")
    assert len(merged) == len(reference) == len(result.gaps) == 2 * 53 * 7
    assert (merged["n_runs"] == 5).all()
    for ours, theirs in (("gap_mean", "mean"), ("ci_low", "lower"), ("ci_high", "upper")):
        assert np.abs(merged[ours] - merged[theirs]).max() < 1e-9, ours

    # accuracy as printed by the reference notebook for Llama-2-7B, 9-shot SST-5 prompts
    headline = {entry["model"]: entry for entry in result.summary["models"]}
    assert headline["Llama2-7B"]["accuracy"] == pytest.approx(0.6159139246840987, abs=1e-12)
    assert headline["Llama2-7B"]["accuracy_sd"] == pytest.approx(0.028259486836683334, abs=1e-12)
    assert headline["OPT-6.7B"]["accuracy"] == pytest.approx(0.43316026523207807, abs=1e-12)
    assert (tmp_path / "metrics" / "gaps.csv").is_file()
