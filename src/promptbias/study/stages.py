"""The stages run alone, as the ``tune`` and ``predict`` commands and as functions for notebooks."""

from __future__ import annotations

from pathlib import Path
from typing import cast

from promptbias import store
from promptbias.errors import InputError
from promptbias.lm.batching import DEFAULT_BATCH_TOKENS
from promptbias.lm.compilation import COMPILE_CHOICES, CompileChoice, compile_wanted
from promptbias.lm.model import load_model
from promptbias.lm.scoring import compile_scoring
from promptbias.lm.verbalizer import LABEL_WORDS, build_verbalizer
from promptbias.probes import Probe
from promptbias.probes.soft_prompt import PROMPT_DIR, SoftPromptConfig
from promptbias.probes.tuning import load_soft_prompt
from promptbias.probes.zero_shot import zero_shot_probe
from promptbias.study.config import DatasetEntry, ModelEntry
from promptbias.study.plan import eager_minutes, scoring_minutes
from promptbias.study.predictions import REFERENCE_COLUMNS, RunInfo, predict_suite
from promptbias.study.preflight import TUNE_FILE, check_tune, tune_settings
from promptbias.study.unit import Unit, open_folder, run_stages, split_loader
from promptbias.suites.loading import load_suite, sample_templates


def tune_stage(
    model: ModelEntry,
    dataset: DatasetEntry,
    probe: SoftPromptConfig,
    seed: int,
    out: Path,
    *,
    progress: bool = True,
) -> Path:
    """Tune a soft prompt into ``out/prompt`` (resuming an interrupted run) and evaluate it on the test split.

    Every input is checked before anything is written. ``out`` gets ``tune.json`` (the settings) first and a
    manifest last; a complete ``out`` is left as it is, and a damaged file in it is made again.
    """
    if not isinstance(probe, SoftPromptConfig):
        raise InputError("probe", f"tune tunes a soft prompt, not a {probe.kind} probe")
    splits = split_loader(None)
    check_tune(model, dataset, probe, seed, out, splits)
    if store.is_complete(out):
        return out / PROMPT_DIR
    lm = load_model(
        model.name, dtype=model.dtype, device=model.device, trust_remote_code=model.trust_remote_code
    )
    verbalizer = build_verbalizer(lm.tokenizer)
    unit = Unit(model, dataset, probe, seed)
    if compile_wanted(model.compile, eager_minutes([unit], 0)):
        lm = compile_scoring(lm, verbalizer, progress)
    open_folder(out, TUNE_FILE, tune_settings(model, dataset, probe, seed))
    run_stages(
        lm,
        verbalizer,
        unit,
        splits,
        out,
        suite=None,
        batch_tokens=DEFAULT_BATCH_TOKENS,
        progress=progress,
        record=TUNE_FILE,
    )
    return out / PROMPT_DIR


def predict_stage(
    model: str,
    out: Path,
    *,
    prompt: Path | None = None,
    template: str | None = None,
    suite: str = "czarnowska",
    templates_per_category: int | None = None,
    run_id: str = "run1",
    dataset: str = "sst5",
    allow_pickle: bool = False,
    trust_remote_code: bool = False,
    dtype: str = "float32",
    device: str = "auto",
    compile: str = "auto",
    progress: bool = True,
) -> Path:
    """Classify ``suite`` with a saved soft prompt or a zero-shot template; write ``out`` (.parquet) and its .tsv.

    Both files are written at the end, each atomically; a rerun after an interruption writes them afresh.
    """
    if (prompt is None) == (template is None):
        raise InputError("predict", "give exactly one of --prompt (a saved soft prompt) and --template")
    if out.suffix != ".parquet":
        raise InputError(out, "the predictions file must end in .parquet (a .tsv twin is written beside it)")
    for path in (out, out.with_suffix(".tsv")):
        if path.is_dir():
            raise InputError(path, "is a folder, expected a file name")
    if templates_per_category is not None and templates_per_category < 1:
        raise InputError("--templates-per-category", f"must be 1 or more, got {templates_per_category}")
    saved = load_soft_prompt(prompt, allow_pickle=allow_pickle) if prompt is not None else None
    probe: Probe = (
        Probe("soft_prompt", "soft_prompt", saved.template, saved.prompt)
        if saved is not None
        else zero_shot_probe("zero_shot", template or "")
    )
    table_suite = sample_templates(load_suite(suite), templates_per_category, 0)
    lm = load_model(model, dtype=dtype, device=device, trust_remote_code=trust_remote_code)
    if saved is not None and saved.prompt.shape[1] != lm.hidden_size:
        raise InputError(
            prompt,
            f"the prompt's vectors have {saved.prompt.shape[1]} dimensions and the model's embeddings "
            f"{lm.hidden_size}: it was tuned for another model",
        )
    verbalizer = build_verbalizer(lm.tokenizer, saved.label_words if saved is not None else LABEL_WORDS)
    if compile_wanted(_compile_choice(compile), scoring_minutes(model, len(table_suite))):
        lm = compile_scoring(lm, verbalizer, progress)
    run = RunInfo(model, dataset, probe.name, run_id, 0, lm.num_params)
    table = predict_suite(lm, verbalizer, probe, table_suite, run, progress=progress)
    for path in (out, out.with_suffix(".tsv")):
        store.remove_interrupted(path)
    store.write_frame(out.with_suffix(".tsv"), table[list(REFERENCE_COLUMNS)])
    store.write_frame(out, table)
    return out


def _compile_choice(value: str) -> CompileChoice:
    if value not in COMPILE_CHOICES:
        raise InputError("--compile", f"expected one of {', '.join(COMPILE_CHOICES)}, got {value!r}")
    return cast(CompileChoice, value)
