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
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from promptbias import store
from promptbias.data.training import load_split, subsample
from promptbias.lm.verbalizer import Verbalizer
from promptbias.metrics.evaluation import classification_summary
from promptbias.probes import Probe
from promptbias.probes.kind import BuildContext, ProbeConfig
from promptbias.probes.soft_prompt import PROMPT_DIR
from promptbias.study.config import DatasetEntry, ModelEntry, Study
from promptbias.study.predictions import RunInfo, predict_suite, write_predictions

if TYPE_CHECKING:
    from promptbias.lm.model import LanguageModel

SplitLoader = Callable[[DatasetEntry, str], pd.DataFrame]
DEV_SEED = 0  # dev and test subsets are the same for every seed, so runs are compared on the same sentences
UNIT_FILE = "unit.json"
OUTCOME_KEY = "tuning"  # joins a folder's record after tuning: what happened, not a setting to compare


def recorded_settings(record: object) -> object:
    """A folder's record without the tuning's outcome: what two runs must share to be the same unit."""
    return {k: v for k, v in record.items() if k != OUTCOME_KEY} if isinstance(record, dict) else record


SAMPLE_SIZES = {"train": "train_size", "validation": "dev_size", "test": "test_size"}


@dataclass(frozen=True)
class Unit:
    model: ModelEntry
    dataset: DatasetEntry
    probe: ProbeConfig
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
            # how the model runs, not what it computes: compiling moves only bf16 rounding (docs/speed.md)
            "model": self.model.model_dump(mode="json", exclude={"gpus", "device_map", "compile"}),
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
        recorded = json.loads((folder / UNIT_FILE).read_text(encoding="utf-8")).get("fingerprint")
    except (OSError, ValueError, AttributeError):
        return False
    return recorded == unit.fingerprint(study)


def open_folder(folder: Path, record_name: str, record: dict[str, Any], key: str | None = None) -> None:
    """Ready ``folder`` for the stages: cleared when its record (the file ``record_name``) says it was made with
    other settings (the record's ``key``, or the whole record), rid of the temporaries of an interrupted run
    and of damaged files, and ``record`` written."""
    path = folder / record_name
    if path.exists():
        try:
            recorded = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            recorded = None
        current = json.loads(json.dumps(record))
        if not isinstance(recorded, dict) or (
            recorded.get(key) != current.get(key)
            if key is not None
            else recorded_settings(recorded) != recorded_settings(current)
        ):
            shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    store.remove_stale_temporaries(folder)
    store.discard_damaged(folder)  # a file changed since the manifest was written is made again
    store.write_json(path, record)


def unit_record(
    unit: Unit, study: Study, lm: LanguageModel, suite_lm: LanguageModel | None = None
) -> dict[str, Any]:
    """What ``unit.json`` says about a unit: its names, the model's size, the probe's settings, the fingerprint,
    and how the model ran (the dtypes of tuning and test, and of the suite; compiled or not)."""
    from promptbias.lm.machine import dtype_name  # torch: not for reading a study

    return {
        "unit_id": unit.unit_id,
        "model": unit.model.name,
        "num_params": lm.num_params,
        "dataset": unit.dataset.name,
        "probe": unit.probe.label,
        "probe_kind": unit.probe.kind,
        "seed": unit.seed,
        "run_id": unit.run_id,
        "fingerprint": unit.fingerprint(study),
        "compiled": lm.runs_compiled,
        "dtype": dtype_name(lm.dtype),
        "suite_dtype": dtype_name((suite_lm or lm).dtype),
        "settings": unit.probe.model_dump(mode="json"),
    }


def build_probe(
    lm: LanguageModel,
    verbalizer: Verbalizer,
    unit: Unit,
    splits: SplitLoader,
    folder: Path,
    batch_tokens: int,
    progress: bool,
) -> Probe:
    """The unit's probe, built by its kind (a soft prompt is tuned now or loaded from ``prompt/``)."""
    context = BuildContext(
        lm, verbalizer, unit.seed, partial(unit_sample, splits, unit), folder, batch_tokens, progress
    )
    return unit.probe.probe_kind.build(unit.probe, context)


def unit_sample(splits: SplitLoader, unit: Unit, split: str) -> pd.DataFrame:
    """The unit's sample of a split: train drawn with the unit's seed; dev and test with the one seed all
    units share."""
    size = getattr(unit.dataset, SAMPLE_SIZES[split])
    return subsample(splits(unit.dataset, split), size, unit.seed if split == "train" else DEV_SEED)


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
    test = unit_sample(splits, unit, "test")
    probabilities = probe.score(
        lm,
        verbalizer,
        list(test["text"]),
        batch_tokens=batch_tokens,
        progress=progress,
        description=f"test ({probe.name})",
    )
    evaluation: dict[str, object] = {"test": classification_summary(test["label"].to_numpy(), probabilities)}
    manifest = folder / PROMPT_DIR / store.MANIFEST
    if manifest.exists():
        evaluation["validation"] = {"accuracy": json.loads(manifest.read_text())["dev_accuracy"]}
    return evaluation


def run_stages(
    lm: LanguageModel,
    verbalizer: Verbalizer,
    unit: Unit,
    splits: SplitLoader,
    folder: Path,
    *,
    suite: pd.DataFrame | None,
    batch_tokens: int,
    progress: bool,
    record: str = UNIT_FILE,
    manifest: dict[str, Any] | None = None,
    suite_lm: LanguageModel | None = None,
) -> None:
    """The stages not done yet in ``folder`` (readied by ``open_folder``): the probe (a soft prompt tuned,
    checkpointed and saved), its evaluation on the test split, the suite's predictions (when ``suite`` is
    given); then the manifest, written last, that marks the folder complete. A tuned probe's outcome (its
    restarts, whether it failed) joins the folder's ``record`` file. ``suite_lm`` (the model in the suite's
    dtype, when it differs from ``lm``'s) predicts the suite, through the probe built again on it (a tuned
    prompt is loaded, not tuned again)."""
    probe = build_probe(lm, verbalizer, unit, splits, folder, batch_tokens, progress)
    store.write_json(folder / "probe.json", probe.describe())
    if OUTCOME_KEY in probe.details:
        written = json.loads((folder / record).read_text(encoding="utf-8"))
        store.write_json(folder / record, {**written, OUTCOME_KEY: probe.details[OUTCOME_KEY]})
    if not (folder / "evaluation.json").exists():
        evaluation = evaluate_probe(lm, verbalizer, probe, unit, splits, folder, batch_tokens, progress)
        store.write_json(folder / "evaluation.json", evaluation)
    if suite is not None and not (folder / "predictions.parquet").exists():
        run = RunInfo(
            unit.model.name, unit.dataset.name, unit.probe.label, unit.run_id, unit.seed, lm.num_params
        )
        reader = suite_lm or lm
        if reader is not lm:
            probe = build_probe(reader, verbalizer, unit, splits, folder, batch_tokens, progress)
        table = predict_suite(
            reader, verbalizer, probe, suite, run, batch_tokens=batch_tokens, progress=progress
        )
        write_predictions(table, folder)
    store.write_manifest(folder, manifest)


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
    suite_lm: LanguageModel | None = None,
) -> None:
    """Run the stages of ``unit`` that are not done yet, then mark the folder complete (the suite predicted
    by ``suite_lm`` when given)."""
    if is_done(folder, unit, study):
        return
    open_folder(folder, UNIT_FILE, unit_record(unit, study, lm, suite_lm), key="fingerprint")
    batch_tokens = study.scoring.batch_tokens
    run_stages(
        lm,
        verbalizer,
        unit,
        splits,
        folder,
        suite=suite,
        batch_tokens=batch_tokens,
        progress=progress,
        manifest={"unit_id": unit.unit_id},
        suite_lm=suite_lm,
    )


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
