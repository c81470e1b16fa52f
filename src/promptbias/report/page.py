"""The HTML page: one self-contained file (styles and script inline, figures beside it in ``figures/``).

Every piece of text from data goes through Jinja's autoescape in the markup, and through ``tojson`` (which
escapes ``<``, ``>``, ``&`` and quotes) into the chart data that the inline script reads and draws with
``textContent`` only. A Content-Security-Policy allows only this page's own script (by its hash), inline
styles and images beside the page, so the page makes no request to any server.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2

from promptbias import __version__
from promptbias.report import views
from promptbias.report.results import StudyResults

MINUS = "\u2212"


def render_page(study: StudyResults, figures: list[Path], figures_dir: str, command: str) -> str:
    """The page's HTML for ``study``; ``figures`` are the files in ``figures_dir`` (relative to the page)."""
    models = views.model_order(study)
    script = _asset("report.js")
    context = {
        "version": __version__,
        "source": str(study.source),
        "overview": views.overview(study, models),
        "colours": views.model_colours(models),
        "runs": views.run_rows(study, models),
        "warnings": views.warnings(study),
        "stage_warnings": views.stage_warnings(study),
        "selection": views.run_selection(study),
        "method": views.method(study),
        "chart": views.chart_data(study, models),
        "top_gaps": views.top_gaps(study, models),
        "verdicts": views.verdicts(study, models),
        "has_wording": study.wording_gaps is not None,
        "model_comparison": views.model_comparison(study, models),
        "flips": views.flip_evidence(study),
        "has_flip_rates": study.flip_rates is not None and not study.flip_rates.empty,
        "comparison": views.probe_comparison(study),
        "figures": _figure_links(figures, figures_dir),
        "config": _pretty(study.config),
        "environment": _pretty(study.environment),
        "summary": _pretty(study.summary),
        "run_command": study.command,
        "report_command": command,
        "style": _asset("report.css"),
        "script": script,
        "script_hash": base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii"),
    }
    return _environment().get_template("index.html.j2").render(**context)


def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("promptbias.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.filters.update(
        num=format_number, signed=format_signed, pvalue=format_p, percent=format_percent, sortvalue=sort_value
    )
    return environment


def _asset(name: str) -> str:
    return resources.files("promptbias.report").joinpath("templates", name).read_text(encoding="utf-8")


def _pretty(value: dict[str, Any] | None) -> str | None:
    return json.dumps(value, indent=2, sort_keys=True, default=str) if value else None


def _figure_links(figures: list[Path], figures_dir: str) -> list[dict[str, str]]:
    """One entry per figure stem, with its PNG and SVG paths relative to the page."""
    stems = dict.fromkeys(path.stem for path in figures)
    return [
        {"name": stem, "png": f"{figures_dir}/{stem}.png", "svg": f"{figures_dir}/{stem}.svg"}
        for stem in stems
    ]


def _finite(value: object) -> float | None:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) or math.isinf(number) else number


def format_number(value: object, digits: int = 3) -> str:
    number = _finite(value)
    return "–" if number is None else f"{number:.{digits}f}".replace("-", MINUS)


def format_signed(value: object, digits: int = 3) -> str:
    number = _finite(value)
    return "–" if number is None else f"{number:+.{digits}f}".replace("-", MINUS)


def format_p(value: object) -> str:
    number = _finite(value)
    if number is None:
        return "–"
    return "<0.001" if number < 0.001 else f"{number:.3f}"


def format_percent(value: object) -> str:
    number = _finite(value)
    return "–" if number is None else f"{100 * number:.1f}%"


def sort_value(value: object) -> str:
    """The value a sortable column sorts by: the number as plain text, or the text itself."""
    number = _finite(value)
    if number is not None:
        return repr(number)
    return "" if value is None or isinstance(value, float) else str(value)
