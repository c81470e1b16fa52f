"""Every input a stage needs, checked before anything is written: bad input ends the command with one
``InputError`` (exit status 2) and leaves no output file or folder behind.

The checks are cheap next to the work they guard: the training splits are read (and sampled as the units
will sample them), each model is located (a local path, the Hugging Face cache, or a reachable hub) and only
its tokenizer is loaded, to see that the label words exist in its vocabulary.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from promptbias.data.training import subsample
from promptbias.errors import InputError
from promptbias.lm.model import check_custom_code, load_tokenizer, locate_model
from promptbias.lm.verbalizer import build_verbalizer
from promptbias.metrics.loading import read_groups_file, resolve_groups
from promptbias.probes.kind import ProbeConfig
from promptbias.study.claim import CLAIM_FILES
from promptbias.study.config import DatasetEntry, ModelEntry, Study
from promptbias.study.unit import DEV_SEED, SAMPLE_SIZES, SplitLoader, Unit, recorded_settings, split_loader

TUNE_FILE = "tune.json"


def check_study(study: Study, suite: pd.DataFrame, units: Sequence[Unit]) -> None:
    """The results folder, the metrics' groups file (against ``suite``), and every training split, model and
    label word that ``units`` (the units still to run) need."""
    check_results_dir(study.results_dir)
    check_tracking(study)
    if study.metrics.groups is not None:
        groups = read_groups_file(study.metrics.groups)
        resolve_groups(suite, groups, where=study.metrics.groups)
    splits = split_loader(study.data_dir)
    for unit in units:
        check_splits(unit.dataset, unit.probe, unit.seed, splits)
    for model in dict.fromkeys(unit.model for unit in units):
        check_label_words(model, study.label_words)


def check_results_dir(folder: Path) -> None:
    """A study writes into a new or empty folder (but for a claim left by a killed run), or into the results
    folder of an earlier run."""
    if folder.exists() and not folder.is_dir():
        raise InputError(folder, "output_dir exists and is not a folder")
    found = [path for path in folder.iterdir() if path.name not in CLAIM_FILES] if folder.is_dir() else []
    if found and not (folder / "study.json").is_file():
        raise InputError(
            folder,
            "output_dir exists and is not a results folder of promptbias run; choose a new or empty one",
        )


def check_tracking(study: Study) -> None:
    """A tracked study needs MLflow (the extra promptbias[mlflow]), checked without importing it."""
    if study.tracking is not None and importlib.util.find_spec("mlflow") is None:
        raise InputError("tracking", "MLflow is not installed: pip install 'promptbias[mlflow]'")


def check_splits(dataset: DatasetEntry, probe: ProbeConfig, seed: int, splits: SplitLoader) -> None:
    """Read every split the probe needs and draw the samples the unit will draw (train with the unit's seed,
    dev and test with the one seed all units share)."""
    for split in probe.probe_kind.splits:
        frame = splits(dataset, split)
        field = SAMPLE_SIZES[split]
        size = getattr(dataset, field)
        try:
            subsample(frame, size, seed if split == "train" else DEV_SEED)
        except ValueError as error:
            raise InputError(
                dataset.name, f"{field} {size}: cannot draw a stratified sample ({error})"
            ) from None


def check_label_words(model: ModelEntry, words: Sequence[str]) -> None:
    """The model can be found (and its code is trusted where it needs its own), and the label words are in
    its tokenizer's vocabulary and tokenize differently."""
    tokenizer = load_tokenizer(model.name, trust_remote_code=model.trust_remote_code)
    try:
        build_verbalizer(tokenizer, tuple(words))
    except InputError as error:
        raise InputError(error.where, f"{error.problem} (tokenizer of {model.name})") from None


def tune_settings(model: ModelEntry, dataset: DatasetEntry, probe: ProbeConfig, seed: int) -> dict[str, Any]:
    """What determines a tuned prompt (where it runs does not), as recorded in ``tune.json``."""
    return {
        "model": model.model_dump(mode="json", exclude={"device", "gpus", "device_map"}),
        "dataset": dataset.model_dump(mode="json"),
        "probe": probe.model_dump(mode="json"),
        "seed": seed,
    }


def check_tune_out(out: Path, settings: dict[str, Any]) -> None:
    """``--out`` of tune is new, empty, or an earlier (perhaps interrupted) tune run with the same settings."""
    if out.exists() and not out.is_dir():
        raise InputError(out, "exists and is not a folder")
    if not out.is_dir() or not any(out.iterdir()):
        return
    recorded = out / TUNE_FILE
    if not recorded.is_file():
        raise InputError(out, "exists and is not a folder of promptbias tune; choose a new or empty --out")
    try:
        earlier = json.loads(recorded.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        earlier = None
    if recorded_settings(earlier) != json.loads(json.dumps(settings)):
        raise InputError(
            out,
            f"holds a prompt tuned with other settings (see {TUNE_FILE}); choose another --out or delete it",
        )


def check_tune(
    model: ModelEntry, dataset: DatasetEntry, probe: ProbeConfig, seed: int, out: Path, splits: SplitLoader
) -> None:
    """The output folder, the model's place and code, and every split ``tune`` reads (the label words are
    checked as the model loads, before anything is written)."""
    check_tune_out(out, tune_settings(model, dataset, probe, seed))
    check_custom_code(model.name, locate_model(model.name), model.trust_remote_code)
    check_splits(dataset, probe, seed, splits)
