"""Probes: ways to turn a frozen LM into the same 3-way classifier (the three label words at the last position).

A probe is the text around the sentence (a template), plus, for the soft prompt, tuned virtual-token vectors
placed before everything else.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from promptbias.prompt_format import PromptTemplate


@dataclass
class Probe:
    """What goes before (and after) each sentence."""

    name: str
    kind: str  # soft_prompt, zero_shot or few_shot
    template: PromptTemplate
    soft: torch.Tensor | None = None  # [P, H] virtual-token vectors, for the soft prompt

    def describe(self) -> dict[str, object]:
        """A JSON-friendly description (the template's text, the number of virtual tokens)."""
        return {
            "name": self.name,
            "kind": self.kind,
            "template": self.template.render("{text}"),
            "num_virtual_tokens": 0 if self.soft is None else int(self.soft.shape[0]),
        }
