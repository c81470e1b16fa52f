"""The stages run alone, as the ``tune`` and ``predict`` commands and as functions for notebooks."""

from __future__ import annotations

from pathlib import Path

from promptbias import store
from promptbias.config import DatasetEntry, ModelEntry, ProbeEntry
from promptbias.data.suite import load_suite, sample_templates
from promptbias.errors import InputError
from promptbias.models import load_model
from promptbias.predictions import REFERENCE_COLUMNS, predict_suite
from promptbias.probes import Probe
from promptbias.probes.manual import zero_shot_probe
from promptbias.probes.soft_prompt import load_soft_prompt
from promptbias.scoring import DEFAULT_BATCH_TOKENS
from promptbias.unit import Unit, build_probe, evaluate_probe, split_loader
from promptbias.verbalizer import LABEL_WORDS, build_verbalizer


def tune_stage(
    model: ModelEntry, dataset: DatasetEntry, probe: ProbeEntry, seed: int, out: Path, *, progress: bool = True
) -> Path:
    """Tune a soft prompt into ``out/prompt`` (resuming an interrupted run) and evaluate it on the test split."""
    splits = split_loader(None)
    splits(dataset, "train")  # fail on bad data before the model loads
    lm = load_model(model.name, dtype=model.dtype, device=model.device, trust_remote_code=model.trust_remote_code)
    verbalizer = build_verbalizer(lm.tokenizer)
    unit = Unit(model, dataset, probe, seed)
    out.mkdir(parents=True, exist_ok=True)
    store.remove_stale_temporaries(out)
    tuned = build_probe(lm, verbalizer, unit, splits, out, progress)
    if not (out / "evaluation.json").exists():
        evaluation = evaluate_probe(lm, verbalizer, tuned, unit, splits, out, DEFAULT_BATCH_TOKENS, progress)
        store.write_json(out / "evaluation.json", evaluation)
    return out / "prompt"


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
    dtype: str = "auto",
    device: str = "auto",
    progress: bool = True,
) -> Path:
    """Classify ``suite`` with a saved soft prompt or a zero-shot template; write ``out`` (.parquet) and its .tsv."""
    if (prompt is None) == (template is None):
        raise InputError("predict", "give exactly one of --prompt (a saved soft prompt) and --template")
    if out.suffix != ".parquet":
        raise InputError(out, "the predictions file must end in .parquet (a .tsv twin is written beside it)")
    saved = load_soft_prompt(prompt, allow_pickle=allow_pickle) if prompt is not None else None
    probe: Probe = (
        Probe("soft_prompt", "soft_prompt", saved.template, saved.prompt)
        if saved is not None
        else zero_shot_probe("zero_shot", template or "")
    )
    table_suite = sample_templates(load_suite(suite), templates_per_category, 0)
    lm = load_model(model, dtype=dtype, device=device)
    verbalizer = build_verbalizer(lm.tokenizer, saved.label_words if saved is not None else LABEL_WORDS)
    run = {
        "model": model,
        "dataset": dataset,
        "probe": probe.name,
        "run_id": run_id,
        "seed": 0,
        "num_params": lm.num_params,
    }
    table = predict_suite(lm, verbalizer, probe, table_suite, run, progress=progress)
    store.write_frame(out.with_suffix(".tsv"), table[REFERENCE_COLUMNS])
    store.write_frame(out, table)
    return out
