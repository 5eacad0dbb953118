"""The fast checks: whether records are *certainly* valid against prepare's schema, decided
without pandas or scikit-learn, for each form a scoring model takes (column lists of JSON
values, a float matrix). True means every check of frame.py would pass; False means "not
sure", and the caller runs frame.py's full checks, which name each bad field. Used through
models/scoring/model.py by `mlw serve`'s request path and the scoring bundle of `mlw predict`,
which must not import pandas. Imports numpy only."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mlflow_cli.data.tokens import BOOLEAN_TOKENS

NUMBER_TYPES = {int, float}  # JSON numbers as parsed (bool, a subclass of int, is not one of them)


def numeric_schema(schema: dict[str, Any] | None) -> bool:
    """Every input column is numeric (dates, text, categories and booleans need pandas' checks)."""
    specs = (schema or {}).get("columns") or {}
    return bool(specs) and all(spec.get("kind") == "numeric" for spec in specs.values())


def passenger_columns(schema: dict[str, Any]) -> set[str]:
    """Columns a request may carry that the model does not use: ids and the target."""
    return set(schema.get("id_columns") or []) | ({schema["target"]["name"]} if schema.get("target") else set())


def matrix_certainly_valid(names: Sequence[str], matrix: np.ndarray, schema: dict[str, Any]) -> bool:
    """The float-matrix counterpart of `columns_certainly_valid` (serve/matrix.py): the schema's
    columns, all numeric, plus optionally ids and the target; no infinity; NaN (a missing
    value) only where training saw missing values."""
    specs, given = schema["columns"], set(names)
    if len(given) != len(names) or specs.keys() - given or given - specs.keys() - passenger_columns(schema):
        return False
    for j, name in enumerate(names):
        spec = specs.get(name)
        if spec is None:
            continue
        if spec["kind"] != "numeric" or np.isinf(matrix[:, j]).any():
            return False
        if not spec.get("nullable", True) and np.isnan(matrix[:, j]).any():
            return False
    return True


def columns_certainly_valid(columns: Mapping[str, Sequence[Any]], schema: dict[str, Any], unseen: str) -> bool:
    """True when column lists of JSON values pass every check `validate_frame(..., allow_extra=False)`
    makes, decided by the values' types without pandas (~10 us for a one-row request, against
    ~1 ms for the frame). False means "not sure": the caller runs `validate_frame` for the issues.

    Qualifies: the schema's columns (plus, optionally, id and target columns); numbers (not booleans) for numeric columns; true/false,
    or only words such as yes/no, for boolean ones; known category strings for categorical ones
    (any string when unseen categories are allowed); None only where training saw missing values.
    Dates and text never qualify: their parsing is pandas' job."""
    specs = schema["columns"]
    if specs.keys() - columns.keys() or columns.keys() - specs.keys() - passenger_columns(schema):
        return False
    for name, spec in specs.items():
        values = columns[name]
        types = set(map(type, values))
        if type(None) in types:
            if not spec.get("nullable", True):
                return False
            types.discard(type(None))
        kind = spec["kind"]
        if kind == "numeric":
            if not types <= NUMBER_TYPES or not _finite(values, nullable=spec.get("nullable", True)):
                return False
        elif kind == "boolean":
            if types == {str}:
                if not {v.strip().lower() for v in values if v is not None} <= BOOLEAN_TOKENS.keys():
                    return False
            elif not types <= {bool}:
                return False
        elif kind == "categorical":
            if not types <= {str}:
                return False
            known = spec.get("categories")
            if unseen == "reject" and known and not set(values) - {None} <= set(known):
                return False
        else:
            return False
    return True


def _finite(values: Sequence[Any], nullable: bool) -> bool:
    """No infinity (scikit-learn's imputers refuse it), no NaN where missing values are not
    allowed, and nothing too large for a float."""
    try:
        numbers = np.array(values, dtype=float)
    except (OverflowError, TypeError, ValueError):
        return False
    if nullable:
        return not np.isinf(numbers).any()
    return bool(np.isfinite(numbers).all())
