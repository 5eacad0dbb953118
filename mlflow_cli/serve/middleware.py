"""What every request meets around its route: a request id (X-Request-ID, echoed or made),
the bearer token (`serve.token_env`), the body-size limit (`serve.max_body_mb`: on
Content-Length before the route, and while the body is read in `read_body`), and the request
metrics. Pure ASGI, so the cost per request stays small. Depends on serve/endpoints.py (each
path's error format and metric label) and serve/responses.py (JSON); it reads the server's
`ServeState` (serve/app.py) without importing it at run time.
"""

from __future__ import annotations

import asyncio
import hmac
import os
import re
import time
import uuid
from typing import TYPE_CHECKING, Any

from fastapi import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mlflow_cli.core.errors import ConfigError
from mlflow_cli.serve.endpoints import SCORING_ENDPOINTS, endpoint_label, error_for_path
from mlflow_cli.serve.responses import dumps

if TYPE_CHECKING:
    from mlflow_cli.serve.app import ServeState

REQUEST_ID = "mlw.request_id"
OPEN_PATHS = frozenset({"/health", "/ping", "/v2/health/live", "/v2/health/ready"})
DRAIN_LIMIT = 128 * 1024 * 1024  # read and discard up to this much of an oversized body, so the client sees 413
DRAIN_SECONDS = 10.0
_REQUEST_ID_OK = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class BodyTooLarge(Exception):
    pass


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
                    self._refused(path, request_id, 401, "unauthorized", started)
                    await _send_json(send_with_id, *error_for_path(
                        path, 401, "Missing or wrong bearer token. Send 'Authorization: Bearer <token>' with the "
                                   "token from the environment variable named by serve.token_env."),
                        extra=[(b"www-authenticate", b"Bearer")])
                    return
            length = headers.get(b"content-length")
            if length is not None and length.isdigit() and int(length) > self.state.max_body:
                self._refused(path, request_id, 413, "body_too_large", started)
                if int(length) <= DRAIN_LIMIT:
                    await _drain_receive(receive)
                await _send_json(send_with_id, *error_for_path(
                    path, 413, f"The request body ({int(length):,} bytes) is larger than serve.max_body_mb "
                               f"({self.state.settings.max_body_mb:g} MB). Send fewer rows per request."))
                return
            await self.app(scope, receive, send_with_id)
        finally:
            self.state.metrics.observe_request(endpoint_label(path), status[0], time.perf_counter() - started)


    def _refused(self, path: str, request_id: str, status: int, reason: str, started: float) -> None:
        """A scoring request refused here is logged like one refused by the app (for monitoring)."""
        endpoint = endpoint_label(path)
        if endpoint in SCORING_ENDPOINTS:
            self.state.refused(request_id, endpoint, status, reason, started)


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
    content = dumps(body)
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(content)).encode()),
                            *(extra or [])]})
    await send({"type": "http.response.body", "body": content})
