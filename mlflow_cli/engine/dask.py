"""The Dask engine (`engine.type: dask`, the `dask` extra): the functions stages map over parts
run on a Dask cluster's workers, a few parts ahead of the one the stage folds next, so memory
stays bounded on both sides; reading and writing parts stay with the stage's process (the
local engine's), which sees the source and the artifact store.

The cluster is either started here (a `LocalCluster` of worker processes on 127.0.0.1, closed
with the engine: no worker outlives the command, on success, error, Ctrl-C or SIGTERM) or a
running scheduler at `engine.address`, which is only disconnected from. The workers need
mlw and the model's libraries installed, and (for distributed XGBoost, stages/train/distributed.py)
to see the artifact store's files at the same paths. Imports dask inside functions."""

from __future__ import annotations

import logging
import os
import sys
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from mlflow_cli.core.errors import ConfigError
from mlflow_cli.engine.local import LocalEngine, Part, Result

CONNECT_TIMEOUT_S = 10
AHEAD_PER_THREAD = 2  # parts in flight per worker thread: enough to keep every worker busy


class DaskEngine(LocalEngine):
    name = "dask"

    def __init__(self, settings: Any) -> None:
        self.settings = settings
        self.client: Any = None
        self.cluster: Any = None

    def start(self, announce: Callable[[str], None] | None = None) -> DaskEngine:
        """Start the local cluster, or connect to engine.address; say where its dashboard is."""
        try:
            import distributed
        except ImportError:
            raise ConfigError("`engine.type` is dask, but Dask is not installed in this environment.",
                              hint="Install it with: pip install 'mlw[dask]' (or set engine.type: local).") from None
        for name in ("distributed", "bokeh", "tornado"):
            logging.getLogger(name).setLevel(logging.CRITICAL)  # workers' chatter is not the user's output
        settings = self.settings
        dashboard = _has_bokeh()
        if settings.address:
            try:
                self.client = distributed.Client(settings.address, timeout=CONNECT_TIMEOUT_S, set_as_default=True)
            except (OSError, TimeoutError) as exc:
                raise ConfigError(f"`engine.address`: no Dask scheduler answered at {settings.address} within "
                                  f"{CONNECT_TIMEOUT_S} s ({type(exc).__name__}).",
                                  hint="Start one (dask scheduler, then dask worker tcp://HOST:8786) or fix the "
                                       "address; remove engine.address to start a local cluster instead.") from None
            what = f"Dask: connected to {settings.address} ({self.workers()} workers)"
        else:
            workers = settings.n_workers or os.cpu_count() or 1
            threads = settings.threads_per_worker or 1
            with quiet_stdout():  # the workers' stdout, for their lifetime
                self.cluster = distributed.LocalCluster(
                    n_workers=workers, threads_per_worker=threads, memory_limit=settings.memory_limit,
                    processes=True, host="127.0.0.1", dashboard_address="127.0.0.1:0" if dashboard else None,
                    silence_logs=logging.CRITICAL)
            self.client = distributed.Client(self.cluster, set_as_default=True)
            what = f"Dask: a local cluster of {workers} workers x {threads} threads"
        link = self.client.dashboard_link if dashboard else None
        if announce is not None:
            announce(what + (f", dashboard {link}" if link else ""))
        return self

    def workers(self) -> int:
        return len(self.client.scheduler_info(n_workers=-1).get("workers", {})) if self.client else 0

    def threads(self) -> int:
        return max(1, sum(self.client.nthreads().values())) if self.client else 1

    def map_parts(self, function: Callable[[Part], Result], parts: Iterator[Part]) -> Iterator[Result]:
        """`function` over each part on the workers, results in source order. The function is sent
        to every worker once; a few parts per worker thread are in flight at a time."""
        client = self.client
        [shipped] = client.scatter([function], broadcast=True, hash=False)
        ahead = AHEAD_PER_THREAD * self.threads()
        pending: deque[Any] = deque()
        try:
            for part in parts:
                pending.append(client.submit(_apply, shipped, part, pure=False))
                if len(pending) >= ahead:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            if pending:  # an error, Ctrl-C, or the caller stopped early: drop the parts not needed
                client.cancel(list(pending), force=True)
            client.cancel([shipped], force=True)

    def close(self) -> None:
        client, cluster = self.client, self.cluster
        self.client = self.cluster = None
        if client is not None:
            client.close(timeout=CONNECT_TIMEOUT_S)
        if cluster is not None:
            cluster.close(timeout=CONNECT_TIMEOUT_S)


@contextmanager
def quiet_stdout() -> Iterator[None]:
    """File descriptor 1 to /dev/null for a while: stdout is mlw's results (--json), and worker
    processes started meanwhile (they inherit it) or XGBoost's tracker in this process print from C
    on it (each rank handed out), whatever the verbosity. Errors still arrive: as exceptions, and
    on stderr."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def _apply(function: Callable[[Part], Result], part: Part) -> Result:
    return function(part)


def _has_bokeh() -> bool:
    from importlib.util import find_spec

    return find_spec("bokeh") is not None
