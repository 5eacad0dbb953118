"""The project's error hierarchy.

Every user-facing failure is an `MlwError` carrying a message (what was wrong), a hint
(how to fix it) and the documented exit code. Stage modules raise these; only the CLI
turns them into output and an exit status, in one place (`cli._guarded`).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

EXIT_GATE = 1
EXIT_USAGE = 2
EXIT_DATA = 3
EXIT_ARTIFACT = 4
EXIT_INTERRUPTED = 130


class MlwError(Exception):
    """Base class: a problem the user can fix, reported without a traceback."""

    exit_code = EXIT_GATE

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} {self.hint}"

    def __reduce__(self) -> tuple:
        # pickled whole (message and hint): raised in a worker process, re-raised in the caller
        return type(self), (self.message, self.hint)


class GateError(MlwError):
    """A quality gate failed (metric below threshold, drift, worse challenger)."""

    exit_code = EXIT_GATE


class ConfigError(MlwError):
    """Bad command-line usage or a bad config file."""

    exit_code = EXIT_USAGE


class DataError(MlwError):
    """The data cannot be used: unreadable source, missing column, bad values."""

    exit_code = EXIT_DATA


class ArtifactError(MlwError):
    """An artifact is missing, corrupt, or fails its integrity check."""

    exit_code = EXIT_ARTIFACT


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """Return ' Did you mean 'x'?' for the closest choice, or '' when none is close."""
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" Did you mean '{close[0]}'?" if close else ""


def missing_column_error(where: str, column: str, columns: Iterable[str]) -> DataError:
    """The one message for 'a config names a column the data does not have'."""
    columns = list(columns)
    shown = ", ".join(columns[:25]) + (", ..." if len(columns) > 25 else "")
    return DataError(
        f"{where} names column '{column}', which the data does not have.{did_you_mean(column, columns)}",
        hint=f"Columns are: {shown}. Fix the name in the config or use --set.",
    )
