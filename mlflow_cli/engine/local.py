"""The in-process engine: a source read as Arrow parts (of a fixed number of rows, or as the
reader cuts it), a function mapped over them one after another, and parts written to a CSV or
Parquet file as they come, so memory stays bounded however large the input. Depends on
data/readers.py and core/config; imports pyarrow inside functions."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from mlflow_cli.core.config import SourceConfig

Result = TypeVar("Result")


@dataclass(frozen=True)
class Part:
    """Consecutive rows of a source: an Arrow table, the 1-based number of its first data row,
    and the share of the source it accounts for (bytes, or rows for SQL), for progress."""

    table: Any
    first_row: int
    size: float


class LocalEngine:
    name = "local"

    def read_parts(self, source: SourceConfig, *, rows: int | None, block_size: int, whole_file_bytes: int,
                   column_types: dict[str, Any] | None = None, advance: Callable[[float], None] | None = None,
                   columns: list[str] | None = None) -> Iterator[Part]:
        """The source as parts of exactly `rows` rows (the last may be shorter), or with `rows=None`
        as the reader cuts it (about `block_size` bytes of a file each). A CSV column whose type
        the first block guessed wrong raises data.readers.RetypeNeeded: read again with it.
        `advance`, when given, hears of each block (bytes; SQL: rows) as it is read: progress
        finer than the parts, whose `size` adds up to the same. `columns`: only these (a Parquet
        file decodes no other)."""
        pieces = _read(source, block_size, column_types or {}, whole_file_bytes, advance, columns)
        first = 1
        for table, size in (pieces if rows is None else _rechunk(pieces, rows)):
            yield Part(table, first, size)
            first += table.num_rows

    def read_frame(self, source: SourceConfig, block_size: int = 16 << 20) -> Any:
        """The whole source as one pandas frame (labels, judging rows: data small enough to hold)."""
        import pandas as pd
        import pyarrow as pa

        tables = [part.table for part in self.read_parts(source, rows=None, block_size=block_size,
                                                         whole_file_bytes=0)]
        return pa.concat_tables(tables).to_pandas() if tables else pd.DataFrame()

    def map_parts(self, function: Callable[[Part], Result], parts: Iterator[Part]) -> Iterator[Result]:
        """`function` over each part, in source order, in this process."""
        for part in parts:
            yield function(part)

    def writer(self, path: Path, kind: str, use_dictionary: bool | None = None) -> PartWriter:
        """A writer of parts to one CSV or Parquet file, in the order they are given."""
        return PartWriter(path, kind, use_dictionary)


def _read(source: SourceConfig, block_size: int, column_types: dict[str, Any], whole_file_bytes: int,
          progress: Callable[[float], None] | None, columns: list[str] | None = None) -> Iterator[tuple[Any, float]]:
    """The reader's batches as Arrow tables, each with the bytes (SQL: rows) it accounted for."""
    import pyarrow as pa

    from mlflow_cli.data.readers import read_batches

    done = [0.0]

    def advance(amount: float) -> None:
        done[0] += amount
        if progress is not None:
            progress(amount)

    seen = 0.0
    for piece in read_batches(source, block_size, advance, column_types, whole_file_bytes, columns):
        table = pa.Table.from_batches([piece]) if isinstance(piece, pa.RecordBatch) else piece
        yield table, done[0] - seen
        seen = done[0]


def _rechunk(pieces: Iterator[tuple[Any, float]], rows: int) -> Iterator[tuple[Any, float]]:
    """Re-cut the reader's tables into tables of exactly `rows` rows (the last may be shorter),
    each with its rows' share of the bytes read, for the progress bar."""
    import pyarrow as pa

    held: list[Any] = []
    count, size = 0, 0.0
    for table, amount in pieces:
        per_row = amount / table.num_rows if table.num_rows else 0.0
        start = 0
        while start < table.num_rows:
            take = min(rows - count, table.num_rows - start)
            held.append(table.slice(start, take))
            count, size, start = count + take, size + take * per_row, start + take
            if count == rows:
                yield (held[0] if len(held) == 1 else pa.concat_tables(held)), size
                held, count, size = [], 0, 0.0
    if count:
        yield (held[0] if len(held) == 1 else pa.concat_tables(held)), size


class PartWriter:
    """A CSV or Parquet file written part by part (a Parquet row group, or CSV lines each).

    Parquet dictionary-encodes text columns only (`use_dictionary=None`: on float columns it costs
    ~3x the write time for nothing), or as pyarrow's `use_dictionary` says."""

    def __init__(self, path: Path, kind: str, use_dictionary: bool | None = None) -> None:
        self.path, self.kind, self.use_dictionary = path, kind, use_dictionary
        self.writer: Any = None
        self.schema: Any = None

    @property
    def opened(self) -> bool:
        return self.writer is not None

    def open(self, schema: Any) -> None:
        """Start the file with the output's schema (before the first write, even of no rows)."""
        self.schema = schema
        if self.kind == "csv":
            import pyarrow.csv as pcsv

            self.writer = pcsv.CSVWriter(str(self.path), schema)
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            text = [f.name for f in schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)]
            encoded = text if self.use_dictionary is None else self.use_dictionary
            self.writer = pq.ParquetWriter(str(self.path), schema, use_dictionary=encoded)

    def write(self, table: Any) -> None:
        """Append a part (cast to the opened schema); parts without rows add nothing."""
        if table.num_rows:
            self.writer.write_table(table if table.schema == self.schema else table.cast(self.schema))

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
