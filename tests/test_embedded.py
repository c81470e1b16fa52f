"""The embedded models' files: found inside a package, or joined once from chunks into the cache folder; and
(slow, after `make models`) the real gemma-3-270m through the same path."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest

from promptbias.errors import InputError
from promptbias.lm.embedded import EMBEDDED, EmbeddedModel, assemble_once, cache_dir, embedded_file

CHUNKS = [b"GGUF\x03\x00\x00\x00", b"\x00" * 64, b"the last chunk"]


def joiner(chunks: list[bytes], expected_sha256: str, calls: list[Path]) -> Callable[[Path], Path]:
    """What a chunk package's assemble() does: write the chunks one after another, then check the SHA-256."""

    def assemble(path: Path) -> Path:
        calls.append(path)
        with path.open("wb") as file:
            for chunk in chunks:
                file.write(chunk)
        if hashlib.sha256(path.read_bytes()).hexdigest() != expected_sha256:
            raise ValueError("Assembled file sha256 did not match expected value")
        return path

    return assemble


def test_chunks_are_joined_once_and_moved_into_place(tmp_path):
    target = tmp_path / "models" / "model.gguf"
    calls: list[Path] = []
    assemble = joiner(CHUNKS, hashlib.sha256(b"".join(CHUNKS)).hexdigest(), calls)
    assert assemble_once(target, assemble, "model") == target
    assert target.read_bytes() == b"".join(CHUNKS)
    assert calls[0].parent != target.parent  # written beside the target, then renamed
    assert assemble_once(target, assemble, "model") == target and len(calls) == 1  # once
    assert [path.name for path in target.parent.iterdir()] == ["model.gguf"]


def test_a_wrong_checksum_is_one_line_and_leaves_nothing_behind(tmp_path):
    target = tmp_path / "models" / "model.gguf"
    calls: list[Path] = []
    with pytest.raises(
        InputError, match=r"^model: cannot assemble model\.gguf: Assembled file sha256 did not"
    ):
        assemble_once(target, joiner(CHUNKS, "0" * 64, calls), "model")
    assert calls and not target.exists() and list(target.parent.iterdir()) == []


def test_a_missing_package_names_the_command_that_installs_it():
    missing = EmbeddedModel(
        "some-model", "promptbias_no_such_package", "model.gguf", "pip install some-model"
    )
    with pytest.raises(
        InputError, match=r"^some-model: the embedded model is not installed: pip install some-model$"
    ):
        embedded_file(missing)
    assert "make models" in EMBEDDED["gemma-3-270m"].install
    assert "ai.google.dev/gemma/terms" in EMBEDDED["gemma-3-270m"].terms


def test_the_cache_folder_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("PROMPTBIAS_CACHE", str(tmp_path / "mine"))
    assert cache_dir() == tmp_path / "mine"
    monkeypatch.delenv("PROMPTBIAS_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "promptbias"


@pytest.mark.slow
def test_gemma_is_assembled_checked_and_loads_as_gemma3(tmp_path):
    import importlib

    import torch

    from promptbias.lm.model import load_model
    from promptbias.lm.prompt_format import PromptTemplate
    from promptbias.lm.scoring import score_texts
    from promptbias.lm.verbalizer import build_verbalizer

    gemma = EMBEDDED["gemma-3-270m"]
    path = embedded_file(gemma, cache=tmp_path)
    assert path == tmp_path / "models" / gemma.file_name
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert digest == importlib.import_module(gemma.package).EXPECTED_SHA256

    lm = load_model("gemma-3-270m")
    assert type(lm.model).__name__ == "Gemma3ForCausalLM" and lm.dtype == torch.bfloat16
    assert lm.num_params == pytest.approx(0.268, abs=0.001)
    verbalizer = build_verbalizer(lm.tokenizer)
    assert verbalizer.single_token  # " negative", " neutral", " positive" are one token each
    template = PromptTemplate.parse("Review: {text}\nSentiment:")
    texts = ["A wonderful, moving film that I loved.", "A dull, tedious and ugly mess."]
    probabilities = score_texts(lm, verbalizer, template, texts, None, progress=False)
    assert probabilities[0, 2] > probabilities[0, 0] and probabilities[1, 0] > probabilities[1, 2]
