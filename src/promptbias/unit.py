"""One unit of a study: a model x a training set x a probe x a seed, in a folder of its own.

Stages, each written atomically and skipped when already done: the soft prompt is tuned (with training
checkpoints) and saved as a PEFT adapter; the probe is evaluated on the held-out test split; the bias suite is
classified. A ``MANIFEST.json`` with every file's checksum, written last, marks the unit complete; a complete
unit is never recomputed, and a folder whose settings changed is cleared and redone.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from promptbias import store
from promptbias.config import DatasetEntry, ModelEntry, ProbeEntry, Study
from promptbias.data.training import load_split, subsample
from promptbias.metrics.evaluation import classification_summary
from promptbias.models import LanguageModel
from promptbias.predictions import predict_suite, write_predictions
from promptbias.probes import Probe
from promptbias.probes.manual import few_shot_probe, zero_shot_probe
from promptbias.probes.soft_prompt import load_soft_prompt, save_soft_prompt, tune_soft_prompt
from promptbias.prompt_format import PromptTemplate
from promptbias.scoring import score_texts
from promptbias.verbalizer import Verbalizer

SplitLoader = Callable[[DatasetEntry, str], pd.DataFrame]
DEV_SEED = 0  # dev and test subsets are the same for every seed, so runs are compared on the same sentences


@dataclass(frozen=True)
class Unit:
    model: ModelEntry
    dataset: DatasetEntry
    probe: ProbeEntry
    seed: int

    @property
    def run_id(self) -> str:
        return f"seed{self.seed}"

    @property
    def unit_id(self) -> str:
        parts = (self.model.name, self.dataset.name, self.probe.label, self.run_id)
        return "__".join(_slug(part) for part in parts)

    def fingerprint(self, study: Study) -> str:
        """A hash of everything that determines this unit's results."""
        described = {
            "model": self.model.model_dump(mode="json", exclude={"gpus", "device_map"}),
            "dataset": self.dataset.model_dump(mode="json"),
            "probe": self.probe.model_dump(mode="json"),
            "seed": self.seed,
            "suite": study.suite.model_dump(mode="json"),
            "label_words": list(study.label_words),
        }
        return hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()[:16]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._+-]+", "-", Path(text).name if text.endswith(".gguf") else text).strip("-")


def is_done(folder: Path, unit: Unit, study: Study) -> bool:
    """Complete (every file matches its manifest) and made with the unit's current settings."""
    if not store.is_complete(folder):
        return False
    try:
        recorded = json.loads((folder / "unit.json").read_text(encoding="utf-8")).get("fingerprint")
    except (OSError, ValueError, AttributeError):
        return False
    return recorded == unit.fingerprint(study)


def prepare_folder(folder: Path, unit: Unit, study: Study, lm: LanguageModel) -> None:
    """Clear a folder left by different settings, drop temporaries of an interrupted run and damaged files,
    describe the unit."""
    described = folder / "unit.json"
    fingerprint = unit.fingerprint(study)
    if described.exists():
        try:
            same = json.loads(described.read_text(encoding="utf-8")).get("fingerprint") == fingerprint
        except ValueError:
            same = False
        if not same:
            shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    store.remove_stale_temporaries(folder)
    store.discard_damaged(folder)  # a file changed since the manifest was written is made again
    store.write_json(
        described,
        {
            "unit_id": unit.unit_id,
            "model": unit.model.name,
            "num_params": lm.num_params,
            "dataset": unit.dataset.name,
            "probe": unit.probe.label,
            "probe_kind": unit.probe.kind,
            "seed": unit.seed,
            "run_id": unit.run_id,
            "fingerprint": fingerprint,
            "settings": unit.probe.model_dump(mode="json"),
        },
    )


def build_probe(
    lm: LanguageModel,
    verbalizer: Verbalizer,
    unit: Unit,
    splits: SplitLoader,
    folder: Path,
    progress: bool,
) -> Probe:
    """The unit's probe; for the soft prompt, tuned now or loaded from the unit's ``prompt/`` folder."""
    entry = unit.probe
    if entry.kind == "zero_shot":
        return zero_shot_probe(entry.label, entry.resolved_template)
    train = subsample(splits(unit.dataset, "train"), unit.dataset.train_size, unit.seed)
    if entry.kind == "few_shot":
        return few_shot_probe(
            entry.label, entry.resolved_template, train, entry.shots, unit.seed, verbalizer.words
        )
    template = PromptTemplate.parse(entry.resolved_template)
    prompt_dir = folder / "prompt"
    if not store.is_complete(prompt_dir):
        for derived in ("evaluation.json", "predictions.parquet", "predictions.tsv"):
            (folder / derived).unlink(missing_ok=True)  # made with an earlier prompt, if any
        dev = subsample(splits(unit.dataset, "validation"), unit.dataset.dev_size, DEV_SEED)
        result = tune_soft_prompt(
            lm,
            verbalizer,
            template,
            train,
            dev,
            entry.tuning_settings(),
            unit.seed,
            checkpoint_dir=folder / "tuning_state",
            progress=progress,
        )
        log = "".join(json.dumps(record, sort_keys=True) + "\n" for record in result.history)
        store.write_text(folder / "train_log.jsonl", log)
        save_soft_prompt(prompt_dir, result.prompt, lm, template, verbalizer)
        store.write_manifest(
            prompt_dir, {"best_step": result.best_step, "dev_accuracy": result.best_dev_accuracy}
        )
    shutil.rmtree(folder / "tuning_state", ignore_errors=True)  # here too when killed just after the manifest
    saved = load_soft_prompt(prompt_dir)
    return Probe(entry.label, "soft_prompt", saved.template, saved.prompt)


def evaluate_probe(
    lm: LanguageModel,
    verbalizer: Verbalizer,
    probe: Probe,
    unit: Unit,
    splits: SplitLoader,
    folder: Path,
    batch_tokens: int,
    progress: bool,
) -> dict[str, object]:
    """Accuracy, macro-F1 and confusion on the test split (and the dev accuracy of a tuned prompt)."""
    test = subsample(splits(unit.dataset, "test"), unit.dataset.test_size, DEV_SEED)
    probabilities = score_texts(
        lm,
        verbalizer,
        probe.template,
        list(test["text"]),
        probe.soft,
        batch_tokens=batch_tokens,
        progress=progress,
        description=f"test ({probe.name})",
    )
    evaluation: dict[str, object] = {"test": classification_summary(test["label"].to_numpy(), probabilities)}
    manifest = folder / "prompt" / store.MANIFEST
    if probe.kind == "soft_prompt" and manifest.exists():
        evaluation["validation"] = {"accuracy": json.loads(manifest.read_text())["dev_accuracy"]}
    return evaluation


def run_unit(
    lm: LanguageModel,
    verbalizer: Verbalizer,
    unit: Unit,
    study: Study,
    suite: pd.DataFrame,
    splits: SplitLoader,
    folder: Path,
    *,
    progress: bool = True,
) -> None:
    """Run the stages of ``unit`` that are not done yet, then mark the folder complete."""
    if is_done(folder, unit, study):
        return
    prepare_folder(folder, unit, study, lm)
    probe = build_probe(lm, verbalizer, unit, splits, folder, progress)
    store.write_json(folder / "probe.json", probe.describe())
    batch_tokens = study.scoring.batch_tokens
    if not (folder / "evaluation.json").exists():
        evaluation = evaluate_probe(lm, verbalizer, probe, unit, splits, folder, batch_tokens, progress)
        store.write_json(folder / "evaluation.json", evaluation)
    if not (folder / "predictions.parquet").exists():
        run = {
            "model": unit.model.name,
            "dataset": unit.dataset.name,
            "probe": unit.probe.label,
            "run_id": unit.run_id,
            "seed": unit.seed,
            "num_params": lm.num_params,
        }
        table = predict_suite(lm, verbalizer, probe, suite, run, batch_tokens=batch_tokens, progress=progress)
        write_predictions(table, folder)
    store.write_manifest(folder, {"unit_id": unit.unit_id})


def split_loader(data_dir: Path | None) -> SplitLoader:
    """A loader that reads each (training set, split) once and hands out the same frame after."""
    loaded: dict[tuple[str, str], pd.DataFrame] = {}

    def load(entry: DatasetEntry, split: str) -> pd.DataFrame:
        key = (entry.model_dump_json(), split)
        if key not in loaded:
            loaded[key] = load_split(
                entry.name,
                split,
                path=entry.path,
                files={k: str(v) for k, v in entry.files.items()} if entry.files else None,
                text_column=entry.text_column,
                label_column=entry.label_column,
                label_map=entry.label_map,
                data_root=data_dir,
            )
        return loaded[key]

    return load
