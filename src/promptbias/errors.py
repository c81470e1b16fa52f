"""What users see about their input: an error (one line, exit status 2) or a warning (one line, the run goes on)."""

from __future__ import annotations

import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO


class InputError(Exception):
    """Bad input from the user: a file, a field or an option, and what is wrong with it.

    The CLI prints ``str(error)`` as a single line on stderr and exits with status 2.
    """

    def __init__(self, where: str | Path | None, problem: str) -> None:
        self.where = str(where) if where is not None else None
        self.problem = problem
        super().__init__(f"{self.where}: {problem}" if self.where else problem)


class InputWarning(UserWarning):
    """Input that is read, but not as written: e.g. a row without its optional trailing columns.

    Raised through :mod:`warnings`; the CLI prints it as one line, ``promptbias: warning: FILE: PROBLEM``.
    """

    def __init__(self, where: str | Path | None, problem: str) -> None:
        super().__init__(f"{where}: {problem}" if where is not None else problem)


def warn_input(where: str | Path | None, problem: str) -> None:
    """Emit an :class:`InputWarning` naming ``where`` (a file, a run) and the problem."""
    warnings.warn(InputWarning(where, problem), stacklevel=3)


@contextmanager
def collected_input_warnings() -> Iterator[list[str]]:
    """The messages of the InputWarnings raised inside the block (filled when it ends); other warnings pass."""
    messages: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", InputWarning)
        yield messages
    for item in caught:
        if issubclass(item.category, InputWarning):
            messages.append(str(item.message))
        else:
            warnings.warn_explicit(item.message, item.category, item.filename, item.lineno)


def show_warning_line(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    """``warnings.showwarning`` for the CLI: an InputWarning as one line on stderr, others as Python shows them."""
    stream = sys.stderr if file is None else file
    if issubclass(category, InputWarning):
        stream.write(f"promptbias: warning: {message}\n")
    else:
        stream.write(warnings.formatwarning(message, category, filename, lineno, line))
