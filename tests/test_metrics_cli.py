"""``promptbias metrics`` end to end: inputs it accepts, bad input (exit 2, one line, nothing written),
atomic and reproducible output."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

from promptbias import store
from promptbias.cli import main
from promptbias.errors import InputWarning
from promptbias.metrics import compute_metrics, load_predictions, write_metrics

HEADER = ["y_true", "y_pred", "category", "group", "text", "model", "run_id", "dataset", "num_params"]


def reference_rows(run_id: str = "run_1", num_params: str = "6.7", model: str = "opt") -> list[list[str]]:
    """Rows in suite order: per template one label, the groups in alphabetical order."""
    rows = []
    for template, label in enumerate([2, 0, 1, 2]):
        for group, pred in (("black", label), ("white", (label + template) % 3)):
            text = f"The {group} person {template}."
            rows.append([str(label), str(pred), "race", group, text, model, run_id, "SST5", num_params])
    return rows


def write_tsv(path: Path, rows: list[list[str]], header: list[str] = HEADER) -> Path:
    path.write_text("\n".join("\t".join(row) for row in [header, *rows]) + "\n", encoding="utf-8")
    return path


def cli(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, *args: object
) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["promptbias", "metrics", *map(str, args)])
    with pytest.raises(SystemExit) as stopped:
        main()
    captured = capsys.readouterr()
    return stopped.value.code, captured.out, captured.err


def folder_bytes(folder: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def test_reference_layout_is_read_and_normalised(tmp_path: Path) -> None:
    rows = reference_rows(num_params="175")
    rows[3][-1] = "175.0"  # the same run, written both ways
    frame = load_predictions([write_tsv(tmp_path / "a.tsv", rows)])
    assert frame[["model", "dataset", "probe", "run_id"]].drop_duplicates().shape[0] == 1
    assert (frame["probe"] == "external").all()
    assert (frame["num_params"] == 175.0).all()
    assert list(frame["template_id"]) == [f"race:{k}" for k in range(4) for _ in range(2)]
    assert "p_positive" not in frame.columns


def test_project_results_folder_reads_complete_units_only(tmp_path: Path) -> None:
    frame = pd.DataFrame([dict(zip(HEADER, row, strict=True)) for row in reference_rows()])
    frame = frame.assign(
        y_true=frame["y_true"].astype(int),
        y_pred=frame["y_pred"].astype(int),
        p_negative=0.2,
        p_neutral=0.3,
        p_positive=0.5,
        template_id=[f"t{k // 2}" for k in range(len(frame))],
        probe="soft_prompt",
        seed=1,
        num_params=0.135,
    )
    results = tmp_path / "results"
    complete = results / "units" / "u1"
    store.write_frame(complete / "predictions.parquet", frame)
    store.write_manifest(complete)
    store.write_frame(results / "units" / "u2" / "predictions.parquet", frame.assign(run_id="other"))
    loaded = load_predictions([results])
    assert set(loaded["run_id"]) == {"run_1"}
    assert (loaded["probe"] == "soft_prompt").all()
    assert loaded["p_positive"].eq(0.5).all()
    assert list(loaded["template_id"].unique()) == ["t0", "t1", "t2", "t3"]
    result = compute_metrics(loaded)
    assert "positive_mean_prob" in set(result.gaps["metric"])


def test_cli_writes_every_documented_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    source = write_tsv(tmp_path / "a.tsv", reference_rows())
    out = tmp_path / "out"
    code, stdout, _ = cli(monkeypatch, capsys, source, "--out", out, "--ci", "z", "--correction", "bh")
    assert code == 0 and "wrote" in stdout
    for name in (
        "group_metrics.csv",
        "gaps.csv",
        "summary.json",
        "flip_rates.csv",
        "flip_examples.csv",
        "generalized_groups.csv",
        "generalized_pairs.csv",
        "generalized_summary.csv",
        "warnings.csv",
        "run_gaps.csv",
        "overall.csv",
        "wording_gaps.csv",
    ):
        assert (out / name).is_file(), name
    assert store.is_complete(out)
    summary = pd.read_json(out / "summary.json", typ="series")
    assert summary["correction"] == "bh" and summary["interval"]["method"] == "z"
    assert summary["inputs"] == [str(source)]


def test_calibrate_prints_the_false_flag_rate_beside_alpha(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    source = write_tsv(tmp_path / "a.tsv", reference_rows() + reference_rows("run_2"))
    out = tmp_path / "out"
    code, stdout, _ = cli(
        monkeypatch, capsys, source, "--out", out, "--calibrate", "3", "--n-permutations", "50"
    )
    assert code == 0
    assert "(permutation, maxt correction, scope prompts, null terms)" in stdout  # two runs: these prompts
    assert "calibration: 3 copies with groups permuted within templates:" in stdout and "alpha 0.05" in stdout
    calibration = pd.read_json(out / "summary.json", typ="series")["calibration"]
    assert calibration["n_copies"] == 3 and 0 <= calibration["share_with_any_significant"] <= 1
    gaps = pd.read_csv(out / "gaps.csv")
    assert {"n_templates", "method", "min_detectable_gap", "n_permutations", "p_value_se"} <= set(
        gaps.columns
    )
    assert (gaps["method"] == "permutation").all() and (gaps["n_permutations"] == 50).all()
    code, _, err = cli(monkeypatch, capsys, source, "--out", out, "--ci", "t", "--correction", "maxt")
    assert code == 2 and "maxt needs --ci permutation" in err


def test_rerun_gives_identical_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    first = write_tsv(tmp_path / "a.tsv", reference_rows())
    second = write_tsv(tmp_path / "b.tsv", reference_rows(run_id="run_2"))
    out = tmp_path / "out"
    args = (first, second, "--out", out, "--ci", "bootstrap", "--n-boot", "50")
    assert cli(monkeypatch, capsys, *args)[0] == 0
    before = folder_bytes(out)
    assert cli(monkeypatch, capsys, *args)[0] == 0
    assert folder_bytes(out) == before


class Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("interrupted while writing")


def test_interrupted_write_leaves_the_previous_output(tmp_path: Path) -> None:
    source = write_tsv(tmp_path / "a.tsv", reference_rows())
    result = compute_metrics(load_predictions([source]))
    out = tmp_path / "out"
    write_metrics(result, out, [source])
    before = folder_bytes(out)
    result.flip_examples = result.flip_examples.assign(text=Unprintable())
    with pytest.raises(RuntimeError, match="interrupted"):
        write_metrics(result, out, [source])
    assert folder_bytes(out) == before
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a.tsv", "out"]  # no temporary left


def bad_inputs(tmp_path: Path) -> dict[str, tuple[list[Path], str]]:
    """Each case: the input files and the text the one error line must hold (besides the file name)."""
    good = reference_rows()
    cases: dict[str, tuple[list[Path], str]] = {"missing file": ([tmp_path / "nope.tsv"], "file not found")}
    (tmp_path / "empty.tsv").write_text("", encoding="utf-8")
    cases["empty file"] = ([tmp_path / "empty.tsv"], "file is empty")
    ragged = [*good[:2], [*good[2], "extra"], *good[3:]]
    cases["wrong number of columns"] = (
        [write_tsv(tmp_path / "ragged.tsv", ragged)],
        "line 4: expected 9 columns",
    )
    short = [*good[:4], good[4][:6], *good[5:]]  # stops before run_id, dataset (required) and num_params
    cases["line short of a required column"] = (
        [write_tsv(tmp_path / "short.tsv", short)],
        "line 6: expected 9 columns, found 6",
    )
    no_pred = [row[:1] + row[2:] for row in good]
    header = HEADER[:1] + HEADER[2:]
    cases["missing column"] = ([write_tsv(tmp_path / "nopred.tsv", no_pred, header)], "missing column y_pred")
    word = [row.copy() for row in good]
    word[4][1] = "pos"
    cases["label not an integer"] = (
        [write_tsv(tmp_path / "word.tsv", word)],
        "line 6: y_pred 'pos' is not an integer",
    )
    three = [row.copy() for row in good]
    three[0][0] = "3"
    cases["label outside 0..2"] = (
        [write_tsv(tmp_path / "three.tsv", three)],
        "line 2: y_true '3' is outside 0..2",
    )
    latin = tmp_path / "latin.tsv"
    write_tsv(latin, good)
    latin.write_bytes(latin.read_bytes().replace(b"The black person 1.", b"The caf\xe9 person 1."))
    cases["non-UTF-8 bytes"] = ([latin], "line 4: not UTF-8")
    single = [row for row in good if row[3] == "black"]
    cases["single group"] = (
        [write_tsv(tmp_path / "single.tsv", single)],
        "category 'race' has a single group",
    )
    first = write_tsv(tmp_path / "first.tsv", good)
    again = write_tsv(tmp_path / "again.tsv", good)
    cases["duplicate run"] = (
        [first, again],
        "duplicate run (model=opt, dataset=SST5, probe=external, run_id=run_1)",
    )
    (tmp_path / "plain_folder").mkdir()
    cases["folder that is no results folder"] = ([tmp_path / "plain_folder"], "not a results folder")
    return cases


CASES = [
    "missing file",
    "empty file",
    "wrong number of columns",
    "line short of a required column",
    "missing column",
    "label not an integer",
    "label outside 0..2",
    "non-UTF-8 bytes",
    "single group",
    "duplicate run",
    "folder that is no results folder",
]


@pytest.mark.parametrize("case", CASES)
def test_bad_input_exits_2_with_one_line_and_writes_nothing(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    files, problem = bad_inputs(tmp_path)[case]
    out = tmp_path / "new" / "out"
    code, stdout, stderr = cli(monkeypatch, capsys, *files, "--out", out)
    assert code == 2
    assert stderr.endswith("\n") and stderr.count("\n") == 1, stderr
    assert str(files[-1]) in stderr and problem in stderr, stderr
    assert stdout == ""
    assert not (tmp_path / "new").exists()


def test_bad_input_leaves_an_earlier_output_unchanged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "out"
    assert cli(monkeypatch, capsys, write_tsv(tmp_path / "a.tsv", reference_rows()), "--out", out)[0] == 0
    before = folder_bytes(out)
    files, _ = bad_inputs(tmp_path)["label outside 0..2"]
    assert cli(monkeypatch, capsys, *files, "--out", out)[0] == 2
    assert folder_bytes(out) == before


def test_groups_file_and_options_are_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    source = write_tsv(tmp_path / "a.tsv", reference_rows())
    out = tmp_path / "out"
    groups = tmp_path / "groups.yaml"
    groups.write_text("race: [black, purple]\n", encoding="utf-8")
    code, _, stderr = cli(monkeypatch, capsys, source, "--out", out, "--groups", groups)
    assert code == 2 and f"{groups}: category 'race': group 'purple' is not in the predictions" in stderr
    code, _, stderr = cli(monkeypatch, capsys, source, "--out", out, "--ci", "wald")
    assert code == 2 and "--ci: unknown interval method 'wald'" in stderr
    assert not out.exists()
    groups.write_text("race: [black, white]\n", encoding="utf-8")
    assert cli(monkeypatch, capsys, source, "--out", out, "--groups", groups)[0] == 0
    assert pd.read_json(out / "summary.json", typ="series")["groups_file"] == str(groups)


def test_refuses_to_replace_a_folder_that_is_not_metrics_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    source = write_tsv(tmp_path / "a.tsv", reference_rows())
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me", encoding="utf-8")
    code, _, stderr = cli(monkeypatch, capsys, source, "--out", precious)
    assert code == 2 and "not a metrics output folder" in stderr
    assert (precious / "notes.txt").read_text(encoding="utf-8") == "keep me"


OPTIONAL_TAIL = ["threshold_accuracy", "validation_accuracy", "test_accuracy"]


def test_lines_without_the_optional_trailing_columns_are_read_with_one_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """A published file whose header names three optional columns that its lines leave out (as pandas reads
    it): read, with one warning for the file, the extra columns kept; the metrics equal the plain file's."""
    rows = reference_rows()
    rows[0] = [*rows[0], "0.5", "0.61", "0.6"]  # one line has them, the other 7 stop before them
    source = write_tsv(tmp_path / "published.tsv", rows, [*HEADER, *OPTIONAL_TAIL])
    expected = (
        f"{source}: 7 line(s) stop before the optional column(s) threshold_accuracy, validation_accuracy, "
        "test_accuracy (first: line 3); read as empty"
    )
    with pytest.warns(InputWarning) as caught:
        frame = load_predictions([source])
    assert [str(warning.message) for warning in caught] == [expected]
    assert list(frame["test_accuracy"]) == ["0.6", *[""] * 7]  # unknown extra columns are kept
    assert len(frame) == 8

    out = tmp_path / "out"
    code, _, stderr = cli(monkeypatch, capsys, source, "--out", out)
    assert code == 0  # the file's warning comes first, once; the metrics' own warnings follow
    assert [line for line in stderr.splitlines() if str(source) in line] == [
        f"promptbias: warning: {expected}"
    ]
    assert stderr.splitlines()[0] == f"promptbias: warning: {expected}"
    assert pd.read_json(out / "summary.json", typ="series")["warnings"][0] == expected
    plain = compute_metrics(load_predictions([write_tsv(tmp_path / "plain.tsv", reference_rows())]))
    assert pd.read_csv(out / "gaps.csv")["gap_mean"].tolist() == pytest.approx(
        plain.gaps["gap_mean"].tolist()
    )


def two_category_rows(race_params: str, gender_params: str, gender_templates: int) -> list[list[str]]:
    """The race rows of ``reference_rows`` and a gender category of ``gender_templates`` templates."""
    rows = reference_rows(num_params=race_params)
    for template in range(gender_templates):
        for group in ("female", "male"):
            text = f"The {group} person {template}."
            rows.append(["2", "2", "gender", group, text, "opt", "run_1", "SST5", gender_params])
    return rows


@pytest.mark.parametrize(
    ("gender_templates", "counts", "used"),
    [(8, "7 on 8 rows, 8 on 16 rows", 8.0), (4, "7 on 8 rows, 8 on 8 rows", 7.0)],
)
def test_a_run_with_several_num_params_uses_the_most_common_with_a_warning(
    gender_templates: int,
    counts: str,
    used: float,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
) -> None:
    """7.0 on one category, 8.0 on the other: one warning naming both values; on a tie the first in the file."""
    source = write_tsv(tmp_path / "mixed.tsv", two_category_rows("7.0", "8.0", gender_templates))
    expected = (
        f"{source}: run opt/SST5/external/run_1 has several num_params values ({counts}); "
        f"using {used:g}, the most common (on a tie, the first in the file)"
    )
    with pytest.warns(InputWarning) as caught:
        frame = load_predictions([source])
    assert [str(warning.message) for warning in caught] == [expected]
    assert (frame["num_params"] == used).all()
    assert compute_metrics(frame).summary["runs"][0]["num_params"] == used

    code, _, stderr = cli(monkeypatch, capsys, source, "--out", tmp_path / "out")
    assert code == 0
    assert [line for line in stderr.splitlines() if str(source) in line] == [
        f"promptbias: warning: {expected}"
    ]
