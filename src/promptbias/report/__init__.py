"""The report: publication figures and one self-contained HTML page for a study's results."""

from promptbias.report.build import build_report
from promptbias.report.figures import draw_paper_figures

__all__ = ["build_report", "draw_paper_figures"]
