"""The one error type users see: a problem with their input, reported as one line with exit status 2."""

from __future__ import annotations

from pathlib import Path


class InputError(Exception):
    """Bad input from the user: a file, a field or an option, and what is wrong with it.

    The CLI prints ``str(error)`` as a single line on stderr and exits with status 2.
    """

    def __init__(self, where: str | Path | None, problem: str) -> None:
        self.where = str(where) if where is not None else None
        self.problem = problem
        super().__init__(f"{self.where}: {problem}" if self.where else problem)
