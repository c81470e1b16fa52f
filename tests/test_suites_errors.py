"""Bad suite input: one InputError naming the file, the line or field and the problem; the CLI exits 2 and
`suite build` writes nothing."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from promptbias.errors import InputError
from promptbias.suites import build_suite
from promptbias.suites.loading import load_suite

GOOD = """\
lexicons:
  age:
    groups:
      young: {adj: [young]}
      old: {adj: [elderly]}
templates:
  - {label: positive, text: "{identity_adj} people are kind."}
"""


def write(tmp_path: Path, text: str, name: str = "suite.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def error_of(path: Path) -> str:
    with pytest.raises(InputError) as caught:
        load_suite(path)
    return str(caught.value)


def test_the_good_file_builds(tmp_path: Path) -> None:
    assert len(build_suite(write(tmp_path, GOOD))) == 2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            GOOD.replace("templates:", "templtes:"),
            "line 6: unknown key 'templtes' (did you mean 'templates'? allowed:",
        ),
        (
            GOOD.replace("young: {adj: [young]}", "young: {adjective: [young]}"),
            "line 4: lexicons.age.groups.young: unknown key 'adjective' "
            "(did you mean 'adj'? allowed: adj, np, name)",
        ),
        (
            GOOD.replace("old: {adj: [elderly]}", "old: {adj: [{term: elderly, artcle: an}]}"),
            "line 5: lexicons.age.groups.old.adj[0]: unknown key 'artcle' "
            "(did you mean 'article'? allowed: term, article)",
        ),
        (
            GOOD.replace("{label: positive,", "{lable: positive,"),
            "line 7: templates[0]: unknown key 'lable' "
            "(did you mean 'label'? allowed: text, label, id, tags, attributes) (and 1 more problem)",
        ),
        (GOOD.replace("  age:\n", "  age:\n    smaple: 2\n"), "line 3: lexicons.age: unknown key 'smaple'"),
        (
            GOOD.replace("label: positive", "label: postive"),
            "line 7: templates[0].label: unknown label 'postive'",
        ),
        (GOOD.replace("label: positive", "label: 5"), "templates[0].label: label '5' is outside 0..2"),
        (
            GOOD.replace("      old: {adj: [elderly]}\n", ""),
            "lexicons.age.groups: needs two or more groups to compare",
        ),
        (GOOD.replace("{adj: [elderly]}", "{adj: []}"), "lexicons.age.groups.old: the group has no terms"),
        (
            GOOD.replace("[elderly]", "[2020]"),
            "a term is a string or a mapping with term and article, not 2020",
        ),
        (
            GOOD.replace("[elderly]", '["elderly\\tman"]'),
            "adj[0].term: must not contain a tab or a line break",
        ),
        (
            GOOD.replace("[elderly]", "[{term: elderly, article: the}]"),
            "article: Input should be 'a' or 'an'",
        ),
        (
            GOOD.replace("  age:\n", "  age:\n    sample: 0\n"),
            "lexicons.age.sample: Input should be greater than",
        ),
        (GOOD.replace("{label:", "{id: has space, label:"), "templates[0].id: id 'has space' may hold only"),
        (
            GOOD.replace("templates:\n  - ", "templates:\n  - []\n  - "),
            "templates[0]: Input should be a valid dict",
        ),
        (GOOD.replace("young: {", "1: {"), "line 4: key '1' is not read as text; put it in quotes"),
        (GOOD.replace("young: {", "yes: {"), "line 4: key 'yes' is not read as text; put it in quotes"),
        (GOOD + "lexicons: {}\n", "line 8: key 'lexicons' is repeated"),
        (GOOD.replace("{adj: [young]}", "{adj: [young], adj: [teen]}"), "line 4: key 'adj' is repeated"),
        (GOOD.replace('"{identity_adj} people', "{identity_adj} people"), "line 7: not valid YAML"),
        ("- just\n- a list\n", "line 1: expected a mapping with the keys lexicons and templates"),
        (
            GOOD.replace('templates:\n  - {label: positive, text: "{identity_adj} people are kind."}\n', ""),
            "missing key 'templates'",
        ),
    ],
)
def test_schema_errors_name_the_file_line_and_field(tmp_path: Path, text: str, message: str) -> None:
    error = error_of(write(tmp_path, text))
    assert error.startswith(f"{tmp_path / 'suite.yaml'}: ")
    assert message in error
    assert "\n" not in error


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{identiy_adj} people are kind.", "unknown slot {identiy_adj} (known slots: {identity_adj} (adj), "),
        ("{person} is kind.", "no lexicon fills {person} (it needs terms under 'name')"),
        ("People are kind.", "no slot, so the sentence names no group"),
        ("{identity_adj} people are {kind.", "a brace that is not a slot"),
        ("{an:identity_adj} people are kind.", "a brace that is not a slot"),
    ],
)
def test_template_errors_name_the_template(tmp_path: Path, template: str, message: str) -> None:
    error = error_of(write(tmp_path, GOOD.replace("{identity_adj} people are kind.", template)))
    assert error.startswith(f"{tmp_path / 'suite.yaml'}: line 7: templates[0] {template!r}: {message}")


def test_a_slot_filled_only_by_some_lexicons_is_an_error_when_none_fills_them_all(tmp_path: Path) -> None:
    text = (
        GOOD.replace(
            "templates:", "  names:\n    groups: {female: {name: [Mary]}, male: {name: [John]}}\ntemplates:"
        )
        + '  - {label: neutral, text: "{person} is {identity_adj}."}\n'
    )
    assert "templates[1] '{person} is {identity_adj}.': no single lexicon fills all of its slots" in error_of(
        write(tmp_path, text)
    )


def test_attributes_must_name_a_lexicon_that_fills_the_template(tmp_path: Path) -> None:
    unknown = GOOD.replace("{label: positive,", "{attributes: [agge], label: positive,")
    assert "unknown attribute 'agge' (lexicons: age)" in error_of(write(tmp_path, unknown))
    names = GOOD.replace(
        "templates:", "  names:\n    groups: {a: {name: [Mary]}, b: {name: [John]}}\ntemplates:"
    )
    unfit = names.replace("{label: positive,", "{attributes: [names], label: positive,")
    assert "lexicon 'names' has no terms for some slot of this template" in error_of(write(tmp_path, unfit))


def test_template_ids_must_be_unique(tmp_path: Path) -> None:
    text = GOOD + '  - {id: "1", label: negative, text: "{identity_adj} people are rude."}\n'
    assert (
        "line 8: templates[1] '{identity_adj} people are rude.': id '1' is already used by templates[0]"
        in (error_of(write(tmp_path, text)))
    )


def test_a_group_no_template_fills_is_an_error(tmp_path: Path) -> None:
    text = GOOD.replace("old: {adj: [elderly]}", "old: {np: [elderly person]}")
    assert (
        "line 5: lexicons.age.groups.old: no template of this attribute is filled by its terms (np)"
        in error_of(write(tmp_path, text))
    )


def test_unreadable_yaml_files(tmp_path: Path) -> None:
    assert error_of(tmp_path / "missing.yaml") == f"{tmp_path / 'missing.yaml'}: file not found"
    assert error_of(write(tmp_path, "\n  \n", "blank.yaml")).endswith("blank.yaml: file is empty")
    assert error_of(write(tmp_path, "# only a comment\n", "comment.yaml")).endswith(
        "comment.yaml: file is empty"
    )
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(GOOD.replace("elderly", "\xe4lter").encode("latin-1"))
    assert error_of(latin) == f"{latin}: line 5: not UTF-8 (byte 0xe4)"


def test_unknown_builtin() -> None:
    with pytest.raises(InputError, match=r"^builtin:generl: no such built-in suite"):
        load_suite("builtin:generl")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "file is empty"),
        (b"2\tage\tyoung\tYoung people.\n2\tage\tOld people.\n", "line 2: expected 4 columns, found 3"),
        (
            b"2\tage\tyoung\tYoung people.\npostive\tage\told\tOld people.\n",
            "line 2: unknown label 'postive'",
        ),
        (b"2\tage\tyoung\tYoung people.\n2\tage\t\xe4lt\tOld people.\n", "line 2: not UTF-8 (byte 0xe4)"),
        (
            b"2\tage\tyoung\tYoung people.\n2\tage\tyoung\tOld people.\n",
            "category 'age' has a single group (young)",
        ),
        (
            b"label\tcategory\tgroup\ttext\ttemplate_id\n2\tage\tyoung\tYoung.\tage:1\n2\tage\told\tOld.\n",
            "line 3: expected 5 columns, found 4",
        ),
    ],
)
def test_bad_suite_tsv(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "suite.tsv"
    path.write_bytes(content)
    assert error_of(path).startswith(f"{path}: {message}")


def test_missing_suite_tsv(tmp_path: Path) -> None:
    assert error_of(tmp_path / "nope.tsv") == f"{tmp_path / 'nope.tsv'}: file not found"


def promptbias(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-c", "from promptbias.cli import main; main()", *map(str, args)]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


def test_cli_build_failure_is_one_line_exit_2_and_writes_nothing(tmp_path: Path) -> None:
    bad = write(tmp_path, GOOD.replace("label: positive", "label: postive"), "bad.yaml")
    result = promptbias("suite", "build", bad, "--out", "out.tsv", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith(
        f"promptbias: error: {bad}: line 7: templates[0].label: unknown label 'postive'"
    )
    assert sorted(path.name for path in tmp_path.iterdir()) == ["bad.yaml"]
    (tmp_path / "out.tsv").write_text("earlier build\n", encoding="utf-8")
    assert promptbias("suite", "build", bad, "--out", "out.tsv", cwd=tmp_path).returncode == 2
    assert (tmp_path / "out.tsv").read_text(encoding="utf-8") == "earlier build\n"


def test_cli_build_needs_a_tsv_path(tmp_path: Path) -> None:
    good = write(tmp_path, GOOD, "good.yaml")
    result = promptbias("suite", "build", good, "--out", "out.csv", cwd=tmp_path)
    assert result.returncode == 2
    assert (
        result.stderr
        == "promptbias: error: out.csv: a suite is written as TSV; give an output path ending in .tsv\n"
    )
    assert not (tmp_path / "out.csv").exists()


def test_cli_build_check_and_list(tmp_path: Path) -> None:
    good = write(tmp_path, GOOD, "good.yaml")
    built = promptbias("suite", "build", good, "--out", "good.tsv", cwd=tmp_path)
    assert (built.returncode, built.stdout) == (0, "wrote good.tsv: 2 sentences in 1 category\n")
    assert (tmp_path / "good.tsv").read_text(encoding="utf-8") == (
        "label\tcategory\tgroup\ttext\ttemplate_id\n2\tage\told\tElderly people are kind.\tage:1\n"
        "2\tage\tyoung\tYoung people are kind.\tage:1\n"
    )
    checked = promptbias("suite", "check", "good.tsv", cwd=tmp_path)
    assert checked.returncode == 0
    assert checked.stdout.endswith(
        "warnings: 1\n  few-sentences  age: 6 group-class cells have fewer than 20 sentences "
        "(e.g. old 0 negative, old 0 neutral and 4 more)\n"
    )
    assert promptbias("suite", "check", "good.tsv", "--strict", cwd=tmp_path).returncode == 1
    listed = promptbias("suite", "list", cwd=tmp_path)
    assert listed.returncode == 0
    assert [line for line in listed.stdout.splitlines() if line.startswith("builtin:")] == [
        "builtin:general",
        "builtin:loan_applicants",
    ]


def test_cli_check_of_a_bad_tsv_is_one_line_exit_2(tmp_path: Path) -> None:
    (tmp_path / "bad.tsv").write_bytes(b"2\tage\tyoung\tYoung people.\n2\tage\tOld people.\n")
    result = promptbias("suite", "check", "bad.tsv", cwd=tmp_path)
    assert (result.returncode, result.stderr) == (
        2,
        "promptbias: error: bad.tsv: line 2: expected 4 columns, found 3\n",
    )
