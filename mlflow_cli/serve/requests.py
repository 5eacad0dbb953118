"""Reading a scoring request's body into `Rows`, for the three protocols.

- `/predict` (mlw's own): a list of records, one record, or {"columns": [...], "data": [[...]]}.
- `/invocations` (MLflow's scoring protocol, as `mlflow models serve` speaks it): JSON with
  exactly one of dataframe_split, dataframe_records, instances, inputs; or CSV with
  `Content-Type: text/csv`.
- `/v2/models/{name}/infer` (Open Inference Protocol, KServe v2): one input tensor per
  column, shape [n] or [n, 1].

Each parser turns the body into `Rows` (column lists, a float matrix, or a pandas frame built
once, column-wise, when something needs it) or raises `RequestError` (malformed: 400, or 415
for a content type or charset no protocol takes). Whether the rows fit the model's schema is
`serve/scoring.py`'s question. Depends on serve/matrix.py (large numeric bodies) and nothing
else of mlw's, so it knows no model.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

import orjson

from mlflow_cli.serve.matrix import csv_matrix, json_matrix, rows_matrix, table_matrix

MLFLOW_FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
# pandas.read_csv's default missing-value spellings, so CSV bodies mean what they meant before
CSV_NULLS = ["", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "<NA>",
             "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"]
V2_DATATYPES = {"BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP16", "FP32",
                "FP64", "BYTES"}
V2_NUMERIC = V2_DATATYPES - {"BOOL", "BYTES"}


class RequestError(Exception):
    """The body cannot be read as the protocol's request (400, or `status`)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class Rows:
    """The records of one request. `columns` holds the parsed JSON values column by column, when
    the request gives every record the same keys; `matrix` holds them as one float matrix (with
    `names`), for a large all-numbers request to an all-numeric model (serve/matrix.py), and
    `_records` then gives the records exactly as sent, when parsing kept them. The pandas frame
    is built only when something needs it (validation issues, dates, text, large batches
    through scikit-learn); `build` makes it, else it comes from the matrix."""

    __slots__ = ("columns", "n", "_frame", "_build", "matrix", "names", "_records")

    def __init__(self, n: int, columns: dict[str, list[Any]] | None = None,
                 build: Callable[[], pd.DataFrame] | None = None, frame: pd.DataFrame | None = None,
                 matrix: np.ndarray | None = None, names: list[str] | None = None,
                 records: Callable[[], list[dict[str, Any]]] | None = None) -> None:
        self.n, self.columns, self._build, self._frame = n, columns, build, frame
        self.matrix, self.names, self._records = matrix, names, records

    @classmethod
    def of(cls, frame: pd.DataFrame) -> Rows:
        return cls(len(frame), frame=frame)

    @classmethod
    def of_matrix(cls, names: list[str], matrix: np.ndarray, build: Callable[[], pd.DataFrame] | None = None,
                  records: Callable[[], list[dict[str, Any]]] | None = None) -> Rows:
        return cls(len(matrix), build=build, matrix=matrix, names=names, records=records)

    @property
    def frame(self) -> pd.DataFrame:
        if self._frame is None:
            if self._build is not None:
                self._frame = self._build()
            else:
                assert self.matrix is not None and self.names is not None
                self._frame = pd.DataFrame(self.matrix, columns=self.names)
        return self._frame

    def records(self) -> list[dict[str, Any]]:
        """Rows as plain dicts (for the prediction log); missing values as None."""
        if self.columns is not None:
            names = list(self.columns)
            return [dict(zip(names, row)) for row in zip(*self.columns.values())]
        if self._records is not None:
            return self._records()
        if self.matrix is not None and self._build is None and self._frame is None:
            names = self.names or []
            return [dict(zip(names, row)) for row in self.matrix.tolist()]  # all finite: nothing to replace
        return frame_records(self.frame)


def frame_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as plain dicts, missing values as None (JSON has no NaN). Column-wise: 3x faster than to_dict."""
    names = [str(c) for c in frame.columns]
    columns = []
    for _, values in frame.items():
        plain = values.tolist()
        if values.hasnans:
            plain = [None if missing else v for v, missing in zip(plain, values.isna().tolist())]
        columns.append(plain)
    return [dict(zip(names, row)) for row in zip(*columns)]


# --------------------------------------------------------------------------- parsing


def parse_json(body: bytes) -> tuple[Any, bool]:
    """The payload, and whether orjson read it (4x faster than the standard library on large
    bodies). The standard library reads what orjson refuses: NaN and Infinity, which Python
    clients write by default, but also lone surrogates and integers beyond 64 bits, so its
    payloads are never trusted to the pandas-free path (see `_lenient`)."""
    if not body.strip():
        raise RequestError("The request body is empty; send JSON.")
    try:
        return orjson.loads(body), True
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(body), False
    except RecursionError:
        raise RequestError("The body is not usable JSON: it is nested too deeply.") from None
    except (ValueError, TypeError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise RequestError(f"The body is not valid JSON ({short(exc)}).") from None


def frame_from_records(records: Any, what: str, schema: dict[str, Any] | None = None) -> Rows:
    if not isinstance(records, list):
        raise RequestError(f"{what} must be a list of records (JSON objects). Got {_kind(records)}.")
    if set(map(type, records)) - {dict}:
        index, record = next((i, r) for i, r in enumerate(records) if type(r) is not dict)
        raise RequestError(f"{what} must be a list of records (JSON objects); item {index} is {_kind(record)}.")
    def build() -> pd.DataFrame:
        return _frame(lambda: pd.DataFrame(records), what)

    found = _record_rows(records)
    if found is None:
        return Rows(len(records), None, build)
    keys, rows = found
    numbers = rows_matrix(rows, len(keys), schema)
    if numbers is not None:
        return Rows.of_matrix(keys, numbers, build, lambda: records)
    return Rows(len(records), {keys[0]: rows} if len(keys) == 1 else dict(zip(keys, map(list, zip(*rows)))), build)


def _record_rows(records: list[dict[str, Any]]) -> tuple[list[str], list[Any]] | None:
    """(keys, each record's values) when every record has the same keys, else None. Each record
    is visited once, taking all its values (itemgetter): going column by column over 10,000
    records is 10x slower, the records no longer being in the CPU's cache. With one key, the
    values are the values themselves, not 1-tuples."""
    if not records or not records[0]:
        return None
    keys = list(records[0])
    if set(map(len, records)) != {len(keys)}:
        return None
    try:
        return keys, list(map(operator.itemgetter(*keys), records))
    except KeyError:  # as many keys, but other ones
        return None


def frame_from_split(split: Any, what: str, schema: dict[str, Any] | None = None) -> Rows:
    if not isinstance(split, dict):
        raise RequestError(f"{what} must be an object {{\"columns\": [...], \"data\": [[...], ...]}}. "
                           f"Got {_kind(split)}.")
    columns, data = split.get("columns"), split.get("data")
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        raise RequestError(f"{what}: \"columns\" must be a list of column names (strings).")
    if not isinstance(data, list):
        raise RequestError(f"{what}: \"data\" must be a list of rows, each a list of {len(columns)} values.")
    for index, row in enumerate(data):
        if not isinstance(row, list) or len(row) != len(columns):
            raise RequestError(f"{what}: row {index} of \"data\" must be a list of {len(columns)} values (one per "
                               f"column). Got {_kind(row)}.")
    _no_duplicates(columns, what)

    def build() -> pd.DataFrame:
        return _frame(lambda: pd.DataFrame(data, columns=columns) if data else pd.DataFrame(columns=columns), what)

    numbers = rows_matrix(data, len(columns), schema) if columns else None
    if numbers is not None:
        return Rows.of_matrix(columns, numbers, build, lambda: [dict(zip(columns, row)) for row in data])
    by_column = {name: list(values) for name, values in zip(columns, zip(*data))} if data else None
    return Rows(len(data), by_column, build)


def frame_from_columns(columns: dict[str, Any], what: str) -> Rows:
    """{"a": [1, 2], "b": [3, 4]}, or {"a": 1, "b": 3} for one record."""
    if all(not isinstance(v, list) for v in columns.values()):
        return frame_from_records([columns], what)
    lengths = {len(v) if isinstance(v, list) else None for v in columns.values()}
    if None in lengths or len(lengths) != 1:
        raise RequestError(f"{what}: as an object of columns, every value must be a list, all of the same "
                           f"length.")
    return Rows(lengths.pop(), dict(columns), lambda: _frame(lambda: pd.DataFrame(columns), what))


def _lenient(rows: Rows, strict: bool) -> Rows:
    """Rows from a body only the standard library could read take the frame path."""
    if not strict:
        rows.columns = rows.matrix = None
    return rows


def parse_predict(body: bytes, schema: dict[str, Any] | None = None) -> Rows:
    fast = _matrix_rows(body, schema, bare=True)
    if fast is not None:
        return fast
    payload, strict = parse_json(body)
    return _lenient(_predict_rows(payload, schema), strict)


def _matrix_rows(body: bytes, schema: dict[str, Any] | None, *, bare: bool) -> Rows | None:
    """A large all-numbers {"columns", "data"} body as a float matrix (serve/matrix.py)."""
    found = json_matrix(body, schema, bare=bare)
    return Rows.of_matrix(*found) if found is not None else None


def _predict_rows(payload: Any, schema: dict[str, Any] | None = None) -> Rows:
    if isinstance(payload, list):
        return frame_from_records(payload, "The body", schema)
    if isinstance(payload, dict):
        if "columns" in payload and "data" in payload and set(payload) <= {"columns", "data", "index"}:
            return frame_from_split(payload, "The body", schema)
        formats = [key for key in payload if key in MLFLOW_FORMATS]
        if len(formats) == 1 and set(payload) <= {formats[0], "params"}:
            return _mlflow_frame(payload, formats[0], schema)
        return frame_from_records([payload], "The body")
    raise RequestError(f"The body must be a list of records, one record, or {{\"columns\": [...], "
                       f"\"data\": [[...]]}}. Got {_kind(payload)}.")


def parse_invocations(body: bytes, content_type: str | None, schema: dict[str, Any] | None = None) -> Rows:
    mime, params = _content_type(content_type)
    charset = params.get("charset", "utf-8").lower()
    if charset not in ("utf-8", "utf8"):
        raise RequestError("The scoring server only supports UTF-8.", status=415)
    if mime == "text/csv":
        return parse_csv(body, schema)
    if mime not in ("application/json", ""):
        raise RequestError(f"This predictor only supports the following content types: "
                           f"['text/csv', 'application/json']. Got '{content_type}'.", status=415)
    fast = _matrix_rows(body, schema, bare=False)
    if fast is not None:
        return fast
    payload, strict = parse_json(body)
    if not isinstance(payload, dict):
        received = "Received a list" if isinstance(payload, list) else \
            f"Received unexpected input type '{_kind(payload)}'"
        raise RequestError(f"{_required_format()}. {received}.")
    formats = [key for key in payload if key in MLFLOW_FORMATS]
    if len(formats) != 1:
        raise RequestError(f"{_required_format()}. Received dictionary with input fields: {list(payload)}.")
    return _lenient(_mlflow_frame(payload, formats[0], schema), strict)


def _required_format() -> str:
    return ("The input must be a JSON dictionary with exactly one of the input fields "
            "{'dataframe_split', 'dataframe_records', 'instances', 'inputs'}")


def _mlflow_frame(payload: dict[str, Any], key: str, schema: dict[str, Any] | None = None) -> Rows:
    value = payload[key]
    if key == "dataframe_split":
        return frame_from_split(value, "dataframe_split", schema)
    if key == "dataframe_records":
        return frame_from_records(value, "dataframe_records", schema)
    # instances / inputs (TF-serving style): a list of records, or an object of columns
    if isinstance(value, dict):
        return frame_from_columns(value, key)
    if isinstance(value, list) and all(type(v) is dict for v in value):
        return frame_from_records(value, key, schema)
    raise RequestError(f"'{key}' must be a list of records or an object of columns (column -> list of values); "
                       f"this model takes named columns, so unnamed tensors cannot be matched to its inputs.")


def parse_csv(body: bytes, schema: dict[str, Any] | None = None) -> Rows:
    """A CSV body, read by pyarrow as `mlw predict` reads files (half the time of pandas' reader
    for 10,000 rows). Columns the schema calls categorical, boolean, datetime or text stay text,
    so they are interpreted exactly as the same values sent as JSON strings (pyarrow would turn
    '2020-01-01' into a timestamp, or 1/0/true into booleans); missing-value spellings are
    pandas' (`None`, `<NA>`, `NA`, empty, ...)."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    if not body.strip():
        raise RequestError("Failed to parse input as a Pandas DataFrame: the CSV body is empty.")
    fast = csv_matrix(body, schema)
    if fast is not None:
        return Rows.of_matrix(*fast)
    text_columns = {name: pa.string() for name, spec in ((schema or {}).get("columns") or {}).items()
                    if spec.get("kind") != "numeric"}
    try:
        # Only a quoted value can hold a newline; without quotes the reader splits the body freely (2 ms less)
        quoted = b'"' in body
        table = pcsv.read_csv(pa.py_buffer(body), parse_options=pcsv.ParseOptions(newlines_in_values=quoted),
                              convert_options=pcsv.ConvertOptions(strings_can_be_null=True, null_values=CSV_NULLS,
                                                                  column_types=text_columns))
        _no_duplicates(table.column_names, "The CSV header")
        found = table_matrix(table, schema) if schema is not None else None
        if found is not None:  # the frame (exact input types, for the log) only when needed
            return Rows.of_matrix(*found, build=lambda: table.to_pandas(date_as_object=False))
        frame = table.to_pandas(date_as_object=False)
    except RequestError:
        raise
    except Exception as exc:  # ArrowInvalid (ragged rows, bad UTF-8, unterminated quotes), ...
        raise RequestError("Failed to parse input as a Pandas DataFrame. Ensure that the input is a valid "
                           "CSV-formatted Pandas DataFrame produced using the `pandas.DataFrame.to_csv()` "
                           f"method. Error: '{short(exc)}'") from None
    return Rows.of(frame)


def parse_v2(body: bytes) -> tuple[Rows, str | None, list[str] | None]:
    """An inference request -> (frame, request id, requested output names or None)."""
    payload, _ = parse_json(body)
    if not isinstance(payload, dict) or not isinstance(payload.get("inputs"), list) or not payload["inputs"]:
        raise RequestError("An inference request must be a JSON object with a non-empty \"inputs\" list: one "
                           "tensor per column, {\"name\", \"shape\": [n], \"datatype\", \"data\"}.")
    request_id = payload.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise RequestError("\"id\" must be a string.")
    outputs = payload.get("outputs")
    wanted = None
    if outputs is not None:
        if not isinstance(outputs, list) or not all(isinstance(o, dict) and isinstance(o.get("name"), str)
                                                    for o in outputs):
            raise RequestError("\"outputs\" must be a list of objects with a \"name\".")
        wanted = [o["name"] for o in outputs]
    columns: dict[str, pd.Series] = {}
    rows: int | None = None
    for index, tensor in enumerate(payload["inputs"]):
        name, values = _v2_tensor(tensor, index)
        if name in columns:
            raise RequestError(f"Input '{name}' appears twice; send one tensor per column.")
        if rows is not None and len(values) != rows:
            raise RequestError(f"Input '{name}' has {len(values)} rows, but earlier inputs have {rows}; every "
                               f"input needs one value per row.")
        rows = len(values)
        columns[name] = values
    return Rows.of(_frame(lambda: pd.DataFrame(columns), "The inputs")), request_id, wanted


def _v2_tensor(tensor: Any, index: int) -> tuple[str, pd.Series]:
    if not isinstance(tensor, dict):
        raise RequestError(f"inputs[{index}] must be an object {{\"name\", \"shape\", \"datatype\", \"data\"}}.")
    name, shape, datatype, data = (tensor.get(k) for k in ("name", "shape", "datatype", "data"))
    label = f"Input '{name}'" if isinstance(name, str) else f"inputs[{index}]"
    if not isinstance(name, str) or not name:
        raise RequestError(f"{label} needs a \"name\" (the column it holds).")
    if not isinstance(datatype, str) or datatype.upper() not in V2_DATATYPES:
        raise RequestError(f"{label}: \"datatype\" must be one of {', '.join(sorted(V2_DATATYPES))}. "
                           f"Got {datatype!r}.")
    datatype = datatype.upper()
    if (not isinstance(shape, list) or not shape or len(shape) > 2
            or not all(type(d) is int and d >= 0 for d in shape) or (len(shape) == 2 and shape[1] != 1)):
        raise RequestError(f"{label}: \"shape\" must be [n] or [n, 1] (one tensor per column). Got {shape!r}.")
    if not isinstance(data, list):
        raise RequestError(f"{label}: \"data\" must be a list of values.")
    if any(isinstance(v, list) for v in data):
        flat: list[Any] = []
        for v in data:
            if isinstance(v, list):
                flat.extend(v)
            else:
                flat.append(v)
        data = flat
    if len(data) != shape[0]:
        raise RequestError(f"{label}: \"shape\" {shape} says {shape[0]} values, but \"data\" holds {len(data)}.")
    if any(isinstance(v, (list, dict)) for v in data):
        raise RequestError(f"{label}: \"data\" must hold single values (nested deeper than the shape).")
    values = pd.Series(data, dtype=object if datatype == "BYTES" else None)
    present = values.dropna()
    if datatype in V2_NUMERIC and len(present) and (
            not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values)):
        raise RequestError(f"{label} is declared {datatype}, but \"data\" holds values that are not numbers.")
    if datatype == "BOOL" and len(present) and not all(isinstance(v, bool) for v in present.tolist()):
        raise RequestError(f"{label} is declared BOOL, but \"data\" holds values that are not true/false.")
    if datatype.startswith(("INT", "UINT")) and len(present) and not np.all(np.mod(present.astype(float), 1) == 0):
        raise RequestError(f"{label} is declared {datatype}, but \"data\" holds numbers that are not integers.")
    return name, values


def _frame(build: Any, what: str) -> pd.DataFrame:
    try:
        return build()
    except Exception as exc:  # pandas refusing an odd structure is a bad request, never a 500
        raise RequestError(f"{what} cannot be read as a table ({short(exc)}).") from None


def _no_duplicates(columns: list[str], what: str) -> None:
    seen: set[str] = set()
    for column in columns:
        if column in seen:
            raise RequestError(f"{what} names column '{column}' twice.")
        seen.add(column)


def _content_type(value: str | None) -> tuple[str, dict[str, str]]:
    parts = [p.strip() for p in (value or "").split(";")]
    params = {}
    for part in parts[1:]:
        key, _, val = part.partition("=")
        params[key.strip().lower()] = val.strip().strip('"')
    return parts[0].lower(), params


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "a number",
            float: "a number", type(None): "null"}.get(type(value), type(value).__name__)


def short(exc: BaseException, limit: int = 200) -> str:
    text = str(exc).replace("\n", " ")
    return text if len(text) <= limit else text[:limit] + "..."
