"""The work behind `mlw evaluate`: score a trained model on the held-out test split (never on
training rows), compare train and test for overfitting, draw the plots, check the gates, and
compare with the champion (the model an alias such as `production` points at).

Heavy (pandas, scikit-learn, matplotlib): the stage module imports it only to run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlflow_cli.core.config import EvaluateConfig
from mlflow_cli.core.errors import DataError
from mlflow_cli.models.scoring.model import PREDICTION, PROBA_PREFIX, ScoringModel
from mlflow_cli.models.scoring.scored import Scored, score
from mlflow_cli.models.tasks import task_named
from mlflow_cli.models.metrics import GREATER_IS_BETTER, TASK_METRICS, check_gate, confusion, \
    per_class_report, scorer_sign

TRAIN_SAMPLE = 20_000


@dataclass
class Evaluation:
    metrics: dict[str, float]
    train_metrics: dict[str, float]
    gates: list[dict[str, Any]]
    champion: dict[str, Any] | None
    overfit: dict[str, Any] | None
    confusion: dict[str, Any] | None
    per_class: dict[str, Any] | None
    plots: dict[str, str]
    warnings: list[str]

    @property
    def passed(self) -> bool:
        return all(g["passed"] for g in self.gates)


def evaluate(model: ScoringModel, *, task: str, target: str | None, metric: str, test: pd.DataFrame, train: pd.DataFrame,
             cfg: EvaluateConfig, out_dir: Path, importances: dict[str, float] | None,
             champion: tuple[str, ScoringModel] | None, seed: int = 0) -> Evaluation:
    from mlflow_cli.reports.plots import make_plots

    warnings: list[str] = []
    test_scores = score(model, test, task, target)
    wanted = cfg.metrics or list(TASK_METRICS[task])
    metrics = {k: v for k, v in test_scores.metrics.items() if k in wanted}
    sample = train.sample(min(len(train), TRAIN_SAMPLE), random_state=seed) if len(train) else train
    train_all = score(model, sample, task, target).metrics if task_named(task).supervised else {}
    train_metrics = {k: v for k, v in train_all.items() if k in wanted}
    overfit = _overfit(metric, test_scores.metrics, train_all, cfg.overfit_tolerance)
    if overfit and overfit["warning"]:
        warnings.append(overfit["warning"])
    # Gates and the champion check see every metric, not only the ones evaluate.metrics reports.
    gates = [_gate(name, condition, test_scores.metrics) for name, condition in cfg.gates.items()]
    champion_info = None
    if champion is not None:
        champion_info = _champion(champion, test, task, target, metric, test_scores.metrics, cfg, list(metrics))
        if champion_info.get("gate"):
            gates.append(champion_info["gate"])
    plots = make_plots(out_dir, task, y_true=test_scores.y_true, y_pred=test_scores.y_pred, proba=test_scores.proba,
                       classes=test_scores.classes, importances=importances, positive=model.positive)
    matrix = report = None
    if task_named(task).labels:
        matrix = confusion(test_scores.y_true, test_scores.y_pred, test_scores.classes)
        report = per_class_report(test_scores.y_true, test_scores.y_pred, test_scores.classes)
    _write_predictions(out_dir / "predictions.parquet", test, target, test_scores)
    return Evaluation(metrics, train_metrics, gates, champion_info, overfit, matrix, report, plots, warnings)


def _overfit(metric: str, test: dict[str, float], train: dict[str, float], tolerance: float) -> dict[str, Any] | None:
    """The train metric's relative gap between the training and the test rows. Log loss, unbounded
    and near 0 on the training rows of any booster, is judged by roc_auc instead (relative gaps of
    it are not comparable)."""
    if metric == "log_loss" and "roc_auc" in test and "roc_auc" in train:
        metric = "roc_auc"
    if metric not in test or metric not in train:
        return None
    better = GREATER_IS_BETTER[metric]
    gap = (train[metric] - test[metric]) if better else (test[metric] - train[metric])
    relative = gap / max(abs(train[metric]), 1e-12)
    info = {"metric": metric, "train": train[metric], "test": test[metric], "relative_gap": relative, "warning": None}
    if relative > tolerance:
        info["warning"] = (f"possible overfitting: {metric} is {train[metric]:.4g} on the training rows but "
                           f"{test[metric]:.4g} on the test rows ({relative:.0%} worse; evaluate.overfit_tolerance "
                           f"is {tolerance:.0%}). Try a simpler model or more regularisation.")
    return info


def _gate(name: str, condition: str, metrics: dict[str, float]) -> dict[str, Any]:
    return check_gate(name, condition, metrics.get(name), f"`evaluate.gates.{name}`",
                      unavailable="on the test split: e.g. no probabilities, or one class")


def _champion(champion: tuple[str, ScoringModel], test: pd.DataFrame, task: str, target: str | None, metric: str,
              metrics: dict[str, float], cfg: EvaluateConfig, reported: list[str]) -> dict[str, Any]:
    """Score the champion on the same test rows; with require_better_than, it is a gate (one that
    fails, never silently passes, when the metric cannot be computed for both models)."""
    (label, model) = champion
    try:
        scored = score(model, test, task, target).metrics
    except (ValueError, KeyError) as exc:
        raise DataError(f"The champion {label} cannot score this test split: {exc}.",
                        hint="Its input columns differ from this data; promote a model trained on compatible data, "
                             "or drop evaluate.require_better_than.") from None
    theirs = {k: v for k, v in scored.items() if k in reported}
    diff = {k: metrics[k] - theirs[k] for k in reported if k in metrics and k in theirs}
    info: dict[str, Any] = {"champion": label, "metrics": theirs, "difference": diff}
    if cfg.require_better_than:
        info["gate"] = champion_gate(label, metric, metrics, scored, cfg)
    return info


def champion_gate(label: str, metric: str, mine: dict[str, float], theirs: dict[str, float],
                  cfg: EvaluateConfig) -> dict[str, Any]:
    """evaluate.require_better_than as a gate: the challenger must beat the champion on `metric` by
    more than evaluate.margin; it fails, never silently passes, when either value is missing."""
    gate: dict[str, Any] = {"gate": f"better than {cfg.require_better_than}",
                            "condition": f"{metric} better by > {cfg.margin:g}", "value": mine.get(metric)}
    if metric in mine and metric in theirs:
        gate["passed"] = scorer_sign(metric) * (mine[metric] - theirs[metric]) > cfg.margin
        gate["message"] = (f"challenger {metric} = {mine[metric]:.4g} vs {label} {theirs[metric]:.4g} "
                           f"(margin {cfg.margin:g})")
    else:
        gate["passed"] = False
        gate["message"] = f"{metric} could not be computed for both the challenger and {label}"
    return gate


def _write_predictions(path: Path, test: pd.DataFrame, target: str | None, scored: Scored) -> None:
    out = pd.DataFrame(index=test.index)
    if target:
        out[target] = scored.y_true
    out[PREDICTION] = scored.y_pred
    if scored.proba is not None and scored.classes is not None:
        for i, cls in enumerate(scored.classes):
            out[f"{PROBA_PREFIX}{cls}"] = scored.proba[:, i]
    out.reset_index(drop=True).to_parquet(path, index=False)


def report_sections(evaluation: Evaluation, info: dict[str, Any], out_dir: Path) -> list[dict[str, Any]]:
    """The HTML report's content, in reading order."""
    sections: list[dict[str, Any]] = [{
        "heading": "Summary",
        "text": f"{info['model']} ({info['task']}) from {info['train']}, scored on {info['test_rows']:,} held-out "
                f"test rows of {info['data']}.",
        "status": "pass" if evaluation.passed else "fail",
    }]
    rows = [[k, v, evaluation.train_metrics.get(k)] for k, v in evaluation.metrics.items()]
    sections.append({"heading": "Metrics", "table": {"columns": ["metric", "test", "train"], "rows": rows}})
    if evaluation.gates:
        sections.append({"heading": "Gates", "status": "pass" if evaluation.passed else "fail", "table": {
            "columns": ["gate", "condition", "value", "result"],
            "rows": [[g["gate"], g["condition"], g["value"], "pass" if g["passed"] else "FAIL"] for g in evaluation.gates]}})
    if evaluation.overfit and evaluation.overfit.get("warning"):
        sections.append({"heading": "Overfitting", "status": "warn", "text": evaluation.overfit["warning"]})
    if evaluation.champion:
        champ = evaluation.champion
        sections.append({"heading": f"Champion: {champ['champion']}", "table": {
            "columns": ["metric", "challenger", "champion", "difference"],
            "rows": [[k, evaluation.metrics[k], champ["metrics"][k], d] for k, d in champ["difference"].items()]}})
    if evaluation.per_class:
        sections.append({"heading": "Per class", "table": {
            "columns": ["class", "precision", "recall", "f1", "support"],
            "rows": [[c, r["precision"], r["recall"], r["f1"], r["support"]] for c, r in evaluation.per_class.items()]}})
    images = [out_dir / name for name in evaluation.plots.values()]
    if images:
        sections.append({"heading": "Plots", "images": images})
    return sections


def jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=lambda v: v.item() if isinstance(v, np.generic) else str(v)))
