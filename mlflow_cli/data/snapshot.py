"""Writing an ingest snapshot: the source's parts streamed into one Parquet file while they are
profiled, through the engine the stage passes in (engine/), and an appended batch merged into
the previous snapshot (newest row per id wins)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from mlflow_cli.core.config import SourceConfig
from mlflow_cli.core.errors import DataError, missing_column_error
from mlflow_cli.data.profile import Profiler
from mlflow_cli.data.readers import retyping
from mlflow_cli.data.sources import source_label
from mlflow_cli.core.store import Artifact

DATA_FILE = "data.parquet"


def write_snapshot(engine: Any, source: SourceConfig, out: Path, block_size: int, advance: Any,
                   whole_file_bytes: int = 0) -> tuple[Profiler, set[str]]:
    """Stream the source into one Parquet file through `engine` (engine/): each part, as the
    reader cuts it, is written as a row group and profiled. When a CSV column does not fit the
    type inferred from the first block, start again with it widened (float, then text). Returns
    the profile and the columns that ended up as text.

    The profile is kept here, on the driver's side, not in a function mapped over the parts: a
    column's value counts stop once it has more than DISTINCT_CAP values, which a profile of one
    part alone cannot know, and counting every part again made a streamed ingest 15% slower.
    (Profiles of parts do merge exactly, `Profiler.merge`, for an engine that must profile
    where the parts are.)"""
    def one_pass(column_types: dict[str, pa.DataType]) -> Profiler:
        profiler = Profiler()
        # Writes happen on the calling thread: a background writer saved ~0.3 s on a million rows,
        # but Ctrl-C could then close the file under a running write and crash the process.
        sink = engine.writer(out, "parquet", use_dictionary=True)
        try:
            parts = engine.read_parts(source, rows=None, block_size=block_size, whole_file_bytes=whole_file_bytes,
                                      column_types=column_types, advance=advance)
            for part in parts:
                if not sink.opened:
                    _check_columns(part.table.schema.names, source)
                    sink.open(part.table.schema)
                sink.write(part.table)
                profiler.update(part.table)
        finally:
            sink.close()
        return profiler

    profiler, column_types = retyping(one_pass)
    if profiler.rows == 0:
        raise DataError(f"{source_label(source)} has no data rows.", hint="Point data.source at data with rows.")
    return profiler, {c for c, t in column_types.items() if pa.types.is_string(t)}


def append_snapshot(engine: Any, source: SourceConfig, previous: Artifact, id_columns: list[str], out: Path,
                    block_size: int, advance: Any, whole_file_bytes: int) -> tuple[Profiler, set[str], dict[str, Any]]:
    batch_path = out.with_name(".batch.parquet")
    _, retyped = write_snapshot(engine, source, batch_path, block_size, advance, whole_file_bytes)
    new = pq.read_table(batch_path)
    batch_path.unlink()
    old = pq.read_table(previous.file(DATA_FILE))
    missing = [c for c in old.schema.names if c not in new.schema.names]
    extra = [c for c in new.schema.names if c not in old.schema.names]
    if missing or extra:
        raise DataError(f"The new batch from {source_label(source)} does not have the columns of {previous.ref}: "
                        f"missing {missing or 'none'}, unexpected {extra or 'none'}.",
                        hint="Make the batch match the snapshot, or take a fresh snapshot with "
                             "`mlw ingest` (mode: snapshot).")
    new = new.select(old.schema.names)
    try:
        combined = pa.concat_tables([old, new], promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise DataError(f"The new batch's column types do not match {previous.ref} ({exc}).",
                        hint="Fix the types in the source, or take a fresh snapshot.") from None
    replaced, first_row = 0, old.num_rows
    if id_columns:
        for column in id_columns:
            if column not in combined.schema.names:
                raise missing_column_error("data.id_columns", column, combined.schema.names)
        combined, replaced, first_row = _keep_newest(combined, id_columns, old.num_rows)
    pq.write_table(combined, out, row_group_size=max(block_size // 200, 100_000))
    profiler = Profiler()
    for batch in combined.to_batches(max_chunksize=max(block_size // 200, 100_000)):
        profiler.update(batch)
    # The batch's rows are the last ones (from `first_row`, 0-based): `mlw monitor --batch` reads them.
    return profiler, retyped, {"rows": new.num_rows, "previous": previous.version,
                               "previous_rows": old.num_rows, "replaced": replaced, "first_row": first_row}


def _keep_newest(table: pa.Table, id_columns: list[str], old_rows: int) -> tuple[pa.Table, int, int]:
    """One row per id: the last one seen (batches are appended in arrival order). Also how many
    rows are kept of the first `old_rows` (the previous snapshot's), which come first."""
    import numpy as np

    row = "__mlw_row__"
    numbered = table.append_column(row, pa.array(np.arange(table.num_rows)))
    newest = numbered.group_by(id_columns, use_threads=False).aggregate([(row, "max")])
    keep = np.sort(newest.column(f"{row}_max").to_numpy())
    return table.take(pa.array(keep)), table.num_rows - len(keep), int(np.searchsorted(keep, old_rows))


def _check_columns(names: list[str], source: SourceConfig) -> None:
    seen: set[str] = set()
    dupes: list[str] = []
    for name in names:
        if name in seen:
            dupes.append(name)
        seen.add(name)
    if dupes:
        raise DataError(f"{source_label(source)} has repeated column names: {', '.join(sorted(set(dupes)))}.",
                        hint="Give every column a unique name in the source.")
