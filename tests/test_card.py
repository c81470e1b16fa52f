"""The model-card section of the quickstart study (on a tiny model): huggingface_hub reads it, its metadata is
``model-index``, and its numbers are those of ``gaps.csv`` and ``test_accuracy.csv``."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from huggingface_hub import ModelCard
from huggingface_hub.repocard_data import model_index_to_eval_results

from cli_helpers import cli
from promptbias.study.config import DatasetEntry, ModelEntry, SuiteEntry, load_study
from promptbias.study.runner import run_study
from random_model import RANDOM_MODEL


@pytest.fixture(scope="module")
def quickstart(tiny_models, tmp_path_factory) -> Path:
    """The results folder of the quickstart study, its model the tiny LLaMA and its samples small."""
    study = load_study("builtin:quickstart")
    soft, *others = study.probes
    small = study.model_copy(
        update={
            "output_dir": tmp_path_factory.mktemp("quickstart") / "results",
            "models": [ModelEntry(name=str(tiny_models["llama"]), dtype="float32", device="cpu")],
            "datasets": [DatasetEntry(name="sst5", train_size=48, dev_size=16, test_size=24)],
            "probes": [
                soft.model_copy(
                    update={"num_virtual_tokens": 4, "max_steps": 4, "eval_every": 2, **RANDOM_MODEL}
                ),
                *others,
            ],
            "suite": SuiteEntry(source="czarnowska", templates_per_category=1),
        }
    )
    run_study(small, progress=False)
    return small.results_dir


def section(text: str, title: str) -> str:
    return text.split(f"### {title}\n", 1)[1].split("\n### ", 1)[0]


def table_rows(text: str) -> list[list[str]]:
    """The body rows of the first Markdown table in ``text``, cell by cell."""
    lines = [line for line in text.splitlines() if line.startswith("|")][2:]
    return [[cell.strip() for cell in line.strip("|").split(" | ")] for line in lines]


def test_the_card_is_a_model_card_with_model_index_and_the_numbers_of_the_results(
    quickstart, tmp_path, monkeypatch, capsys
):
    out = tmp_path / "README.md"
    code, stdout, _ = cli(monkeypatch, capsys, "card", quickstart, "--out", out)
    assert (code, stdout) == (0, f"wrote {out}\n")
    card = ModelCard.load(out)
    name, results = model_index_to_eval_results(card.data.to_dict()["model-index"])
    assert name == "llama"
    accuracy = pd.read_csv(quickstart / "test_accuracy.csv")
    assert len(accuracy) == 3 and len(results) == 3
    for result, row in zip(results, accuracy.itertuples(), strict=True):
        assert (result.task_type, result.dataset_type, result.dataset_split) == (
            "text-classification",
            "sst5",
            "test",
        )
        assert result.metric_type == "accuracy" and result.metric_value == row.test_accuracy
        assert result.metric_name == f"test accuracy ({row.probe}, seed {row.seed})"

    text = card.content
    assert "## Bias, Risks, and Limitations" in text
    gaps = pd.read_csv(quickstart / "metrics" / "gaps.csv")
    verdicts = table_rows(section(text, "Verdict per attribute"))
    gaps = gaps.assign(scope=gaps["scope"].fillna("all"))  # an untested gap has no scope of its own
    keys = ["probe", "category", *(["scope"] if set(gaps["scope"]) != {"all"} else [])]
    expected = gaps.groupby(keys)
    assert len(verdicts) == expected.ngroups
    for attribute, probe, dataset, *scope, verdict, detectable in verdicts:
        rows = expected.get_group((probe, attribute, *scope))
        largest = rows["min_detectable_gap"].max()
        assert dataset == "sst5" and (largest != largest or detectable == f"{largest:.3f}")
        flagged = int(rows["significant"].sum())
        if flagged:
            assert verdict == f"{flagged} of {len(rows)} gaps flagged"
        elif largest == largest:
            assert verdict == f"no gap larger than {detectable}"
    flagged = gaps[gaps["significant"]]
    shown = table_rows(section(text, "Groups flagged"))
    assert len(shown) == min(len(flagged), 25)
    if flagged.empty:
        assert f"None of the {len(gaps)} gaps tested is significant." in text
    left_out = section(text, "Runs left out")  # a random model's prompt fails the rule: named, with why
    excluded = json.loads((quickstart / "metrics" / "summary.json").read_text())["excluded_runs"]
    assert [
        line.count(run["reason"]) for line, run in zip(left_out.split("\n- ")[1:], excluded, strict=True)
    ] == [1] * len(excluded)
    if not excluded:
        assert "None: every run of the study is in the results." in left_out
    assert "arXiv:2306.04735" in section(text, "How to cite")
    assert "llama" in text and str(quickstart.parent) not in text  # no local path in a published card


def test_flagged_groups_carry_their_gaps_intervals_and_the_markedness_note(quickstart, tmp_path):
    """The card reports what gaps.csv says: here three gaps marked significant, one of a default group."""
    from promptbias.report.card import build_card

    folder = tmp_path / "results"
    shutil.copytree(quickstart, folder)
    path = folder / "metrics" / "gaps.csv"
    gaps = pd.read_csv(path)
    chosen = gaps.reindex(gaps["gap_mean"].abs().sort_values(ascending=False, kind="stable").index).index[:3]
    gaps.loc[chosen, "significant"] = True
    gaps.loc[chosen[0], "default_group"] = True
    gaps.to_csv(path, index=False)
    text = build_card(folder)
    rows = table_rows(section(text, "Groups flagged"))
    assert len(rows) == 3
    for cells, (_, row) in zip(rows, gaps.loc[chosen].iterrows(), strict=True):
        assert cells[:4] == [row["category"], row["group"], row["metric"], row["probe"]]
        assert cells[4] == f"{row['gap_mean']:+.3f}"
        assert cells[5] == f"[{row['ci_low']:+.3f}, {row['ci_high']:+.3f}]"
    first = gaps.loc[chosen[0]]
    assert f"{first['group']} is the unmarked default group of {first['category']}" in section(
        text, "Caveats"
    )
    assert re.search(r"\d+ of \d+ gaps flagged", section(text, "Verdict per attribute"))


def test_a_card_for_a_model_the_study_lacks_names_its_models(quickstart, monkeypatch, capsys):
    code, stdout, stderr = cli(monkeypatch, capsys, "card", quickstart, "--model", "gpt2")
    assert (code, stdout) == (2, "")
    model = pd.read_csv(quickstart / "test_accuracy.csv")["model"].iloc[0]
    assert stderr == f"promptbias: error: {quickstart}: no model 'gpt2' (models: {model})\n"
