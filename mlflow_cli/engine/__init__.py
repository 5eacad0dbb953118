"""Where stages' tabular work runs: read a source as parts (`read_parts`), map a function over
the parts (`map_parts`), write parts (`writer`). `local.py` is today's in-process engine; a
distributed one (Dask) is one more module with the same three operations, chosen by
`engine_named`. `mlw ingest` (data/snapshot.py) and `mlw predict` (stages/predict/batch.py) run
through it.

The contract a stage keeps so any engine can run it: the function mapped over parts takes one
`Part` and returns a value built from that part alone, touching no shared state (no tallies,
no open writers); the stage folds the returned values, in source order, on its own side. A
writer is opened once with the output's schema (`open`), takes the parts in order (`write`)
and is closed (`close`) whatever happens; the stage publishes the file atomically itself."""

from __future__ import annotations

from typing import Any

from mlflow_cli.engine.local import LocalEngine, Part, PartWriter

__all__ = ["LocalEngine", "Part", "PartWriter", "engine_named"]


def engine_named(name: str = "local") -> Any:
    if name != "local":
        raise ValueError(f"engine must be 'local'; got {name!r}")
    return LocalEngine()
