"""The scoring endpoints as data: how each protocol reads a request, answers it and words its
errors (`Protocol`: PREDICT, INVOCATIONS, V2_INFER), and what any path's errors and metric label
look like. serve/app.py routes requests to these; serve/middleware.py words its 401 and 413 with
`error_for_path`. Depends on serve/requests.py and serve/responses.py; knows no FastAPI.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mlflow_cli.serve.model import ServedModel
from mlflow_cli.serve.requests import parse_csv, parse_invocations, parse_predict, parse_v2
from mlflow_cli.serve.responses import invocations_response, predict_response, v2_response

_V2_MODEL = re.compile(r"^/v2/models/[^/]+(?:/versions/[^/]+)?(/infer|/ready)?$")
KNOWN_ENDPOINTS = frozenset({"/", "/predict", "/invocations", "/health", "/ping", "/metadata", "/metrics", "/docs",
                             "/openapi.json", "/v2", "/v2/health/live", "/v2/health/ready", "/recommend", "/ratings"})
_ONE = re.compile(r"^/(recommend|similar)/[^/]+$")
# The endpoints that score (as endpoint_label names them): their refusals go to the prediction log.
SCORING_ENDPOINTS = frozenset({"/predict", "/invocations", "/v2/models/{name}/infer",
                               "/v2/models/{name}/versions/{version}/infer"})


@dataclass(frozen=True)
class Protocol:
    """How one endpoint reads a request, answers it, and words its errors."""

    endpoint: str
    parse: Callable[[bytes, str | None, dict[str, Any]], tuple[Any, Any]]  # body, content type, schema
    respond: Callable[[ServedModel, Any, list[Any], str, Any], dict[str, Any]]
    error: Callable[[int, str, list[dict[str, Any]] | None], tuple[int, dict[str, Any]]]


def _predict_parse(body: bytes, content_type: str | None, schema: dict[str, Any]) -> tuple[Any, Any]:
    if (content_type or "").split(";")[0].strip().lower() == "text/csv":
        return parse_csv(body, schema), None
    return parse_predict(body, schema), None


def _predict_error(status: int, message: str, issues: list[dict[str, Any]] | None) -> tuple[int, dict[str, Any]]:
    return (422, {"detail": issues}) if issues is not None else (status, {"detail": message})


def _mlflow_error(status: int, message: str, issues: list[dict[str, Any]] | None) -> tuple[int, dict[str, Any]]:
    """MLflow's scoring server answers 400 BAD_REQUEST for unreadable input and for schema failures."""
    body: dict[str, Any] = {"error_code": "BAD_REQUEST", "message": message}
    if issues is not None:
        body["detail"] = issues
        status = 400
    return status, body


def _v2_error(status: int, message: str, issues: list[dict[str, Any]] | None) -> tuple[int, dict[str, Any]]:
    return (422, {"error": message, "detail": issues}) if issues is not None else (status, {"error": message})


PREDICT = Protocol("/predict", _predict_parse,
                   lambda model, scores, preds, rid, _: predict_response(model, scores, preds, rid),
                   _predict_error)
INVOCATIONS = Protocol("/invocations", lambda body, ct, schema: (parse_invocations(body, ct, schema), None),
                       lambda model, scores, preds, rid, _: invocations_response(preds), _mlflow_error)


def _v2_parse(body: bytes, content_type: str | None, schema: dict[str, Any]) -> tuple[Any, Any]:
    rows, request_id, wanted = parse_v2(body)
    return rows, (request_id, wanted)


V2_INFER = Protocol("/v2/models/{name}/infer", _v2_parse,
                    lambda model, scores, preds, rid, ctx: v2_response(model, scores, preds, ctx[0] or rid, ctx[1]),
                    _v2_error)


def endpoint_label(path: str) -> str:
    """The route template for metrics: bounded label values whatever paths clients send."""
    if path in KNOWN_ENDPOINTS:
        return path
    one = _ONE.match(path)
    if one:
        return "/recommend/{user}" if one.group(1) == "recommend" else "/similar/{item}"
    match = _V2_MODEL.match(path)
    if match:
        versioned = "/versions/{version}" if "/versions/" in path else ""
        return f"/v2/models/{{name}}{versioned}{match.group(1) or ''}"
    return "other"


def error_for_path(path: str, status: int, message: str) -> tuple[int, dict[str, Any]]:
    if path == "/invocations":
        return _mlflow_error(status, message, None)
    if path.startswith("/v2/"):
        return _v2_error(status, message, None)
    return _predict_error(status, message, None)
