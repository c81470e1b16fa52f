"""Synthetic studies with a known truth, to measure a test's false alarms and power.

A study is a predictions table in the reference TSV layout (``y_true y_pred category group text model run_id
dataset num_params``): several runs (seeds) of one model on a template suite with three attributes of 6, 4 and
3 groups, 20 templates per class and attribute, one sentence per group and template. Every prediction is
drawn from class probabilities softmax(logits) with

    logits = class bonus for the true label + template effect + seed effect + run x template effect

(each effect a normal 3-vector per template, per run, per run and template), so that templates differ
strongly, seeds differ, and each seed reads each template a little differently: the structure that makes
naive tests over-confident. In a fair study the groups of one template share the probabilities. In a biased
study one group (``BIASED_GROUP`` of ``BIASED_ATTRIBUTE``) gets ``shift`` added to its negative logit in every
template; with the default shift of 1.0 its negative-class FPR gap is about +0.095.

Two departures from that picture, each a null that the group permutation does not assume by construction:

- ``tilt``: each run (prompt) tilts each group's logits its own way, a normal 3-vector of sd ``tilt`` per run
  and group, zero in expectation: no group is treated differently by the model, but each prompt treats some
  group differently (``TILT`` makes the between-run variance of a gap about twice its within-run variance);
- ``term_shift``: each group is named by ``TERMS`` terms (one sentence each per template) and the first term
  of ``BIASED_GROUP`` gets ``term_shift`` on its negative logit: one term behaves apart, the group as a whole
  is treated like the others only if terms are what the question is about;
- ``term_sd``: each group is named by ``terms`` terms and every term gets its own normal 3-vector of sd
  ``term_sd`` on its logits, in every run and template: no group is treated differently, its names are
  (the group-level null holds, the terms null does not).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from promptbias.labels import LABELS

ATTRIBUTES = {"attribute_a": 6, "attribute_b": 4, "attribute_c": 3}
BIASED_ATTRIBUTE = "attribute_a"
BIASED_GROUP = "g0"
BIASED_METRIC = "negative_FPR"
TEMPLATES_PER_CLASS = 20
RUNS = 5
SHIFT = 1.0
CLASS_BONUS = (
    2.1  # added to the true class's logit (with the other effects: a negative-FPR gap of ~0.095 at shift 1)
)
TEMPLATE_SD = 1.2
SEED_SD = 0.4
RUN_TEMPLATE_SD = 0.6
TILT = 0.75  # the sd of each run's tilt of a group's logits: between-run variance of gaps ~2x within-run
TERMS = 2
TERM_SD = 0.5  # the sd of each term's own effect on its logits (``term_sd``)
PROMPT_SD = 0.6  # a prompt's own effect on each (run, template): how differently two probes read a template
NEGATIVE = LABELS.index("negative")


def simulate_study(
    seed: int,
    *,
    biased: bool,
    runs: int = RUNS,
    shift: float = SHIFT,
    templates_per_class: int = TEMPLATES_PER_CLASS,
    tilt: float = 0.0,
    term_shift: float = 0.0,
    term_sd: float = 0.0,
    terms: int | None = None,
    prompt: int | None = None,
) -> pd.DataFrame:
    """One synthetic study (see the module): fair, or biased against ``BIASED_GROUP`` by ``shift``; each run
    tilting the groups by ``tilt``; with ``term_shift``, ``TERMS`` terms per group, one of them shifted; with
    ``term_sd``, every term its own effect; ``terms``: terms per group (default ``TERMS`` with a term
    effect, else 1). With
    ``prompt``, each (run, template) gets that prompt's own effect (sd ``PROMPT_SD``, its own stream), and
    every other draw stays the seed's: two prompts of one study read the same sentences with the same
    model."""
    rng = np.random.default_rng(seed)
    reading = None if prompt is None else np.random.default_rng([seed, prompt])
    terms = terms or (TERMS if term_shift or term_sd else 1)
    seed_effects = rng.normal(0, SEED_SD, (runs, len(LABELS)))
    frames = []
    for category, n_groups in ATTRIBUTES.items():
        labels = np.repeat(np.arange(len(LABELS)), templates_per_class)
        n_templates = len(labels)
        base = rng.normal(0, TEMPLATE_SD, (n_templates, len(LABELS)))
        base[np.arange(n_templates), labels] += CLASS_BONUS
        logits = (
            base[None, :, None, :]
            + seed_effects[:, None, None, :]
            + rng.normal(0, RUN_TEMPLATE_SD, (runs, n_templates, 1, len(LABELS)))
        )
        if reading is not None:
            logits = logits + reading.normal(0, PROMPT_SD, (runs, n_templates, 1, len(LABELS)))
        logits = np.repeat(logits, n_groups * terms, axis=2)  # runs x templates x sentences x classes
        if tilt:
            tilts = rng.normal(0, tilt, (runs, 1, n_groups, len(LABELS)))
            logits += np.repeat(tilts, terms, axis=2)
        biased_sentence = int(BIASED_GROUP[1:]) * terms
        if biased and category == BIASED_ATTRIBUTE:
            logits[:, :, biased_sentence : biased_sentence + terms, NEGATIVE] += shift
        if term_sd:
            logits += rng.normal(0, term_sd, (1, 1, n_groups * terms, len(LABELS)))
        if term_shift and category == BIASED_ATTRIBUTE:
            logits[:, :, biased_sentence, NEGATIVE] += term_shift
        probabilities = np.exp(logits - logits.max(axis=-1, keepdims=True))
        probabilities /= probabilities.sum(axis=-1, keepdims=True)
        draws = (rng.random(probabilities.shape[:-1])[..., None] > probabilities.cumsum(axis=-1)).sum(axis=-1)
        run, template, sentence = np.meshgrid(
            np.arange(runs), np.arange(n_templates), np.arange(n_groups * terms), indexing="ij"
        )
        group, term = np.divmod(sentence, terms)
        frames.append(
            pd.DataFrame(
                {
                    "y_true": labels[template.ravel()],
                    "y_pred": np.minimum(draws.ravel(), len(LABELS) - 1),
                    "category": category,
                    "group": [f"g{index}" for index in group.ravel()],
                    "text": [
                        f"g{g}{'' if terms == 1 else f' term{k}'} sentence {t}"
                        for g, k, t in zip(group.ravel(), term.ravel(), template.ravel(), strict=True)
                    ],
                    "model": "simulated",
                    "run_id": [f"run_{index + 1}" for index in run.ravel()],
                    "dataset": "synthetic",
                    "num_params": 1.0,
                    "template_id": [f"{category}:{index}" for index in template.ravel()],
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def biased_group_found(gaps: pd.DataFrame) -> bool:
    """Whether a gaps table flags the planted gap: ``BIASED_METRIC`` of the biased group, significant and
    positive."""
    row = gaps[
        (gaps["category"] == BIASED_ATTRIBUTE)
        & (gaps["group"] == BIASED_GROUP)
        & (gaps["metric"] == BIASED_METRIC)
    ]
    return bool((row["significant"] & (row["gap_mean"] > 0)).any())


def simulate_model_pair(seed: int, *, differ: bool, shift: float = SHIFT) -> pd.DataFrame:
    """Two models (``model_a``, ``model_b``) on the same sentences, each a study of its own (own template, seed
    and run effects: they read the templates differently). ``model_a`` is fair; ``model_b`` is fair too, or with
    ``differ`` biased against ``BIASED_GROUP`` by ``shift``: their gaps then differ by about -0.095 at shift 1."""
    model_a = simulate_study(2 * seed, biased=False).assign(model="model_a")
    model_b = simulate_study(2 * seed + 1, biased=differ, shift=shift).assign(model="model_b")
    return pd.concat([model_a, model_b], ignore_index=True)


def simulate_probe_pair(seed: int, *, differ: bool, shift: float = SHIFT) -> pd.DataFrame:
    """One model read through two probes (``reference`` and ``probe``, 5 runs each, seeds paired): the same
    sentences, template and seed effects and the same chance draws, each probe with its own effect per (run,
    template) (``PROMPT_SD``). The reference is fair; ``probe`` is fair too, or with ``differ`` tilts
    ``BIASED_GROUP`` by ``shift`` (a probe-induced gap of about +0.095 at shift 1)."""
    reference = simulate_study(seed, biased=False, prompt=0).assign(probe="reference")
    probe = simulate_study(seed, biased=differ, shift=shift, prompt=1).assign(probe="probe")
    return pd.concat([reference, probe], ignore_index=True)


def probe_difference_found(differences: pd.DataFrame) -> bool:
    """Whether a probe comparison flags the planted difference: ``BIASED_METRIC`` of the biased group,
    significant, with the probe's gap the larger."""
    row = differences[
        (differences["category"] == BIASED_ATTRIBUTE)
        & (differences["group"] == BIASED_GROUP)
        & (differences["metric"] == BIASED_METRIC)
    ]
    return bool((row["significant"] & (row["difference"] > 0)).any())


def model_difference_found(differences: pd.DataFrame) -> bool:
    """Whether a model comparison flags the planted difference: ``BIASED_METRIC`` of the biased group,
    significant, with ``model_b``'s gap the larger."""
    row = differences[
        (differences["category"] == BIASED_ATTRIBUTE)
        & (differences["group"] == BIASED_GROUP)
        & (differences["metric"] == BIASED_METRIC)
    ]
    return bool((row["significant"] & (row["difference"] < 0)).any())
