"""Hand-written probes: a zero-shot template, or k demonstrations from the training set before it.

Demonstrations are balanced across the three classes, drawn anew for each seed, and formatted like the
query with the label word after it (as in the reference's 9-shot prompts), separated by blank lines.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from promptbias.errors import InputError
from promptbias.probes import Probe
from promptbias.prompt_format import PromptTemplate

DEMONSTRATION_SEPARATOR = "\n\n"


def zero_shot_probe(name: str, template: str) -> Probe:
    return Probe(name, "zero_shot", PromptTemplate.parse(template))


def draw_demonstrations(train: pd.DataFrame, shots: int, seed: int) -> pd.DataFrame:
    """``shots`` rows of (text, label), as equal as possible across the classes, in a seeded random order."""
    rng = np.random.default_rng(seed)
    classes = sorted(train["label"].unique())
    counts = {label: shots // len(classes) for label in classes}
    for label in rng.permutation(classes)[: shots % len(classes)]:
        counts[int(label)] += 1
    drawn = []
    for label, count in counts.items():
        pool = train.index[train["label"] == label].to_numpy()
        if len(pool) < count:
            raise InputError(
                "few_shot", f"only {len(pool)} training sentences of class {label}, {count} needed"
            )
        drawn.extend(rng.choice(pool, size=count, replace=False).tolist())
    order = rng.permutation(len(drawn))
    return train.loc[[drawn[index] for index in order], ["text", "label"]].reset_index(drop=True)


def few_shot_probe(
    name: str, template: str, train: pd.DataFrame, shots: int, seed: int, label_words: tuple[str, ...]
) -> Probe:
    """The query template preceded by ``shots`` demonstrations, each ending with its label word."""
    query = PromptTemplate.parse(template)
    demonstrations = draw_demonstrations(train, shots, seed)
    text = "".join(
        query.render(row.text) + label_words[row.label] + DEMONSTRATION_SEPARATOR
        for row in demonstrations.itertuples()
    )
    return Probe(name, "few_shot", PromptTemplate(text + query.before, query.after))
