"""All printing lives here.

Status lines and progress go to stderr; results go to stdout. With `--json`, stdout
carries exactly one JSON document and nothing else. Colour and progress bars appear
only on a terminal (rich detects it), so scripts and CI logs stay clean.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console


@dataclass
class _State:
    json: bool = False
    quiet: bool = False
    debug: bool = False


state = _State()


@functools.cache
def _consoles() -> tuple[Console, Console]:
    """Built on first use: `mlw --help` and `--version` never pay for rich's console."""
    from rich.console import Console

    err = Console(stderr=True, highlight=False, soft_wrap=True)
    out = Console(highlight=False)
    if not out.is_terminal and "COLUMNS" not in os.environ:
        out.width = 160  # logs and pipes: room for tables instead of 80-column wrapping
    return err, out


def __getattr__(name: str) -> Any:
    """`console.err` (stderr) and `console.out` (stdout), created lazily."""
    if name == "err":
        return _consoles()[0]
    if name == "out":
        return _consoles()[1]
    raise AttributeError(name)


def escape(text: str) -> str:
    from rich.markup import escape as rich_escape

    return rich_escape(text)


def reset(*, json_mode: bool = False, quiet: bool = False, debug: bool = False) -> None:
    """Start an invocation with exactly these modes (the CLI callback runs first, every time)."""
    state.json, state.quiet, state.debug = json_mode, quiet, debug


def configure(*, json_mode: bool) -> None:
    """A command's own --json adds to the global one (either turns JSON output on)."""
    state.json = state.json or json_mode


def status(message: str) -> None:
    """A progress or status line on stderr; silenced by --quiet."""
    if not state.quiet:
        _consoles()[0].print(escape(message))


def warn(message: str) -> None:
    """A warning on stderr; shown even with --quiet."""
    _consoles()[0].print(f"[yellow]Warning:[/yellow] {escape(message)}")


def error(message: str, hint: str | None = None) -> None:
    """The one format for errors: a paragraph naming the problem, then the fix."""
    text = f"[bold red]Error:[/bold red] {escape(message)}"
    if hint:
        text += f"\n{escape(hint)}"
    _consoles()[0].print(text, markup=True)


def emit(data: Any, render: Callable[[], None]) -> None:
    """Deliver a command's result: JSON on stdout with --json, else the human rendering."""
    if state.json:
        sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
        sys.stdout.flush()
    else:
        render()


def print_table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]],
                *, header: bool = True) -> None:
    """Render rows as a rich table (stdout by default: tables are results)."""
    from rich.table import Table

    table = Table(title=title, title_justify="left", header_style="bold", show_header=header,
                  min_width=len(title) + 2 if title else None)
    for i, name in enumerate(columns):
        last = i == len(columns) - 1
        table.add_column(name, overflow="fold", no_wrap=not last)
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    _consoles()[1].print(table)


def print_text(text: str) -> None:
    """Plain result text on stdout (not markup-interpreted)."""
    _consoles()[1].print(text, markup=False, soft_wrap=True)


class _Progress:
    def __init__(self, bar: Any, task: Any) -> None:
        self._bar, self._task = bar, task

    def advance(self, amount: float) -> None:
        if self._bar is not None:
            self._bar.advance(self._task, amount)

    def describe(self, description: str) -> None:
        """Change the bar's label (model: auto names the candidate it is fitting and the time left)."""
        if self._bar is not None:
            self._bar.update(self._task, description=description)


@contextmanager
def progress(description: str, total: float | None, unit: str = "items") -> Iterator[_Progress]:
    """A progress bar on stderr, only when stderr is a terminal and output is for humans.
    `unit` is "bytes" (shown as MB) or "items" (shown as done/total, e.g. fits)."""
    err = _consoles()[0]
    if state.quiet or state.json or not err.is_terminal:
        yield _Progress(None, None)
        return
    from rich.progress import (BarColumn, DownloadColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn,
                               TimeElapsedColumn, TimeRemainingColumn)

    count = DownloadColumn() if unit == "bytes" else MofNCompleteColumn()
    columns = [SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), count,
               TimeRemainingColumn() if total else TimeElapsedColumn()]
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield _Progress(bar, task)
