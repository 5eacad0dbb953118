"""The HTTP app behind `mlw serve` (FastAPI on uvicorn).

Routes: `/predict` (mlw), `/invocations` (MLflow), `/v2/...` (Open Inference Protocol),
`/health`, `/metadata`, `/metrics`, `/docs`, and `/` (a form to try the model).

Request bodies are read and parsed by hand rather than by FastAPI's pydantic binding: it
is faster, it lets every protocol keep its own error format, and it enforces
`serve.max_body_mb` while reading. Every scoring request follows one path (`_score`):
read body -> parse into one frame -> check against the schema -> predict -> answer ->
enqueue the log entry. Anything unexpected on that path is logged with the request id
and answered 4xx: no input can produce a 500.

`create_app(config, model_ref)` loads and verifies the model before returning, so an
unservable model stops `mlw serve` before it listens. `factory()` builds the same app
from environment variables, for uvicorn's worker processes (`--workers N`).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import re
import time
import uuid
from collections.abc import Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, Response
from starlette.requests import ClientDisconnect
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mlflow_cli import __version__
from mlflow_cli.core.config import Config, MlwConfig
from mlflow_cli.core.errors import ConfigError
from mlflow_cli.core.store import open_store
from mlflow_cli.serve import protocols
from mlflow_cli.serve.metrics import CONTENT_TYPE, ServeMetrics
from mlflow_cli.serve.model import ModelHolder, ServedModel, load_served_model
from mlflow_cli.serve.openapi import openapi_schema
from mlflow_cli.serve.page import render_page
from mlflow_cli.serve.predlog import FOLDER, LogEntry, PredictionLog
from mlflow_cli.serve.protocols import InputError, RequestError

log = logging.getLogger("mlw.serve")

ENV_SETTINGS = "MLW_SERVE_SETTINGS"
REQUEST_ID = "mlw.request_id"
OPEN_PATHS = frozenset({"/health", "/ping", "/v2/health/live", "/v2/health/ready"})
INLINE_ROWS = 256  # smaller requests are scored on the event loop: a thread hop costs more than it saves
DRAIN_LIMIT = 128 * 1024 * 1024  # read and discard up to this much of an oversized body, so the client sees 413
DRAIN_SECONDS = 10.0
_REQUEST_ID_OK = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_V2_MODEL = re.compile(r"^/v2/models/[^/]+(?:/versions/[^/]+)?(/infer|/ready)?$")
KNOWN_ENDPOINTS = frozenset({"/", "/predict", "/invocations", "/health", "/ping", "/metadata", "/metrics", "/docs",
                             "/openapi.json", "/v2", "/v2/health/live", "/v2/health/ready"})


class BodyTooLarge(Exception):
    pass


# --------------------------------------------------------------------------- protocols


@dataclass(frozen=True)
class Protocol:
    """How one endpoint reads a request, answers it, and words its errors."""

    endpoint: str
    parse: Callable[[bytes, str | None, dict[str, Any]], tuple[Any, Any]]  # body, content type, schema
    respond: Callable[[ServedModel, Any, list[Any], str, Any], dict[str, Any]]
    error: Callable[[int, str, list[dict[str, Any]] | None], tuple[int, dict[str, Any]]]


def _predict_parse(body: bytes, content_type: str | None, schema: dict[str, Any]) -> tuple[Any, Any]:
    if (content_type or "").split(";")[0].strip().lower() == "text/csv":
        return protocols.parse_csv(body, schema), None
    return protocols.parse_predict(body, schema), None


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
                   lambda model, scores, preds, rid, _: protocols.predict_response(model, scores, preds, rid),
                   _predict_error)
INVOCATIONS = Protocol("/invocations", lambda body, ct, schema: (protocols.parse_invocations(body, ct, schema), None),
                       lambda model, scores, preds, rid, _: protocols.invocations_response(preds), _mlflow_error)


def _v2_parse(body: bytes, content_type: str | None, schema: dict[str, Any]) -> tuple[Any, Any]:
    rows, request_id, wanted = protocols.parse_v2(body)
    return rows, (request_id, wanted)


V2_INFER = Protocol("/v2/models/{name}/infer", _v2_parse,
                    lambda model, scores, preds, rid, ctx: protocols.v2_response(model, scores, preds, ctx[0] or rid,
                                                                                 ctx[1]),
                    _v2_error)


def endpoint_label(path: str) -> str:
    """The route template for metrics: bounded label values whatever paths clients send."""
    if path in KNOWN_ENDPOINTS:
        return path
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


# --------------------------------------------------------------------------- the state


class ServeState:
    """Everything the routes share: config, the model holder, metrics and the prediction log."""

    def __init__(self, config: Config, model_ref: str | None = None) -> None:
        self.config = config
        self.settings = config.model.serve
        self.token = read_token(self.settings.token_env)
        self.store = open_store(config)
        ref = model_ref or self.settings.model
        model = load_served_model(self.store, ref)
        self.metrics = ServeMetrics()
        self.metrics.set_model(model)
        self.holder = ModelHolder(self.store, ref, model, self.settings.reload_interval_s, on_swap=self._swapped,
                                  on_refuse=lambda version: self.metrics.reloads.labels("refused").inc())
        self.predlog = PredictionLog(self.store.project_dir / FOLDER, self.settings.log_max_mb)
        self.metrics.watch_log(self.predlog)
        self.max_body = max(1, int(self.settings.max_body_mb * 1024 * 1024))
        self.unseen = self.settings.unseen_categories
        self._page: tuple[str, str] | None = None
        self._openapi: tuple[str, dict[str, Any]] | None = None

    def start(self) -> None:
        keep_freed_memory()
        self.predlog.start()
        self.holder.start()
        settle_heap()

    def stop(self) -> None:
        self.holder.stop()
        self.predlog.close()
        log.info("Prediction log flushed (%d lines written by this process).", self.predlog.lines_written)

    def _swapped(self, previous: ServedModel, model: ServedModel) -> None:
        self.metrics.set_model(model)
        self.metrics.reloads.labels("swapped").inc()
        settle_heap()

    def page(self) -> str:
        model = self.holder.current
        if self._page is None or self._page[0] != model.version:
            self._page = (model.version, render_page(model))
        return self._page[1]

    def openapi(self, app: FastAPI) -> dict[str, Any]:
        model = self.holder.current
        if self._openapi is None or self._openapi[0] != model.version:
            base = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            try:
                self._openapi = (model.version, openapi_schema(base, model, self.unseen))
            except Exception:  # an unusual schema must not take /docs down: serve the generic description
                log.exception("Describing the input schema of %s for /docs failed.", model.version)
                self._openapi = (model.version, base)
        return self._openapi[1]

    async def score(self, request: Request, protocol: Protocol) -> Response:
        started = time.perf_counter()
        model = self.holder.current  # this request uses this model to the end, even if the alias moves
        request_id = request.scope.get(REQUEST_ID) or uuid.uuid4().hex
        try:
            body = await read_body(request, self.max_body)
            rows, context = protocol.parse(body, request.headers.get("content-type"), model.schema)
            if rows.n > INLINE_ROWS:
                scores = await run_in_threadpool(protocols.score_rows, model, rows, self.unseen)
            else:
                scores = protocols.score_rows(model, rows, self.unseen)
            predictions = protocols.jsonable(scores.predictions)
            content = protocols.dumps(protocol.respond(model, scores, predictions, request_id, context))
        except ClientDisconnect:  # nobody is listening for an answer
            return Response(status_code=400)
        except BodyTooLarge:
            return self._error(protocol, 413, f"The request body is larger than serve.max_body_mb "
                                              f"({self.settings.max_body_mb:g} MB). Send fewer rows per request.")
        except RequestError as exc:
            return self._error(protocol, exc.status, exc.message)
        except InputError as exc:
            return self._error(protocol, 422, str(exc), exc.issues)
        except Exception as exc:  # a bug or a model that chokes on valid input: never a 500
            log.exception("Request %s to %s failed while scoring.", request_id, protocol.endpoint)
            return self._error(protocol, 422, f"The model could not score these records ({type(exc).__name__}: "
                                              f"{protocols.short(exc)}). Request id {request_id}; the server "
                                              f"log has the details.")
        latency_ms = (time.perf_counter() - started) * 1000
        try:
            self.predlog.submit(LogEntry(
                ts=datetime.now(timezone.utc).isoformat(), request_id=request_id, model_version=model.version,
                alias=model.alias, endpoint=protocol.endpoint, latency_ms=latency_ms, inputs=rows,
                predictions=predictions, probabilities=scores.proba, classes=model.classes))
            self.metrics.observe_predictions(model, protocol.endpoint, np.asarray(scores.predictions))
        except Exception:  # bookkeeping must never cost the client its answer
            log.exception("Logging request %s failed.", request_id)
        return Response(content, media_type="application/json")

    def _error(self, protocol: Protocol, status: int, message: str,
               issues: list[dict[str, Any]] | None = None) -> Response:
        status, body = protocol.error(status, message, issues)
        return Response(protocols.dumps(body), status_code=status, media_type="application/json")


def settle_heap() -> None:
    """Move everything alive now (modules, the app, the model) out of the garbage collector's
    view. The collector otherwise walks those hundreds of thousands of objects whenever a large
    request allocates enough: a 10,000-row request then took 140 ms instead of 40. What a
    request allocates is still collected. After a hot reload, the previous freeze is undone
    first, so a replaced model is collected once no request holds it."""
    import gc

    gc.unfreeze()
    gc.collect()
    gc.freeze()


MMAP_THRESHOLD = 32 * 1024 * 1024  # glibc's largest; blocks up to this size come from the heap
TRIM_THRESHOLD = 128 * 1024 * 1024  # freed memory kept for reuse before any is returned to the kernel
ARENA_MAX = 2  # malloc arenas (glibc's default is 8 per core), each of which may keep TRIM_THRESHOLD


def keep_freed_memory() -> bool:
    """Tell glibc's malloc to keep freed memory for the next request instead of returning it to the
    kernel. By default a block over 128 KB-32 MB is mapped fresh and unmapped when freed, and every
    page of a fresh mapping costs a page fault on first touch. A 10,000-row request allocates tens
    of MB (the body, simdjson's padded copy and tape, the matrix, the response), and those faults
    took 8-14 ms of a 28 ms request on this VM. Costs up to TRIM_THRESHOLD of resident memory per
    malloc arena after a burst of large requests, so the arenas are capped at ARENA_MAX (common
    advice for Python servers anyway: the interpreter's lock serialises most allocation).
    True when applied (glibc); elsewhere nothing."""
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_threshold, m_arena_max = -1, -3, -8  # from glibc's malloc.h
    return all([mallopt(m_mmap_threshold, MMAP_THRESHOLD), mallopt(m_trim_threshold, TRIM_THRESHOLD),
                mallopt(m_arena_max, ARENA_MAX)])


def read_token(env: str | None) -> str | None:
    if not env:
        return None
    token = os.environ.get(env, "")
    if not token:
        raise ConfigError(f"`serve.token_env` names the environment variable {env}, which is not set (or empty), "
                          f"so no request could be authorised.",
                          hint=f"Export the token before starting: export {env}=$(openssl rand -hex 32); or remove "
                               f"serve.token_env to serve without authentication.")
    return token


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refusing (BodyTooLarge) as soon as it passes `limit` bytes (chunked uploads too)."""
    parts: list[bytes] = []
    size = 0
    stream = request.stream()
    async for chunk in stream:
        size += len(chunk)
        if size > limit:
            await _drain(stream)
            raise BodyTooLarge
        parts.append(chunk)
    return b"".join(parts)


async def _drain(stream: Any) -> None:
    """Read and discard the rest of a refused body (bounded), so the client gets to read the 413."""

    async def discard() -> None:
        seen = 0
        async for chunk in stream:
            seen += len(chunk)
            if seen > DRAIN_LIMIT:
                return

    try:
        await asyncio.wait_for(discard(), DRAIN_SECONDS)
    except Exception:
        pass


# --------------------------------------------------------------------------- middleware


class ServeMiddleware:
    """Request ids, bearer-token auth, the Content-Length limit and request metrics (pure ASGI: cheap)."""

    def __init__(self, app: ASGIApp, state: ServeState) -> None:
        self.app = app
        self.state = state
        self.expected = f"Bearer {state.token}".encode() if state.token else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        path = scope.get("path", "")
        headers = dict(scope.get("headers") or [])
        given = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = given if _REQUEST_ID_OK.match(given) else uuid.uuid4().hex
        scope[REQUEST_ID] = request_id
        status = [500]

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            if self.expected is not None and path not in OPEN_PATHS:
                if not hmac.compare_digest(headers.get(b"authorization", b""), self.expected):
                    await _send_json(send_with_id, *error_for_path(
                        path, 401, "Missing or wrong bearer token. Send 'Authorization: Bearer <token>' with the "
                                   "token from the environment variable named by serve.token_env."),
                        extra=[(b"www-authenticate", b"Bearer")])
                    return
            length = headers.get(b"content-length")
            if length is not None and length.isdigit() and int(length) > self.state.max_body:
                if int(length) <= DRAIN_LIMIT:
                    await _drain_receive(receive)
                await _send_json(send_with_id, *error_for_path(
                    path, 413, f"The request body ({int(length):,} bytes) is larger than serve.max_body_mb "
                               f"({self.state.settings.max_body_mb:g} MB). Send fewer rows per request."))
                return
            await self.app(scope, receive, send_with_id)
        finally:
            self.state.metrics.observe_request(endpoint_label(path), status[0], time.perf_counter() - started)


async def _drain_receive(receive: Receive) -> None:
    async def discard() -> None:
        while True:
            message = await receive()
            if message["type"] != "http.request" or not message.get("more_body"):
                return

    try:
        await asyncio.wait_for(discard(), DRAIN_SECONDS)
    except Exception:
        pass


async def _send_json(send: Send, status: int, body: dict[str, Any],
                     extra: list[tuple[bytes, bytes]] | None = None) -> None:
    content = protocols.dumps(body)
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(content)).encode()),
                            *(extra or [])]})
    await send({"type": "http.response.body", "body": content})


# --------------------------------------------------------------------------- the app


def create_app(config: Config, model_ref: str | None = None) -> FastAPI:
    """The app, with its model loaded and verified (ArtifactError, ConfigError otherwise)."""
    state = ServeState(config, model_ref)
    project = config.model.project

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> Any:
        state.start()
        try:
            yield
        finally:
            state.stop()

    app = FastAPI(title=f"mlw serve: {project}", version=__version__, lifespan=lifespan, redoc_url=None,
                  description=f"Predictions from the `{project}` model ({state.holder.ref}). Schemas below are "
                              f"generated from the model's input schema.")
    app.state.mlw = state
    app.openapi = lambda: state.openapi(app)  # type: ignore[method-assign]

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index() -> HTMLResponse:
        return HTMLResponse(state.page())

    @app.get("/health", tags=["status"], summary="Liveness and the version being served")
    async def health() -> dict[str, Any]:
        model = state.holder.current
        return {"status": "ok", "model_version": model.version, "alias": model.alias}

    @app.get("/ping", tags=["status"], summary="Health check (MLflow and SageMaker name)")
    async def ping() -> dict[str, Any]:
        return {"status": "ok"}

    @app.get("/metadata", tags=["status"], summary="The model: version, task, classes, input schema, metrics")
    async def metadata() -> dict[str, Any]:
        return describe(state.holder.current)

    @app.get("/metrics", tags=["status"], summary="Prometheus metrics")
    async def metrics() -> Response:
        return Response(state.metrics.render(), media_type=CONTENT_TYPE)

    @app.post("/predict", tags=["predict"], summary="Predict: records, or {columns, data}")
    async def predict(request: Request) -> Response:
        return await state.score(request, PREDICT)

    @app.post("/invocations", tags=["predict"], summary="MLflow scoring protocol (JSON or CSV)")
    async def invocations(request: Request) -> Response:
        return await state.score(request, INVOCATIONS)

    # ----- Open Inference Protocol (KServe v2)

    def unknown(name: str, version: str | None = None) -> Response | None:
        model = state.holder.current
        if name != model.project:
            message = f"Unknown model '{name}'. This server serves '{model.project}'."
        elif version is not None and version != model.version:
            message = f"Model '{name}' has no version '{version}' here; it serves {model.version}."
        else:
            return None
        return Response(protocols.dumps({"error": message}), status_code=404, media_type="application/json")

    @app.get("/v2", tags=["open inference"], summary="Server metadata")
    async def v2_server() -> dict[str, Any]:
        return {"name": "mlw", "version": __version__, "extensions": []}

    @app.get("/v2/health/live", tags=["open inference"], summary="Server live")
    async def v2_live() -> dict[str, Any]:
        return {"live": True}

    @app.get("/v2/health/ready", tags=["open inference"], summary="Server ready")
    async def v2_ready() -> dict[str, Any]:
        return {"ready": True}

    @app.get("/v2/models/{name}", tags=["open inference"], summary="Model metadata")
    async def v2_model(name: str) -> Any:
        return unknown(name) or protocols.v2_metadata(state.holder.current)

    @app.get("/v2/models/{name}/versions/{version}", tags=["open inference"], summary="Model version metadata")
    async def v2_model_version(name: str, version: str) -> Any:
        return unknown(name, version) or protocols.v2_metadata(state.holder.current)

    @app.get("/v2/models/{name}/ready", tags=["open inference"], summary="Model ready")
    async def v2_model_ready(name: str) -> Any:
        return unknown(name) or {"name": name, "ready": True}

    @app.post("/v2/models/{name}/infer", tags=["open inference"], summary="Inference")
    async def v2_infer(name: str, request: Request) -> Response:
        return unknown(name) or await state.score(request, V2_INFER)

    @app.post("/v2/models/{name}/versions/{version}/infer", tags=["open inference"], summary="Inference")
    async def v2_infer_version(name: str, version: str, request: Request) -> Response:
        return unknown(name, version) or await state.score(request, V2_INFER)

    app.add_middleware(ServeMiddleware, state=state)
    if state.settings.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=state.settings.cors_origins, allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
                           expose_headers=["X-Request-ID"])
    return app


def describe(model: ServedModel) -> dict[str, Any]:
    """What /metadata says about a model."""
    return {"name": model.project, "project": model.project, "version": model.version, "alias": model.alias,
            "task": model.task, "model": model.estimator_name, "target": model.target, "metric": model.metric,
            "classes": model.classes, "inputs": model.schema["columns"],
            "id_columns": model.schema.get("id_columns") or [], "training_data": model.data_version,
            "evaluation": model.evaluation, "created": model.created, "loaded_at": model.loaded_at}


def factory() -> FastAPI:
    """The app for uvicorn's worker processes, from the settings `run_server` put in the environment."""
    raw = os.environ.get(ENV_SETTINGS)
    if not raw:
        raise ConfigError(f"{ENV_SETTINGS} is not set; start the server with `mlw serve`.")
    settings = json.loads(raw)
    config = Config(model=MlwConfig.model_validate(settings["config"]), path=Path(settings["path"]))
    return create_app(config, settings["model"])


def settings_env(config: Config, model_ref: str) -> str:
    return json.dumps({"config": config.model.model_dump(mode="json"), "path": str(config.path), "model": model_ref})
