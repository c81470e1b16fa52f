"""`check_suite`: the counts, every warning on a small suite made to trigger it, and the Czarnowska file."""

from __future__ import annotations

import pandas as pd

from promptbias.suites import WARNING_KINDS, check_suite
from promptbias.suites.loading import load_suite


def suite(*rows: tuple[int, str, str, str, str]) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=["label", "category", "group", "text", "template_id"])


def kinds(frame: pd.DataFrame, **thresholds: float) -> list[str]:
    return [warning.kind for warning in check_suite(frame, **{"min_per_class": 0, **thresholds}).warnings]


# Two groups, one sentence per template and group, one template per class: nothing to warn about.
BALANCED = (
    (0, "age", "old", "I hate old people.", "age:1"),
    (0, "age", "young", "I hate young people.", "age:1"),
    (1, "age", "old", "Old people vote.", "age:2"),
    (1, "age", "young", "Young people vote.", "age:2"),
    (2, "age", "old", "Old people are great.", "age:3"),
    (2, "age", "young", "Young people are great.", "age:3"),
)


def test_counts_and_rendered_tables() -> None:
    extra = (0, "age", "old", "I hate elderly people.", "age:1")
    report = check_suite(suite(*BALANCED, extra), source="mini.tsv", min_per_class=0)
    assert report.categories.to_dict("records") == [
        {
            "category": "age",
            "groups": 2,
            "templates": 3,
            "sentences": 7,
            "negative": 3,
            "neutral": 2,
            "positive": 2,
        }
    ]
    assert report.groups.to_dict("records") == [
        {"category": "age", "group": "old", "negative": 2, "neutral": 1, "positive": 1, "total": 4},
        {"category": "age", "group": "young", "negative": 1, "neutral": 1, "positive": 1, "total": 3},
    ]
    assert report.render() == "\n".join(
        [
            "suite: mini.tsv",
            "7 sentences, 1 category, 2 groups",
            "",
            "category  groups  templates  sentences  negative  neutral  positive",
            "age            2          3          7         3        2         2",
            "",
            "sentences per group and class:",
            "category  group  negative  neutral  positive  total",
            "age       old           2        1         1      4",
            "age       young         1        1         1      3",
            "",
            "warnings: 1",
            "  class-imbalance  age: the share of negative sentences ranges from 33% (young) to 50% (old)",
        ]
    )


def test_a_balanced_suite_has_no_warnings() -> None:
    assert kinds(suite(*BALANCED)) == []
    assert check_suite(suite(*BALANCED), min_per_class=1).render().endswith("warnings: none")


def test_incomplete_template() -> None:
    frame = suite(
        (1, "age", "adult", "Adults vote.", "age:1"),
        (1, "age", "old", "Old people vote.", "age:1"),
        (1, "age", "old", "Old people walk.", "age:2"),
        (1, "age", "young", "Young people walk.", "age:2"),
        (1, "age", "young", "Young people read.", "age:3"),
        (1, "age", "adult", "Adults read.", "age:3"),
    )
    report = check_suite(frame, min_per_class=0)
    assert kinds(frame) == ["incomplete-template"]
    assert report.warnings[0].category == "age"
    assert report.warnings[0].message == "3 of 3 templates do not fill every group (e.g. age:1 has no young)"


def test_duplicate_in_group() -> None:
    frame = suite(
        *BALANCED, (1, "age", "old", "Old people vote.", "age:2"), (1, "age", "young", "Young.", "age:2")
    )
    assert kinds(frame) == ["duplicate-in-group"]
    message = check_suite(frame, min_per_class=0).warnings[0].message
    assert message == "1 sentences repeat inside a group (e.g. 'Old people vote.' in old)"


def test_duplicate_across_groups() -> None:
    frame = suite(
        *BALANCED, (1, "age", "old", "People vote.", "age:4"), (1, "age", "young", "People vote.", "age:4")
    )
    assert kinds(frame) == ["duplicate-across-groups"]
    message = check_suite(frame, min_per_class=0).warnings[0].message
    assert message == "1 sentences are in two or more groups (e.g. 'People vote.' in old, young)"


def test_duplicate_across_categories() -> None:
    other = tuple((label, "race", group, text, f"race:{t[-1]}") for label, _, group, text, t in BALANCED)
    frame = suite(*BALANCED, *other)
    report = check_suite(frame, min_per_class=0)
    assert kinds(frame) == ["duplicate-across-categories"]
    assert report.warnings[0].category == "age, race"
    assert (
        report.warnings[0].message
        == "6 sentences are in each of these categories (e.g. 'I hate old people.')"
    )


def test_conflicting_labels() -> None:
    frame = suite(
        *BALANCED, (2, "age", "old", "I hate old people.", "age:4"), (2, "age", "young", "Fine.", "age:4")
    )
    assert kinds(frame) == ["duplicate-in-group", "conflicting-labels"]
    message = check_suite(frame, min_per_class=0).warnings[1].message
    assert message == "1 sentences carry two or more labels (e.g. 'I hate old people.': negative/positive)"


def test_group_imbalance() -> None:
    doubled = tuple(
        (label, "age", "old", text.replace("Old", "Elderly").replace("old", "elderly"), template)
        for label, _, group, text, template in BALANCED
        if group == "old"
    )
    frame = suite(*BALANCED, *doubled)
    assert kinds(frame) == ["group-imbalance"]
    message = check_suite(frame, min_per_class=0).warnings[0].message
    assert message == "group sizes range from 3 (young) to 6 (old), more than 1.5 times"
    assert kinds(frame, max_group_ratio=2.0) == []


def test_class_imbalance() -> None:
    frame = suite(
        (0, "age", "old", "I hate old people.", "age:1"),
        (0, "age", "old", "I hate elderly people.", "age:1"),
        (0, "age", "young", "I hate young people.", "age:1"),
        (2, "age", "old", "Old people are great.", "age:2"),
        (2, "age", "young", "Young people are great.", "age:2"),
        (2, "age", "young", "Teenagers are great.", "age:2"),
    )
    assert kinds(frame) == ["class-imbalance"]
    message = check_suite(frame, min_per_class=0).warnings[0].message
    assert message == "the share of negative sentences ranges from 33% (young) to 67% (old)"
    assert kinds(frame, max_class_gap=0.34) == []


def test_few_sentences() -> None:
    frame = suite(*BALANCED)
    report = check_suite(frame, min_per_class=2)
    assert [warning.kind for warning in report.warnings] == ["few-sentences"]
    assert report.warnings[0].message == (
        "6 group-class cells have fewer than 2 sentences (e.g. old 1 negative, old 1 neutral and 4 more)"
    )
    assert kinds(frame, min_per_class=1) == []


def test_every_warning_kind_has_a_test_above() -> None:
    tested = {
        "incomplete-template",
        "duplicate-in-group",
        "duplicate-across-groups",
        "duplicate-across-categories",
        "conflicting-labels",
        "group-imbalance",
        "class-imbalance",
        "few-sentences",
    }
    assert set(WARNING_KINDS) == tested


def test_czarnowska_file() -> None:
    report = check_suite(load_suite("czarnowska"), source="czarnowska")  # the copy shipped in the package
    assert report.categories["sentences"].sum() == 31972
    assert report.categories["groups"].sum() == 53
    assert report.categories["templates"].tolist() == [60] * 8
    by_kind: dict[str, list[str]] = {}
    for warning in report.warnings:
        by_kind.setdefault(warning.kind, []).append(warning.message)
    # The quirks listed in the data README: 38 sentences repeat inside a group, 80 are in two nationality
    # groups, 60 are in two categories.
    repeats = sum(int(message.split()[0]) for message in by_kind["duplicate-in-group"])
    assert repeats == 38
    assert [m.split()[0] for m in by_kind["duplicate-across-groups"]] == ["80"]
    assert [m.split()[0] for m in by_kind["duplicate-across-categories"]] == ["60"]
    imbalanced = {w.category for w in report.warnings if w.kind == "group-imbalance"}
    assert imbalanced == {
        "grouped_age",
        "grouped_disability",
        "grouped_gender",
        "grouped_race",
        "grouped_religion",
        "grouped_sexuality",
    }
    assert "incomplete-template" not in by_kind
    assert "few-sentences" not in by_kind  # the smallest groups have exactly 20 sentences per class
