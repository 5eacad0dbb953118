"""The prediction log: every predicted row, for `mlw monitor` and for audits.

Where: `<artifacts>/<project>/predictions/predictions-<UTC time>-<pid>.jsonl`, e.g.
`predictions-20240131T235959123456Z-4242.jsonl`. The UTC time is when the file was opened
(microseconds, fixed width), so sorting the names sorts the files by time; the process id
keeps the files of several worker processes apart. A file is closed and a new one opened
once it reaches `serve.log_max_mb`. Files are only ever appended to; a reader may read
a file that is still being written and should ignore a last line without its newline.

Format: JSON Lines, one object per predicted row (a request of 10 rows writes 10 lines):

    {"ts": "2024-01-31T23:59:59.123456+00:00",   # when the request was scored (UTC, ISO 8601)
     "request_id": "9f1c...",                    # X-Request-ID, or generated; shared by the rows of one request
     "row": 0,                                   # the row's position in its request
     "model_version": "20240131-235901-1a2b3c",  # the train version that scored the row
     "alias": "production",                      # the alias served (null when a version was named)
     "endpoint": "/predict",                     # /predict, /invocations or /v2/models/{name}/infer
     "latency_ms": 1.234,                        # the request's time in mlw: body read to answer ready
     "inputs": {"plan": "basic", ...},           # the record as received (missing values as null)
     "prediction": "yes",                        # the predicted class or value
     "probabilities": {"no": 0.2, "yes": 0.8}}   # per class for classifiers, else null

A request refused with a 4xx status writes one line instead, without `row`, `inputs` or
`prediction`:

    {"ts": "...", "request_id": "...", "model_version": "...", "alias": "production",
     "endpoint": "/predict", "latency_ms": 0.412,
     "status": 422,                              # the status answered
     "error": "invalid_input",                   # why: invalid_input, bad_request, body_too_large,
                                                 # unauthorized or scoring_failed
     "rows": 3}                                  # the records it held, when they could be read (else null)

`inputs` holds the record's values as the client sent them, with one exception: a large
all-numbers `{"columns", "data"}` or CSV body of the model's input columns is read straight
into floats (serve/matrix.py), so its integers are written as floats (3 as 3.0; beyond 2**53,
rounded as a float is).

Lines are built and written by one background thread from a queue, so the request path
only enqueues a reference to data it already holds. The queue is bounded by rows
(`PENDING_ROWS`): when large requests arrive faster than their lines can be written, a
request waits to enqueue until the writer has caught up, so the server slows to the log's
pace instead of holding ever more requests in memory, and no line is dropped. `close()`
(called on shutdown, after the server has finished the requests in flight) drains the
queue, so a SIGTERM loses no line of a request that was answered.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from mlflow_cli.serve.responses import dumps, json_default

log = logging.getLogger("mlw.serve")

FOLDER = "predictions"
BATCH = 256  # entries (requests) written per flush at most
PENDING_ROWS = 250_000  # rows queued at most (~300 MB of requests held for the log); then submit waits


@dataclass
class LogEntry:
    """One answered request; expanded to one line per row by the writer thread."""

    ts: str
    request_id: str
    model_version: str
    alias: str | None
    endpoint: str
    latency_ms: float
    inputs: Any  # requests.Rows: the records as received
    predictions: list[Any]
    probabilities: np.ndarray | None = None
    classes: list[Any] | None = None


@dataclass
class Refusal:
    """One request refused with a 4xx status: one line, for the service's error rate."""

    ts: str
    request_id: str
    model_version: str | None
    alias: str | None
    endpoint: str
    latency_ms: float
    status: int
    error: str
    rows: int | None = None
    predictions: tuple = ()  # none: the queue counts a refusal as one row


_STOP = object()


class PredictionLog:
    """Appends entries to size-rotated JSON Lines files from a background thread."""

    def __init__(self, folder: Path, max_mb: float, pending_rows: int = PENDING_ROWS) -> None:
        self.folder = Path(folder)
        self.max_bytes = max(1, int(max_mb * 1024 * 1024))
        self.max_pending = max(1, pending_rows)
        self.pending = 0  # rows submitted and not yet written
        self._room = threading.Condition()
        self.lines_written = 0
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._file: BinaryIO | None = None
        self._size = 0
        self._last_name = ""
        self._thread: threading.Thread | None = None
        self._closed = False

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="mlw-prediction-log", daemon=True)
            self._thread.start()

    def submit(self, entry: LogEntry) -> None:
        """O(1) on the request path (the JSON is built on the writer thread), unless the queue
        is full: then wait until the writer has made room. One request larger than the bound
        still goes in once the queue is empty."""
        rows = _rows(entry)
        with self._room:
            while self.pending and self.pending + rows > self.max_pending and self._writing():
                self._room.wait(timeout=1.0)
            self.pending += rows
        self._queue.put(entry)

    def _writing(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def close(self, timeout: float = 60) -> None:
        """Write everything queued, then close the file."""
        if self._thread is None or self._closed:
            return
        self._closed = True
        self._queue.put(_STOP)
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning("The prediction log did not finish writing within %s s; some lines may be missing.",
                        timeout)

    # ----------------------------------------------------------------- writer thread

    def _run(self) -> None:
        stop = False
        while not stop:
            batch = [self._queue.get()]
            while len(batch) < BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            if _STOP in batch:
                stop = True
                batch = [item for item in batch if item is not _STOP]
                while True:  # anything submitted after the stop marker still gets written
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if item is not _STOP:
                        batch.append(item)
            try:
                self._write(batch)
            except Exception:  # a full disk must not stop the server; say so loudly
                log.exception("Writing %d prediction log entries under %s failed.", len(batch), self.folder)
            finally:
                with self._room:
                    self.pending -= sum(_rows(entry) for entry in batch)
                    self._room.notify_all()
        self._close_file()

    def _write(self, batch: list[LogEntry]) -> None:
        for entry in batch:
            try:
                lines = entry_lines(entry)
            except Exception:  # one odd request must not cost the others their lines
                log.exception("Request %s could not be written to the prediction log.", entry.request_id)
                continue
            if not lines:
                continue
            data = b"\n".join(lines) + b"\n"
            if self._file is None or (self._size and self._size + len(data) > self.max_bytes):
                self._rotate()
            assert self._file is not None
            self._file.write(data)
            self._size += len(data)
            self.lines_written += len(lines)
        if self._file is not None:
            self._file.flush()

    def _rotate(self) -> None:
        self._close_file()
        self.folder.mkdir(parents=True, exist_ok=True)
        name = ""
        while not name or name <= self._last_name:  # strictly increasing, even within one microsecond
            name = f"predictions-{datetime.now(timezone.utc):%Y%m%dT%H%M%S%fZ}-{os.getpid()}.jsonl"
        self._last_name = name
        self._file = open(self.folder / name, "ab")
        self._size = self._file.tell()

    def _close_file(self) -> None:
        if self._file is not None:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            self._file = None


def _rows(entry: LogEntry | Refusal) -> int:
    return max(1, len(entry.predictions))


def entry_lines(entry: LogEntry | Refusal) -> list[bytes]:
    """The JSON lines for one request (one per row; a refusal's one), without their newlines.

    The fields every row shares are encoded once and each row's line is spliced from encoded
    parts (predicted labels encoded once per distinct label): half the work of encoding one
    dict per row, which matters because this thread shares the interpreter with the requests."""
    if isinstance(entry, Refusal):
        return [_line({"ts": entry.ts, "request_id": entry.request_id, "model_version": entry.model_version,
                       "alias": entry.alias, "endpoint": entry.endpoint, "latency_ms": round(entry.latency_ms, 3),
                       "status": entry.status, "error": entry.error, "rows": entry.rows})]
    inputs = entry.inputs.records()
    if entry.probabilities is not None and entry.classes is not None:
        keys = [str(c) for c in entry.classes]
        probabilities: list[Any] = [dict(zip(keys, row)) for row in entry.probabilities.tolist()]
    else:
        probabilities = [None] * len(entry.predictions)
    shared = {"ts": entry.ts, "request_id": entry.request_id, "model_version": entry.model_version,
              "alias": entry.alias, "endpoint": entry.endpoint, "latency_ms": round(entry.latency_ms, 3)}
    rows = zip(inputs, entry.predictions, probabilities)
    try:
        head = dumps(shared)[:-1] + b',"row":'
        labels: dict[Any, bytes] = {}
        lines = []
        for row, (record, prediction, proba) in enumerate(rows):
            label = labels.get(prediction) if type(prediction) in (str, int) else None
            if label is None:
                label = labels[prediction] = dumps(prediction)
            lines.append(b"".join((head, str(row).encode(), b',"inputs":', dumps(record), b',"prediction":', label,
                                   b',"probabilities":', dumps(proba), b"}")))
        return lines
    except TypeError:  # a value orjson cannot write: every line through `_line`
        return [_line({**shared, "row": row, "inputs": record, "prediction": prediction, "probabilities": proba})
                for row, (record, prediction, proba) in enumerate(zip(inputs, entry.predictions, probabilities))]


def _line(fields: dict[str, Any]) -> bytes:
    try:
        return dumps(fields)  # orjson; NaN and infinity become null
    except TypeError:  # what orjson cannot write: integers beyond 64 bits, lone surrogates
        return json.dumps(_sanitize(fields), separators=(",", ":"), default=json_default, ensure_ascii=True,
                          allow_nan=False).encode("ascii")


def _sanitize(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _sanitize(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_sanitize(v) for v in value]
    if isinstance(value, (float, np.floating)) and not np.isfinite(value):
        return None
    return value
