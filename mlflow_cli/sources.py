"""Reading data from where it lives: files (CSV/TSV, Parquet, JSON, JSON Lines, Excel, globs)
and SQL databases through SQLAlchemy.

Every reader yields pyarrow record batches or tables, so the ingest stage can stream a
large file to Parquet without holding it in memory. Reader failures become DataError
with the file or database named, never a library traceback; passwords never appear.
"""

from __future__ import annotations

import glob as globlib
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from .config import FILE_TYPES, SourceConfig
from .errors import DataError
from .store import sha256_file

Batches = Iterator[pa.RecordBatch | pa.Table]
Advance = Callable[[float], None]


def describe(source: SourceConfig, with_hashes: bool = True) -> dict[str, Any]:
    """What was read, for the manifest and the cache key: files with sha256, or the redacted SQL."""
    if source.type == "sql":
        return {"type": "sql", "url": redact_url(source.url or ""), "table": source.table, "query": source.query}
    files = source_files(source)
    entry: dict[str, Any] = {"type": source.type, "path": source.path}
    entry["files"] = [{"path": str(f), "size": f.stat().st_size,
                       **({"sha256": sha256_file(f)} if with_hashes else {})} for f in files]
    return entry


def source_files(source: SourceConfig) -> list[Path]:
    pattern = source.path or ""
    if globlib.has_magic(pattern):
        files = sorted(Path(p) for p in globlib.glob(pattern, recursive=True) if Path(p).is_file())
        if not files:
            raise DataError(f"data.source.path '{pattern}' matches no files.",
                            hint="Check the pattern; relative paths start at the config file's folder.")
        return files
    path = Path(pattern)
    if not path.is_file():
        hint = "Check data.source.path; relative paths start at the config file's folder."
        if path.parent.is_dir():
            near = [p.name for p in path.parent.iterdir() if p.is_file()]
            from .errors import did_you_mean
            hint = did_you_mean(path.name, near).strip() + " " + hint if did_you_mean(path.name, near) else hint
        raise DataError(f"Source file '{path}' does not exist.", hint=hint)
    return [path]


def total_bytes(source: SourceConfig) -> int | None:
    if source.type == "sql":
        return None
    return sum(f.stat().st_size for f in source_files(source))


def read_batches(source: SourceConfig, block_size: int, advance: Advance,
                 text_columns: set[str] = frozenset()) -> Batches:
    """Yield the source's rows as pyarrow batches; `advance(n)` reports bytes (or rows) read.

    May raise RetypeNeeded for a CSV: read again with that column in `text_columns`."""
    if source.type == "sql":
        yield from _read_sql(source, advance)
        return
    files = source_files(source)
    if len(files) == 1:
        yield from _read_file(files[0], _file_type(source, files[0]), source, block_size, advance, text_columns)
        return
    # A glob: each file may infer slightly different types (int vs float); unify them.
    tables = []
    for path in files:
        parts = list(_read_file(path, _file_type(source, path), source, block_size, advance, text_columns))
        tables.append(pa.Table.from_batches(parts) if parts and isinstance(parts[0], pa.RecordBatch)
                      else pa.concat_tables(parts))
    try:
        yield pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise DataError(f"The files matched by '{source.path}' do not share one set of columns and types ({exc}).",
                        hint="Make the files consistent, or ingest them separately with ingest.mode: append.") from None


def _file_type(source: SourceConfig, path: Path) -> str:
    if globlib.has_magic(source.path or ""):
        return FILE_TYPES.get(path.suffix.lower(), source.type)
    return source.type


def _read_file(path: Path, kind: str, source: SourceConfig, block_size: int, advance: Advance,
               text_columns: set[str]) -> Batches:
    if path.stat().st_size == 0:
        raise DataError(f"Source file '{path}' is empty.", hint="Point data.source.path at a file with data.")
    try:
        if kind in ("csv", "tsv"):
            yield from _read_csv(path, kind, source, block_size, advance, text_columns)
        elif kind == "parquet":
            import pyarrow.parquet as pq

            file = pq.ParquetFile(path)
            per_row = path.stat().st_size / max(file.metadata.num_rows, 1)
            for batch in file.iter_batches(batch_size=max(block_size // 200, 10_000)):
                advance(batch.num_rows * per_row)
                yield batch
        elif kind == "jsonl":
            import pyarrow.json as pj

            table = pj.read_json(path, read_options=pj.ReadOptions(block_size=block_size))
            advance(path.stat().st_size)
            yield table
        elif kind == "json":
            import pandas as pd

            frame = pd.read_json(path, encoding=source.encoding)
            advance(path.stat().st_size)
            yield pa.Table.from_pandas(frame, preserve_index=False)
        elif kind == "excel":
            import pandas as pd

            frame = pd.read_excel(path, sheet_name=source.sheet)
            advance(path.stat().st_size)
            yield pa.Table.from_pandas(frame, preserve_index=False)
        else:
            raise DataError(f"Source type '{kind}' cannot read '{path}'.", hint="Set data.source.type.")
    except (DataError, RetypeNeeded):
        raise
    except (pa.ArrowException, ValueError, OSError, UnicodeDecodeError, KeyError) as exc:
        raise DataError(f"Could not read '{path}' as {kind}: {_first_line(exc)}.",
                        hint=f"Check that the file really is {kind} (data.source.type) and its encoding "
                             f"(data.source.encoding, now {source.encoding}).") from None


_CONVERSION = re.compile(r"In CSV column #(\d+): .*conversion error")


class RetypeNeeded(Exception):
    """A CSV column inferred as numeric holds text further down: read again, as text."""

    def __init__(self, column: str) -> None:
        super().__init__(column)
        self.column = column


def _read_csv(path: Path, kind: str, source: SourceConfig, block_size: int, advance: Advance,
              text_columns: set[str]) -> Batches:
    """Stream a CSV. Types are inferred from the first block; when a column turns out to hold
    text further down, RetypeNeeded asks the caller to start again with it read as text."""
    import pyarrow.csv as pcsv

    delimiter = source.delimiter or ("\t" if kind == "tsv" else ",")
    with open(path, "rb") as raw:
        reader = pcsv.open_csv(
            _CountingFile(raw, advance),
            read_options=pcsv.ReadOptions(block_size=block_size, encoding=source.encoding),
            parse_options=pcsv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
            convert_options=pcsv.ConvertOptions(strings_can_be_null=True,
                                                column_types={c: pa.string() for c in text_columns}),
        )
        names = reader.schema.names
        try:
            yield from reader
        except pa.ArrowInvalid as exc:
            match = _CONVERSION.search(str(exc))
            if not match or names[int(match.group(1))] in text_columns:
                raise
            raise RetypeNeeded(names[int(match.group(1))]) from None


class _CountingFile:
    """A file wrapper that reports bytes read, for the progress bar."""

    def __init__(self, raw: Any, advance: Advance) -> None:
        self._raw, self._advance, self.read_bytes = raw, advance, 0
        self.closed = False

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        self.read_bytes += len(data)
        self._advance(len(data))
        return data

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def close(self) -> None:
        self.closed = True


def _read_sql(source: SourceConfig, advance: Advance) -> Batches:
    import pandas as pd
    import sqlalchemy as sa

    url = source.url or ""
    shown = redact_url(url)
    try:
        engine = sa.create_engine(_with_driver(url))
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ModuleNotFoundError) as exc:
        raise DataError(f"data.source.url '{shown}' cannot be used: {_first_line(exc)}.",
                        hint="Use a SQLAlchemy URL such as sqlite:///data/app.db or "
                             "postgresql://user:${PGPASSWORD}@host:5432/db, and install the driver "
                             "(pip install 'mlw[postgres]' for PostgreSQL).") from None
    statement = source.query or sa.select(sa.text("*")).select_from(sa.table(source.table or ""))
    if source.query:
        statement = sa.text(source.query)
    try:
        with engine.connect() as conn:
            tables = []
            for chunk in pd.read_sql(statement, conn, chunksize=50_000):
                advance(len(chunk))
                tables.append(pa.Table.from_pandas(chunk, preserve_index=False))
    except sa.exc.OperationalError as exc:
        detail = _first_line(getattr(exc, "orig", exc))
        if "no such table" in detail or "does not exist" in detail:
            raise _bad_query(source, shown, detail) from None
        raise DataError(f"Could not connect to or query {shown}: {detail}.",
                        hint="Check that the database is running and reachable, and the user, password "
                             "(${ENV} in data.source.url) and database name.") from None
    except (sa.exc.ProgrammingError, sa.exc.DatabaseError) as exc:
        raise _bad_query(source, shown, _first_line(getattr(exc, "orig", exc))) from None
    finally:
        engine.dispose()
    if not tables:
        raise DataError(f"The query on {shown} returned no rows.", hint="Check data.source.table or query.")
    yield pa.concat_tables(tables, promote_options="permissive")


def _bad_query(source: SourceConfig, shown: str, detail: str) -> DataError:
    what = f"table '{source.table}'" if source.table else "data.source.query"
    return DataError(f"Reading {what} from {shown} failed: {detail}.",
                     hint="Check the table name or the SQL in the config (run it in your SQL client first).")


def _with_driver(url: str) -> str:
    """postgresql:// defaults to psycopg2 in SQLAlchemy; use psycopg 3 when that is what is installed."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        import importlib.util

        if importlib.util.find_spec("psycopg2") is None and importlib.util.find_spec("psycopg") is not None:
            return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def redact_url(url: str) -> str:
    """The URL with its password replaced by ***."""
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", url)


def _first_line(exc: BaseException | Any) -> str:
    text = str(exc).strip().splitlines()
    return text[0].rstrip(".") if text else type(exc).__name__
