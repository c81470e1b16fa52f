"""The command line: one subcommand per stage (run, tune, predict, metrics, report, bench, suite)."""

from __future__ import annotations

import sys

import typer

from promptbias.errors import InputError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Measure social bias in causal language models through soft-prompt tuning.",
)


def main() -> None:
    """Entry point: bad input ends with one line on stderr and exit status 2, never a traceback."""
    try:
        app()
    except InputError as error:
        print(f"promptbias: error: {error}", file=sys.stderr)
        sys.exit(2)
