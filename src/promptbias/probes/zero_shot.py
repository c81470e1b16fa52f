"""The zero-shot probe: a hand-written template around the sentence, nothing tuned, nothing random."""

from __future__ import annotations

from typing import Literal

from promptbias.probes import Probe
from promptbias.probes.kind import BuildContext, ProbeConfig, ProbeKind


class ZeroShotConfig(ProbeConfig):
    kind: Literal["zero_shot"] = "zero_shot"


def zero_shot_probe(name: str, template: str) -> Probe:
    from promptbias.lm.prompt_format import PromptTemplate

    return Probe(name, "zero_shot", PromptTemplate.parse(template))


class ZeroShot(ProbeKind):
    name = "zero_shot"
    config = ZeroShotConfig

    @classmethod
    def build(cls, config: ProbeConfig, context: BuildContext) -> Probe:
        return zero_shot_probe(config.label, config.resolved_template)
