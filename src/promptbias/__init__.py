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
    "load_model": "promptbias.models",
    "load_split": "promptbias.data.training",
    "load_suite": "promptbias.data.suite",
    "build_verbalizer": "promptbias.verbalizer",
    "PromptTemplate": "promptbias.prompt_format",
    "score_texts": "promptbias.scoring",
    "tune_soft_prompt": "promptbias.probes.tuning",
    "TuningSettings": "promptbias.probes.tuning",
    "SoftPromptConfig": "promptbias.probes.soft_prompt",
    "save_soft_prompt": "promptbias.probes.tuning",
    "load_soft_prompt": "promptbias.probes.tuning",
    "zero_shot_probe": "promptbias.probes.zero_shot",
    "few_shot_probe": "promptbias.probes.few_shot",
    "predict_suite": "promptbias.predictions",
    "tune_stage": "promptbias.stages",
    "predict_stage": "promptbias.stages",
    "run_metrics": "promptbias.metrics",
    "build_report": "promptbias.report",
    "load_study": "promptbias.config",
    "run_study": "promptbias.runner",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'promptbias' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
