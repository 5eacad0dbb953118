"""Enforcing the input contract that prepare recorded (schema.json) on records to score.

Used by `mlw serve` (a bad request gets 422 naming each bad field and row) and `mlw predict`
(a bad row is reported with its row number, or written aside with --rejects). Checks are
vectorised per column, so validating a large batch costs little next to predicting it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mlflow_cli.data.tokens import BOOLEAN_TOKENS, NA_TOKENS
from mlflow_cli.data.validation.fast import passenger_columns

MAX_ISSUES = 100
NOT_NULLABLE = "missing value; this column had no missing values in training"


@dataclass
class Issue:
    """One problem: a whole column (row None) or one field of one row (row is 0-based)."""

    field: str
    message: str
    row: int | None = None

    def to_json(self, row_offset: int = 0) -> dict[str, Any]:
        return {"row": None if self.row is None else self.row + row_offset, "field": self.field,
                "error": self.message}


@dataclass
class Validation:
    issues: list[Issue] = field(default_factory=list)
    bad_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    column_errors: bool = False
    problems: int = 0  # all of them; `issues` lists the first MAX_ISSUES

    @property
    def ok(self) -> bool:
        return not self.issues

    def summary(self, row_offset: int = 0, limit: int = 5) -> str:
        shown = []
        for issue in self.issues[:limit]:
            where = f"row {issue.row + row_offset}, " if issue.row is not None else ""
            shown.append(f"{where}column '{issue.field}': {issue.message}")
        more = f" (and {len(self.issues) - limit} more)" if len(self.issues) > limit else ""
        return "; ".join(shown) + more


def validate_frame(frame: pd.DataFrame, schema: dict[str, Any], *, unseen: str = "reject",
                   allow_extra: bool = True) -> Validation:
    """Check columns, types, categories and missing values against the schema.

    Missing or (with allow_extra=False) unknown columns fail the whole frame; everything
    else marks the rows it affects in `bad_rows`, so a batch can score the rest."""
    columns = schema["columns"]
    result = Validation(bad_rows=np.zeros(len(frame), dtype=bool))
    for name in columns:
        if name not in frame.columns:
            result.issues.append(Issue(name, "missing column (the model needs it)"))
            result.column_errors = True
    if not allow_extra:
        known = set(columns) | passenger_columns(schema)
        for name in frame.columns:
            if name not in known:
                result.issues.append(Issue(str(name), "unknown column (the model was not trained with it)"))
                result.column_errors = True
    if result.column_errors:
        result.problems = len(result.issues)
        return result
    for name, spec in columns.items():
        bad, message = _check_column(frame[name], spec, unseen)
        if bad is None:
            continue
        result.bad_rows |= bad
        result.problems += int(bad.sum())
        for row in np.flatnonzero(bad)[:MAX_ISSUES - len(result.issues)]:
            result.issues.append(Issue(name, message(frame[name].iloc[row], int(row)), int(row)))
    result.issues.sort(key=lambda issue: -1 if issue.row is None else issue.row)
    return result


def _check_column(values: pd.Series, spec: dict[str, Any], unseen: str) -> tuple[np.ndarray | None, Any]:
    if values.dtype == object:
        nested = values.map(lambda v: isinstance(v, (list, dict, np.ndarray))).to_numpy(dtype=bool)
        if nested.any():  # a list or an object where one value belongs: nothing else can be checked
            return nested, lambda v, _: f"expected a single value, got {'an object' if isinstance(v, dict) else 'a list'}"
    if spec["kind"] == "numeric" and pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        # The common case (numbers from JSON or Parquet): only missing values can be wrong.
        if spec.get("nullable", True):
            return None, None
        missing = np.isnan(values.to_numpy(dtype=float, na_value=np.nan))
        return (missing, _fixed(NOT_NULLABLE)) if missing.any() else (None, None)
    missing = values.isna().to_numpy()
    if values.dtype == object or pd.api.types.is_string_dtype(values):
        text = values.astype(str).str.strip()
        missing = missing | (text.str.lower().isin(NA_TOKENS) & (spec["kind"] in ("numeric", "boolean"))).to_numpy()
    kind = spec["kind"]
    bad = np.zeros(len(values), dtype=bool)
    message: Any = None
    if not spec.get("nullable", True) and missing.any():
        bad |= missing
        message = _fixed(NOT_NULLABLE)
    present = ~missing
    if kind == "numeric":
        parsed = pd.to_numeric(values.where(present), errors="coerce") if not pd.api.types.is_numeric_dtype(values) \
            else values.astype(float)
        wrong = present & parsed.isna().to_numpy()
        if pd.api.types.is_bool_dtype(values):
            wrong = present
        if wrong.any():
            bad |= wrong
            message = _either(message, missing, lambda v, _: f"expected a number, got {v!r}")
    elif kind == "boolean":
        if not (pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values)):
            tokens = values.astype(str).str.strip().str.lower()
            wrong = present & ~tokens.isin(set(BOOLEAN_TOKENS) | {"1", "0", "1.0", "0.0"}).to_numpy()
            if wrong.any():
                bad |= wrong
                message = _either(message, missing, lambda v, _: f"expected true/false or yes/no, got {v!r}")
    elif kind == "datetime":
        if not pd.api.types.is_datetime64_any_dtype(values):
            parsed = pd.to_datetime(values.where(present), errors="coerce", format="mixed")
            wrong = present & parsed.isna().to_numpy()
            if wrong.any():
                bad |= wrong
                message = _either(message, missing, lambda v, _: f"expected a date or time (ISO 8601), got {v!r}")
    elif kind == "categorical" and unseen == "reject" and spec.get("categories"):
        from mlflow_cli.data.coerce import coerce_column

        labels = coerce_column(values, "categorical")
        wrong = present & ~labels.isin(spec["categories"]).to_numpy()
        if wrong.any():
            shown = ", ".join(spec["categories"][:10]) + (", ..." if len(spec["categories"]) > 10 else "")
            bad |= wrong
            message = _either(message, missing, lambda v, _: f"unseen category {v!r} (known: {shown})")
    if not bad.any():
        return None, None
    return bad, message


def _fixed(text: str) -> Any:
    return lambda value, row: text


def _either(first: Any, missing: np.ndarray, second: Any) -> Any:
    """Missing values (by the mask, so 'n/a' counts too) get the first message, present ones the second."""
    if first is None:
        return second
    return lambda value, row: first(value, row) if missing[row] else second(value, row)
