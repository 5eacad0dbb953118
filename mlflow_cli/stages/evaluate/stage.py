"""`mlw evaluate`: score the trained model on the held-out test split, write metrics.json,
plots and a self-contained report.html, check the gates, and compare with the champion.

The evaluation is published even when a gate fails (it is the record of why); the CLI then
exits 1. The champion is the model an alias points at: `evaluate.require_better_than`
(a gate), or `production` when it exists (shown for comparison).
"""

from __future__ import annotations

import json
import time
from typing import Any

from mlflow_cli.core.config import Config
from mlflow_cli.models.tasks import task_named
from mlflow_cli.models.train_info import MODEL_FILE, TrainInfo
from mlflow_cli.core.lineage import prepare_of
from mlflow_cli.core.errors import ArtifactError
from mlflow_cli.models.metrics import check_metric_names, parse_gate
from mlflow_cli.core.store import Artifact, Store, open_store
from mlflow_cli.core.stage import Plan, ProgressFactory, StageResult, no_progress

STAGE = "evaluate"
DEFAULT_CHAMPION = "production"


def plan_evaluate(config: Config, store: Store, *, model_version: str | None = None, force: bool = False) -> Plan:
    train = store.load("train", model_version or "latest")
    prepare = prepare_of(store, train)
    task = TrainInfo.of(train.manifest).task
    settings = config.model.evaluate
    check_metric_names(task, list(settings.gates), "`evaluate.gates`")
    for name, condition in settings.gates.items():
        parse_gate(condition, f"`evaluate.gates.{name}`")  # a malformed gate is a usage error, before any work
    if settings.metrics:
        check_metric_names(task, settings.metrics, "`evaluate.metrics`")
    champion = _champion(store, settings.require_better_than or DEFAULT_CHAMPION,
                         required=settings.require_better_than is not None, challenger=train)
    used = {"evaluate": config.section("evaluate")["evaluate"]}
    inputs = [train, prepare] + ([champion] if champion else [])
    # The train version is part of the key: two runs can save byte-identical models, and each
    # evaluation must still name (and be listed under) the run it scored.
    return Plan(STAGE, None, used, inputs, extra={"task": task}).keyed(store, force, model=train.version)


def _champion(store: Store, alias: str, required: bool, challenger: Artifact) -> Artifact | None:
    from mlflow_cli.core.registry import read_registry

    entry = read_registry(store)["aliases"].get(alias)
    if entry is None:
        if required:
            raise ArtifactError(f"`evaluate.require_better_than` names alias '{alias}', which no model holds yet.",
                                hint="Promote a model first (mlw models promote), or remove the setting for the "
                                     "first model.")
        return None
    version = entry["version"]
    if version == challenger.version:
        return None
    return store.load("train", version)


def run_evaluate(config: Config, *, model_version: str | None = None, force: bool = False,
                 progress: ProgressFactory = no_progress, plan: Plan | None = None) -> StageResult:
    """`plan`: the plan_evaluate result for these arguments, when the caller already made it."""
    started = time.perf_counter()
    store = open_store(config)
    plan = plan or plan_evaluate(config, store, model_version=model_version, force=force)
    if plan.cached is not None:
        return _result(plan.cached, cached=True)
    import pandas as pd

    from mlflow_cli.stages.evaluate.evaluation import evaluate, jsonable, report_sections
    from mlflow_cli.reports.html import write_report

    train, prepare = plan.inputs[0], plan.inputs[1]
    champion = plan.inputs[2] if len(plan.inputs) > 2 else None
    info_in = TrainInfo.of(train.manifest)
    if task_named(info_in.task).interactions:
        return _evaluate_recommender(config, store, plan, info_in, started)
    model = _scoring_model(train, prepare, info_in.task)
    test = pd.read_parquet(prepare.file("test.parquet"))
    train_rows = pd.read_parquet(prepare.file("train.parquet"))
    importances = None
    if "importances.json" in train.manifest["outputs"]:
        importances = json.loads(train.file("importances.json").read_text())["values"]
    champion_model = (f"{champion.ref}", _scoring_model(champion, None, info_in.task)) if champion else None

    with store.writer(STAGE, started=started) as writer:
        writer.config, writer.cache_key = plan.config, plan.cache_key
        for artifact in plan.inputs:
            writer.add_input(artifact)
        result = evaluate(model, task=info_in.task, target=info_in.target, metric=info_in.metric,
                          test=test, train=train_rows, cfg=config.model.evaluate, out_dir=writer.path,
                          importances=importances, champion=champion_model, seed=config.model.train.seed)
        info = {"model": info_in.model, "task": info_in.task, "train": train.ref, "data": prepare.ref,
                "metric": info_in.metric, "test_rows": len(test), "train_metrics": result.train_metrics,
                "gates": result.gates, "passed": result.passed, "champion": result.champion,
                "overfit": result.overfit, "confusion": result.confusion, "per_class": result.per_class,
                "plots": result.plots, "warnings": result.warnings}
        if info_in.positive_class is not None:
            info.update(positive_class=info_in.positive_class, positive_source=info_in.positive_source)
        info = jsonable(info)
        (writer.path / "metrics.json").write_text(json.dumps(
            {"test": result.metrics, "train": result.train_metrics, "gates": info["gates"],
             "champion": info["champion"]}, indent=2, default=str))
        write_report(writer.path / "report.html", title=f"mlw evaluate: {config.model.project} {train.ref}",
                     sections=report_sections(result, info, writer.path))
        writer.metrics, writer.info = jsonable(result.metrics), info
    return _result(writer.artifact, cached=False)


def _evaluate_recommender(config: Config, store: Store, plan: Plan, info_in: TrainInfo, started: float) -> StageResult:
    """Recommendation (stages/evaluate/ranking.py): lists beside the baselines on the same split."""
    import pandas as pd

    from mlflow_cli.models.scoring.model import read_schema
    from mlflow_cli.reports.html import write_report
    from mlflow_cli.stages.evaluate.evaluation import jsonable
    from mlflow_cli.stages.evaluate.ranking import evaluate_recommender, report_sections

    train, prepare = plan.inputs[0], plan.inputs[1]
    champion = plan.inputs[2] if len(plan.inputs) > 2 else None
    if champion is not None and TrainInfo.of(champion.manifest).task != info_in.task:
        champion = None  # a classifier cannot rank
    roles = read_schema(prepare)["interactions"]
    test, rows = pd.read_parquet(prepare.file("test.parquet")), pd.read_parquet(prepare.file("train.parquet"))
    with store.writer(STAGE, started=started) as writer:
        writer.config, writer.cache_key = plan.config, plan.cache_key
        for artifact in plan.inputs:
            writer.add_input(artifact)
        result, extra = evaluate_recommender(
            train.unpickle(MODEL_FILE), name=info_in.model or "model", metric=info_in.metric or "ndcg", roles=roles,
            test=test, train=rows, cfg=config.model.evaluate, out_dir=writer.path,
            champion=(champion.ref, champion.unpickle(MODEL_FILE)) if champion else None)
        info = jsonable({"model": info_in.model, "task": info_in.task, "train": train.ref, "data": prepare.ref,
                         "metric": info_in.metric, "test_rows": len(test), "train_metrics": {},
                         "gates": result.gates, "passed": result.passed, "champion": result.champion,
                         "overfit": None, "confusion": None, "per_class": None, "plots": result.plots,
                         "warnings": result.warnings, "rating_model": info_in.rating_model, **extra})
        (writer.path / "metrics.json").write_text(json.dumps(
            {"test": result.metrics, "baselines": info["baselines"], "gates": info["gates"],
             "champion": info["champion"]}, indent=2, default=str))
        write_report(writer.path / "report.html", title=f"mlw evaluate: {config.model.project} {train.ref}",
                     sections=report_sections(result, info, extra, writer.path))
        writer.metrics, writer.info = jsonable(result.metrics), info
    return _result(writer.artifact, cached=False)


def _scoring_model(train: Artifact, prepare: Artifact | None, task: str | None) -> Any:
    """A train version as the ScoringModel `mlw predict` and `mlw serve` score with, for the task
    being evaluated. The champion (prepare None) may come from other data: its schema is unused."""
    from mlflow_cli.models.scoring.model import ScoringModel, read_schema

    schema = read_schema(prepare) if prepare is not None else {"columns": {}}
    return ScoringModel(train, schema, task)


def _result(artifact: Artifact, cached: bool) -> StageResult:
    info = artifact.manifest["info"]
    return StageResult.from_artifact(artifact, cached, warnings=list(info.get("warnings", [])),
                                     details={"passed": info["passed"],
                                              "report": str(artifact.path / "report.html")})


def gate_failures(result: StageResult) -> list[str]:
    """One line per failed gate, for the exit-1 message."""
    return [g["message"] + f" [{g['gate']}]" for g in result.manifest["info"]["gates"] if not g["passed"]]
