"""Filling templates from lexicons: the slots, the a/an rule, seeded sampling and a fixed row order.

Rows come out category by category (alphabetical), template by template (file order), group by group
(alphabetical), sentence by sentence (alphabetical), so a build depends only on the file and the seed. Inside
a category each template walks through the groups in alphabetical order, as in the Czarnowska file, so the
template ids can also be recovered from the row order alone.
"""

from __future__ import annotations

import itertools
import random
import re
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from promptbias.errors import InputError
from promptbias.store import write_frame
from promptbias.suites.registry import spec_path
from promptbias.suites.spec import (
    SLOT_PATTERN,
    SLOT_POS,
    Group,
    SuiteSpec,
    Template,
    Term,
    check_spec,
    load_spec,
)

TSV_COLUMNS = ("label", "category", "group", "text", "template_id")

# Letters whose English names start with a vowel sound: an FBI agent, an LGBTQ person, a UN report.
_AN_LETTERS = frozenset("AEFHILMNORSX")
# Vowel-letter words said with a consonant sound, and h-words with a silent h.
_A_PREFIXES = ("eu", "one", "once", "use", "usu", "uti", "uk")
_AN_PREFIXES = ("hour", "honest", "honor", "honour", "heir")


def indefinite_article(term: Term) -> str:
    """``a`` or ``an`` before ``term``: its ``article`` field when given, else by the sound of its first word.

    Acronyms go by the name of their first letter (an LGBTQ, a US), numbers by how they are said (an
    18-year-old, an 80-year-old, a 20-year-old), words by their first letter with a few known exceptions (a
    European, a one-off, an honest); anything else, such as ``Ugandan``, takes an ``article`` in the file.
    """
    if term.article is not None:
        return term.article
    word = term.term.split()[0].split("-")[0] or term.term
    if word[0].isdigit():
        digits = "".join(itertools.takewhile(str.isdigit, word))
        return "an" if digits.startswith("8") or digits in ("11", "18") else "a"
    if len(word) > 1 and word.isupper():
        return "an" if word[0] in _AN_LETTERS else "a"
    lower = word.lower()
    if lower.startswith(_AN_PREFIXES):
        return "an"
    if lower.startswith(_A_PREFIXES):
        return "a"
    return "an" if lower[0] in "aeiou" else "a"


def fill_template(text: str, values: Mapping[str, Term]) -> str:
    """The template with each slot replaced by its term (``{a:slot}`` adds the article).

    A sentence that starts with a slot gets a capital first letter.
    """

    def replace(match: re.Match[str]) -> str:
        term = values[match[2]]
        return f"{indefinite_article(term)} {term.term}" if match[1] else term.term

    sentence = SLOT_PATTERN.sub(replace, text)
    return sentence[:1].upper() + sentence[1:] if text.startswith("{") else sentence


def fillings(template: Template, group: Group, sample: int | None, key: str) -> list[dict[str, Term]]:
    """Every way one group fills a template's slots, or ``sample`` of them drawn with the string ``key``.

    No fillings when the group lacks terms for one of the slots. ``random.Random`` seeded with a string is the
    same in every process, so a draw depends only on the key (seed, template id, group).
    """
    slots = template.slots()
    combinations = list(itertools.product(*(group.terms(SLOT_POS[slot]) for slot in slots)))
    if sample is not None and len(combinations) > sample:
        chosen = sorted(random.Random(key).sample(range(len(combinations)), sample))
        combinations = [combinations[index] for index in chosen]
    return [dict(zip(slots, combination, strict=True)) for combination in combinations]


def build_suite(source: str | Path | SuiteSpec, seed: int | None = None) -> pd.DataFrame:
    """The sentences of a template suite (a YAML path, ``builtin:NAME`` or a spec): label, category, group,
    text, template_id. ``seed`` (default: the file's ``seed``) drives the sampling of large lexicons.
    """
    if isinstance(source, SuiteSpec):
        spec = source
        check_spec(spec, spec.name or "suite")
    else:
        spec = load_spec(spec_path(source))
    seed = spec.seed if seed is None else seed
    rows: list[tuple[int, str, str, str, str]] = []
    for category in sorted(spec.lexicons):
        lexicon = spec.lexicons[category]
        for number, template in enumerate(spec.templates, start=1):
            if category not in spec.categories(template):
                continue
            template_id = spec.template_id(category, number)
            for name in sorted(lexicon.groups):
                key = f"{seed}/{template_id}/{name}"
                filled = fillings(template, lexicon.groups[name], lexicon.sample, key)
                texts = sorted(fill_template(template.text, values) for values in filled)
                rows.extend((template.label, category, name, text, template_id) for text in texts)
    frame = pd.DataFrame(rows, columns=list(TSV_COLUMNS))
    return frame.astype({"label": "int64"})


def write_suite(frame: pd.DataFrame, path: str | Path) -> None:
    """The suite as a TSV with a header (label category group text template_id), written atomically."""
    if Path(path).suffix.lower() != ".tsv":
        raise InputError(path, "a suite is written as TSV; give an output path ending in .tsv")
    write_frame(Path(path), frame[list(TSV_COLUMNS)])
