"""Probes: ways to turn a frozen LM into the same 3-way classifier (the three label words at the last position).

A probe is the text around the sentence (a template), plus, for the soft prompt, tuned virtual-token vectors
placed before everything else, and for a calibrated probe, a correction of the class probabilities. Each kind
of probe is one module here (``soft_prompt``, ``zero_shot``, ``few_shot``, ``calibrated_zero_shot``) with its
settings (a config class) and what the rest of the tool needs to know about it (``kind.ProbeKind``), listed
once in ``registry``. Nothing here imports torch until a probe is built or scores.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import torch

    from promptbias.lm.model import LanguageModel
    from promptbias.lm.prompt_format import PromptTemplate
    from promptbias.lm.verbalizer import Verbalizer


@dataclass
class Probe:
    """What goes before (and after) each sentence, and what happens to the class probabilities after."""

    name: str
    kind: str  # a kind of the registry: soft_prompt, zero_shot, few_shot, calibrated_zero_shot
    template: PromptTemplate
    soft: torch.Tensor | None = None  # [P, H] virtual-token vectors, for the soft prompt
    # [N, 3] probabilities -> [N, 3] probabilities, applied to every scored sentence (a calibration)
    adjust: Callable[[np.ndarray], np.ndarray] | None = None
    details: dict[str, object] = field(default_factory=dict)  # kind-specific facts for probe.json

    def describe(self) -> dict[str, object]:
        """A JSON-friendly description (the template's text, the number of virtual tokens, the details)."""
        return {
            "name": self.name,
            "kind": self.kind,
            "template": self.template.render("{text}"),
            "num_virtual_tokens": 0 if self.soft is None else int(self.soft.shape[0]),
            **self.details,
        }

    def score(
        self,
        lm: LanguageModel,
        verbalizer: Verbalizer,
        texts: list[str],
        *,
        batch_tokens: int,
        progress: bool = True,
        description: str = "scoring",
    ) -> np.ndarray:
        """``[N, 3]`` class probabilities of ``texts`` under this probe (adjusted, where the probe adjusts)."""
        from promptbias.lm.scoring import score_texts

        probabilities = score_texts(
            lm,
            verbalizer,
            self.template,
            texts,
            self.soft,
            batch_tokens=batch_tokens,
            progress=progress,
            description=description,
        )
        return probabilities if self.adjust is None else self.adjust(probabilities)
