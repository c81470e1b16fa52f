"""Probe kinds: the registry, each kind's own fields in the study file, reading a study without torch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from promptbias.config import load_study
from promptbias.errors import InputError
from promptbias.probes.kind import REFERENCE_TEMPLATE
from promptbias.probes.registry import KINDS, parse_probe

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
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
    assert set(KINDS) == {"soft_prompt", "zero_shot", "few_shot"}
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
    assert (soft.learning_rate, soft.num_virtual_tokens, few.shots) == (0.01, 20, 9)
    assert not hasattr(zero, "shots") and not hasattr(few, "learning_rate")


NOT_HEAVY = "heavy = {'torch', 'transformers', 'peft'} & set(sys.modules)\nassert not heavy, heavy\n"
DRY_RUN = (
    "from promptbias.cli import main; sys.argv = ['promptbias', 'run', {study!r}, '--dry-run']\n"
    "try:\n    main()\nexcept SystemExit as stop:\n    assert stop.code in (0, None), stop.code\n"
)


@pytest.mark.parametrize(
    "code",
    [
        "import promptbias.config",
        "import promptbias.plan, promptbias.resources, promptbias.probes.registry",
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
