"""The study file (YAML), validated: models x training sets x probes x seeds, the suite, and the settings.

Unknown or mistyped keys are errors. Relative paths resolve against the study file's folder (for a built-in
study, ``builtin:NAME``, against the current folder). Every field has a default a newcomer can run, so that a
study can be as short as a name and a model.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from promptbias.data.files import read_text
from promptbias.errors import InputError
from promptbias.lm.batching import DEFAULT_BATCH_TOKENS
from promptbias.lm.compilation import CompileChoice
from promptbias.lm.verbalizer import LABEL_WORDS
from promptbias.metrics.inference.engine import CORRECTIONS, MAX_T, default_correction
from promptbias.metrics.inference.permutation import SCOPES
from promptbias.metrics.inference.uncertainty import (
    DEFAULT_METHOD,
    INTERVAL_METHODS,
    PERMUTATION,
)
from promptbias.metrics.run_selection import RunSelection
from promptbias.probes.registry import KINDS, ProbeEntry
from promptbias.probes.soft_prompt import SoftPromptConfig
from promptbias.suites.spec import line_of

BUILTIN_PREFIX = "builtin:"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelEntry(_Strict):
    """A model: an alias (smollm2-135m), a hub id, a local folder or a .gguf file."""

    name: str
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    device: str = "auto"
    # torch.compile the forward pass: auto when the model's work ahead repays it (lm/compilation.py)
    compile: CompileChoice = "auto"
    # the dtype of the suite's predictions, which every verdict reads: float32 (a second, fp32 copy of the model
    # where ``dtype`` is lower), same (as ``dtype``), or auto: float32 on a CPU, same on an accelerator (where
    # the copy would double or triple the GPUs a model needs). In bf16 the quickstart's verdicts moved
    # (docs/speed.md).
    suite_dtype: Literal["auto", "float32", "same"] = "auto"
    trust_remote_code: bool = False
    gpus: float | None = Field(default=None, ge=0)  # GPUs a unit needs on a cluster; None: from its size
    # spread the model over every visible accelerator (accelerate); the Ray executor sets auto for 2+ GPUs
    device_map: Literal["auto", "balanced", "balanced_low_0", "sequential"] | None = None

    def suite_in_fp32(self, on_cpu: bool) -> bool:
        """Whether a copy of the model in fp32 reads the suite (unless the model runs in fp32 already)."""
        return self.suite_dtype == "float32" or (self.suite_dtype == "auto" and on_cpu)


class DatasetEntry(_Strict):
    """A training set (sst5, tweeteval, semeval2018-voc, or files of one's own) and how much of it to use."""

    name: str
    path: Path | None = None
    files: dict[Literal["train", "validation", "test"], Path] | None = None
    text_column: str = "text"
    label_column: str = "label"
    label_map: dict[str, str | int] | None = None
    train_size: int | None = Field(default=None, gt=0)
    dev_size: int | None = Field(default=None, gt=0)
    test_size: int | None = Field(default=None, gt=0)


class SuiteEntry(_Strict):
    """The bias suite: ``czarnowska``, ``builtin:NAME``, a suite TSV or a suite YAML; optionally a sample."""

    source: str = "czarnowska"  # shipped with the package; a copy in data_dir or $PROMPTBIAS_DATA comes first
    templates_per_category: int | None = Field(default=None, gt=0)
    seed: int = 0


class MetricsEntry(_Strict):
    """The metrics stage's options (``promptbias metrics`` has the same ones, with the same defaults)."""

    ci: str = DEFAULT_METHOD
    correction: str | None = None  # None: the method's own (maxt for permutation, else holm)
    scope: str | None = None  # None: model from permutation.MIN_MODEL_RUNS runs on, else prompts
    groups: Path | None = None
    runs: RunSelection = RunSelection()  # which runs the verdicts read: failed prompts out, best N (paper)

    @field_validator("scope")
    @classmethod
    def _known_scope(cls, value: str | None) -> str | None:
        if value is not None and value not in SCOPES:
            raise ValueError(f"unknown scope {value!r} (expected {', '.join(SCOPES)})")
        return value

    @field_validator("ci")
    @classmethod
    def _known_method(cls, value: str) -> str:
        if value not in INTERVAL_METHODS:
            raise ValueError(f"unknown method {value!r} (expected {', '.join(INTERVAL_METHODS)})")
        return value

    @field_validator("correction")
    @classmethod
    def _known_correction(cls, value: str | None) -> str | None:
        if value is not None and value not in CORRECTIONS:
            raise ValueError(f"unknown correction {value!r} (expected {', '.join(CORRECTIONS)})")
        return value

    @model_validator(mode="after")
    def _resolved_correction(self) -> MetricsEntry:
        correction = default_correction(self.ci) if self.correction is None else self.correction
        if correction == MAX_T and self.ci != PERMUTATION:
            raise ValueError(f"correction maxt needs ci {PERMUTATION} (got ci {self.ci})")
        object.__setattr__(self, "correction", correction)
        return self


class ScoringEntry(_Strict):
    batch_tokens: int = Field(default=DEFAULT_BATCH_TOKENS, gt=0)


class TrackingEntry(_Strict):
    """MLflow tracking (the extra ``promptbias[mlflow]``): the study as one run, each unit as a run nested in
    it. ``tracking: true`` in the study file takes these defaults."""

    uri: str | None = (
        None  # None: a SQLite store in the results folder (mlflow.db, artifacts in mlartifacts/)
    )
    experiment: str | None = None  # None: the study's name


class Study(_Strict):
    """A whole study; ``promptbias run`` expands it into units (model x dataset x probe x seed)."""

    name: str
    output_dir: Path | None = None
    data_dir: Path | None = None
    models: list[ModelEntry] = Field(min_length=1)
    datasets: list[DatasetEntry] = Field(default_factory=lambda: [DatasetEntry(name="sst5")], min_length=1)
    probes: list[ProbeEntry] = Field(default_factory=lambda: [SoftPromptConfig()], min_length=1)
    seeds: list[int] = Field(default_factory=lambda: [0, 1], min_length=1)
    suite: SuiteEntry = SuiteEntry()
    label_words: tuple[str, str, str] = LABEL_WORDS
    metrics: MetricsEntry = MetricsEntry()
    scoring: ScoringEntry = ScoringEntry()
    tracking: TrackingEntry | None = None

    @field_validator("tracking", mode="before")
    @classmethod
    def _tracking_switch(cls, value: Any) -> Any:
        """``tracking: true`` is tracking with its defaults, ``false`` none."""
        if isinstance(value, bool):
            return {} if value else None
        return value

    @model_validator(mode="after")
    def _unique_names(self) -> Study:
        for what, names in (
            ("probes", [p.label for p in self.probes]),
            ("models", [m.name for m in self.models]),
            ("datasets", [d.name for d in self.datasets]),
            ("seeds", [str(s) for s in self.seeds]),
        ):
            duplicates = sorted({n for n in names if names.count(n) > 1})
            if duplicates:
                raise ValueError(
                    f"{what}: duplicate name {', '.join(duplicates)} (give each a distinct name)"
                )
        return self

    @property
    def results_dir(self) -> Path:
        return self.output_dir if self.output_dir is not None else Path("results") / self.name


def _resolve_paths(raw: dict[str, Any], base: Path) -> dict[str, Any]:
    """Relative paths in the study resolve against the study file's folder."""

    def resolve(value: Any) -> Any:
        return (
            str((base / value).resolve())
            if isinstance(value, str) and not Path(value).is_absolute()
            else value
        )

    raw = dict(raw)
    for key in ("output_dir", "data_dir"):
        if key in raw:
            raw[key] = resolve(raw[key])
    if isinstance(raw.get("datasets"), list):
        raw["datasets"] = [_resolve_dataset(entry, resolve) for entry in raw["datasets"]]
    suite = raw.get("suite")
    if isinstance(suite, dict) and isinstance(suite.get("source"), str):
        source = suite["source"]
        if source.endswith((".tsv", ".yaml", ".yml")) and not source.startswith("builtin:"):
            raw["suite"] = {**suite, "source": resolve(source)}
    metrics = raw.get("metrics")
    if isinstance(metrics, dict) and "groups" in metrics:
        raw["metrics"] = {**metrics, "groups": resolve(metrics["groups"])}
    return raw


def _resolve_dataset(entry: Any, resolve: Any) -> Any:
    if not isinstance(entry, dict):
        return entry
    entry = dict(entry)
    if "path" in entry:
        entry["path"] = resolve(entry["path"])
    if isinstance(entry.get("files"), dict):
        entry["files"] = {split: resolve(file) for split, file in entry["files"].items()}
    return entry


def builtin_studies() -> dict[str, Path]:
    """The study files shipped with the package (the repository's configs/ folder), by name."""
    folder = Path(str(resources.files("promptbias").joinpath("configs")))
    return {path.stem: path for path in sorted(folder.glob("*.yaml"))}


def study_file(source: str | Path) -> tuple[Path, Path]:
    """The file of a study given as a path or ``builtin:NAME``, and the folder its relative paths resolve
    against (the file's folder; for a built-in study, the current folder)."""
    text = str(source)
    if not text.startswith(BUILTIN_PREFIX):
        return Path(source), Path(source).parent
    studies = builtin_studies()
    name = text.removeprefix(BUILTIN_PREFIX)
    if name not in studies:
        raise InputError(text, f"no such built-in study (built in: {', '.join(studies)})")
    return studies[name], Path.cwd()


def load_study(source: str | Path) -> Study:
    """Read and validate a study file (a path, or ``builtin:NAME``); InputError (file, field, problem) on
    anything wrong."""
    path, base = study_file(source)
    text = read_text(path)
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        raise InputError(path, f"{where}not valid YAML ({getattr(error, 'problem', error)})") from None
    if not isinstance(raw, dict):
        raise InputError(path, "expected a mapping of study settings at the top level")
    try:
        return Study.model_validate(_resolve_paths(raw, base))
    except ValidationError as error:
        raise _input_error(path, text, error) from None


def _input_error(path: Path, text: str, error: ValidationError) -> InputError:
    """The first problem as one line: the line of the study file, the field, and what is wrong."""
    first = error.errors()[0]
    loc = tuple(first["loc"])
    kind = None
    if len(loc) > 2 and loc[0] == "probes" and loc[2] in KINDS:  # a probe is checked as its kind's config
        kind, loc = str(loc[2]), loc[:2] + loc[3:]
    field = ".".join(str(part) for part in loc) or "study"
    message = "unknown key" if first["type"] == "extra_forbidden" else first["msg"]
    if first["type"] == "extra_forbidden" and kind is not None:
        allowed = ", ".join(name for name in KINDS[kind].config.model_fields if name != "kind")
        message += f" for a {kind} probe (its keys: kind, {allowed})"
    return InputError(path, f"{line_of(yaml.compose(text, Loader=yaml.SafeLoader), loc)}{field}: {message}")
