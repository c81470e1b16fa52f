"""Unmarked default groups per attribute: those the built-in suites mark, and the Czarnowska suite's.

Text rarely names an unmarked majority group ("a white person" is written less often than "a person"), so a
template that names it is unusual wording for that group, and its gap can come from markedness rather than
from how the model treats the group (Kohankhaki et al. 2024). The report adds a note to such a gap.
"""

from __future__ import annotations

from pathlib import Path

from promptbias.suites.registry import BUILTIN_DIR, is_template_suite, spec_path
from promptbias.suites.spec import load_spec

CZARNOWSKA_DEFAULT_GROUPS = {
    "grouped_disability": "without",
    "grouped_gender": "cis",
    "grouped_race": "white",
    "grouped_religion": "christianity",
    "grouped_sexuality": "heterosexual",
}
"""The Czarnowska et al. (2021) TSV has no place to mark them, so they are listed here."""


def default_groups(suite: str | Path | None = None) -> dict[str, set[str]]:
    """Category -> its unmarked default group(s), from the Czarnowska list, every built-in suite file and,
    when the predictions came from a suite YAML file (``suite``), that file's own marks."""
    found = {category: {group} for category, group in CZARNOWSKA_DEFAULT_GROUPS.items()}
    paths = sorted(BUILTIN_DIR.glob("*.yaml"))
    if suite is not None and is_template_suite(suite):
        paths.append(spec_path(suite))
    for path in paths:
        for category, lexicon in load_spec(path).lexicons.items():
            if lexicon.default_group is not None:
                found.setdefault(category, set()).add(lexicon.default_group)
    return found
