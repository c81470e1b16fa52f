"""Built-in suites (``builtin:NAME``) and telling a template suite (YAML) from a table of sentences."""

from __future__ import annotations

from pathlib import Path

from promptbias.errors import InputError

BUILTIN_PREFIX = "builtin:"
BUILTIN_DIR = Path(__file__).parent / "builtin"
SPEC_SUFFIXES = (".yaml", ".yml")


def list_builtin() -> list[str]:
    """The built-in suites, as the names a study or a command accepts (``builtin:general``, ...)."""
    return [f"{BUILTIN_PREFIX}{path.stem}" for path in sorted(BUILTIN_DIR.glob("*.yaml"))]


def builtin_path(name: str) -> Path:
    """The YAML file of a built-in suite, by ``NAME`` or ``builtin:NAME``."""
    stem = name.removeprefix(BUILTIN_PREFIX)
    path = BUILTIN_DIR / f"{stem}.yaml"
    if not stem or "/" in stem or not path.is_file():
        raise InputError(
            f"{BUILTIN_PREFIX}{stem}", f"no such built-in suite (available: {', '.join(list_builtin())})"
        )
    return path


def is_template_suite(source: str | Path) -> bool:
    """True for ``builtin:NAME`` and ``.yaml``/``.yml`` paths: suites built from templates and lexicons."""
    return str(source).startswith(BUILTIN_PREFIX) or Path(source).suffix.lower() in SPEC_SUFFIXES


def spec_path(source: str | Path) -> Path:
    """The YAML file behind a template suite source."""
    return builtin_path(str(source)) if str(source).startswith(BUILTIN_PREFIX) else Path(source)
