"""`mlw ingest`: take a snapshot of the source and store it as Parquet, with schema and profile.

Files are streamed batch by batch into one Parquet file (one row group per batch), so
memory stays flat however large the input. In append mode the new batch is added to the
previous snapshot and de-duplicated on data.id_columns, newest row winning. Planning (is
there a cached version?) needs no pyarrow: `mlw run` uses it to answer instantly.
"""

from __future__ import annotations

import json
from typing import Any

from mlflow_cli.core.config import Config
from mlflow_cli.data.sources import describe, source_label, total_bytes
from mlflow_cli.core.store import Artifact, Store, open_store
from mlflow_cli.core.stage import Plan, ProgressFactory, StageResult, no_progress

STAGE = "ingest"
DATA_FILE = "data.parquet"


def plan_ingest(config: Config, store: Store, *, force: bool = False, append: bool | None = None) -> Plan:
    """The cache key and, unless forced, a cached version. SQL sources are always read again."""
    mode = "append" if append else ("snapshot" if append is False else config.model.ingest.mode)
    source = config.model.data.source
    previous = store.load(STAGE) if mode == "append" and store.latest(STAGE) else None
    used = config.section("data", "ingest")
    used["ingest"]["mode"] = mode
    facts = describe(source)
    plan = Plan(STAGE, None, used, [previous] if previous else [], extra={"source": facts, "mode": mode})
    if source.type == "sql":
        plan.reason = "SQL sources are read again on every run"
        return plan
    return plan.keyed(store, force, source=facts)


def run_ingest(config: Config, *, force: bool = False, append: bool | None = None,
               progress: ProgressFactory = no_progress, plan: Plan | None = None) -> StageResult:
    """`plan`: the plan_ingest result for these arguments, when the caller already made it."""
    store = open_store(config)
    plan = plan or plan_ingest(config, store, force=force, append=append)
    if plan.cached is not None:
        return _result(plan.cached, cached=True)
    from mlflow_cli.data.snapshot import append_snapshot, write_snapshot
    from mlflow_cli.engine import engine_named

    model = config.model
    source = model.data.source
    previous = plan.inputs[0] if plan.inputs else None
    engine = engine_named("local")
    with store.writer(STAGE) as writer:
        writer.config, writer.cache_key = plan.config, plan.cache_key
        writer.add_external_input({"source": plan.extra["source"]})
        block_size = model.ingest.block_size_mb << 20
        whole_file_bytes = model.ingest.stream_above_mb << 20
        out = writer.path / DATA_FILE
        with progress(f"Reading {source_label(source)}", total_bytes(source), unit="bytes") as bar:
            if previous is None:
                profiler, retyped = write_snapshot(engine, source, out, block_size, bar.advance, whole_file_bytes)
                batch_info = {"rows": profiler.rows}
            else:
                writer.add_input(previous)
                profiler, retyped, batch_info = append_snapshot(engine, source, previous, model.data.id_columns, out,
                                                                block_size, bar.advance, whole_file_bytes)
        max_categories = model.ingest.max_categories
        profile = profiler.profile(max_categories)
        schema = profiler.schema(max_categories)
        _check_target(config, schema)
        (writer.path / "profile.json").write_text(json.dumps(profile, indent=2, default=str))
        (writer.path / "schema.json").write_text(json.dumps(schema, indent=2, default=str))
        writer.metrics = {"rows": profiler.rows, "columns": len(profiler.columns)}
        writer.info = {"mode": plan.extra["mode"], "source": source_label(source), "rows": profiler.rows,
                       "columns": len(profiler.columns), "batch": batch_info, "read_as_text": sorted(retyped)}
    return _result(writer.artifact, cached=False)


def _result(artifact: Artifact, cached: bool) -> StageResult:
    profile = json.loads(artifact.file("profile.json").read_text())
    warnings = [f"column '{c}' looked like numbers, dates or blanks at first but holds text further down; it was "
                f"read as text (prepare coerces what it can)" for c in artifact.manifest["info"].get("read_as_text", [])]
    return StageResult.from_artifact(artifact, cached, details={"profile": profile}, warnings=warnings)


def _check_target(config: Config, schema: dict[str, Any]) -> None:
    """Catch a misspelled target or id column at ingest time, before prepare trips over it."""
    config.check_data_columns(schema["columns"])
