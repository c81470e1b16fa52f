"""Untrusted files: code in a model repository never runs without --trust-remote-code; pickled prompts are
refused without --allow-pickle. (The report's escaping is tested in the browser in test_report.py; that no
configuration value reaches a shell, in test_bad_input.py.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from cli_helpers import cli
from promptbias.errors import InputError
from promptbias.lm.model import check_custom_code, resolve_source
from promptbias.probes.tuning import load_soft_prompt


def with_auto_map(tiny: Path, folder: Path, model_type: str) -> tuple[Path, Path]:
    """A copy of a tiny model whose config.json names classes in its own Python files, which would leave a
    marker file if they were ever imported."""
    import shutil

    target = folder / f"model-{model_type}"
    shutil.copytree(tiny, target)
    marker = folder / "CODE_WAS_RUN"
    code = f"from pathlib import Path\nPath({str(marker)!r}).write_text('ran')\n"
    for module in ("configuration_custom.py", "modeling_custom.py"):
        (target / module).write_text(code, encoding="utf-8")
    config = json.loads((target / "config.json").read_text(encoding="utf-8"))
    config["model_type"] = model_type
    config["auto_map"] = {
        "AutoConfig": "configuration_custom.CustomConfig",
        "AutoModelForCausalLM": "modeling_custom.CustomForCausalLM",
    }
    (target / "config.json").write_text(json.dumps(config), encoding="utf-8")
    return target, marker


def test_tune_and_predict_refuse_a_model_that_needs_its_own_code(tiny_models, tmp_path, monkeypatch, capsys):
    model, marker = with_auto_map(tiny_models["llama"], tmp_path, "promptbias-custom")
    predictions = tmp_path / "new" / "p.parquet"
    commands = [
        ["tune", "--model", model, "--out", tmp_path / "new" / "tuned"],
        [
            "predict",
            "--model",
            model,
            "--template",
            "{text}",
            "--suite",
            "builtin:general",
            "--out",
            predictions,
        ],
    ]
    for command in commands:
        code, stdout, stderr = cli(monkeypatch, capsys, *command, "--device", "cpu")
        assert (code, stdout) == (2, "")
        assert stderr == (
            f"promptbias: error: {model}: model type 'promptbias-custom' needs the repository's own Python code "
            "(auto_map in config.json); pass --trust-remote-code (trust_remote_code: true in a study) to run it, "
            "only for a repository you trust\n"
        )
    assert not marker.exists()
    assert not (tmp_path / "new").exists()


def test_a_known_model_type_loads_transformers_own_class_and_runs_nothing(tiny_models, tmp_path):
    from promptbias.lm.model import load_model

    model, marker = with_auto_map(tiny_models["llama"], tmp_path, "llama")
    lm = load_model(str(model), dtype="float32", device="cpu")
    assert type(lm.model).__module__.startswith("transformers.")
    assert not marker.exists()


def test_the_flag_lets_custom_code_through_the_check(tiny_models, tmp_path):
    model, _ = with_auto_map(tiny_models["llama"], tmp_path, "promptbias-custom")
    source = resolve_source(str(model))
    with pytest.raises(InputError, match="--trust-remote-code"):
        check_custom_code(str(model), source, trust_remote_code=False)
    check_custom_code(str(model), source, trust_remote_code=True)


def test_a_pickled_prompt_is_refused_unless_allowed(tmp_path, monkeypatch, capsys):
    folder = tmp_path / "prompt"
    folder.mkdir()
    torch.save({"prompt_embeddings": torch.ones(4, 32)}, folder / "adapter_model.bin")
    with pytest.raises(InputError, match=r"pickled checkpoint refused; pass --allow-pickle to load it"):
        load_soft_prompt(folder)
    code, stdout, stderr = cli(
        monkeypatch, capsys, "predict", "--prompt", folder, "--out", tmp_path / "new" / "p.parquet"
    )
    assert (code, stdout) == (2, "")
    assert stderr == (
        f"promptbias: error: {folder / 'adapter_model.bin'}: pickled checkpoint refused; "
        "pass --allow-pickle to load it\n"
    )
    assert not (tmp_path / "new").exists()
    assert torch.equal(load_soft_prompt(folder, allow_pickle=True).prompt, torch.ones(4, 32))


def test_a_pickle_that_would_run_code_is_refused_even_with_the_flag(tmp_path):
    import pickle

    marker = tmp_path / "CODE_WAS_RUN"

    class Exploit:
        def __reduce__(self):
            return (Path.write_text, (marker, "ran"))

    folder = tmp_path / "prompt"
    folder.mkdir()
    (folder / "adapter_model.bin").write_bytes(pickle.dumps({"prompt_embeddings": Exploit()}, protocol=2))
    with pytest.raises(InputError, match="cannot read the prompt"):
        load_soft_prompt(folder, allow_pickle=True)
    assert not marker.exists()
