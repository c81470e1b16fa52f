"""The suite file: templates with slots and per-attribute lexicons, read from YAML and checked.

A template is a sentence with slots (``{identity_adj}``, ``{a:identity_np}``, ``{person}``) and a label. A
lexicon is one sensitive attribute (a category of the suite): its groups, and for each group its terms by
part of speech. Each slot takes one part of speech, so adjectives and noun phrases land where they read
right. Every problem found while reading is an :class:`~promptbias.errors.InputError` naming the file, the
line and the field.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from promptbias.data.files import read_text
from promptbias.errors import InputError
from promptbias.labels import parse_label

SLOT_POS: dict[str, str] = {"identity_adj": "adj", "identity_np": "np", "person": "name"}
"""Each slot and the part of speech of the terms that fill it."""

PARTS_OF_SPEECH = ("adj", "np", "name")
SLOT_PATTERN = re.compile(r"\{(?:(a):)?([A-Za-z_][A-Za-z0-9_]*)\}")
TEMPLATE_ID_PATTERN = re.compile(r"[A-Za-z0-9_.-]+")
YAML_KEY_TAGS = ("tag:yaml.org,2002:str", "tag:yaml.org,2002:merge")  # text, and the << of anchors


def _one_line(value: str) -> str:
    if any(character in value for character in "\t\r\n"):
        raise ValueError("must not contain a tab or a line break")
    return value


Text = Annotated[str, Field(min_length=1), AfterValidator(_one_line)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Term(_Strict):
    """One way to name a group (``Nigerian``, ``person with epilepsy``, ``Mary``); ``article``: a or an."""

    term: Text
    article: Literal["a", "an"] | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_plain_string(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"term": value}
        if not isinstance(value, dict):
            raise ValueError(f"a term is a string or a mapping with term and article, not {value!r}")
        return value


class Group(_Strict):
    """The terms of one group, by part of speech: adjectives, singular noun phrases, given names."""

    adj: list[Term] = []
    np: list[Term] = []
    name: list[Term] = []

    @model_validator(mode="after")
    def _has_terms(self) -> Group:
        if not (self.adj or self.np or self.name):
            raise ValueError("the group has no terms (give adj, np or name)")
        return self

    def terms(self, pos: str) -> list[Term]:
        return getattr(self, pos)


class Lexicon(_Strict):
    """One sensitive attribute: its groups, and how many fillings of each template to draw per group."""

    groups: dict[Text, Group]
    sample: int | None = Field(default=None, ge=1)
    description: str = ""
    sources: list[str] = []
    default_group: Text | None = None
    """The unmarked default group (``white``, ``heterosexual``): text names it least often, so its gap may
    come from markedness rather than treatment; the report says so when its gap is flagged."""

    @field_validator("groups")
    @classmethod
    def _two_groups(cls, groups: dict[str, Group]) -> dict[str, Group]:
        if len(groups) < 2:
            found = ", ".join(groups) or "none"
            raise ValueError(f"needs two or more groups to compare (found: {found})")
        return groups

    @model_validator(mode="after")
    def _known_default(self) -> Lexicon:
        if self.default_group is not None and self.default_group not in self.groups:
            raise ValueError(f"default_group {self.default_group!r} is not one of its groups")
        return self

    def has_pos(self, pos: str) -> bool:
        return any(group.terms(pos) for group in self.groups.values())


class Template(_Strict):
    """A sentence with slots, its label (0..2 after reading) and optional id, tags and attributes."""

    text: Text
    label: int
    id: str | None = None
    tags: list[Text] = []
    attributes: list[Text] | None = None

    @field_validator("label", mode="before")
    @classmethod
    def _parse_label(cls, value: Any) -> int:
        return parse_label(value)

    @field_validator("id", mode="before")
    @classmethod
    def _plain_id(cls, value: Any) -> Any:
        value = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
        if isinstance(value, str) and not TEMPLATE_ID_PATTERN.fullmatch(value):
            raise ValueError(f"id {value!r} may hold only letters, digits, '_', '.' and '-'")
        return value

    def slots(self) -> list[str]:
        """The distinct slot names, in order of first appearance."""
        return list(dict.fromkeys(match[2] for match in SLOT_PATTERN.finditer(self.text)))


class SuiteSpec(_Strict):
    """A whole suite file."""

    name: str = ""
    description: str = ""
    sources: list[str] = []
    seed: int = 0
    lexicons: dict[Text, Lexicon] = Field(min_length=1)
    templates: list[Template] = Field(min_length=1)

    def template_id(self, category: str, number: int) -> str:
        """``category:id`` for a named template, else ``category:number`` (1-based position in the file)."""
        template = self.templates[number - 1]
        return f"{category}:{template.id or number}"

    def categories(self, template: Template) -> list[str]:
        """The lexicons that fill a template: those in ``attributes``, or all with terms for its slots."""
        names = template.attributes if template.attributes is not None else sorted(self.lexicons)
        return [name for name in names if _fills(self.lexicons[name], template)]


def _fills(lexicon: Lexicon, template: Template) -> bool:
    return all(lexicon.has_pos(SLOT_POS[slot]) for slot in template.slots())


def load_spec(path: str | Path) -> SuiteSpec:
    """Read and check a suite YAML file; InputError naming the file, line and field for every problem."""
    text = read_text(path)
    root = _compose(path, text)
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise InputError(path, "line 1: expected a mapping with the keys lexicons and templates")
    try:
        spec = SuiteSpec.model_validate(data)
    except ValidationError as error:
        raise _input_error(path, root, error) from None
    check_spec(spec, path, root)
    return spec


def check_spec(spec: SuiteSpec, where: str | Path, root: yaml.Node | None = None) -> None:
    """Checks across fields: known slots that a lexicon fills, attributes, unique ids, groups all used."""
    seen: dict[str, int] = {}
    for index, template in enumerate(spec.templates):
        key = template.id or str(index + 1)
        problem = _template_problem(spec, template)
        if problem is None and key in seen:
            problem = f"id {key!r} is already used by templates[{seen[key]}]"
        if problem is not None:
            line = line_of(root, ("templates", index))
            raise InputError(where, f"{line}templates[{index}] {template.text!r}: {problem}")
        seen[key] = index
    for category, lexicon in spec.lexicons.items():
        templates = [template for template in spec.templates if category in spec.categories(template)]
        for group_name, group in lexicon.groups.items():
            if not any(all(group.terms(SLOT_POS[slot]) for slot in t.slots()) for t in templates):
                line = line_of(root, ("lexicons", category, "groups", group_name))
                terms = ", ".join(pos for pos in PARTS_OF_SPEECH if group.terms(pos))
                raise InputError(
                    where,
                    f"{line}lexicons.{category}.groups.{group_name}: no template of this attribute is filled "
                    f"by its terms ({terms})",
                )


def _template_problem(spec: SuiteSpec, template: Template) -> str | None:
    """What is wrong with one template, or None."""
    leftover = SLOT_PATTERN.sub("", template.text)
    if "{" in leftover or "}" in leftover:
        return "a brace that is not a slot (slots look like {identity_adj} or {a:identity_np})"
    slots = template.slots()
    if not slots:
        return f"no slot, so the sentence names no group (slots: {_known_slots()})"
    unknown = [slot for slot in slots if slot not in SLOT_POS]
    if unknown:
        return f"unknown slot {{{unknown[0]}}} (known slots: {_known_slots()})"
    for slot in slots:
        if not any(lexicon.has_pos(SLOT_POS[slot]) for lexicon in spec.lexicons.values()):
            return f"no lexicon fills {{{slot}}} (it needs terms under {SLOT_POS[slot]!r})"
    for name in template.attributes or []:
        if name not in spec.lexicons:
            return f"unknown attribute {name!r} (lexicons: {', '.join(spec.lexicons)})"
        if not _fills(spec.lexicons[name], template):
            return f"lexicon {name!r} has no terms for some slot of this template"
    if not spec.categories(template):
        return f"no single lexicon fills all of its slots ({', '.join('{' + s + '}' for s in slots)})"
    return None


def _known_slots() -> str:
    return ", ".join(f"{{{slot}}} ({pos})" for slot, pos in SLOT_POS.items())


def _compose(path: str | Path, text: str) -> yaml.Node:
    """The YAML node tree (for line numbers); InputError on a syntax error or a repeated key."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error)
        raise InputError(path, f"{line}not valid YAML ({problem})") from None
    if root is None:
        raise InputError(path, "file is empty")
    _check_keys(path, root)
    return root


def _check_keys(path: str | Path, node: yaml.Node) -> None:
    """Every mapping key is text (YAML reads ``1``, ``yes`` or ``null`` as other types) and appears once."""
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            line = key.start_mark.line + 1
            if key.tag not in YAML_KEY_TAGS:
                raise InputError(
                    path, f"line {line}: key {key.value!r} is not read as text; put it in quotes"
                )
            if key.value in seen:
                raise InputError(path, f"line {line}: key {key.value!r} is repeated")
            seen.add(key.value)
            _check_keys(path, value)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _check_keys(path, item)


def line_of(root: yaml.Node | None, loc: tuple[Any, ...]) -> str:
    """``line N: `` for the deepest node along ``loc`` (mapping keys and sequence indexes), or ``''``.

    Where ``loc`` ends on a mapping key, the line is the key's (the value may start on the next line).
    """
    node = root
    if node is None:
        return ""
    for position, part in enumerate(loc, start=1):
        child = None
        if isinstance(node, yaml.MappingNode):
            pairs = [(key, value) for key, value in node.value if key.value == str(part)]
            if pairs:
                child = pairs[0][0] if position == len(loc) else pairs[0][1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            child = node.value[part]
        if child is None:
            break
        node = child
    return f"line {node.start_mark.line + 1}: "


def _input_error(path: str | Path, root: yaml.Node, error: ValidationError) -> InputError:
    """The first validation problem as one line: the line, the field path and what is wrong."""
    errors = error.errors()
    # A mistyped key also makes the right key missing: report the mistyped one.
    first = next((item for item in errors if item["type"] == "extra_forbidden"), errors[0])
    loc = tuple(first["loc"])
    field = _field_path(loc)
    if first["type"] == "extra_forbidden":
        allowed = _allowed_keys(loc[:-1])
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1, cutoff=0.5)
        hint = f"did you mean {close[0]!r}? " if close else ""
        problem = f"unknown key {loc[-1]!r} ({hint}allowed: {', '.join(allowed)})"
        field = _field_path(loc[:-1])
    elif first["type"] == "missing":
        problem = f"missing key {loc[-1]!r}"
        field = _field_path(loc[:-1])
    else:
        problem = first["msg"].removeprefix("Value error, ")
    more = error.error_count() - 1
    suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    where = f"{field}: " if field else ""
    return InputError(path, f"{line_of(root, loc)}{where}{problem}{suffix}")


def _field_path(loc: tuple[Any, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def _allowed_keys(loc: tuple[Any, ...]) -> list[str]:
    """The keys of the model reached along ``loc`` (field names, dict keys, list indexes) from the top."""
    model: type[BaseModel] = SuiteSpec
    pending: Any = None  # a list or dict annotation whose items are still to be entered
    for part in loc:
        pending = model.model_fields[part].annotation if pending is None else get_args(pending)[-1]
        if isinstance(pending, type) and issubclass(pending, BaseModel):
            model, pending = pending, None
    return list(model.model_fields)
