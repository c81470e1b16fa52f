"""Bias suites people can write: a YAML file of templates and lexicons, built into sentences and checked.

- :func:`build_suite` fills the templates of a suite file (or ``builtin:NAME``) into a frame with the columns
  label, category, group, text, template_id; :func:`write_suite` writes it as a TSV.
- :func:`check_suite` counts a suite per group and class and warns about what may skew the gaps.
- :func:`list_builtin` and :func:`builtin_path` name the suites that ship with promptbias.
"""

from promptbias.suites.build import TSV_COLUMNS, build_suite, fill_template, indefinite_article, write_suite
from promptbias.suites.check import WARNING_KINDS, CheckReport, CheckWarning, check_suite
from promptbias.suites.registry import BUILTIN_PREFIX, builtin_path, is_template_suite, list_builtin
from promptbias.suites.spec import SLOT_POS, SuiteSpec, load_spec

__all__ = [
    "BUILTIN_PREFIX",
    "SLOT_POS",
    "TSV_COLUMNS",
    "WARNING_KINDS",
    "CheckReport",
    "CheckWarning",
    "SuiteSpec",
    "build_suite",
    "builtin_path",
    "check_suite",
    "fill_template",
    "indefinite_article",
    "is_template_suite",
    "list_builtin",
    "load_spec",
    "write_suite",
]
