"""Reading the prediction log that `mlw serve` writes (serve/predlog.py documents the format):
its JSON Lines files in time order, in chunks of lines, so a log of any size is read in bounded
memory. `mlw monitor --log` reads it.

A line is either a predicted row (`row`, `inputs`, `prediction`, `probabilities`) or a refused
request (`status` 4xx, `error` its reason, `rows` the rows it held). A last line without its
newline (a file still being written) and lines that are not JSON objects are passed over and
counted.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

FILE_PATTERN = re.compile(r"^predictions-(\d{8}T\d{12})Z-\d+\.jsonl$")
CHUNK_LINES = 10_000  # lines held at a time (a line of 20 inputs is about 2 KB as Python objects)


@dataclass
class LogChunk:
    """Consecutive lines of the log within the window: predicted rows and refused requests."""

    rows: list[dict[str, Any]] = field(default_factory=list)      # predicted rows, as written
    refused: list[dict[str, Any]] = field(default_factory=list)   # refused requests


@dataclass
class LogScan:
    """What reading the log found besides its lines."""

    files: list[dict[str, Any]] = field(default_factory=list)   # {"path", "size"} of each file read
    skipped_lines: int = 0                                      # not JSON objects, or cut off
    outside_window: int = 0


def log_files(folder: Path) -> list[Path]:
    """The log's files, oldest first (their names sort by the time they were opened)."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and FILE_PATTERN.match(p.name))


def opened_at(path: Path) -> datetime:
    stamp = FILE_PATTERN.match(path.name).group(1)  # type: ignore[union-attr]
    return datetime.strptime(stamp, "%Y%m%dT%H%M%S%f").replace(tzinfo=timezone.utc)


def read_log(folder: Path, *, since: datetime | None = None, until: datetime | None = None,
             model_version: str | None = None, scan: LogScan | None = None, chunk_lines: int = CHUNK_LINES,
             advance: Any = None) -> Iterator[LogChunk]:
    """The log's lines with since <= ts < until (and of `model_version`, when given), in chunks.
    Files opened at or after `until` are not opened. `advance(bytes)` hears of progress."""
    import orjson

    scan = scan if scan is not None else LogScan()
    lower = since.isoformat() if since else None
    upper = until.isoformat() if until else None
    for path in log_files(folder):
        if until is not None and opened_at(path) >= until:
            continue
        size = path.stat().st_size
        scan.files.append({"path": str(path), "size": size})
        chunk = LogChunk()
        with open(path, "rb") as handle:
            for line in handle:
                if advance is not None:
                    advance(len(line))
                if not line.endswith(b"\n"):
                    scan.skipped_lines += 1  # being written: its newline comes with the rest
                    continue
                try:
                    entry = orjson.loads(line)
                except orjson.JSONDecodeError:
                    scan.skipped_lines += 1
                    continue
                if not isinstance(entry, dict) or not isinstance(entry.get("ts"), str):
                    scan.skipped_lines += 1
                    continue
                # Timestamps are ISO 8601 in UTC with the same offset, so they compare as text.
                ts = _utc_text(entry["ts"])
                if (lower and ts < lower) or (upper and ts >= upper) or (
                        model_version and entry.get("model_version") != model_version):
                    scan.outside_window += 1
                    continue
                (chunk.refused if "status" in entry else chunk.rows).append(entry)
                if len(chunk.rows) + len(chunk.refused) >= chunk_lines:
                    yield chunk
                    chunk = LogChunk()
        if chunk.rows or chunk.refused:
            yield chunk


def _utc_text(ts: str) -> str:
    """The serve log writes `+00:00`; a `Z` written by another tool compares the same way."""
    return ts[:-1] + "+00:00" if ts.endswith("Z") else ts
