"""`mlw ingest`: take a snapshot of the source and store it as Parquet, with schema and profile.

Files are streamed batch by batch into one Parquet file (one row group per batch), so
memory stays flat however large the input. In append mode the new batch is added to the
previous snapshot and de-duplicated on data.id_columns, newest row winning.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from .. import __version__
from ..config import Config, SourceConfig
from ..errors import DataError, missing_column_error
from ..profile import Profiler
from ..sources import RetypeNeeded, describe, read_batches, total_bytes
from ..store import Artifact, hash_json
from . import ProgressFactory, StageResult, no_progress, open_store

STAGE = "ingest"
DATA_FILE = "data.parquet"


def run_ingest(config: Config, *, force: bool = False, append: bool | None = None,
               progress: ProgressFactory = no_progress) -> StageResult:
    store = open_store(config)
    model = config.model
    mode = "append" if append else ("snapshot" if append is False else model.ingest.mode)
    source = model.data.source
    previous = store.load(STAGE) if mode == "append" and store.latest(STAGE) else None

    used = config.section("data", "ingest")
    used["ingest"]["mode"] = mode
    source_facts = describe(source)
    cache_key = None
    if source.type != "sql":
        cache_key = hash_json({"config": used, "source": source_facts, "mlw": __version__,
                               "previous": previous.content_hash if previous else None})
        cached = None if force else store.find_cached(STAGE, cache_key)
        if cached is not None:
            return _result(cached, cached=True)

    with store.writer(STAGE) as writer:
        writer.config, writer.cache_key = used, cache_key
        writer.add_external_input({"source": source_facts})
        block_size = model.ingest.block_size_mb << 20
        whole_file_bytes = model.ingest.stream_above_mb << 20
        out = writer.path / DATA_FILE
        with progress(f"Reading {_label(source)}", total_bytes(source)) as bar:
            if previous is None:
                profiler, retyped = _stream_to_parquet(source, out, block_size, bar.advance, whole_file_bytes)
                batch_info = {"rows": profiler.rows}
            else:
                writer.add_input(previous)
                profiler, retyped, batch_info = _append(source, previous, model.data.id_columns, out,
                                                        block_size, bar.advance, whole_file_bytes)
        max_categories = model.ingest.max_categories
        profile = profiler.profile(max_categories)
        schema = profiler.schema(max_categories)
        _check_target(config, schema)
        (writer.path / "profile.json").write_text(json.dumps(profile, indent=2, default=str))
        (writer.path / "schema.json").write_text(json.dumps(schema, indent=2, default=str))
        writer.metrics = {"rows": profiler.rows, "columns": len(profiler.columns)}
        writer.info = {"mode": mode, "source": _label(source), "rows": profiler.rows,
                       "columns": len(profiler.columns), "batch": batch_info, "read_as_text": sorted(retyped)}
    artifact = store.load(STAGE, writer.info["version"])
    return _result(artifact, cached=False)


def _result(artifact: Artifact, cached: bool) -> StageResult:
    profile = json.loads(artifact.file("profile.json").read_text())
    warnings = [f"column '{c}' looked like numbers, dates or blanks at first but holds text further down; it was "
                f"read as text (prepare coerces what it can)" for c in artifact.manifest["info"].get("read_as_text", [])]
    return StageResult.from_artifact(artifact, cached, details={"profile": profile}, warnings=warnings)


def _label(source: SourceConfig) -> str:
    if source.type == "sql":
        return f"{source.table or 'query'} ({describe(source, with_hashes=False)['url']})"
    return Path(source.path or "").name if "*" not in (source.path or "") else str(source.path)


def _stream_to_parquet(source: SourceConfig, out: Path, block_size: int, advance: Any,
                       whole_file_bytes: int = 0) -> tuple[Profiler, set[str]]:
    """Write all batches into one Parquet file while profiling them; when a CSV column does not
    fit the type inferred from the first block, start again with it widened (float, then text).
    Returns the profile and the columns that ended up as text."""
    column_types: dict[str, pa.DataType] = {}
    while True:
        profiler = Profiler()
        sink = _ParquetSink(out)
        try:
            for batch in read_batches(source, block_size, advance, column_types, whole_file_bytes):
                if sink.writer is None:
                    _check_columns(batch.schema.names, source)
                sink.write(batch)
                profiler.update(batch)
        except RetypeNeeded as retype:
            column_types[retype.column] = retype.type
            continue
        finally:
            sink.close()
        if sink.writer is None or profiler.rows == 0:
            raise DataError(f"{_label(source)} has no data rows.", hint="Point data.source at data with rows.")
        return profiler, {c for c, t in column_types.items() if pa.types.is_string(t)}


class _ParquetSink:
    """Writes batches on a background thread (pyarrow releases the GIL), so writing one
    batch overlaps with reading and profiling the next; at most one write is in flight."""

    def __init__(self, path: Path) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.path = path
        self.writer: pq.ParquetWriter | None = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mlw-parquet")
        self._pending: Any = None

    def write(self, batch: pa.RecordBatch | pa.Table) -> None:
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.path, batch.schema)
        self._wait()
        write = self.writer.write_table if isinstance(batch, pa.Table) else self.writer.write_batch
        self._pending = self._pool.submit(write, batch)

    def _wait(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            pending.result()

    def close(self) -> None:
        try:
            self._wait()
        finally:
            self._pool.shutdown(wait=True)
            if self.writer is not None:
                self.writer.close()


def _append(source: SourceConfig, previous: Artifact, id_columns: list[str], out: Path, block_size: int,
            advance: Any, whole_file_bytes: int) -> tuple[Profiler, set[str], dict[str, Any]]:
    batch_path = out.with_name(".batch.parquet")
    _, retyped = _stream_to_parquet(source, batch_path, block_size, advance, whole_file_bytes)
    new = pq.read_table(batch_path)
    batch_path.unlink()
    old = pq.read_table(previous.file(DATA_FILE))
    missing = [c for c in old.schema.names if c not in new.schema.names]
    extra = [c for c in new.schema.names if c not in old.schema.names]
    if missing or extra:
        raise DataError(f"The new batch from {_label(source)} does not have the columns of {previous.ref}: "
                        f"missing {missing or 'none'}, unexpected {extra or 'none'}.",
                        hint="Make the batch match the snapshot, or take a fresh snapshot with "
                             "`mlw ingest` (mode: snapshot).")
    new = new.select(old.schema.names)
    try:
        combined = pa.concat_tables([old, new], promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise DataError(f"The new batch's column types do not match {previous.ref} ({exc}).",
                        hint="Fix the types in the source, or take a fresh snapshot.") from None
    replaced = 0
    if id_columns:
        for column in id_columns:
            if column not in combined.schema.names:
                raise missing_column_error("data.id_columns", column, combined.schema.names)
        combined, replaced = _keep_newest(combined, id_columns)
    pq.write_table(combined, out, row_group_size=max(block_size // 200, 100_000))
    profiler = Profiler()
    for batch in combined.to_batches(max_chunksize=max(block_size // 200, 100_000)):
        profiler.update(batch)
    return profiler, retyped, {"rows": new.num_rows, "previous": previous.version,
                               "previous_rows": old.num_rows, "replaced": replaced}


def _keep_newest(table: pa.Table, id_columns: list[str]) -> tuple[pa.Table, int]:
    """One row per id: the last one seen (batches are appended in arrival order)."""
    import numpy as np

    row = "__mlw_row__"
    numbered = table.append_column(row, pa.array(np.arange(table.num_rows)))
    newest = numbered.group_by(id_columns, use_threads=False).aggregate([(row, "max")])
    keep = np.sort(newest.column(f"{row}_max").to_numpy())
    return table.take(pa.array(keep)), table.num_rows - len(keep)


def _check_columns(names: list[str], source: SourceConfig) -> None:
    seen: set[str] = set()
    dupes: list[str] = []
    for name in names:
        if name in seen:
            dupes.append(name)
        seen.add(name)
    if dupes:
        raise DataError(f"{_label(source)} has repeated column names: {', '.join(sorted(set(dupes)))}.",
                        hint="Give every column a unique name in the source.")


def _check_target(config: Config, schema: dict[str, Any]) -> None:
    """Catch a misspelled target or id column at ingest time, before prepare trips over it."""
    data = config.model.data
    columns = schema["columns"]
    for where, column in [("data.target", data.target), ("data.time_column", data.time_column),
                          *(("data.id_columns", c) for c in data.id_columns)]:
        if column and column not in columns:
            raise missing_column_error(f"{config.where(*where.split('.'))}", column, columns)
