"""`mlw prepare`: clean the ingested snapshot, split it, and fit the preprocessing pipeline
on the training split only.

Outputs: train/valid/test Parquet (cleaned rows in their raw form, so later stages feed the
pipeline exactly what a served model will receive), `preprocessor.joblib` (a fitted
scikit-learn Pipeline), and `schema.json` (the contract that prediction enforces).
"""

from __future__ import annotations

import json
import time
from typing import Any

from mlflow_cli.core.config import Config
from mlflow_cli.core.store import Store, open_store
from mlflow_cli.core.stage import Plan, ProgressFactory, StageResult, no_progress

STAGE = "prepare"


def plan_prepare(config: Config, store: Store, *, source_version: str | None = None, force: bool = False) -> Plan:
    ingest = store.load("ingest", source_version or "latest")
    data = config.section("data")["data"]
    data.pop("source")
    used = {"data": data, "prepare": config.section("prepare")["prepare"], "task": config.model.train.task}
    if config.model.data.items is not None:  # the metadata's content, not only where it is
        from mlflow_cli.data.sources import describe

        used["items_source"] = describe(config.model.data.items)
    return Plan(STAGE, None, used, [ingest]).keyed(store, force)


def run_prepare(config: Config, *, source_version: str | None = None, force: bool = False,
                progress: ProgressFactory = no_progress, plan: Plan | None = None) -> StageResult:
    """`plan`: the plan_prepare result for these arguments, when the caller already made it."""
    started = time.perf_counter()
    store = open_store(config)
    plan = plan or plan_prepare(config, store, source_version=source_version, force=force)
    if plan.cached is not None:
        return StageResult.from_artifact(plan.cached, cached=True)
    import joblib
    import pandas as pd

    from mlflow_cli.stages.prepare.preparation import Preparation

    ingest = plan.inputs[0]
    frame = pd.read_parquet(ingest.file("data.parquet"))
    if config.model.data.interactions:
        return _prepare_interactions(config, store, plan, frame, started)
    ingest_schema = json.loads(ingest.file("schema.json").read_text())["columns"]
    prepared = Preparation(config, frame, ingest_schema)
    prepared.clean()
    prepared.plan_features()
    prepared.split()
    pipeline = prepared.fit()

    from mlflow_cli.engine import rows_per_part

    group = rows_per_part(prepared.frame, config.model.engine.partition_mb)  # a Dask worker reads one each
    with store.writer(STAGE, started=started) as writer:
        writer.config, writer.cache_key = plan.config, plan.cache_key
        writer.add_input(ingest)
        for name, rows in prepared.splits.items():
            prepared.frame.iloc[rows].to_parquet(writer.path / f"{name}.parquet", index=False, row_group_size=group)
        joblib.dump(pipeline, writer.path / "preprocessor.joblib")
        (writer.path / "schema.json").write_text(json.dumps(prepared.schema(), indent=2, default=str))
        writer.info = prepared.summary(ingest, pipeline)
        writer.metrics = {"rows": writer.info["rows_out"], **{f"{k}_rows": v for k, v in writer.info["splits"].items()}}
    return StageResult.from_artifact(writer.artifact, cached=False,
                                     warnings=prepared.warnings)


def _prepare_interactions(config: Config, store: Store, plan: Plan, frame: Any, started: float) -> StageResult:
    """Recommendation: cleaned interactions split (stages/prepare/interactions.py), and the item
    metadata as items.parquet; no preprocessing to fit."""
    from mlflow_cli.engine import engine_named
    from mlflow_cli.stages.prepare.interactions import InteractionPreparation

    ingest = plan.inputs[0]
    prepared = InteractionPreparation(config, frame)
    prepared.clean()
    prepared.split()
    items = config.model.data.items
    prepared.join_metadata(engine_named("local").read_frame(items) if items is not None else None)
    with store.writer(STAGE, started=started) as writer:
        writer.config, writer.cache_key = plan.config, plan.cache_key
        writer.add_input(ingest)
        for name, rows in prepared.splits.items():
            prepared.frame.iloc[rows].to_parquet(writer.path / f"{name}.parquet", index=False)
        if prepared.metadata is not None:
            prepared.metadata.to_parquet(writer.path / "items.parquet", index=False)
        (writer.path / "schema.json").write_text(json.dumps(prepared.schema(), indent=2, default=str))
        writer.info = prepared.summary(ingest.ref)
        writer.metrics = {"rows": writer.info["rows_out"], "users": writer.info["users"],
                          "items": writer.info["items"], **{f"{k}_rows": v for k, v in writer.info["splits"].items()}}
    return StageResult.from_artifact(writer.artifact, cached=False, warnings=prepared.warnings)
