"""Coercing a raw column to the type its kind needs (numbers, booleans as 0/1, dates, category
labels, texts): the one rule prepare, the model's first step (models/features.py: TypeCoercer),
scoring and monitoring all apply, so '3' and 3, 'yes' and True read alike everywhere.

Light (pandas and numpy only, no scikit-learn): monitor reads columns with it without loading
the model's libraries.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from mlflow_cli.data.tokens import BOOLEAN_TOKENS, NA_TOKENS


def coerce_column(values: pd.Series, kind: str) -> pd.Series:
    """One column to the representation its kind needs downstream (row-wise, no state).

    Value-by-value work runs once per distinct value (`_map_distinct`), not once per row:
    a million-row column of a few categories costs a few Python calls."""
    if kind == "numeric":
        if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            return values.astype("float64")
        return pd.to_numeric(_map_distinct(values, _null_token), errors="coerce").astype("float64")
    if kind == "boolean":
        if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
            return values.astype("float64")
        return _map_distinct(values, lambda v: BOOLEAN_TOKENS.get(str(v).strip().lower(), np.nan)).astype("float64")
    if kind == "datetime":
        if pd.api.types.is_datetime64_any_dtype(values):
            return values
        return pd.to_datetime(values, errors="coerce", format="ISO8601" if values.dtype != object else None)
    if kind == "categorical":
        if pd.api.types.is_string_dtype(values):
            return values
        return _map_distinct(values, _label)
    if kind == "text":
        return values.fillna("").astype(str)
    raise ValueError(f"unknown column kind {kind!r}")


def already_coerced(values: pd.Series, kind: str) -> bool:
    """True when `coerce_column` would return the column unchanged."""
    if kind in ("numeric", "boolean"):
        return values.dtype == np.float64
    if kind == "datetime":
        return pd.api.types.is_datetime64_any_dtype(values)
    return kind == "categorical" and pd.api.types.is_string_dtype(values)


def _map_distinct(values: pd.Series, fn: Any) -> pd.Series:
    """Apply fn to each distinct non-missing value and spread the results back; missing stays NaN."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    mapped = np.empty(len(uniques) + 1, dtype=object)
    mapped[:-1] = [fn(u) for u in uniques]
    mapped[-1] = np.nan
    return pd.Series(mapped[codes], index=values.index, name=values.name)


def _label(value: Any) -> str:
    """Categories are strings; 3.0 and 3 name the same category '3'."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _null_token(value: Any) -> Any:
    """Common spellings of 'no value' ('n/a', '?', '-') become NaN before parsing numbers."""
    return np.nan if str(value).strip().lower() in NA_TOKENS else value


def time_values(values: pd.Series) -> pd.Series:
    """A column of times as UTC timestamps (times without a zone are taken as UTC; unreadable ones
    missing): what a time window compares."""
    return pd.to_datetime(coerce_column(values, "datetime"), errors="coerce", utc=True)
