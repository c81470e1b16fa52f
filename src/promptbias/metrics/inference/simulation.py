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
NEGATIVE = LABELS.index("negative")


def simulate_study(
    seed: int,
    *,
    biased: bool,
    runs: int = RUNS,
    shift: float = SHIFT,
    templates_per_class: int = TEMPLATES_PER_CLASS,
) -> pd.DataFrame:
    """One synthetic study (see the module): fair, or biased against ``BIASED_GROUP`` by ``shift``."""
    rng = np.random.default_rng(seed)
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
        logits = np.repeat(logits, n_groups, axis=2)  # runs x templates x groups x classes
        if biased and category == BIASED_ATTRIBUTE:
            logits[:, :, int(BIASED_GROUP[1:]), NEGATIVE] += shift
        probabilities = np.exp(logits - logits.max(axis=-1, keepdims=True))
        probabilities /= probabilities.sum(axis=-1, keepdims=True)
        draws = (rng.random(probabilities.shape[:-1])[..., None] > probabilities.cumsum(axis=-1)).sum(axis=-1)
        run, template, group = np.meshgrid(
            np.arange(runs), np.arange(n_templates), np.arange(n_groups), indexing="ij"
        )
        frames.append(
            pd.DataFrame(
                {
                    "y_true": labels[template.ravel()],
                    "y_pred": np.minimum(draws.ravel(), len(LABELS) - 1),
                    "category": category,
                    "group": [f"g{index}" for index in group.ravel()],
                    "text": [
                        f"g{g} sentence {t}" for g, t in zip(group.ravel(), template.ravel(), strict=True)
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


def model_difference_found(differences: pd.DataFrame) -> bool:
    """Whether a model comparison flags the planted difference: ``BIASED_METRIC`` of the biased group,
    significant, with ``model_b``'s gap the larger."""
    row = differences[
        (differences["category"] == BIASED_ATTRIBUTE)
        & (differences["group"] == BIASED_GROUP)
        & (differences["metric"] == BIASED_METRIC)
    ]
    return bool((row["significant"] & (row["difference"] < 0)).any())
