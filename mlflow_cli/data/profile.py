"""Data profile and inferred schema, computed batch by batch.

Every statistic here is mergeable: count, nulls, min/max, mean and M2 (Chan's parallel
variance), distinct values and top values up to a cap. So the same code profiles a
streamed CSV, a folder of Parquet parts, or partitions computed on other machines.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

DISTINCT_CAP = 10_000


@dataclass
class ColumnStats:
    name: str
    type: str
    count: int = 0
    nulls: int = 0
    min: Any = None
    max: Any = None
    mean: float = 0.0
    m2: float = 0.0
    numeric_count: int = 0
    values: Counter = field(default_factory=Counter)
    capped: bool = False
    spaces: int = 0

    # ------------------------------------------------------------- accumulate

    def update(self, array: pa.ChunkedArray | pa.Array) -> None:
        kind = kind_of_type(array.type)
        self.count += len(array)
        self.nulls += array.null_count
        valid = len(array) - array.null_count
        if valid == 0:
            return
        if kind in ("numeric", "datetime", "boolean"):
            bounds = pc.min_max(array).as_py()
            self._merge_bounds(bounds["min"], bounds["max"])
        if kind == "numeric":
            as_float = pc.cast(array, pa.float64())
            mean = pc.mean(as_float).as_py()
            m2 = pc.variance(as_float, ddof=0).as_py() * valid
            self._merge_moments(valid, mean, m2)
        if pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
            self.spaces += pc.sum(pc.count_substring(array, " ")).as_py() or 0
        if not self.capped:
            counts = pc.value_counts(array.drop_null() if hasattr(array, "drop_null") else array)
            if len(counts) + len(self.values) > DISTINCT_CAP:
                self.capped = True
                self.values.clear()
            else:
                for value, n in zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist()):
                    self.values[value] += n

    def merge(self, other: ColumnStats) -> None:
        """Combine the stats of another partition of the same column."""
        self.count += other.count
        self.nulls += other.nulls
        self._merge_bounds(other.min, other.max)
        if other.numeric_count:
            self._merge_moments(other.numeric_count, other.mean, other.m2)
        self.spaces += other.spaces
        self.capped = self.capped or other.capped or len(self.values) + len(other.values) > DISTINCT_CAP
        if self.capped:
            self.values.clear()
        else:
            self.values.update(other.values)

    def _merge_bounds(self, lo: Any, hi: Any) -> None:
        if lo is not None:
            self.min = lo if self.min is None else min(self.min, lo)
        if hi is not None:
            self.max = hi if self.max is None else max(self.max, hi)

    def _merge_moments(self, n: int, mean: float, m2: float) -> None:
        total = self.numeric_count + n
        delta = mean - self.mean
        self.mean += delta * n / total
        self.m2 += m2 + delta * delta * self.numeric_count * n / total
        self.numeric_count = total

    # ------------------------------------------------------------- report

    @property
    def distinct(self) -> int:
        return DISTINCT_CAP if self.capped else len(self.values)

    def kind(self, max_categories: int) -> str:
        kind = kind_of_type_name(self.type)
        if kind != "string":
            return kind
        valid = self.count - self.nulls
        if not self.capped and self.distinct <= max_categories:
            return "categorical"
        if valid and self.spaces / valid >= 2:
            return "text"
        return "categorical"

    def profile(self, max_categories: int) -> dict[str, Any]:
        kind = self.kind(max_categories)
        entry: dict[str, Any] = {
            "type": self.type, "kind": kind,
            "missing": self.nulls, "missing_share": round(self.nulls / self.count, 6) if self.count else 0.0,
            "distinct": self.distinct, "distinct_exact": not self.capped,
        }
        if kind in ("numeric", "datetime", "boolean"):
            entry["min"], entry["max"] = _jsonable(self.min), _jsonable(self.max)
        if kind == "numeric" and self.numeric_count:
            entry["mean"] = self.mean
            entry["std"] = math.sqrt(self.m2 / (self.numeric_count - 1)) if self.numeric_count > 1 else 0.0
        if kind in ("categorical", "text") and self.values:
            entry["top"] = [[_jsonable(v), n] for v, n in self.values.most_common(5)]
        return entry

    def schema(self, max_categories: int) -> dict[str, Any]:
        kind = self.kind(max_categories)
        entry: dict[str, Any] = {"dtype": self.type, "kind": kind, "nullable": self.nulls > 0}
        if kind == "categorical" and not self.capped and self.distinct <= max_categories:
            entry["categories"] = sorted(str(v) for v in self.values)
        if kind in ("numeric", "datetime"):
            entry["min"], entry["max"] = _jsonable(self.min), _jsonable(self.max)
        return entry


def kind_of_type(arrow_type: pa.DataType) -> str:
    if pa.types.is_boolean(arrow_type):
        return "boolean"
    if pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type) or pa.types.is_decimal(arrow_type):
        return "numeric"
    if pa.types.is_temporal(arrow_type):
        return "datetime"
    if pa.types.is_dictionary(arrow_type):
        return kind_of_type(arrow_type.value_type)
    return "string"


def kind_of_type_name(type_name: str) -> str:
    if type_name == "bool":
        return "boolean"
    if type_name.startswith(("int", "uint", "float", "double", "halffloat", "decimal")):
        return "numeric"
    if type_name.startswith(("timestamp", "date", "time", "duration")):
        return "datetime"
    return "string"


class Profiler:
    """Accumulates ColumnStats over record batches of one schema."""

    def __init__(self) -> None:
        self.columns: dict[str, ColumnStats] = {}
        self.rows = 0

    def update(self, batch: pa.RecordBatch | pa.Table) -> None:
        self.rows += batch.num_rows
        for name, array in zip(batch.schema.names, batch.columns):
            stats = self.columns.get(name)
            if stats is None:
                stats = self.columns[name] = ColumnStats(name, str(array.type))
            stats.update(array)

    def merge(self, other: Profiler) -> None:
        self.rows += other.rows
        for name, stats in other.columns.items():
            if name in self.columns:
                self.columns[name].merge(stats)
            else:
                self.columns[name] = stats

    def profile(self, max_categories: int) -> dict[str, Any]:
        return {"rows": self.rows, "columns": {n: s.profile(max_categories) for n, s in self.columns.items()}}

    def schema(self, max_categories: int) -> dict[str, Any]:
        return {"columns": {n: s.schema(max_categories) for n, s in self.columns.items()}}


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)
