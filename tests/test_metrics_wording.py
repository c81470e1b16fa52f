"""The wording baseline (terms recovered from the sentences, groups split into halves) and unmarked defaults."""

from __future__ import annotations

import pandas as pd
import pytest

from promptbias.errors import InputError
from promptbias.metrics import compute_metrics
from promptbias.metrics.inference.wording import sentence_terms, split_terms
from promptbias.metrics.loading import normalise_predictions
from promptbias.suites import load_spec

TERMS = {"black": ["Black", "African American"], "white": ["white"], "asian": ["Asian", "Asian American"]}
FRAMES = ["{} people are inspiring.", "I met a {} man yesterday.", "The {} teacher was rude!"]


def suite_run(run_id: str, templates: int, predict) -> list[dict]:
    """Czarnowska-like sentences: every term of every group fills every template (label negative)."""
    rows = []
    for template in range(templates):
        frame = FRAMES[template % len(FRAMES)] + f" ({template})"
        for group, terms in TERMS.items():
            for term in terms:
                rows.append(
                    {
                        "y_true": 0,
                        "y_pred": predict(template, group, term),
                        "category": "grouped_race",
                        "group": group,
                        "text": frame.format(term),
                        "model": "m",
                        "dataset": "d",
                        "run_id": run_id,
                        "template_id": f"t{template}",
                    }
                )
    return rows


def test_terms_are_what_the_sentences_of_a_template_do_not_share() -> None:
    frame = normalise_predictions(pd.DataFrame(suite_run("r1", 3, lambda *_: 0)))
    terms = sentence_terms(frame)
    assert set(terms[frame["group"] == "black"]) == {"black", "african american"}
    assert set(terms[frame["group"] == "white"]) == {"white"}
    relabelled, splits = split_terms(frame)
    assert set(splits["group"]) == {"black", "asian"}  # white has a single term: nothing to split
    black = splits.set_index("group").loc["black"]
    assert (black["n_terms"], black["terms_a"], black["terms_b"]) == (2, "african american", "black")
    assert set(relabelled["group"]) == {"A", "B"} and len(relabelled) == 4 * 3


def test_a_wording_only_gap_is_found_and_a_clean_split_is_not() -> None:
    # "Black" draws false positives in 40% of templates, "African American" never; Asian terms alike
    def predict(template: int, group: str, term: str) -> int:
        return 2 if term == "Black" and template % 5 < 2 else 0

    rows = [item for run in range(3) for item in suite_run(f"r{run}", 30, predict)]
    result = compute_metrics(pd.DataFrame(rows), n_permutations=400, n_boot=100)
    wording = result.wording_gaps.set_index(["group", "metric"])
    black = wording.loc[("black", "positive_FPR")]
    assert black["gap_mean"] == pytest.approx((0.0 - 0.4) / 2)  # half A (african american) minus the mean
    assert black["significant"] and black["p_value"] < 0.01
    asian = wording.loc[("asian", "positive_FPR")]
    assert asian["gap_mean"] == 0 and not asian["significant"]
    assert "wording_gaps.csv" in result.tables()


def test_unmarked_default_groups_are_marked_in_the_gaps_table() -> None:
    rows = suite_run("r1", 6, lambda template, group, term: 2 if group == "white" and template % 2 else 0)
    gaps = compute_metrics(pd.DataFrame(rows), n_permutations=50, n_boot=50).gaps
    marked = gaps.groupby("group")["default_group"].first()
    assert marked.to_dict() == {"asian": False, "black": False, "white": True}  # Czarnowska's grouped_race


def test_builtin_suites_mark_their_defaults_and_a_wrong_default_is_an_error(tmp_path) -> None:
    from promptbias.suites import builtin_path

    general = load_spec(builtin_path("general"))
    assert general.lexicons["race"].default_group == "white"
    assert general.lexicons["age"].default_group is None
    text = builtin_path("loan_applicants").read_text(encoding="utf-8")
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace("default_group: citizen", "default_group: martian"), encoding="utf-8")
    with pytest.raises(InputError, match="default_group 'martian' is not one of its groups"):
        load_spec(bad)


def test_a_users_own_suite_marks_its_default_group(tmp_path) -> None:
    from promptbias.suites import builtin_path

    # the loan suite with its residency attribute renamed: no built-in list knows "origin"
    text = builtin_path("loan_applicants").read_text(encoding="utf-8")
    own = tmp_path / "own.yaml"
    own.write_text(text.replace("residency:", "origin:").replace("[residency]", "[origin]"), encoding="utf-8")
    rows = [
        {
            **row,
            "category": "origin",
            "group": {"black": "citizen", "white": "immigrant"}.get(row["group"], "refugee"),
        }
        for row in suite_run(
            "r1", 6, lambda template, group, term: 2 if group == "white" and template % 2 else 0
        )
    ]
    without = compute_metrics(pd.DataFrame(rows), n_permutations=50, n_boot=50).gaps
    assert not without["default_group"].any()
    marked = compute_metrics(pd.DataFrame(rows), n_permutations=50, n_boot=50, suite=own).gaps
    assert marked.groupby("group")["default_group"].first().to_dict() == {
        "citizen": True,
        "immigrant": False,
        "refugee": False,
    }
