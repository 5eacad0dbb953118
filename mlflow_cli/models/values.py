"""Small value helpers every task's metrics share: numpy scalars as plain Python values, labels
as flat arrays, metric results without undefined values. numpy is imported inside functions."""

from __future__ import annotations

import math
from typing import Any


def plain(value: Any) -> Any:
    """A numpy scalar as the Python value it holds (labels must be JSON-serialisable)."""
    return value.item() if type(value).__module__ == "numpy" else value


def as_labels(y: Any) -> Any:
    import numpy as np

    return np.asarray(y).ravel()


def finite(results: dict[str, float | None]) -> dict[str, float]:
    """Drop metrics that came out undefined (None, NaN or infinite); make the rest floats."""
    out = {}
    for name, value in results.items():
        if value is not None and math.isfinite(value):
            out[name] = float(value)
    return out
