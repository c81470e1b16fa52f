"""``build_report``: read a results or metrics folder, draw the figures, write the page, all atomically.

The report folder is built under a temporary name beside ``out`` and renamed into place at the end, so an
interrupted report leaves the previous report (or none), never a half-written one.
"""

from __future__ import annotations

from pathlib import Path

from promptbias.errors import InputError
from promptbias.report import figures as draw
from promptbias.report import views
from promptbias.report.page import render_page
from promptbias.report.results import StudyResults, load_results
from promptbias.store import atomic_dir, remove_interrupted, write_text

FIGURES = "figures"
INDEX = "index.html"


def build_report(input: Path, out: Path) -> Path:
    """Write ``out/index.html`` and ``out/figures/`` for the study in ``input``; return the page's path."""
    source, out = Path(input).resolve(), Path(out).resolve()
    study = load_results(source)
    check_out(out, source)
    remove_interrupted(out)
    with atomic_dir(out) as folder:
        figures = draw_figures(study, folder / FIGURES)
        command = f"promptbias report {source} --out {out}"
        write_text(folder / INDEX, render_page(study, figures, FIGURES, command))
    return out / INDEX


def draw_figures(study: StudyResults, folder: Path) -> list[Path]:
    """Every figure of the report (PNG and SVG), in the order the page lists them."""
    models = views.model_order(study)
    scope = "test accuracy" if (study.runs["scope"] == "test").all() else "suite accuracy"
    return [
        *draw.draw_paper_figures(study.gaps, folder, model_order=models),
        *draw.draw_accuracy_figure(study.runs, folder, models, label=scope),
        *draw.draw_heatmaps(study.gaps, folder, models),
    ]


def check_out(out: Path, source: Path) -> None:
    """Refuse an ``out`` that would replace the input or a folder that is not a report."""
    if out == source or out in source.parents:
        raise InputError(out, "the report folder would replace its own input; choose another --out")
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / INDEX).is_file())):
        raise InputError(out, "exists and is not a report folder (no index.html); choose another --out")
