"""Building template suites: each slot type, the a/an rule, seeded sampling, row order, the built-ins."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pandas as pd
import pytest

from promptbias.errors import InputError
from promptbias.suites import (
    build_suite,
    builtin_path,
    check_suite,
    fill_template,
    indefinite_article,
    list_builtin,
    load_spec,
    write_suite,
)
from promptbias.suites.loading import load_suite, read_suite_tsv, recover_template_ids
from promptbias.suites.spec import Term


def suite_file(tmp_path: Path, text: str, name: str = "suite.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def rows(frame: pd.DataFrame) -> list[tuple[int, str, str, str, str]]:
    return list(frame.itertuples(index=False, name=None))


AGE = """
lexicons:
  age:
    groups:
      young: {adj: [young], np: [teenager]}
      old: {adj: [elderly], np: [elderly person, old man]}
templates:
"""


def test_adjective_slot_fills_every_group_in_alphabetical_order(tmp_path: Path) -> None:
    path = suite_file(tmp_path, AGE + '  - {label: positive, text: "{identity_adj} people are kind."}\n')
    assert rows(build_suite(path)) == [
        (2, "age", "old", "Elderly people are kind.", "age:1"),
        (2, "age", "young", "Young people are kind.", "age:1"),
    ]


def test_noun_phrase_slot_takes_the_article_and_rows_are_sorted_by_text(tmp_path: Path) -> None:
    path = suite_file(tmp_path, AGE + '  - {label: neutral, text: "I sat next to {a:identity_np}."}\n')
    assert rows(build_suite(path)) == [
        (1, "age", "old", "I sat next to an elderly person.", "age:1"),
        (1, "age", "old", "I sat next to an old man.", "age:1"),
        (1, "age", "young", "I sat next to a teenager.", "age:1"),
    ]


def test_person_slot_is_filled_only_from_lexicons_with_names(tmp_path: Path) -> None:
    text = """
    lexicons:
      age:
        groups: {young: {adj: [young]}, old: {adj: [elderly]}}
      names:
        groups: {female: {name: [Mary]}, male: {name: [John]}}
    templates:
      - {label: negative, text: "{identity_adj} drivers are rude."}
      - {label: positive, text: "{person} won the race."}
    """
    assert rows(build_suite(suite_file(tmp_path, text))) == [
        (0, "age", "old", "Elderly drivers are rude.", "age:1"),
        (0, "age", "young", "Young drivers are rude.", "age:1"),
        (2, "names", "female", "Mary won the race.", "names:2"),
        (2, "names", "male", "John won the race.", "names:2"),
    ]


def test_two_slots_give_every_combination_and_a_repeated_slot_the_same_term(tmp_path: Path) -> None:
    path = suite_file(
        tmp_path,
        AGE + '  - {label: neutral, text: "{identity_adj} and {identity_np}: {identity_np}."}\n',
    )
    assert build_suite(path)["text"].tolist() == [
        "Elderly and elderly person: elderly person.",
        "Elderly and old man: old man.",
        "Young and teenager: teenager.",
    ]


def test_only_a_sentence_that_starts_with_a_slot_is_capitalised(tmp_path: Path) -> None:
    young = {"identity_adj": Term(term="young"), "identity_np": Term(term="elderly person")}
    assert fill_template("{identity_adj} people", young) == "Young people"
    assert fill_template("{a:identity_np} came in", young) == "An elderly person came in"
    assert fill_template("lol {identity_adj} people", young) == "lol young people"


@pytest.mark.parametrize(
    ("term", "article"),
    [
        ("apple", "an"),
        ("banana", "a"),
        ("Asian person", "an"),
        ("Black person", "a"),
        ("elderly person", "an"),
        ("European", "a"),
        ("one-armed sailor", "a"),
        ("user", "a"),
        ("Ukrainian", "a"),
        ("unemployed person", "an"),
        ("honest man", "an"),
        ("hour-long wait", "an"),
        ("hospital", "a"),
        ("LGBTQ person", "an"),
        ("HIV-positive patient", "an"),
        ("US citizen", "a"),
        ("NGO worker", "an"),
        ("8-year-old", "an"),
        ("18-year-old", "an"),
        ("80-year-old", "an"),
        ("11-year-old", "an"),
        ("20-year-old", "a"),
        ("1-year-old", "a"),
        ("Ugandan", "an"),  # said "a Ugandan": the rule gets it wrong, which is what `article` is for
    ],
)
def test_article_rule(term: str, article: str) -> None:
    assert indefinite_article(Term(term=term)) == article


def test_article_field_overrides_the_rule(tmp_path: Path) -> None:
    assert indefinite_article(Term(term="Ugandan", article="a")) == "a"
    path = suite_file(
        tmp_path,
        """
        lexicons:
          nationality:
            groups:
              east_african: {np: [{term: Ugandan, article: a}, Eritrean]}
              west_african: {np: [Ivorian, {term: Nigerian}]}
        templates:
          - {label: neutral, text: "{a:identity_np} asked for directions."}
        """,
    )
    assert build_suite(path)["text"].tolist() == [
        "A Ugandan asked for directions.",
        "An Eritrean asked for directions.",
        "A Nigerian asked for directions.",
        "An Ivorian asked for directions.",
    ]


NAMES = """
seed: 3
lexicons:
  names:
    sample: 3
    groups:
      female: {name: [Ann, Beth, Cara, Dana, Emma, Fay, Gina, Hope, Iris, June]}
      male: {name: [Al, Ben, Cal, Dan, Ed, Finn, Gus, Hal, Ian, Jim]}
templates:
  - {id: won, label: positive, text: "{person} won."}
  - {id: lost, label: negative, text: "{person} lost."}
  - {id: left, label: neutral, text: "{person} left."}
"""


def test_sampling_draws_the_same_number_of_terms_for_every_template_and_group(tmp_path: Path) -> None:
    suite = build_suite(suite_file(tmp_path, NAMES))
    assert suite.groupby(["template_id", "group"]).size().tolist() == [3] * 6
    female = {"Ann", "Beth", "Cara", "Dana", "Emma", "Fay", "Gina", "Hope", "Iris", "June"}
    names = suite[suite["group"] == "female"]["text"].str.split().str[0]
    assert set(names) <= female


def test_sampling_is_reproducible_and_follows_the_seed(tmp_path: Path) -> None:
    path = suite_file(tmp_path, NAMES)
    first, again = build_suite(path), build_suite(path)
    pd.testing.assert_frame_equal(first, again)
    pd.testing.assert_frame_equal(first, build_suite(path, seed=3))  # the file's seed is the default
    assert build_suite(path, seed=4)["text"].tolist() != first["text"].tolist()


def test_a_template_draw_does_not_change_when_other_templates_are_added(tmp_path: Path) -> None:
    before = build_suite(suite_file(tmp_path, NAMES, "before.yaml"))
    more = NAMES.replace(
        "templates:\n", 'templates:\n  - {id: sang, label: positive, text: "{person} sang."}\n'
    )
    after = build_suite(suite_file(tmp_path, more, "after.yaml"))
    won = "names:won"
    assert (
        after[after["template_id"] == won]["text"].tolist()
        == before[before["template_id"] == won]["text"].tolist()
    )


def test_template_ids_are_category_and_name_or_position(tmp_path: Path) -> None:
    path = suite_file(
        tmp_path,
        AGE
        + """\
  - {label: positive, text: "{identity_adj} people are kind."}
  - {id: rude, label: negative, text: "{identity_adj} people are rude.", tags: [hostile]}
  - {id: 7, label: neutral, text: "{identity_adj} people vote."}
""",
    )
    assert build_suite(path)["template_id"].unique().tolist() == ["age:1", "age:rude", "age:7"]


def test_attributes_limit_a_template_to_some_lexicons(tmp_path: Path) -> None:
    text = """
    lexicons:
      age:
        groups: {young: {adj: [young]}, old: {adj: [elderly]}}
      residency:
        groups: {citizen: {adj: [native-born]}, refugee: {adj: [refugee]}}
    templates:
      - {label: neutral, text: "The {identity_adj} applicant signed."}
      - {label: neutral, attributes: [residency], text: "The {identity_adj} applicant sent money abroad."}
    """
    suite = build_suite(suite_file(tmp_path, text))
    assert suite.groupby("category")["template_id"].unique().map(list).to_dict() == {
        "age": ["age:1"],
        "residency": ["residency:1", "residency:2"],
    }


def test_a_group_without_terms_for_a_slot_is_left_out_of_that_template(tmp_path: Path) -> None:
    text = """
    lexicons:
      disability:
        groups:
          deaf: {adj: [deaf], np: [deaf person]}
          epilepsy: {np: [person with epilepsy]}
    templates:
      - {label: positive, text: "{identity_adj} people are great."}
      - {label: positive, text: "{a:identity_np} is great."}
    """
    suite = build_suite(suite_file(tmp_path, text))
    assert rows(suite) == [
        (2, "disability", "deaf", "Deaf people are great.", "disability:1"),
        (2, "disability", "deaf", "A deaf person is great.", "disability:2"),
        (2, "disability", "epilepsy", "A person with epilepsy is great.", "disability:2"),
    ]
    assert [warning.kind for warning in check_suite(suite, min_per_class=0).warnings] == [
        "incomplete-template",
        "group-imbalance",
    ]


def test_written_tsv_reads_back_with_the_same_rows_and_template_ids(tmp_path: Path) -> None:
    built = build_suite("builtin:general")
    out = tmp_path / "general.tsv"
    write_suite(built, out)
    assert out.read_text(encoding="utf-8").split("\n", 1)[0] == "label\tcategory\tgroup\ttext\ttemplate_id"
    pd.testing.assert_frame_equal(read_suite_tsv(out), built)


def test_writing_twice_gives_the_same_bytes(tmp_path: Path) -> None:
    write_suite(build_suite("builtin:general"), tmp_path / "a.tsv")
    write_suite(build_suite("builtin:general"), tmp_path / "b.tsv")
    assert (tmp_path / "a.tsv").read_bytes() == (tmp_path / "b.tsv").read_bytes()


def test_template_ids_can_be_recovered_from_the_row_order() -> None:
    built = build_suite("builtin:general")
    recovered = recover_template_ids(built.drop(columns="template_id"))
    pairs = set(zip(built["template_id"], recovered, strict=True))
    assert len(pairs) == built["template_id"].nunique() == len(set(recovered))


def test_load_suite_accepts_builtin_names_and_yaml_paths(tmp_path: Path) -> None:
    pd.testing.assert_frame_equal(load_suite("builtin:general"), build_suite(builtin_path("general")))
    path = suite_file(
        tmp_path, AGE + '  - {label: positive, text: "{identity_adj} people are kind."}\n', "s.yml"
    )
    assert load_suite(path)["text"].tolist() == ["Elderly people are kind.", "Young people are kind."]


def test_builtin_suites_are_listed_and_found() -> None:
    assert list_builtin() == ["builtin:general", "builtin:loan_applicants"]
    assert builtin_path("builtin:general") == builtin_path("general")
    assert builtin_path("general").name == "general.yaml"
    with pytest.raises(
        InputError, match=r"^builtin:nope: no such built-in suite \(available: builtin:general, "
    ):
        builtin_path("builtin:nope")


def test_general_suite_covers_every_attribute_completely_and_evenly() -> None:
    spec = load_spec(builtin_path("general"))
    suite = build_suite("builtin:general")
    assert sorted(suite["category"].unique()) == [
        "age",
        "disability",
        "gender",
        "names",
        "nationality",
        "race",
        "religion",
        "sexuality",
    ]
    assert len(suite) == 6663  # the size stated in the file's description and in docs/suites.md
    assert "6,663 sentences" in spec.description
    assert len(spec.sources) >= 7
    templates = suite.drop_duplicates("template_id").groupby(["category", "label"]).size()
    assert templates.min() >= 20
    assert suite.groupby("category")["group"].nunique().min() >= 2
    assert check_suite(suite).warnings == ()


def test_loan_example_builds_without_warnings_and_uses_named_templates() -> None:
    suite = build_suite("builtin:loan_applicants")
    assert sorted(suite["category"].unique()) == ["age", "names", "residency"]
    assert "age:defaulted" in set(suite["template_id"])
    family = suite[suite["template_id"].str.endswith(":family_abroad")]
    assert family["category"].unique().tolist() == ["residency"]
    assert check_suite(suite).warnings == ()
