"""The bodies the scoring endpoints answer, and the JSON encoding every serve module uses.

- `/predict`: predictions, per-class probabilities for classifiers, the model version and alias.
- `/invocations`: {"predictions": [...]}, as MLflow's scoring server answers.
- `/v2/...`: outputs `predict` and, for classifiers, `predict_proba`; the model's metadata.

`dumps` writes compact JSON (numpy values as numbers, NaN and infinity as null); the prediction
log (serve/predlog.py) writes its lines with it too. Depends on serve/model.py for the model's
description (what its predictions are, from its task) and serve/requests.py for `RequestError`
(an unknown v2 output is the request's fault).
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

import orjson

from mlflow_cli.serve.model import Scores, ServedModel
from mlflow_cli.serve.requests import RequestError


def jsonable(values: np.ndarray) -> list[Any]:
    """A prediction array as JSON values; NaN and infinity (no JSON for them) as null."""
    if values.dtype.kind == "f" and not np.isfinite(values).all():
        return [None if not math.isfinite(v) else v for v in values.tolist()]
    if values.dtype.kind == "M":
        return [None if pd.isna(v) else pd.Timestamp(v).isoformat() for v in values]
    return values.tolist()


def probability_records(classes: list[Any], proba: np.ndarray) -> orjson.Fragment:
    """`[{"<class>": p, ...}, ...]`, one object per row, as JSON ready to embed in a response.

    orjson encodes the matrix in one call and the class keys are spliced between its numbers
    with bytes operations: 4x faster than building 10,000 dicts. The matrix's JSON holds only
    numbers (or null for NaN), commas and brackets, so every boundary is unambiguous."""
    names = [str(c) for c in classes]
    if proba.ndim != 2 or proba.shape[1] != len(names) or len(set(names)) != len(names) or len(proba) == 0:
        return orjson.Fragment(dumps([dict(zip(names, row)) for row in np.asarray(proba).tolist()]))
    keys = [orjson.dumps(name) + b":" for name in names]
    numbers = orjson.dumps(np.ascontiguousarray(proba, dtype=float), option=orjson.OPT_SERIALIZE_NUMPY)[2:-2]
    first = b"{" + keys[0]
    if len(keys) <= 2:  # row breaks marked with a newline (never raw in orjson's output, keys included);
        marked = numbers.replace(b"],[", b"\n")  # a comma left then sits between a row's two numbers
        if len(keys) == 2:
            marked = marked.replace(b",", b"," + keys[1])
        return orjson.Fragment(b"[" + first + marked.replace(b"\n", b"}," + first) + b"}]")
    values = numbers.replace(b"],[", b",").split(b",")
    parts = [b""] * (2 * len(values))
    parts[0::2] = [b"}," + first, *(b"," + key for key in keys[1:])] * (len(values) // len(keys))
    parts[1::2] = values
    parts[0] = first
    return orjson.Fragment(b"[" + b"".join(parts) + b"}]")


def predict_response(model: ServedModel, scores: Scores, predictions: list[Any], request_id: str) -> dict[str, Any]:
    body: dict[str, Any] = {"model_version": model.version, "alias": model.alias, "request_id": request_id,
                            "predictions": predictions}
    if model.has_proba and scores.proba is not None:
        body["classes"] = model.classes
        body["probabilities"] = probability_records(model.classes or [], scores.proba)
    return body


def invocations_response(predictions: list[Any]) -> dict[str, Any]:
    return {"predictions": predictions}


def v2_datatype(values: np.ndarray) -> str:
    kind = values.dtype.kind
    if kind == "b":
        return "BOOL"
    if kind in "iu":
        return "INT64"
    if kind == "f":
        return "FP64"
    return "BYTES"


def v2_response(model: ServedModel, scores: Scores, predictions: list[Any], request_id: str,
                wanted: list[str] | None) -> dict[str, Any]:
    n = len(predictions)
    outputs = [{"name": "predict", "shape": [n], "datatype": v2_datatype(scores.predictions), "data": predictions}]
    if model.has_proba and scores.proba is not None:
        k = scores.proba.shape[1]
        outputs.append({"name": "predict_proba", "shape": [n, k], "datatype": "FP64",
                        "data": scores.proba.ravel().tolist()})
    if wanted is not None:
        known = {o["name"] for o in outputs}
        unknown = [w for w in wanted if w not in known]
        if unknown:
            raise RequestError(f"Unknown output {unknown[0]!r}; this model has outputs "
                               f"{', '.join(sorted(known))}.")
        outputs = [o for o in outputs if o["name"] in wanted]
    return {"model_name": model.project, "model_version": model.version, "id": request_id, "outputs": outputs}


def v2_input_datatype(spec: dict[str, Any]) -> str:
    kind, dtype = spec.get("kind"), str(spec.get("dtype", ""))
    if kind == "numeric":
        return "INT64" if dtype.startswith(("int", "Int", "uint", "UInt")) else "FP64"
    if kind == "boolean":
        return "BOOL"
    return "BYTES"


def v2_metadata(model: ServedModel) -> dict[str, Any]:
    if model.is_classifier:
        predicted = "BYTES" if any(isinstance(c, str) for c in model.classes or []) else (
            "BOOL" if all(isinstance(c, bool) for c in model.classes or [None]) else "INT64")
    else:
        predicted = "FP64" if model.prediction == "value" else "INT64"  # cluster ids
    outputs = [{"name": "predict", "datatype": predicted, "shape": [-1]}]
    if model.has_proba:
        outputs.append({"name": "predict_proba", "datatype": "FP64", "shape": [-1, len(model.classes or [])]})
    return {"name": model.project, "versions": [model.version], "platform": "mlw-sklearn",
            "inputs": [{"name": name, "datatype": v2_input_datatype(spec), "shape": [-1]}
                       for name, spec in model.schema["columns"].items()],
            "outputs": outputs}


def dumps(body: Any) -> bytes:
    """Compact JSON; numpy values as numbers, NaN and infinity as null (JSON has neither)."""
    return orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS, default=json_default)


def json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (pd.Timestamp, datetime)):
        return value.isoformat()
    return str(value)
