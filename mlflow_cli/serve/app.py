"""The HTTP app behind `mlw serve` (FastAPI on uvicorn).

Routes: `/predict` (mlw), `/invocations` (MLflow), `/v2/...` (Open Inference Protocol),
`/health`, `/metadata`, `/metrics`, `/docs`, and `/` (a form to try the model); for a
recommendation model also `/recommend`, `/similar` and `/ratings` (serve/recommend.py).

Request bodies are read and parsed by hand rather than by FastAPI's pydantic binding: it
is faster, it lets every protocol keep its own error format (serve/endpoints.py), and it
enforces `serve.max_body_mb` while reading (serve/middleware.py). Every scoring request
follows one path (`ServeState.score`): read body -> parse into rows (serve/requests.py) ->
check against the schema and predict (serve/scoring.py) -> answer (serve/responses.py) ->
enqueue the log entry. Anything unexpected on that path is logged with the request id
and answered 4xx: no input can produce a 500.

`create_app(config, model_ref)` loads and verifies the model before returning, so an
unservable model stops `mlw serve` before it listens. `factory()` builds the same app
from environment variables, for uvicorn's worker processes (`--workers N`).
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, Response
from starlette.requests import ClientDisconnect
from starlette.concurrency import run_in_threadpool

from mlflow_cli import __version__
from mlflow_cli.core.config import Config, MlwConfig
from mlflow_cli.core.errors import ConfigError
from mlflow_cli.models.values import plain
from mlflow_cli.core.store import open_store
from mlflow_cli.serve.endpoints import INVOCATIONS, PREDICT, V2_INFER, Protocol
from mlflow_cli.serve.memory import keep_freed_memory, settle_heap
from mlflow_cli.serve.metrics import CONTENT_TYPE, ServeMetrics
from mlflow_cli.serve.middleware import REQUEST_ID, BodyTooLarge, ServeMiddleware, read_body, read_token
from mlflow_cli.serve.model import ModelHolder, ServedModel, load_served_model
from mlflow_cli.serve.openapi import openapi_schema
from mlflow_cli.serve.page import render_page
from mlflow_cli.serve.predlog import FOLDER, LogEntry, PredictionLog, Refusal
from mlflow_cli.serve.requests import RequestError, short
from mlflow_cli.serve.responses import dumps, jsonable, v2_metadata
from mlflow_cli.serve.scoring import InputError, score_rows

log = logging.getLogger("mlw.serve")

ENV_SETTINGS = "MLW_SERVE_SETTINGS"
INLINE_ROWS = 256  # smaller requests are scored on the event loop: a thread hop costs more than it saves


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
        self.predlog = PredictionLog(self.store.log_dir(FOLDER), self.settings.log_max_mb)
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
            if model.recommender is not None:
                from mlflow_cli.serve.recommend_page import render_recommender_page

                self._page = (model.version, render_recommender_page(model))
            else:
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
        rows = None
        try:
            body = await read_body(request, self.max_body)
            rows, context = protocol.parse(body, request.headers.get("content-type"), model.schema)
            if rows.n > INLINE_ROWS:
                scores = await run_in_threadpool(score_rows, model, rows, self.unseen)
            else:
                scores = score_rows(model, rows, self.unseen)
            predictions = jsonable(scores.predictions)
            content = dumps(protocol.respond(model, scores, predictions, request_id, context))
        except ClientDisconnect:  # nobody is listening for an answer
            return Response(status_code=400)
        except BodyTooLarge:
            self.refused(request_id, protocol.endpoint, 413, "body_too_large", started, model)
            return self._error(protocol, 413, f"The request body is larger than serve.max_body_mb "
                                              f"({self.settings.max_body_mb:g} MB). Send fewer rows per request.")
        except RequestError as exc:
            self.refused(request_id, protocol.endpoint, exc.status, "bad_request", started, model)
            return self._error(protocol, exc.status, exc.message)
        except InputError as exc:
            self.refused(request_id, protocol.endpoint, 422, "invalid_input", started, model, getattr(rows, "n", None))
            return self._error(protocol, 422, str(exc), exc.issues)
        except Exception as exc:  # a bug or a model that chokes on valid input: never a 500
            log.exception("Request %s to %s failed while scoring.", request_id, protocol.endpoint)
            self.refused(request_id, protocol.endpoint, 422, "scoring_failed", started, model, getattr(rows, "n", None))
            return self._error(protocol, 422, f"The model could not score these records ({type(exc).__name__}: "
                                              f"{short(exc)}). Request id {request_id}; the server "
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

    def refused(self, request_id: str, endpoint: str, status: int, reason: str, started: float, model: Any = None,
                rows: int | None = None) -> None:
        """Log a refused request (one line: serve/predlog.py), so monitoring sees the error rate."""
        model = model or self.holder.current
        try:
            self.predlog.submit(Refusal(
                ts=datetime.now(timezone.utc).isoformat(), request_id=request_id, model_version=model.version,
                alias=model.alias, endpoint=endpoint, latency_ms=(time.perf_counter() - started) * 1000,
                status=status, error=reason, rows=rows))
        except Exception:  # bookkeeping must never cost the client its answer
            log.exception("Logging refused request %s failed.", request_id)

    def _error(self, protocol: Protocol, status: int, message: str,
               issues: list[dict[str, Any]] | None = None) -> Response:
        status, body = protocol.error(status, message, issues)
        return Response(dumps(body), status_code=status, media_type="application/json")


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

    recommend = None
    if state.holder.current.recommender is not None:  # a recommendation model: its routes, /predict rates pairs
        from mlflow_cli.serve.recommend import add_routes, predict_ratings

        recommend = add_routes(app, state)

    @app.post("/predict", tags=["predict"], summary="Predict: records, or {columns, data}")
    async def predict(request: Request) -> Response:
        if recommend is not None:
            return await predict_ratings(recommend, request)
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
        return Response(dumps({"error": message}), status_code=404, media_type="application/json")

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
        return unknown(name) or v2_metadata(state.holder.current)

    @app.get("/v2/models/{name}/versions/{version}", tags=["open inference"], summary="Model version metadata")
    async def v2_model_version(name: str, version: str) -> Any:
        return unknown(name, version) or v2_metadata(state.holder.current)

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
            "classes": model.classes, "positive_class": plain(model.scoring.positive), "inputs": model.schema["columns"],
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
