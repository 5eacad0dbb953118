"""Schema checks that need neither pandas nor scikit-learn: shared by the request path of
`mlw serve` and the lean scoring path of `mlw predict` (lean.py), which must not import them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

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
