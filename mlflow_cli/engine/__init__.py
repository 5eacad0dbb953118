"""Where stages' tabular work runs: read a source as parts (`read_parts`), map a function over
the parts (`map_parts`), write parts (`writer`). `local.py` is the in-process engine; `dask.py`
runs the mapped functions (and XGBoost, and auto's folds) on a Dask cluster. `engine_for`
gives the one a config's `engine` section names. `mlw ingest` (data/snapshot.py), `mlw predict`
(stages/predict/batch.py) and `mlw monitor` run through it.

The contract a stage keeps so any engine can run it: the function mapped over parts takes one
`Part` and returns a value built from that part alone, touching no shared state (no tallies,
no open writers); the stage folds the returned values, in source order, on its own side. A
writer is opened once with the output's schema (`open`), takes the parts in order (`write`)
and is closed (`close`) whatever happens; the stage publishes the file atomically itself.

An engine is started on first use and kept for the rest of the command (one cluster for all
of `mlw run`'s stages, none at all when every stage is cached); `close_engines` ends it, which
the command line does when a command ends, however it ends."""

from __future__ import annotations

import atexit
from collections.abc import Callable
from typing import Any

from mlflow_cli.engine.local import LocalEngine, Part, PartWriter

__all__ = ["LocalEngine", "Part", "PartWriter", "close_engines", "engine_for", "engine_named", "rows_per_part",
           "set_announcer"]

SIZE_SAMPLE_ROWS = 10_000
_open: dict[str, Any] = {}
_announce: list[Callable[[str], None]] = []


def engine_named(name: str = "local") -> Any:
    """The in-process engine (`local`); a cluster needs its settings: engine_for."""
    if name != "local":
        raise ValueError(f"engine_named gives the local engine; use engine_for for {name!r}")
    return LocalEngine()


def engine_for(settings: Any = None) -> Any:
    """The engine a config's `engine` section names (None or type local: this process). A Dask
    engine is started (or connected) on first use and shared until close_engines."""
    if settings is None or settings.type == "local":
        return LocalEngine()
    key = settings.model_dump_json()
    if key not in _open:
        from mlflow_cli.engine.dask import DaskEngine

        if not _open:
            atexit.register(close_engines)
        _open[key] = DaskEngine(settings).start(_announce[0] if _announce else None)
    return _open[key]


def rows_per_part(frame: Any, partition_mb: int) -> int:
    """Rows of `frame` (pandas) in about `partition_mb` MB of memory: the row groups prepare
    writes, which a Dask engine's workers read one each."""
    if len(frame) == 0:
        return 1
    sample = frame.head(SIZE_SAMPLE_ROWS)  # text columns' deep size is a walk over every value
    per_row = max(1.0, float(sample.memory_usage(deep=True, index=False).sum()) / len(sample))
    return max(1000, int(partition_mb * (1 << 20) / per_row))


def close_engines() -> None:
    """Close every engine this process started: the local cluster's workers stop, a remote
    scheduler is only disconnected from."""
    while _open:
        _, engine = _open.popitem()
        engine.close()


def set_announcer(announce: Callable[[str], None] | None) -> None:
    """Where an engine says what it started (the cluster's dashboard): the command line's status line."""
    _announce[:] = [announce] if announce is not None else []
