"""Reading data from where it lives: files (CSV/TSV, Parquet, JSON, JSON Lines, Excel, globs)
and SQL databases through SQLAlchemy.

Every reader yields pyarrow record batches or tables, so the ingest stage can stream a
large file to Parquet without holding it in memory. Reader failures become DataError
with the file or database named, never a library traceback; passwords never appear.
"""

from __future__ import annotations

import glob as globlib
import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import pyarrow as pa

from mlflow_cli.core.config import FILE_TYPES, SourceConfig
from mlflow_cli.core.errors import DataError
from mlflow_cli.data.sources import redact_url, source_files

Batches = Iterator[pa.RecordBatch | pa.Table]
SQL_CHUNK_ROWS = 50_000
Advance = Callable[[float], None]
T = TypeVar("T")


class RetypeNeeded(Exception):
    """A CSV column's type, inferred from the first block, does not fit a later block: read
    again with the column as `type` (float64 when the misfit is a number, else text)."""

    def __init__(self, column: str, type: Any) -> None:
        super().__init__(column)
        self.column, self.type = column, type


def retyping(one_pass: Callable[[dict[str, Any]], T]) -> tuple[T, dict[str, Any]]:
    """Run `one_pass(column_types)` over the source until no CSV column needs widening: a column
    whose type the first block guessed wrong (a number column with text further down) raises
    RetypeNeeded, and the pass starts again with it widened. Returns the result and the types
    the last pass read with."""
    column_types: dict[str, Any] = {}
    while True:
        try:
            return one_pass(column_types), column_types
        except RetypeNeeded as retype:
            column_types[retype.column] = retype.type


def read_batches(source: SourceConfig, block_size: int, advance: Advance,
                 column_types: Mapping[str, pa.DataType] | None = None, whole_file_bytes: int = 0,
                 columns: list[str] | None = None) -> Batches:
    """Yield the source's rows as pyarrow batches; `advance(n)` reports bytes (or rows) read.

    CSV files up to `whole_file_bytes` are read whole with all cores; larger ones are
    streamed block by block, so memory stays flat. `columns`: only these (those the source
    has), in this order; a Parquet file then decodes no other column.

    May raise RetypeNeeded for a CSV: read again with `column_types[column] = retype.type`."""
    pieces = _batches(source, block_size, advance, column_types or {}, whole_file_bytes, columns)
    if columns is None:
        yield from pieces
        return
    for piece in pieces:
        yield piece.select([c for c in columns if c in piece.schema.names])


def _batches(source: SourceConfig, block_size: int, advance: Advance, column_types: Mapping[str, pa.DataType],
             whole_file_bytes: int, columns: list[str] | None) -> Batches:
    if source.type == "sql":
        yield from _read_sql(source, advance)
        return
    files = source_files(source)
    if len(files) == 1:
        yield from _read_file(files[0], _file_type(source, files[0]), source, block_size, advance, column_types,
                              whole_file_bytes, columns)
        return
    # A glob: each file may infer slightly different types (int vs float); unify them.
    tables = []
    for path in files:
        parts = list(_read_file(path, _file_type(source, path), source, block_size, advance, column_types,
                                      whole_file_bytes))
        table = (pa.Table.from_batches(parts) if parts and isinstance(parts[0], pa.RecordBatch)
                 else pa.concat_tables(parts) if parts else None)
        if table is None:
            continue  # a header-only CSV adds no rows
        if tables and set(table.schema.names) != set(tables[0].schema.names):
            raise _glob_mismatch(source, files[0], tables[0].schema.names, path, table.schema.names)
        tables.append(table.select(tables[0].schema.names) if tables else table)
    if not tables:
        return
    try:
        yield pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise DataError(f"The files matched by '{source.path}' do not share one set of columns and types ({exc}).",
                        hint="Make the files consistent, or ingest them separately with ingest.mode: append.") from None


def _glob_mismatch(source: SourceConfig, first: Path, first_names: list[str], path: Path,
                   names: list[str]) -> DataError:
    """Concatenating would fill the missing columns with nulls; a changed export is an error instead."""
    missing = [c for c in first_names if c not in names]
    extra = [c for c in names if c not in first_names]
    return DataError(f"The files matched by '{source.path}' do not share one set of columns: '{path.name}' "
                     f"lacks {missing or 'none'} and adds {extra or 'none'} compared with '{first.name}'.",
                     hint="Make the files consistent, or ingest them separately with ingest.mode: append.")


def _file_type(source: SourceConfig, path: Path) -> str:
    if globlib.has_magic(source.path or ""):
        return FILE_TYPES.get(path.suffix.lower(), source.type)
    return source.type


def _read_file(path: Path, kind: str, source: SourceConfig, block_size: int, advance: Advance,
               column_types: Mapping[str, pa.DataType], whole_file_bytes: int = 0,
               columns: list[str] | None = None) -> Batches:
    if path.stat().st_size == 0:
        raise DataError(f"Source file '{path}' is empty.", hint="Point data.source.path at a file with data.")
    try:
        if kind in ("csv", "tsv"):
            yield from _read_csv(path, kind, source, block_size, advance, column_types, whole_file_bytes)
        elif kind == "parquet":
            import pyarrow.parquet as pq

            file = pq.ParquetFile(path)
            per_row = path.stat().st_size / max(file.metadata.num_rows, 1)
            names = None if columns is None else [c for c in columns if c in file.schema_arrow.names]
            for batch in file.iter_batches(batch_size=max(block_size // 200, 10_000), columns=names):
                advance(batch.num_rows * per_row)
                yield batch
        elif kind == "jsonl":
            import pyarrow.json as pj

            table = pj.read_json(path, read_options=pj.ReadOptions(block_size=block_size))
            advance(path.stat().st_size)
            yield _parse_timestamps(table)
        elif kind == "json":
            import pandas as pd

            frame = pd.read_json(path, encoding=source.encoding)
            advance(path.stat().st_size)
            yield _from_pandas(frame)
        elif kind == "excel":
            import pandas as pd

            frame = pd.read_excel(path, sheet_name=source.sheet)
            advance(path.stat().st_size)
            yield _from_pandas(frame)
        else:
            raise DataError(f"Source type '{kind}' cannot read '{path}'.", hint="Set data.source.type.")
    except (DataError, RetypeNeeded):
        raise
    except (pa.ArrowException, ValueError, OSError, UnicodeDecodeError, KeyError) as exc:
        encoding = (f" and its encoding (data.source.encoding, now {source.encoding})"
                    if kind in ("csv", "tsv", "json", "jsonl") else "")
        raise DataError(f"Could not read '{path}' as {kind}: {_first_line(exc)}.",
                        hint=f"Check that the file really is {kind} (data.source.type){encoding}.") from None


def _from_pandas(frame: Any) -> pa.Table:
    """A frame from pandas' JSON/Excel readers as Arrow. A column mixing numbers and text
    (object dtype) cannot be typed, so it is stored as text, as a CSV reader would."""
    try:
        return pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        frame = frame.copy()
        for column in frame.columns[frame.dtypes == object]:
            try:
                pa.array(frame[column], from_pandas=True)
            except (pa.ArrowInvalid, pa.ArrowTypeError):
                frame[column] = frame[column].map(_text_or_none)
        return pa.Table.from_pandas(frame, preserve_index=False)


_ISO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


def _parse_timestamps(table: pa.Table) -> pa.Table:
    """Arrow's JSON reader leaves ISO times with fractions or a zone (2024-01-02T03:04:05.000Z, what
    pandas and JavaScript write) as text; parse the columns that hold only such values."""
    for i, field in enumerate(table.schema):
        column = table.column(i)
        if not pa.types.is_string(field.type) or column.null_count == len(column):
            continue
        if not _ISO_TIME.match(column.drop_null()[0].as_py()):
            continue
        for type in (pa.timestamp("us"), pa.timestamp("us", "UTC")):
            try:
                table = table.set_column(i, field.name, column.cast(type))
                break
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                continue
    return table


def _text_or_none(value: Any) -> str | None:
    missing = value is None or (isinstance(value, float) and value != value) or type(value).__name__ == "NAType"
    return None if missing else str(value)


_CONVERSION = re.compile(r"In CSV column #(\d+): .*?conversion error(?:.*invalid value '(.*)')?", re.DOTALL)


def _read_csv(path: Path, kind: str, source: SourceConfig, block_size: int, advance: Advance,
              column_types: Mapping[str, pa.DataType], whole_file_bytes: int = 0) -> Batches:
    """Read a CSV whole (up to whole_file_bytes) or stream it. Streaming infers types from the
    first block; when a column turns out to hold other values further down, RetypeNeeded asks
    the caller to start again with a wider type."""
    import pyarrow.csv as pcsv

    delimiter = source.delimiter or ("\t" if kind == "tsv" else ",")
    read_options = pcsv.ReadOptions(block_size=block_size, encoding=source.encoding)
    parse_options = pcsv.ParseOptions(delimiter=delimiter, newlines_in_values=True)
    convert_options = pcsv.ConvertOptions(strings_can_be_null=True, column_types=dict(column_types))
    if path.stat().st_size <= whole_file_bytes:
        # Small enough to hold: the multi-threaded whole-file reader is 2-3x faster than
        # streaming, and it infers each column's type from all rows, not the first block.
        table = pcsv.read_csv(path, read_options=read_options, parse_options=parse_options,
                              convert_options=convert_options)
        advance(path.stat().st_size)
        yield table
        return
    # pyarrow reads the file natively (a Python file object read from pyarrow's I/O thread can
    # crash the process when Ctrl-C unwinds mid-read); progress advances a block per batch.
    reader = pcsv.open_csv(str(path), read_options=read_options, parse_options=parse_options,
                           convert_options=convert_options)
    remaining = path.stat().st_size
    try:
        for batch in reader:
            step = min(block_size, remaining)
            remaining -= step
            advance(step)
            yield batch
    except pa.ArrowInvalid as exc:
        match = _CONVERSION.search(str(exc))
        if not match:
            raise
        field = reader.schema.field(int(match.group(1)))
        if pa.types.is_string(field.type):
            raise
        widen = (pa.types.is_integer(field.type) or pa.types.is_null(field.type)) and _is_number(match.group(2) or "")
        raise RetypeNeeded(field.name, pa.float64() if widen else pa.string()) from None
    finally:
        reader.close()


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _read_sql(source: SourceConfig, advance: Advance) -> Batches:
    """Run the table read or query through SQLAlchemy, fetching rows in chunks.

    Rows go straight to Arrow (not through pandas, which turns an integer column with NULLs
    into floats and, since pandas 3, wraps driver errors in its own exception). A failure to
    connect and a failure of the query are told apart, because their fixes differ."""
    import sqlalchemy as sa

    url = source.url or ""
    shown = redact_url(url)
    _check_sqlite_file(url)
    try:
        driver_url = _with_driver(url)
        timeout = {"connect_timeout": 15} if driver_url.startswith(("postgresql", "mysql")) else {}
        engine = sa.create_engine(driver_url, connect_args=timeout)
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ModuleNotFoundError) as exc:
        raise DataError(f"data.source.url '{shown}' cannot be used: {_detail(exc, url)}.",
                        hint="Use a SQLAlchemy URL such as sqlite:///data/app.db or "
                             "postgresql://user:${PGPASSWORD}@host:5432/db, and install the driver "
                             "(pip install 'mlw[postgres]' for PostgreSQL).") from None
    if source.query:
        statement: Any = sa.text(source.query)
    else:
        schema, _, name = (source.table or "").rpartition(".")
        statement = sa.select(sa.text("*")).select_from(sa.table(name, schema=schema or None))
    try:
        try:
            conn = engine.connect()
        except sa.exc.SQLAlchemyError as exc:
            raise DataError(f"Could not connect to {shown}: {_detail(exc, url)}.",
                            hint="Check that the database is running and reachable, and the user, password "
                                 "(${ENV} in data.source.url) and database name.") from None
        with conn:
            try:
                result = conn.execution_options(stream_results=True).execute(statement)
                names = list(result.keys())
                tables = []
                for rows in result.partitions(SQL_CHUNK_ROWS):
                    advance(len(rows))
                    tables.append(_rows_to_table(names, rows))
            except sa.exc.SQLAlchemyError as exc:
                raise _bad_query(source, shown, _detail(exc, url)) from None
    finally:
        engine.dispose()
    if not tables:
        raise DataError(f"The query on {shown} returned no rows.", hint="Check data.source.table or query.")
    yield _concat_chunks(tables)


def _check_sqlite_file(url: str) -> None:
    """SQLite creates a missing database file on connect; for a snapshot that is a typo, not a wish."""
    if not url.startswith("sqlite:///") or "uri=true" in url:
        return
    database = url[len("sqlite:///"):].split("?", 1)[0]
    if database and database != ":memory:" and not Path(database).is_file():
        raise DataError(f"The SQLite database file '{database}' in data.source.url does not exist.",
                        hint="Check data.source.url; a relative sqlite:///path starts at the config file's folder.")


def _rows_to_table(names: list[str], rows: list[Any]) -> pa.Table:
    """Arrow columns from driver rows. Decimals become float64 (what a model takes); a column
    of mixed Python types (SQLite allows it) is kept as text."""
    arrays = []
    for i in range(len(names)):
        values = [row[i] for row in rows]
        try:
            array = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            array = pa.array([_text_or_none(v) for v in values], pa.string())
        if pa.types.is_decimal(array.type):
            array = array.cast(pa.float64())
        arrays.append(array)
    return pa.Table.from_arrays(arrays, names=names)


def _concat_chunks(tables: list[pa.Table]) -> pa.Table:
    """Chunks may disagree on a column's type (all NULL in one, int then float, int then text
    in SQLite); widen where Arrow can, else keep the column as text."""
    try:
        return pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        pass
    names = tables[0].schema.names
    for i, name in enumerate(names):
        try:
            pa.unify_schemas([pa.schema([t.schema.field(i)]) for t in tables], promote_options="permissive")
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            tables = [t.set_column(i, name, t.column(i).cast(pa.string())) for t in tables]
    return pa.concat_tables(tables, promote_options="permissive")


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


def _detail(exc: BaseException, url: str) -> str:
    """The driver's own first line (not SQLAlchemy's wrapper), with the URL's password blanked out."""
    text = _first_line(getattr(exc, "orig", None) or exc)
    for password in re.findall(r"://[^:/@]+:([^@]*)@|[?&]password=([^&]*)", url, flags=re.IGNORECASE):
        for secret in password:
            if secret:
                text = text.replace(secret, "***")
    return text


def _first_line(exc: BaseException | Any) -> str:
    """The message's first line, printable and short: a parse error may quote a row of binary junk."""
    lines = str(exc).strip().splitlines()
    if not lines:
        return type(exc).__name__
    text = "".join(c if c.isprintable() else "?" for c in lines[0]).rstrip(".")
    return text if len(text) <= 200 else text[:199] + "…"
