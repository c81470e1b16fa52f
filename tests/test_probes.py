"""Probe kinds: the registry, each kind's own fields in the study file, reading a study without torch, and the
calibrated zero-shot probe against a by-hand calibration."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from promptbias.errors import InputError
from promptbias.probes.kind import REFERENCE_TEMPLATE, BuildContext, ProbeConfig
from promptbias.probes.registry import KINDS, parse_probe
from promptbias.study.config import load_study

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
TEMPLATE = "Review: {text}\nSentiment:"
STUDY = """\
name: kinds
models:
  - name: smollm2-135m
probes:
  - kind: zero_shot
  - kind: soft_prompt
    num_virtual_tokens: 8
    shots: 9
"""


def test_every_kind_is_registered_under_the_name_its_config_carries() -> None:
    assert set(KINDS) == {"soft_prompt", "zero_shot", "few_shot", "calibrated_zero_shot"}
    for name, kind in KINDS.items():
        config = kind.config()
        assert (kind.name, config.kind, config.label) == (name, name, name)
        assert config.resolved_template == kind.default_template
        assert parse_probe({"kind": name}) == config
    assert [name for name, kind in KINDS.items() if kind.tuned] == ["soft_prompt"]
    assert [name for name, kind in KINDS.items() if kind.seeded] == ["soft_prompt", "few_shot"]
    assert KINDS["zero_shot"].default_template == REFERENCE_TEMPLATE


def test_a_field_of_another_kind_is_an_error_naming_the_study_file_and_its_line(tmp_path: Path) -> None:
    path = tmp_path / "study.yaml"
    path.write_text(STUDY, encoding="utf-8")
    with pytest.raises(InputError) as error:
        load_study(path)
    assert str(error.value).startswith(
        f"{path}: line 8: probes.1.shots: unknown key for a soft_prompt probe (its keys: kind, name, template, "
        "num_virtual_tokens,"
    )
    path.write_text(STUDY.replace("    shots: 9\n", ""), encoding="utf-8")
    assert load_study(path).probes[1].num_virtual_tokens == 8  # the same study without it is fine
    path.write_text(STUDY.replace("kind: zero_shot", "kind: ten_shot"), encoding="utf-8")
    with pytest.raises(InputError, match=r"line 5: probes\.0: Input tag 'ten_shot' found using 'kind'"):
        load_study(path)


def test_few_shot_keeps_its_shots_and_the_soft_prompt_its_tuning_defaults() -> None:
    study = load_study(CONFIGS / "paper.yaml")
    soft, zero, few = study.probes
    assert (soft.learning_rate, soft.num_virtual_tokens, few.shots) == (0.074, 8, 9)
    assert not hasattr(zero, "shots") and not hasattr(few, "learning_rate")


NOT_HEAVY = (
    "heavy = {'torch', 'transformers', 'peft', 'mlflow'} & set(sys.modules)\nassert not heavy, heavy\n"
)
DRY_RUN = (
    "from promptbias.cli import main; sys.argv = ['promptbias', 'run', {study!r}, '--dry-run']\n"
    "try:\n    main()\nexcept SystemExit as stop:\n    assert stop.code in (0, None), stop.code\n"
)


@pytest.mark.parametrize(
    "code",
    [
        "import promptbias.study.config",
        "import promptbias.study.plan, promptbias.study.resources, promptbias.probes.registry",
        DRY_RUN.format(study=str(CONFIGS / "paper.yaml")),
        DRY_RUN.format(study="builtin:quickstart").replace("'--dry-run'", "'--dry-run', '--executor', 'ray'"),
    ],
    ids=["config", "plan", "dry-run", "ray-dry-run"],
)
def test_reading_a_study_and_its_dry_run_import_neither_torch_nor_transformers(code: str) -> None:
    script = f"import sys\n{code}\n{NOT_HEAVY}"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    if "dry-run" in code:
        assert "Study " in done.stdout and "TFLOP/s" in done.stdout


@pytest.fixture(scope="module")
def tiny_lm(tiny_models):
    from promptbias.lm.model import load_model
    from promptbias.lm.verbalizer import build_verbalizer

    lm = load_model(str(tiny_models["llama"]), dtype="float32", device="cpu")
    return lm, build_verbalizer(lm.tokenizer)


def build(config: ProbeConfig, lm, verbalizer, tmp_path: Path):
    context = BuildContext(lm, verbalizer, 0, lambda split: pd.DataFrame(), tmp_path, 2048, False)
    return config.probe_kind.build(config, context)


def test_the_calibrated_probabilities_are_the_zero_shot_ones_divided_by_the_content_free_prior(
    tiny_lm, tmp_path: Path
) -> None:
    from promptbias.lm.prompt_format import PromptTemplate
    from promptbias.lm.scoring import score_texts
    from promptbias.study.predictions import RunInfo, predict_suite

    lm, verbalizer = tiny_lm
    texts = ["A gripping, funny film.", "Dull and far too long.", "It is a film.", "I hated every minute."]
    calibrated = build(
        parse_probe({"kind": "calibrated_zero_shot", "template": TEMPLATE}), lm, verbalizer, tmp_path
    )
    got = calibrated.score(lm, verbalizer, texts, batch_tokens=2048, progress=False)

    template = PromptTemplate.parse(TEMPLATE)  # by hand: the plain prompt on the three content-free inputs
    prior = np.mean(
        [score_texts(lm, verbalizer, template, [text], progress=False)[0] for text in ("N/A", "", "[MASK]")],
        axis=0,
    )
    plain = score_texts(lm, verbalizer, template, texts, progress=False)
    expected = np.array([[p / q for p, q in zip(row, prior, strict=True)] for row in plain])
    expected /= expected.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(got, expected, atol=1e-6)
    assert not np.allclose(got, plain, atol=1e-3)  # the calibration changed something
    np.testing.assert_allclose(calibrated.describe()["content_free_probabilities"], prior, atol=1e-6)

    suite = pd.DataFrame(
        {
            "label": [2, 0, 1, 0],
            "category": "x",
            "group": ["a", "b", "a", "b"],
            "template_id": 0,
            "text": texts,
        }
    )
    run = RunInfo("tiny", "sst5", "calibrated_zero_shot", "seed0", 0, lm.num_params)
    table = predict_suite(lm, verbalizer, calibrated, suite, run, progress=False)
    np.testing.assert_allclose(
        table[["p_negative", "p_neutral", "p_positive"]].to_numpy(), expected, atol=1e-6
    )
    assert (table["y_pred"].to_numpy() == expected.argmax(axis=1)).all()
