"""The calibrated zero-shot probe: contextual calibration (Zhao et al. 2021) of a hand-written template.

A template leans towards some label words whatever the sentence: SmolLM2 under the zero-shot template almost
never answers " neutral". The template's own leaning is measured on content-free inputs ("N/A", "",
"[MASK]"): their class probabilities, averaged, are its prior. Each sentence's probabilities are divided by
that prior and renormalised to sum to one; the argmax of these is the prediction, and these calibrated
probabilities are what the evaluation and the predictions table hold. (Zhao et al. softmax the ratio instead;
the argmax is the same.) The prior is recorded in the unit's ``probe.json``.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from promptbias.probes import Probe
from promptbias.probes.kind import BuildContext, ProbeConfig, ProbeKind

if TYPE_CHECKING:
    import numpy as np

CONTENT_FREE_INPUTS = ("N/A", "", "[MASK]")


class CalibratedZeroShotConfig(ProbeConfig):
    kind: Literal["calibrated_zero_shot"] = "calibrated_zero_shot"
    content_free: tuple[str, ...] = Field(default=CONTENT_FREE_INPUTS, min_length=1)


def divide_out(probabilities: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """``[N, 3]`` probabilities divided by the ``[3]`` prior, each row renormalised to sum to one."""
    ratio = probabilities / prior
    return ratio / ratio.sum(axis=1, keepdims=True)


class CalibratedZeroShot(ProbeKind):
    name = "calibrated_zero_shot"
    config = CalibratedZeroShotConfig

    @classmethod
    def work(cls, config: CalibratedZeroShotConfig, train_size: int, dev_size: int) -> tuple[int, int]:
        return 0, len(config.content_free)

    @classmethod
    def build(cls, config: CalibratedZeroShotConfig, context: BuildContext) -> Probe:
        from promptbias.lm.prompt_format import PromptTemplate

        template = PromptTemplate.parse(config.resolved_template)
        prior = (
            Probe(config.label, cls.name, template)
            .score(
                context.lm,
                context.verbalizer,
                list(config.content_free),
                batch_tokens=context.batch_tokens,
                progress=False,
            )
            .mean(axis=0)
        )
        details = {
            "content_free_inputs": list(config.content_free),
            "content_free_probabilities": [float(value) for value in prior],
        }
        return Probe(
            config.label, cls.name, template, adjust=partial(divide_out, prior=prior), details=details
        )
