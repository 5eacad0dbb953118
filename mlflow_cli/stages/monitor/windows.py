"""`mlw monitor --window 7d --every 1d`: one verdict per time window, so a user sees when things
changed. The windows end at `--until` (the log) or just after the newest row (a source or batch,
by `data.time_column`), every `--every` back to the first row (or `--since`); each is `--window`
long, so they overlap when the window is longer than the step. Each window is monitored like a
whole run (the same Monitoring), and a window without rows is listed as such. The result is the
newest window's full result (its gates, report sections and metrics) plus one summary row per
window, which the table and the plot over time show.

A log is read once per window (each pass in chunks, memory bounded); a source or batch too.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from mlflow_cli.core.durations import UNITS
from mlflow_cli.core.errors import ConfigError, DataError

MAX_WINDOWS = 400


class NoRows(DataError):
    """The current data (or one window of it) has no rows."""


def spans(start: datetime, end: datetime, length: timedelta, every: timedelta) -> list[tuple[datetime, datetime]]:
    """Windows [end_k - length, end_k) with end_k = end, end - every, ... while end_k > start, oldest first."""
    ends: list[datetime] = []
    at = end
    while at > start:
        ends.append(at)
        if len(ends) > MAX_WINDOWS:
            raise ConfigError(f"--every {_text(every)} cuts {_text(end - start)} of data into more than "
                              f"{MAX_WINDOWS} windows.", hint="Choose a longer --every, or a later --since.")
        at -= every
    return [(e - length, e) for e in reversed(ends)]


def log_range(folder: Any, since: datetime | None, until: datetime | None) -> tuple[datetime, datetime]:
    """From --since (else when the oldest log file was opened) to --until (else now)."""
    from mlflow_cli.data.prediction_log import log_files, opened_at

    files = log_files(folder)
    if since is None and not files:
        raise NoRows(f"The prediction log ({folder}) has no files.", hint="Start `mlw serve` and send it requests.")
    start = since or opened_at(files[0])
    return start, until or datetime.now(timezone.utc)


def source_range(frames: Any, column: str, label: str) -> tuple[datetime, datetime]:
    """The oldest time of `column` over pandas frames, and a microsecond past the newest."""
    from mlflow_cli.data.coerce import time_values

    low = high = None
    for frame in frames:
        stamps = time_values(require_time_column(frame, column, label)).dropna()
        if len(stamps):
            low = stamps.min() if low is None else min(low, stamps.min())
            high = stamps.max() if high is None else max(high, stamps.max())
    if low is None:
        raise NoRows(f"{label} has no readable times in '{column}' (data.time_column).",
                     hint="Check the column's values, or leave out --window.")
    return low.to_pydatetime(), (high + timedelta(microseconds=1)).to_pydatetime()


def require_time_column(frame: Any, column: str, label: str) -> Any:
    """frame[column], or DataError when the data lacks its time column."""
    if column not in frame.columns:
        raise DataError(f"{label} has no column '{column}' (data.time_column), so it cannot be cut into windows.",
                        hint="Monitor data with that column, or leave out --window.")
    return frame[column]


def window_row(start: datetime, end: datetime, measures: dict[str, Any] | None,
               result: dict[str, Any] | None) -> dict[str, Any]:
    """One window's line over time: its verdict and the measures that tell when things changed."""
    row: dict[str, Any] = {"start": start.isoformat(), "end": end.isoformat(), "rows": 0, "verdict": "no rows"}
    if measures is None or result is None:
        return row
    row.update(rows=measures["rows"], verdict=result["verdict"], drifted=result["drift"]["drifted"],
               minor=result["drift"]["minor"])
    for name in ("drift_share", "weighted_drift_share", "prediction_drift", "target_drift", "missing_columns",
                 "new_category_rows", "out_of_range_share", "null_rate_increases", "error_rate", "latency_p99_ms"):
        row[name] = measures.get(name)
    return row


def _text(span: timedelta) -> str:
    seconds = span.total_seconds()
    for unit in ("w", "d", "h", "m"):
        if seconds >= UNITS[unit] and seconds % UNITS[unit] == 0:
            return f"{int(seconds // UNITS[unit])}{unit}"
    return f"{seconds:g}s"
