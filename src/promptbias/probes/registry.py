"""Every kind of probe, registered once: the study file, the CLI, preflight, the estimates and the report ask
here. A new kind is a module with its config class and its ``ProbeKind``, and one line in ``KINDS``."""

from __future__ import annotations

import operator
from functools import reduce
from typing import Annotated, Any

from pydantic import Field, TypeAdapter

from promptbias.probes.calibrated_zero_shot import CalibratedZeroShot
from promptbias.probes.few_shot import FewShot
from promptbias.probes.kind import ProbeConfig, ProbeKind
from promptbias.probes.soft_prompt import SoftPrompt
from promptbias.probes.zero_shot import ZeroShot

KINDS: dict[str, type[ProbeKind]] = {
    kind.name: kind
    for kind in (
        SoftPrompt,
        ZeroShot,
        FewShot,
        CalibratedZeroShot,
    )
}

# A probe in the study file: the config class of its ``kind``, so that a field of another kind is an error
ProbeEntry = Annotated[
    reduce(operator.or_, [kind.config for kind in KINDS.values()]), Field(discriminator="kind")
]


def parse_probe(fields: dict[str, Any]) -> ProbeConfig:
    """A probe's settings (with ``kind``) as its kind's config; pydantic's ValidationError when wrong."""
    return TypeAdapter(ProbeEntry).validate_python(fields)
