"""promptbias: measure social bias in causal language models through soft-prompt tuning.

Each stage is a function (imported on first use, so that ``import promptbias`` stays light):

>>> import promptbias
>>> lm = promptbias.load_model("smollm2-135m")
>>> train = promptbias.load_split("sst5", "train")
>>> suite = promptbias.load_suite("czarnowska")
>>> study = promptbias.load_study("builtin:quickstart"); print(promptbias.run_study(study))
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "load_model": "promptbias.lm.model",
    "load_split": "promptbias.data.training",
    "load_suite": "promptbias.suites.loading",
    "build_verbalizer": "promptbias.lm.verbalizer",
    "PromptTemplate": "promptbias.lm.prompt_format",
    "score_texts": "promptbias.lm.scoring",
    "tune_soft_prompt": "promptbias.probes.tuning",
    "SoftPromptConfig": "promptbias.probes.soft_prompt",
    "save_soft_prompt": "promptbias.probes.tuning",
    "load_soft_prompt": "promptbias.probes.tuning",
    "zero_shot_probe": "promptbias.probes.zero_shot",
    "few_shot_probe": "promptbias.probes.few_shot",
    "predict_suite": "promptbias.study.predictions",
    "tune_stage": "promptbias.study.stages",
    "predict_stage": "promptbias.study.stages",
    "run_metrics": "promptbias.metrics",
    "build_report": "promptbias.report",
    "build_card": "promptbias.report.card",
    "write_card": "promptbias.report.card",
    "load_study": "promptbias.study.config",
    "run_study": "promptbias.study.runner",
}

# Earlier names of public objects, still offered: public name -> the name it now has
_RENAMED = {"TuningSettings": "SoftPromptConfig"}

__all__ = ["__version__", *_EXPORTS, *_RENAMED]


def __getattr__(name: str) -> Any:
    current = _RENAMED.get(name, name)
    if current not in _EXPORTS:
        raise AttributeError(f"module 'promptbias' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[current]), current)
