"""Numeric requests straight to one float matrix: the fast path for large batches.

A model whose input columns are all numeric is scored from a single float matrix
(`ServedModel.predict_matrix`), with no column lists and no pandas frame. Three request
forms reach that matrix:

- a large CSV body of plain numbers, read by simdjson as one JSON array of rows (`csv_matrix`),
  else any CSV body of numbers once pyarrow has read each column into an array (`table_matrix`);
- a large JSON `{"columns": [...], "data": [[...], ...]}` (mlw's `/predict`, and MLflow's
  `dataframe_split`), read by simdjson, which copies the `data` array into a buffer of
  doubles (`json_matrix`). For 10,000 rows of 20 numbers that is 5 ms, against 20-25 ms for
  orjson to build 200,000 Python floats;
- any other JSON rows or records of numbers, once orjson has parsed them (`rows_matrix`).

Each returns None for anything it is not certain about (missing values, text, booleans,
nested or ragged rows, other keys, small requests), and the request then takes the general
path, which gives the same scores and names each bad field.
"""

from __future__ import annotations

from itertools import chain
from typing import Any

import numpy as np

from mlflow_cli.data.validation.fast import NUMBER_TYPES, numeric_schema, passenger_columns

JSON_MIN_BYTES = 64 * 1024  # below this orjson and the column path are as quick
ROWS_MIN = 64  # parsed rows: below this the column path is as quick (and single rows stay on it)
_SIMDJSON_ERRORS = (ValueError, TypeError, RuntimeError, KeyError, IndexError)


def rows_matrix(rows: list[Any], width: int, schema: dict[str, Any] | None) -> np.ndarray | None:
    """Rows of parsed JSON values (sequences of `width` values; with one column, the values
    themselves) as a float matrix, for a large request to an all-numeric model when every value
    is a number (not a boolean, not null). 3x faster than checking and converting column lists."""
    if len(rows) < ROWS_MIN or not numeric_schema(schema):
        return None
    values = rows if width == 1 else chain.from_iterable(rows)
    if not set(map(type, values)) <= NUMBER_TYPES:
        return None
    try:
        matrix = np.fromiter(rows if width == 1 else chain.from_iterable(rows), dtype=float, count=len(rows) * width)
    except (OverflowError, ValueError):  # an integer too large for a float; a ragged row
        return None
    return matrix.reshape(len(rows), width)


def table_matrix(table: Any, schema: dict[str, Any]) -> tuple[list[str], np.ndarray] | None:
    """The schema's columns of an Arrow table as a float matrix (missing values as NaN), when
    every one was read as numbers and the table has no other columns than ids and the target."""
    import pyarrow as pa

    specs = schema["columns"]
    names = table.column_names
    if not numeric_schema(schema) or specs.keys() - set(names) or set(names) - specs.keys() - passenger_columns(schema):
        return None
    matrix = np.empty((table.num_rows, len(specs)), dtype=float)
    for j, name in enumerate(specs):
        column = table.column(name)
        if not (pa.types.is_floating(column.type) or pa.types.is_integer(column.type)):
            return None
        matrix[:, j] = column.to_numpy()
    return list(specs), matrix


def json_matrix(body: bytes, schema: dict[str, Any] | None, *,
                bare: bool) -> tuple[list[str], np.ndarray] | None:
    """(columns, rows as a float matrix) of a JSON body that is exactly {"dataframe_split":
    {"columns", "data"}}, or (`bare`) {"columns", "data"}, with numbers only in `data` and
    only the model's input columns (ids and the target take the general path, which logs
    them exactly as sent).

    simdjson flattens `data` into doubles whatever its nesting, so the shape is proven apart:
    every row is an array of one value per column, and the body holds no other '[' than
    the columns list, the data array and one per row (column names with '[' are left to the
    general path), so no value hides a nested array."""
    if len(body) < JSON_MIN_BYTES or not numeric_schema(schema) or body[:64].lstrip()[:1] != b"{":
        return None  # a list of records is not read twice (simdjson: 8 ms for 5 MB)
    import simdjson

    try:
        doc = simdjson.Parser().parse(body)  # a parser per request: requests run on several threads
        if not isinstance(doc, simdjson.Object):
            return None
        keys = sorted(doc.keys())  # a list: a key given twice (simdjson reads the first, orjson the last) fails
        if keys == ["dataframe_split"]:
            doc = doc["dataframe_split"]
            if not isinstance(doc, simdjson.Object):
                return None
            keys = sorted(doc.keys())
        elif not bare:
            return None
        if keys != ["columns", "data"]:
            return None
        columns, data = doc["columns"], doc["data"]
        if not isinstance(columns, simdjson.Array) or not isinstance(data, simdjson.Array):
            return None
        names = columns.as_list()
        if not names or len(set(names)) != len(names) or not all(type(n) is str and "[" not in n for n in names):
            return None
        if set(names) - schema["columns"].keys():  # ids and the target: logged as sent, so not as floats
            return None
        if len(data) == 0 or _count(body, b"[") != len(data) + 2:
            return None
        matrix = _matrix(data, len(names))
    except _SIMDJSON_ERRORS:  # not JSON simdjson reads, not numbers, a row that is not an array...
        return None
    return (names, matrix) if matrix is not None else None


def csv_matrix(body: bytes, schema: dict[str, Any] | None) -> tuple[list[str], np.ndarray] | None:
    """(columns, rows as a float matrix) of a large CSV body of plain numbers (no quotes, no
    missing values) whose header names only the model's input columns.

    simdjson reads the rows as one JSON array: 7 ms for 10,000 rows of 20 numbers, against 10
    for pyarrow's reader on a server that was idle (its threads start cold; busy, both take 6-7).
    Each newline becomes '],[', so a body with no '[' gives one array per line, and simdjson
    refuses whatever is not a number (empty fields, NaN, text, true): those bodies, ragged rows
    and blank lines take pyarrow's path, after a first look at the opening 64 KB that catches
    most of them for 0.1 ms. A carriage return is only allowed before a newline (pyarrow ends a
    line at a lone one; JSON reads it as a space). A number JSON accepts is one pyarrow reads,
    and both round it to the same double, except that simdjson reads the integer -0 as 0.0
    (pyarrow's -0.0 in a column of floats): the same scores."""
    if len(body) < JSON_MIN_BYTES or not numeric_schema(schema) or b'"' in body:
        return None
    head, _, data = body.partition(b"\n")
    data = data.rstrip(b"\r\n")
    if b"\r" in data:
        data = data.replace(b"\r\n", b"\n")
    if not data or b"[" in data or b"\r" in data:
        return None
    try:
        names = head.decode("utf-8").rstrip("\r").split(",")
    except UnicodeDecodeError:
        return None
    if len(set(names)) != len(names) or set(names) - schema["columns"].keys():  # ids, target: logged as sent
        return None
    import simdjson

    try:
        probe = data[:JSON_MIN_BYTES].rpartition(b"\n")[0]  # whole lines only
        if probe and _matrix(simdjson.Parser().parse(b"[[" + probe.replace(b"\n", b"],[") + b"]]"),
                             len(names)) is None:
            return None
        matrix = _matrix(simdjson.Parser().parse(b"[[" + data.replace(b"\n", b"],[") + b"]]"), len(names))
    except _SIMDJSON_ERRORS:
        return None
    return (names, matrix) if matrix is not None else None


def _matrix(rows: Any, width: int) -> np.ndarray | None:
    """simdjson's array of rows as a float matrix, when every row is an array of `width` numbers
    (as_buffer flattens nested arrays: the callers prove there are none)."""
    if any(len(row) != width for row in rows):
        return None
    values = np.frombuffer(rows.as_buffer(of_type="d"), dtype=float)
    return values.reshape(len(rows), width) if values.size == len(rows) * width else None


def _count(body: bytes, byte: bytes) -> int:
    """How often a one-byte value occurs: numpy compares 4 MB in 0.25 ms, bytes.count takes 1.2."""
    return int(np.count_nonzero(np.frombuffer(body, dtype=np.uint8) == byte[0]))
