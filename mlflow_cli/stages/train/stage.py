"""`mlw train`: fit a model on prepare's training split and publish it as one scikit-learn
Pipeline (the fitted preprocessing plus the estimator), so it takes raw records.

The manifest records the data version, the estimator and its params, cross-validation
scores, auto's leaderboard, the search, classes, feature names, training time and
feature importances. Same config, data and seed give the same model.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from mlflow_cli.core.config import Config
from mlflow_cli.models.train_info import MODEL_FILE, REFERENCE_FILE, TrainInfo
from mlflow_cli.core.store import Store, open_store
from mlflow_cli.core.stage import Plan, ProgressFactory, StageResult, no_progress

STAGE = "train"
BUDGET_ENV = "MLW_TIME_BUDGET_S"  # stages/train/auto.py reads it
FEATURE_NAMES_SHOWN = 200


def plan_train(config: Config, store: Store, *, source_version: str | None = None, force: bool = False) -> Plan:
    prepare = store.load("prepare", source_version or "latest")
    used = {"train": config.section("train")["train"], "target": config.model.data.target}
    if config.model.data.interactions:
        used["k"] = config.model.evaluate.k  # model: auto compares rankers at k
    if config.model.data.positive_class is not None:
        used["positive_class"] = config.model.data.positive_class
    if config.model.engine.type != "local":
        used["engine"] = config.model.engine.type  # distributed XGBoost is not bit-identical to a local fit
    budget = os.environ.get(BUDGET_ENV)
    if budget and config.model.train.model == "auto" and config.model.train.time_budget_s is None:
        used["budget"] = budget  # auto's default budget from the environment
    return Plan(STAGE, None, used, [prepare]).keyed(store, force)


def run_train(config: Config, *, source_version: str | None = None, force: bool = False,
              progress: ProgressFactory = no_progress, plan: Plan | None = None) -> StageResult:
    """`plan`: the plan_train result for these arguments, when the caller already made it."""
    started = time.perf_counter()
    store = open_store(config)
    plan = plan or plan_train(config, store, source_version=source_version, force=force)
    if plan.cached is not None:
        return StageResult.from_artifact(plan.cached, cached=True)
    import joblib
    import pandas as pd

    from mlflow_cli.models.scoring.bundle import export_bundle
    from mlflow_cli.models.scoring.model import read_schema
    from mlflow_cli.stages.train.training import Trainer

    prepare = plan.inputs[0]
    schema = read_schema(prepare)
    if schema.get("interactions"):
        return _train_recommender(config, store, plan, schema, started)
    preprocessor = prepare.unpickle("preprocessor.joblib")
    train = pd.read_parquet(prepare.file("train.parquet"))
    valid_name = "valid.parquet"
    valid = pd.read_parquet(prepare.file(valid_name)) if valid_name in prepare.manifest["outputs"] else None
    task = schema["task"]
    target = (schema.get("target") or {}).get("name")
    paths = {name.removesuffix(".parquet"): prepare.file(name) for name in ("train.parquet", valid_name)
             if name in prepare.manifest["outputs"]}
    outcome = Trainer(config.model.train, task, preprocessor, train, valid, target, progress,
                      positive=config.model.data.positive_class, engine=config.model.engine,
                      split_paths=paths).run()

    with store.writer(STAGE, started=started) as writer:
        writer.config, writer.cache_key = plan.config, plan.cache_key
        writer.add_input(prepare)
        joblib.dump(outcome.model, writer.path / MODEL_FILE)
        # the scoring bundle (models/scoring/bundle.py): `mlw predict` without scikit-learn
        bundle = export_bundle(outcome.model, schema, train, task)
        for name, content in (bundle or {}).items():
            (writer.path / name).write_bytes(content)
        (writer.path / "features.json").write_text(json.dumps(outcome.feature_names, indent=2))
        (writer.path / REFERENCE_FILE).write_text(_reference(schema, train, prepare, outcome), encoding="utf-8")
        if outcome.importances:
            (writer.path / "importances.json").write_text(json.dumps(
                {"kind": outcome.importance_kind, "values": outcome.importances}, indent=2))
        writer.info = TrainInfo(
            task=task, model=outcome.model_name, estimator=outcome.estimator, params=outcome.params,
            metric=outcome.metric, target=target, classes=outcome.classes, data=prepare.ref,
            positive_class=outcome.positive_class, positive_source=outcome.positive_source,
            train_rows=len(train), valid_rows=0 if valid is None else len(valid),
            features_in=len(schema["columns"]), features_out=len(outcome.feature_names),
            feature_names=outcome.feature_names[:FEATURE_NAMES_SHOWN],  # all of them: features.json
            cv=outcome.cv, leaderboard=outcome.leaderboard, search=outcome.search,
            best_iteration=outcome.best_iteration, fit_seconds=outcome.fit_seconds, device=outcome.device,
            importance_kind=outcome.importance_kind, scoring_bundle=bundle is not None,
            top_features=dict(list((outcome.importances or {}).items())[:10]),
        ).to_json()
        writer.metrics = _cv_metrics(outcome.cv)
    return StageResult.from_artifact(writer.artifact, cached=False,
                                     warnings=outcome.warnings)


def _reference(schema: dict[str, Any], train: Any, prepare: Any, outcome: Any) -> str:
    """reference.json (models/reference.py): what `mlw monitor` compares new data with."""
    import pandas as pd

    from mlflow_cli.models.reference import build_reference
    from mlflow_cli.models.tasks import task_named

    kind = task_named(schema["task"])
    predictions = None
    if "test.parquet" in prepare.manifest["outputs"] and hasattr(outcome.model, "predict"):
        test = pd.read_parquet(prepare.file("test.parquet"))
        if len(test):
            predictions = outcome.model.predict(test)
    reference = build_reference(schema, train, predictions, kind.prediction != "value", outcome.column_importances)
    return json.dumps(reference.to_json(), separators=(",", ":"))


def _cv_metrics(cv: dict[str, dict[str, float]] | None) -> dict[str, Any]:
    return {f"cv_{name}": round(score["mean"], 6) for name, score in (cv or {}).items()}


def _train_recommender(config: Config, store: Store, plan: Plan, schema: dict[str, Any], started: float) -> StageResult:
    """Recommendation (stages/train/recommending.py): the Recommender as model.joblib."""
    import joblib
    import pandas as pd

    from mlflow_cli.models.reference import interaction_reference
    from mlflow_cli.stages.train.recommending import train_recommender

    prepare = plan.inputs[0]
    outputs = prepare.manifest["outputs"]
    frame = lambda name: pd.read_parquet(prepare.file(name)) if name in outputs else None  # noqa: E731
    train = frame("train.parquet")
    outcome = train_recommender(config, schema, train, frame("valid.parquet"), frame("items.parquet"))
    with store.writer(STAGE, started=started) as writer:
        writer.config, writer.cache_key = plan.config, plan.cache_key
        writer.add_input(prepare)
        joblib.dump(outcome.model, writer.path / MODEL_FILE)
        reference = interaction_reference(train, schema["interactions"])  # what mlw monitor compares with
        (writer.path / REFERENCE_FILE).write_text(json.dumps(reference, separators=(",", ":")), encoding="utf-8")
        writer.info = TrainInfo(
            task="recommendation", model=outcome.model_name, estimator=outcome.estimator, params=outcome.params,
            metric=outcome.metric, data=prepare.ref, train_rows=len(train), features_in=0,
            leaderboard=outcome.leaderboard, fit_seconds=outcome.fit_seconds, rating_model=outcome.rating_model,
        ).to_json()
        writer.metrics = {f"valid_{row['model']}_{row['metric']}": row["score"] for row in outcome.leaderboard or []}
    return StageResult.from_artifact(writer.artifact, cached=False, warnings=outcome.warnings)
