"""`mlw serve`: HTTP predictions from a registered model.

`run_server` refuses to start on anything it could not serve well: a missing, tampered or
foreign model or an unknown alias (ArtifactError, exit 4), a token variable that is not
set or a port already in use (ConfigError, exit 2). Only then does uvicorn start. The
CLI imports this package lazily (FastAPI and uvicorn load only for `mlw serve`).
"""

from __future__ import annotations

import copy
import errno
import logging
import os
import signal
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from mlflow_cli.core.config import Config
from mlflow_cli.core.errors import ConfigError

__all__ = ["run_server"]

log = logging.getLogger("mlw.serve")


def run_server(config: Config, *, host: str | None = None, port: int | None = None, model_ref: str | None = None,
               workers: int | None = None) -> None:
    """Serve until SIGTERM or Ctrl-C; return after a graceful shutdown (prediction log flushed)."""
    import uvicorn

    from mlflow_cli.serve.app import ENV_SETTINGS, create_app, settings_env
    from mlflow_cli.serve.middleware import read_token
    from mlflow_cli.serve.model import load_served_model

    settings = config.model.serve
    host = host or settings.host
    port = settings.port if port is None else port
    workers = workers or settings.workers
    ref = model_ref or settings.model
    read_token(settings.token_env)
    options: dict[str, Any] = {"log_config": log_config(), "access_log": False, "timeout_graceful_shutdown": 30,
                               "server_header": False}
    if workers > 1:
        from mlflow_cli.core.store import open_store

        load_served_model(open_store(config), ref)  # fail fast, before forking
        bind(host, port).close()
        os.environ[ENV_SETTINGS] = settings_env(config, ref)
        with quiet_signals():
            uvicorn.run("mlflow_cli.serve.app:factory", factory=True, host=host, port=port, workers=workers,
                        **options)
        return
    app = create_app(config, ref)
    sock = bind(host, port)
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=sock.getsockname()[1], **options))
    model = app.state.mlw.holder.current
    log.info("Serving %s model %s%s on http://%s:%d (docs at /docs, form at /). Stop with Ctrl-C or SIGTERM.",
             model.project, model.version, f" ({model.alias})" if model.alias else "", host,
             sock.getsockname()[1])
    with quiet_signals():
        server.run(sockets=[sock])


def bind(host: str, port: int) -> socket.socket:
    """A socket bound to host:port, or a ConfigError that says why not (port in use...)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                             flags=socket.AI_PASSIVE)[0]
    except socket.gaierror as exc:
        raise ConfigError(f"`serve.host` must be an address or host name this machine has. Got '{host}' "
                          f"({exc.strerror}).", hint="Use 127.0.0.1 (this machine only) or 0.0.0.0 (all "
                                                     "interfaces), via --host or serve.host.") from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ConfigError(f"Port {port} on {host} is already in use, so `mlw serve` cannot listen there.",
                              hint=f"Stop whatever listens on it (`lsof -i :{port}`), or pick another port with "
                                   f"--port N or serve.port.") from None
        if exc.errno == errno.EACCES:
            raise ConfigError(f"Listening on port {port} needs privileges this user does not have.",
                              hint="Use a port above 1023 (--port 8000).") from None
        raise ConfigError(f"Cannot listen on {host}:{port} ({exc.strerror}).",
                          hint="Check --host/serve.host and --port/serve.port.") from None
    sock.set_inheritable(True)
    return sock


@contextmanager
def quiet_signals() -> Iterator[None]:
    """After a graceful shutdown uvicorn re-raises SIGTERM/SIGINT to the handlers it found; make those no-ops
    so a stop by signal ends `mlw serve` normally (exit 0) instead of as an interrupted stage."""
    previous = {}
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            previous[sig] = signal.signal(sig, lambda *_: None)
        except ValueError:  # not the main thread
            pass
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def log_config() -> dict[str, Any]:
    """uvicorn's logging, plus mlw's own logger on stderr (reloads, refused versions, failures)."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["mlw.serve"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return config
