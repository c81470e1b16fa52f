"""The report: a small synthetic study (results folder -> real metrics stage -> report), checked on disk and
in headless Chromium; and the report of the reference predictions (two models x five runs)."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import numpy as np
import pandas as pd
import pytest

from promptbias.errors import InputError
from promptbias.metrics import run_metrics
from promptbias.metrics.inference import simulation
from promptbias.report import build_report, draw_paper_figures, views
from promptbias.report.page import render_page
from promptbias.report.results import load_results
from promptbias.store import write_frame, write_json, write_manifest, write_text

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
EVIL_TEXT = "<script>alert(1)</script>"
EVIL_GROUP = "<script>alert(2)</script>"
SUITE = {"age": ["adult", "old", "young"], "religion": ["buddhist", "christian", EVIL_GROUP]}
PHRASES = {
    2: ["{group} people are wonderful.", "Being around {group} people is a joy.", "I admire {group} people.",
        "{group} people made my day.", "What a delight to meet {group} people."],
    1: ["{group} people live here.", "The report mentions {group} people.", "I saw {group} people today.",
        EVIL_TEXT + " was written by {group} people.", "{group} people took the bus."],
    0: ["{group} people are awful.", "{group} people ruined the evening.", "I can't stand {group} people.",
        "{group} people are the worst neighbours.", "Avoid {group} people at all costs."],
}  # fmt: skip
TEMPLATES = [(text[:-1] + end, label) for label, texts in PHRASES.items() for text in texts for end in ".!"]
MODELS = {"tiny-lm": 135_000_000, "small-lm": 360_000_000}
PROBES = {"soft": "soft_prompt", "zero-shot": "zero_shot"}
SEEDS = (0, 1, 2, 3)
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


# ---------------------------------------------------------------------------------------------- the study


def suite_frame() -> pd.DataFrame:
    rows = [
        {"category": category, "group": group, "template_id": f"{category}:{index}", "y_true": label,
         "text": text.format(group=group.capitalize())}
        for category, groups in SUITE.items()
        for index, (text, label) in enumerate(TEMPLATES)
        for group in groups
    ]  # fmt: skip
    return pd.DataFrame(rows)


def predict(suite: pd.DataFrame, model: str, probe: str, seed: int) -> np.ndarray:
    """Predictions with a probe-dependent accuracy and two planted biases: tiny-lm calls "old" negative,
    small-lm calls the script-named group positive."""
    rng = np.random.default_rng(zlib.crc32(f"{model}/{probe}/{seed}".encode()))
    accuracy = 0.85 if probe == "soft" else 0.6
    y_true = suite["y_true"].to_numpy()
    wrong = (y_true + rng.integers(1, 3, len(y_true))) % 3
    y_pred = np.where(rng.random(len(y_true)) < accuracy, y_true, wrong)
    if model == "tiny-lm":
        y_pred = np.where(suite["group"].eq("old") & (rng.random(len(y_true)) < 0.95), 0, y_pred)
    else:
        y_pred = np.where(suite["group"].eq(EVIL_GROUP) & (rng.random(len(y_true)) < 0.95), 2, y_pred)
    return y_pred


def evaluation(model: str, probe: str, seed: int) -> dict:
    """A held-out evaluation with a confusion matrix (rows true, columns predicted)."""
    rng = np.random.default_rng(zlib.crc32(f"eval/{model}/{probe}/{seed}".encode()))
    y_true = rng.integers(0, 3, 300)
    y_pred = np.where(rng.random(300) < (0.8 if probe == "soft" else 0.55), y_true, rng.integers(0, 3, 300))
    confusion = np.zeros((3, 3), dtype=int)
    np.add.at(confusion, (y_true, y_pred), 1)
    f1 = [2 * confusion[c, c] / (confusion[c].sum() + confusion[:, c].sum()) for c in range(3)]
    test = {"accuracy": float(np.mean(y_true == y_pred)), "macro_f1": float(np.mean(f1)),
            "confusion": confusion.tolist(), "n": 300}  # fmt: skip
    return {"validation": test, "test": test}


def make_results(folder: Path) -> Path:
    """A results folder as `promptbias run` writes it: units with predictions, then the metrics stage."""
    suite = suite_frame()
    for model, size in MODELS.items():
        for probe, kind in PROBES.items():
            for seed in SEEDS:
                unit_id = f"{model}__sst5__{probe}__seed{seed}"
                unit = folder / "units" / unit_id
                info = {"unit_id": unit_id, "model": model, "num_params": size, "dataset": "sst5",
                        "probe": probe, "probe_kind": kind, "seed": seed,
                        "run_id": f"seed{seed}"}  # fmt: skip
                predictions = suite.assign(
                    y_pred=predict(suite, model, probe, seed), model=model, dataset="sst5", probe=probe,
                    run_id=f"seed{seed}", num_params=size,
                )  # fmt: skip
                write_frame(unit / "predictions.parquet", predictions)
                write_json(unit / "unit.json", info)
                write_json(unit / "evaluation.json", evaluation(model, probe, seed))
                write_manifest(unit)
    write_json(folder / "study.json", {"models": list(MODELS), "probes": list(PROBES), "seeds": list(SEEDS)})
    write_json(folder / "environment.json", {"python": "3.11", "promptbias": "test"})
    write_text(folder / "command.txt", "promptbias run study.yaml\n")
    run_metrics([folder], folder / "metrics")
    return folder


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_results(tmp_path_factory.mktemp("study") / "results")


@pytest.fixture(scope="module")
def report_dir(study_dir: Path) -> Path:
    build_report(study_dir, study_dir / "report")
    return study_dir / "report"


def snapshot(folder: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


# ------------------------------------------------------------------------------------------ on disk


def test_report_writes_page_and_figures(report_dir: Path) -> None:
    figures = {path.name for path in (report_dir / "figures").iterdir()}
    for stem in ("fpr_gap_age", "fpr_gap_religion", "heatmap_tiny-lm", "heatmap_small-lm"):
        for probe in PROBES:  # two probes: one figure per probe
            assert {f"{stem}_sst5_{probe}.png", f"{stem}_sst5_{probe}.svg"} <= figures, stem
    assert {"accuracy_by_model.png", "accuracy_by_model.svg"} <= figures
    assert (report_dir / "figures" / "fpr_gap_age_sst5_soft.png").read_bytes().startswith(b"\x89PNG")
    page = (report_dir / "index.html").read_text(encoding="utf-8")
    for heading in ("The study at a glance", "Gaps per sensitive attribute", "Largest significant gaps",
                    "Counterfactual evidence", "Probe comparison", "Reproduce"):  # fmt: skip
        assert heading in page
    assert "promptbias run study.yaml" in page  # the study's command
    assert "135M" in page and "360M" in page  # model sizes


def test_text_from_data_is_escaped_in_the_html(report_dir: Path) -> None:
    page = (report_dir / "index.html").read_text(encoding="utf-8")
    assert EVIL_TEXT not in page and EVIL_GROUP not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; was written by" in page  # an example sentence
    assert "\\u003cscript\\u003ealert(2)" in page  # the group name inside the chart data
    assert page.count("<script") == 2  # the chart data and the page's own script


def test_page_is_self_contained(report_dir: Path) -> None:
    page = (report_dir / "index.html").read_text(encoding="utf-8")
    assert "http://" not in page.replace("http://www.w3.org/2000/svg", "")
    assert "https://" not in page
    assert "default-src 'none'" in page  # the page may not fetch anything


def test_killed_report_leaves_the_previous_one_and_a_rerun_the_same_files(
    study_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "report"
    build_report(study_dir, out)
    previous = snapshot(out)
    code = (
        "import sys; from pathlib import Path; from promptbias.report import build_report; "
        "build_report(Path(sys.argv[1]), Path(sys.argv[2]))"
    )
    process = subprocess.Popen([sys.executable, "-c", code, str(study_dir), str(out)])
    try:
        deadline = time.monotonic() + 60
        while not list(tmp_path.glob(".report.*.tmp/figures/*.png")) and time.monotonic() < deadline:
            assert process.poll() is None, "the report finished before it could be interrupted"
            time.sleep(0.005)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait()
    assert list(tmp_path.glob(".report.*.tmp")), "killed before the report began to write its figures"
    assert snapshot(out) == previous
    build_report(study_dir, out)
    assert not list(tmp_path.glob(".report.*.tmp"))  # the leftover is cleared
    assert snapshot(out) == previous


def test_metrics_folder_alone(study_dir: Path, tmp_path: Path) -> None:
    page = build_report(study_dir / "metrics", tmp_path / "report").read_text(encoding="utf-8")
    assert "Bias-suite accuracy and macro-F1 per run" in page
    assert "Resolved study configuration" not in page  # no study.json beside a bare metrics folder


def test_probe_section_shows_only_tested_significant_differences(study_dir: Path, tmp_path: Path) -> None:
    results = tmp_path / "results"
    shutil.copytree(study_dir, results, ignore=shutil.ignore_patterns("report"))
    table = pd.read_csv(results / "metrics" / "probe_differences.csv")
    assert set(table["reference_probe"]) == {"soft"} and set(table["probe"]) == {"zero-shot"}
    table["significant"] = False
    write_frame(results / "metrics" / "probe_differences.csv", table)
    page = build_report(results, tmp_path / "report").read_text(encoding="utf-8")
    assert "No difference between a probe's gaps and the reference probe's is significant" in page
    table.loc[0, ["significant", "difference"]] = [True, 0.987654]
    write_frame(results / "metrics" / "probe_differences.csv", table)
    page = build_report(results, tmp_path / "report").read_text(encoding="utf-8")
    assert "+0.988" in page and "is significant: the probes" not in page


def test_a_design_that_cannot_detect_a_gap_says_so_and_what_would(tmp_path: Path) -> None:
    # one run, six templates per attribute: most minimum detectable gaps would exceed what a rate can reach
    study = simulation.simulate_study(2, biased=False, runs=1, templates_per_class=2)
    source = tmp_path / "study.tsv"
    study.to_csv(source, sep="\t", index=False)
    run_metrics([source], tmp_path / "metrics", n_permutations=200, n_boot=20)
    page = build_report(tmp_path / "metrics", tmp_path / "report").read_text(encoding="utf-8")
    assert "this design cannot detect a gap of" in page and "a gap of 0.1 needs about" in page
    frame = pd.DataFrame(
        {"group": ["a", "b", "c"], "min_detectable_gap": [0.2, 0.1, np.nan], "n_templates": [10, 10, 10]}
    )
    assert views.templates_for(frame, undetectable=0) == 40  # 10 x (0.2 / 0.1)^2
    assert views.templates_for(frame, undetectable=1) == 445  # at least the reach, 2/3: 10 x (6.67)^2
    assert views.templates_for(frame.assign(min_detectable_gap=0.05), undetectable=0) is None


def test_not_a_study_folder(tmp_path: Path) -> None:
    (tmp_path / "something.txt").write_text("x")
    with pytest.raises(InputError, match="neither a results folder"):
        build_report(tmp_path, tmp_path / "report")
    result = subprocess.run(
        [sys.executable, "-c", "from promptbias.cli import main; main()", "report", str(tmp_path)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "neither a results folder" in result.stderr


def test_out_must_not_replace_other_folders(study_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "keep.txt").write_text("mine")
    with pytest.raises(InputError, match="not a report folder"):
        build_report(study_dir, tmp_path / "notes")
    assert (tmp_path / "notes" / "keep.txt").read_text() == "mine"
    with pytest.raises(InputError, match="replace its own input"):
        build_report(study_dir, study_dir)


def test_paper_figures(study_dir: Path, tmp_path: Path) -> None:
    gaps = load_results(study_dir).gaps
    paths = draw_paper_figures(gaps, tmp_path)
    names = sorted(path.name for path in paths)
    configs = [f"{c}_sst5_{p}" for c in SUITE for p in PROBES]  # two probes: one figure per probe
    assert names == sorted(f"fpr_gap_{config}.{ext}" for config in configs for ext in ("png", "svg"))
    svg = (tmp_path / "fpr_gap_age_sst5_soft.svg").read_text(encoding="utf-8")
    assert "negative-class FPR gap" in svg and "positive-class FPR gap" in svg and "tiny-lm" in svg
    assert "<dc:date>" not in svg  # no timestamp: same data, same bytes


def test_warnings_for_weak_probes_and_rare_classes(study_dir: Path) -> None:
    study = load_results(study_dir)
    assert views.warnings(study) == []  # the planted study is healthy
    weak_runs = study.runs.assign(accuracy=0.36, majority_share=0.34)
    rare_suite = study.suite.assign(neutral_pred_share=0.004)
    weak = dataclasses.replace(study, runs=weak_runs, suite=rare_suite)
    messages = views.warnings(weak)
    assert any("barely above chance" in message for message in messages)
    assert any("'neutral' is predicted for only 0.4%" in message for message in messages)
    page = render_page(weak, [], "figures", "promptbias report X")
    box = page[
        page.index('<div class="warning-box"') : page.index("</div>", page.index('<div class="warning-box"'))
    ]
    assert "barely above chance" in box and "predicted for only 0.4%" in box


def test_significant_planted_gap_is_at_the_top(study_dir: Path) -> None:
    study = load_results(study_dir)
    top = views.top_gaps(study, views.model_order(study))
    assert top["n_significant"] > 0
    planted = [row for row in top["rows"] if row["group"] in ("old", EVIL_GROUP)]
    assert planted and top["rows"][0]["group"] in ("old", EVIL_GROUP)
    evidence = views.flip_evidence(study)
    assert {item["group"] for item in evidence[:2]} <= {"old", EVIL_GROUP}
    assert all(template["rows"] for item in evidence for template in item["templates"])


def test_verdicts_show_power_wording_and_markedness(study_dir: Path, tmp_path: Path) -> None:
    study = load_results(study_dir)
    verdicts = views.verdicts(study, views.model_order(study))
    assert len(verdicts) == len(MODELS) * len(PROBES) * len(SUITE)
    assert all(0 < row["detectable_median"] <= row["detectable_max"] < 1 for row in verdicts)
    assert all(row["wording_groups"] == 0 for row in verdicts)  # one term per group: nothing to split
    flagged = study.gaps[study.gaps["significant"]].iloc[0].copy()
    flagged["default_group"] = True
    assert "markedness" in views.markedness_note(flagged)
    flagged["significant"] = False
    assert views.markedness_note(flagged) == ""
    # one run: the default test still finds the planted group, with an interval from the template bootstrap
    unit = study_dir / "units" / "tiny-lm__sst5__soft__seed0" / "predictions.parquet"
    single = run_metrics([unit], tmp_path / "metrics").gaps
    planted = single[(single["group"] == "old") & (single["metric"] == "negative_FPR")].iloc[0]
    assert planted["significant"] and planted["ci_low"] > 0 and planted["n_runs"] == 1
    index = build_report(tmp_path / "metrics", tmp_path / "report").read_text(encoding="utf-8")
    assert "Verdicts per attribute" in index and ("no gap larger than" in index or "flagged" in index)


def test_models_compared_finds_each_models_planted_group(study_dir: Path, report_dir: Path) -> None:
    """tiny-lm calls "old" negative, small-lm calls the script-named group positive: on both probes the paired
    test finds the two models' gaps different in both attributes, the header carries each model's accuracy."""
    study = load_results(study_dir)
    configs = views.model_comparison(study, views.model_order(study))
    assert [(config["dataset"], config["probe"]) for config in configs] == [
        ("sst5", "soft"),
        ("sst5", "zero-shot"),
    ]
    for config in configs:
        assert config["models"] == ["tiny-lm", "small-lm"] and all(0 < a < 1 for a in config["accuracy"])
        found = {attribute["category"]: attribute for attribute in config["attributes"]}
        assert found["age"]["n_different"] > 0 and found["age"]["largest"]["group"] == "old"
        assert found["religion"]["n_different"] > 0 and found["religion"]["largest"]["group"] == EVIL_GROUP
        for attribute in config["attributes"]:
            for cell in attribute["cells"]:
                assert cell["mean_abs_gap"] > 0 and 0 <= cell["n_significant"] <= cell["n_gaps"]
    index = (report_dir / "index.html").read_text(encoding="utf-8")
    assert "Models compared" in index and "models differ" in index


# ---------------------------------------------------------------------------------------- in Chromium


def not_run(reason: str) -> NoReturn:
    """Skip the browser checks, or fail them under CI (CI=true), where nothing may be left untested."""
    message = f"{reason}; the browser checks did not run"
    if os.environ.get("CI", "").lower() in ("true", "1"):
        pytest.fail(f"{message} (CI=true: a missing browser is a failure)")
    pytest.skip(message)


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        not_run("Debian's chromium is not installed (run `make browser`)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        not_run("playwright is not installed (pip install -e '.[dev]')")
    return path


@dataclasses.dataclass
class Visit:
    page: object
    errors: list[str]
    dialogs: list[str]
    requests: list[str]


@contextlib.contextmanager
def visit(index: Path, width: int = 1440) -> Iterator[Visit]:
    """The page in headless Chromium (a fresh profile), with its console errors, dialogs and requests."""
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    with sync_playwright() as playwright, tempfile.TemporaryDirectory() as profile:
        context = playwright.chromium.launch_persistent_context(
            profile, executable_path=executable, headless=True, args=CHROMIUM_FLAGS,
            viewport={"width": width, "height": 900},
        )  # fmt: skip
        try:
            page = context.new_page()
            record = Visit(page, [], [], [])
            page.on(
                "console",
                lambda message: record.errors.append(message.text) if message.type == "error" else None,
            )
            page.on("pageerror", lambda error: record.errors.append(str(error)))
            page.on("dialog", lambda dialog: (record.dialogs.append(dialog.message), dialog.dismiss()))
            page.on("request", lambda request: record.requests.append(request.url))
            page.goto(index.as_uri())
            page.wait_for_load_state("load")
            yield record
        finally:
            context.close()


def test_report_in_the_browser(report_dir: Path) -> None:
    with visit(report_dir / "index.html") as seen:
        page = seen.page
        assert page.locator("figure.attribute-chart").count() == len(SUITE)
        assert page.locator("figure.attribute-chart svg").count() == len(SUITE)
        assert page.locator("figure.attribute-chart svg g.point.significant").count() > 0  # marked gaps
        # switching the metric redraws every chart
        before = page.locator("#attribute-0 svg title").first.text_content()
        page.select_option("#metric-select", "accuracy")
        assert page.locator("#attribute-0 svg title").first.text_content() != before
        assert page.locator("figure.attribute-chart svg").count() == len(SUITE)
        page.select_option("#config-select", "sst5 / zero-shot")
        assert "zero-shot" in page.locator("#attribute-0 svg g.point title").first.text_content()
        # the table sorts by a column without a framework; a markedness note (the planted religion gap hits
        # the built-in suite's unmarked default, "christian") sits in its gap's row and moves with it
        notes = page.locator("table.gaps td p.note").count()
        assert notes > 0
        header = page.locator("table.gaps th", has_text="|gap|")
        header.click()
        values = [float(v) for v in page.locator("table.gaps tbody tr td:nth-child(7)").all_text_contents()]
        assert values == sorted(values) and len(values) == page.locator("table.gaps tbody tr").count()
        assert page.locator("table.gaps td p.note").count() == notes
        # the script in a sentence and in a group name is text, not code
        assert page.evaluate("document.scripts.length") == 2
        assert page.get_by_text(EVIL_TEXT + " was written by", exact=False).count() > 0
        labels = page.locator("svg text.group-label").all_text_contents()
        assert EVIL_GROUP in labels
        assert page.locator("td", has_text=EVIL_GROUP).count() > 0
        assert page.evaluate("document.querySelectorAll('figure.figure-thumb img').length") > 0
        assert page.evaluate(
            "[...document.querySelectorAll('figure.figure-thumb img')].every(img => img.naturalWidth > 0)"
        )
        ARTIFACTS.mkdir(exist_ok=True)
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(ARTIFACTS / "report_small_study.png"), full_page=True)
        assert seen.errors == [] and seen.dialogs == []
        assert all(url.startswith("file:") for url in seen.requests), seen.requests


def test_single_run_renders_without_intervals(study_dir: Path, tmp_path: Path) -> None:
    """One run with t intervals: no interval and no significance anywhere; the page still draws every chart,
    error-free. (The default permutation test works with one run: see test_verdicts_...)"""
    unit = study_dir / "units" / "tiny-lm__sst5__soft__seed0" / "predictions.parquet"
    run_metrics([unit], tmp_path / "metrics", ci="t")
    index = build_report(tmp_path / "metrics", tmp_path / "report")
    assert "No gap is significant after correction" in index.read_text(encoding="utf-8")
    with visit(index) as seen:
        assert seen.page.locator("figure.attribute-chart svg g.point").count() == 6  # one model, 6 groups
        assert seen.page.locator("figure.attribute-chart svg g.point line").count() == 0  # no intervals
        assert seen.errors == [] and seen.dialogs == []


@pytest.fixture(scope="module")
def reference_report(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The report of other systems' predictions: OPT-6.7B and Llama-2-7B, five runs each."""
    files = sorted((shared_data / "reference_predictions" / "multi_run").glob("*.tsv"))
    assert len(files) == 10
    folder = tmp_path_factory.mktemp("reference")
    run_metrics(files, folder / "metrics")
    build_report(folder / "metrics", folder / "report")
    return folder


def test_reference_predictions_have_intervals_on_every_group(reference_report: Path) -> None:
    study = load_results(reference_report / "metrics")
    chart = views.chart_data(study, views.model_order(study))
    assert len(chart["attributes"]) == 8
    assert sum(len(attribute["groups"]) for attribute in chart["attributes"]) == 53
    for attribute in chart["attributes"]:
        assert len(attribute["series"]) == 2
        for series in attribute["series"]:
            for metric in ("negative_FPR", "positive_FPR", "accuracy"):
                assert all(
                    point[1] is not None and point[2] is not None for point in series["points"][metric]
                )
    figures = {path.name for path in (reference_report / "report" / "figures").iterdir()}
    assert {f"fpr_gap_{attribute['category']}.png" for attribute in chart["attributes"]} <= figures


def test_reference_predictions_report_in_the_browser(reference_report: Path) -> None:
    with visit(reference_report / "report" / "index.html") as seen:
        page = seen.page
        assert page.locator("figure.attribute-chart").count() == 8
        points = page.locator("figure.attribute-chart g.point")
        assert points.count() == 2 * 53  # two models x 53 groups
        assert (
            page.locator("figure.attribute-chart g.point line").count() == 3 * points.count()
        )  # interval, 2 caps
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "report_reference_predictions.png"), full_page=True)
        assert seen.errors == [] and seen.dialogs == []
