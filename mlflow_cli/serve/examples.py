"""Example input values derived from a model's input schema (schema.json): the served form's
defaults, the OpenAPI examples, and the curl example in `mlw package`'s README. Plain Python,
so `mlw package` writes its README without loading pandas or scikit-learn."""

from __future__ import annotations

from datetime import datetime
from typing import Any


def example_value(spec: dict[str, Any]) -> Any:
    kind = spec.get("kind")
    if kind == "categorical":
        categories = spec.get("categories") or []
        return categories[0] if categories else "a category"
    if kind == "numeric":
        low, high = spec.get("min"), spec.get("max")
        if low is None or high is None:
            return 0
        middle = (float(low) + float(high)) / 2
        if str(spec.get("dtype", "")).lower().startswith(("int", "uint")):
            return int(round(middle))
        return round(middle, 4)
    if kind == "boolean":
        return True
    if kind == "datetime":
        try:
            low, high = datetime.fromisoformat(str(spec["min"])), datetime.fromisoformat(str(spec["max"]))
        except (KeyError, ValueError, TypeError):
            return "2024-01-01"
        middle = low + (high - low) / 2
        return middle.date().isoformat() if low.time() == high.time() == datetime.min.time() else \
            middle.isoformat(timespec="seconds")
    if kind == "text":
        return "some text"
    return None


def example_record(schema: dict[str, Any]) -> dict[str, Any]:
    return {name: example_value(spec) for name, spec in schema["columns"].items()}
