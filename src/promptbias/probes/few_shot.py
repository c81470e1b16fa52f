"""The k-shot probe: k demonstrations from the training set before the hand-written template.

Demonstrations are balanced across the three classes, drawn anew for each seed, and formatted like the
query with the label word after it (as in the reference's 9-shot prompts), separated by blank lines.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field

from promptbias.errors import InputError
from promptbias.probes import Probe
from promptbias.probes.kind import BuildContext, ProbeConfig, ProbeKind

DEMONSTRATION_SEPARATOR = "\n\n"
SHOT_TOKENS = 40  # one demonstration, for the resource estimate


class FewShotConfig(ProbeConfig):
    kind: Literal["few_shot"] = "few_shot"
    shots: int = Field(default=9, gt=0)


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
    from promptbias.lm.prompt_format import PromptTemplate

    query = PromptTemplate.parse(template)
    demonstrations = draw_demonstrations(train, shots, seed)
    text = "".join(
        query.render(row.text) + label_words[row.label] + DEMONSTRATION_SEPARATOR
        for row in demonstrations.itertuples()
    )
    return Probe(name, "few_shot", PromptTemplate(text + query.before, query.after))


class FewShot(ProbeKind):
    name = "few_shot"
    config = FewShotConfig
    splits = ("train", "test")
    seeded = True

    @classmethod
    def prefix_tokens(cls, config: FewShotConfig) -> int:
        return config.shots * SHOT_TOKENS

    @classmethod
    def build(cls, config: FewShotConfig, context: BuildContext) -> Probe:
        return few_shot_probe(
            config.label,
            config.resolved_template,
            context.sample("train"),
            config.shots,
            context.seed,
            context.verbalizer.words,
        )
