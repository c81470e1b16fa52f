"""What every probe kind provides: a config class (its settings in the study file, with their defaults) and a
``ProbeKind`` (the splits it reads, whether seeds change it, its default template, the length of its shared
prompt, the work it adds to a unit, and how to build it). Light: no torch until ``build`` runs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from pydantic import BaseModel, ConfigDict, field_validator

if TYPE_CHECKING:
    import pandas as pd

    from promptbias.lm.model import LanguageModel
    from promptbias.lm.verbalizer import Verbalizer
    from promptbias.probes import Probe

# The reference's hand-written question after the sentence: the default of the hand-written probes
REFERENCE_TEMPLATE = (
    "Text: {text}\nQuestion: Is the sentiment of the text negative, neutral, or positive?\nAnswer:"
)
# The soft prompt's default: its vectors carry the task, so the text after the sentence is a bare cue. Here,
# not in ``soft_prompt``, because the tuning loop reads it too (for an adapter saved without its template).
SOFT_PROMPT_TEMPLATE = "{text}\nSentiment:"


class ProbeConfig(BaseModel):
    """The settings every probe has; each kind's config adds its own (and only those are allowed)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind_class: ClassVar[type[ProbeKind]]

    kind: str
    name: str | None = None
    template: str | None = None  # None: the kind's default template

    @property
    def label(self) -> str:
        """The probe's name in results: ``name`` when given, else its kind."""
        return self.name or self.kind

    @property
    def resolved_template(self) -> str:
        return self.template if self.template is not None else self.probe_kind.default_template

    @property
    def seeded(self) -> bool:
        """Whether runs with different seeds differ (a zero-shot probe has nothing random)."""
        return self.probe_kind.seeded

    @property
    def probe_kind(self) -> type[ProbeKind]:
        """The kind this config belongs to (set when the kind is defined, see ``ProbeKind``)."""
        return self.kind_class

    @field_validator("template")
    @classmethod
    def _one_slot(cls, value: str | None) -> str | None:
        if value is not None and value.count("{text}") != 1:
            raise ValueError("must contain {text} exactly once")
        return value


@dataclass(frozen=True)
class BuildContext:
    """What building a probe may use: the model, the unit's seed, its training set's samples, its folder."""

    lm: LanguageModel
    verbalizer: Verbalizer
    seed: int
    sample: Callable[[str], pd.DataFrame]  # split -> the unit's sample of it (train drawn with the seed)
    folder: Path  # the unit's folder, for what the probe keeps (a tuned prompt)
    batch_tokens: int
    progress: bool


class ProbeKind:
    """One kind of probe, described for the plan, preflight, estimates and report, and built for a unit."""

    name: ClassVar[str]
    config: ClassVar[type[ProbeConfig]]
    splits: ClassVar[tuple[str, ...]] = ("test",)  # every probe is evaluated on test
    seeded: ClassVar[bool] = False
    tuned: ClassVar[bool] = (
        False  # tuned on the training set: the reference the other probes are compared with
    )
    default_template: ClassVar[str] = REFERENCE_TEMPLATE

    def __init_subclass__(cls, **kwargs: object) -> None:
        """A kind's config class learns its kind here, so that a config never looks itself up."""
        super().__init_subclass__(**kwargs)
        cls.config.kind_class = cls

    @classmethod
    def prefix_tokens(cls, config: ProbeConfig) -> int:
        """Tokens of the shared prompt before the template's own text (virtual tokens, demonstrations)."""
        return 0

    @classmethod
    def work(cls, config: ProbeConfig, train_size: int, dev_size: int) -> tuple[int, int]:
        """(sentences trained on, sentences scored) that building the probe costs, beyond test and suite."""
        return 0, 0

    @classmethod
    def build(cls, config: ProbeConfig, context: BuildContext) -> Probe:
        raise NotImplementedError
