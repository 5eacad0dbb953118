"""`mlw monitor` for a recommendation model: newly arrived interactions (a file, `--batch`, or the
ratings log `mlw serve` keeps) against the model's reference (train/<v>/reference.json: summaries
of its training ratings, of the interactions per user and per item).

- Drift: the rating distribution, who is active (each interaction's user's number of training
  interactions, 0 for a new user: independent of the batch's size) and what is watched
  (interactions per item: a categorical test over items), each by data/drift.py's statistics and
  monitor.drift's thresholds (Bonferroni over the three).
- Newcomers: the share of interactions by users, and of items, the model has never seen.
- Ranking quality on the new interactions: each returning user's top-k from the model, what they
  saw in training excluded, against what they went on to choose; beside the popularity baseline
  on the same rows, and the evaluation's figure.
Heavy (pandas, scipy): imported only to run.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from mlflow_cli.core.errors import DataError, missing_column_error
from mlflow_cli.data.drift import categorical_drift, numeric_drift
from mlflow_cli.data.summary import CategoricalSummary, NumericSummary
from mlflow_cli.models.metrics import check_gate

from mlflow_cli.models.reference import INTERACTIONS as KIND

MEASURES = ("requests", "error_rate", "latency_p50_ms", "latency_p95_ms", "latency_p99_ms", "rating_drift", "activity_drift", "item_drift", "new_user_share", "new_item_share", "users",
            "popularity_ndcg")


def monitor_interactions(frame: pd.DataFrame, reference: dict[str, Any], model: Any, roles: dict[str, Any],
                         config: Any, evaluated: dict[str, float] | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the result, the measures gates read) for these new interactions."""
    from mlflow_cli.models.recommend.judged import RankingJudge

    settings = config.model.monitor
    user, item, rating = roles["user"], roles["item"], roles["rating"]
    for column in (user, item) + ((rating,) if rating else ()):
        if column not in frame.columns:
            raise missing_column_error("the current interactions", column, list(frame.columns))
    frame = frame.dropna(subset=[user, item])
    if frame.empty:
        raise DataError("The current data hold no interactions (every row lacks a user or an item).",
                        hint="Point monitor at new ratings: --input FILE, --batch VERSION, or the ratings log.")
    trained = pd.Series(np.diff(model.seen.indptr), index=model.users)      # each user's training interactions
    activity = frame[user].map(trained).fillna(0).to_numpy(float)           # 0: a user new to the model
    checks = {"activity": numeric_drift(NumericSummary.from_json(reference["activity"]), activity),
              "items": categorical_drift(CategoricalSummary.from_json(reference["items"]), frame[item].astype(str))}
    if rating and "rating" in reference:
        values = pd.to_numeric(frame[rating], errors="coerce").dropna().to_numpy(float)
        if len(values):
            checks["rating"] = numeric_drift(NumericSummary.from_json(reference["rating"]), values)
    threshold = settings.drift.p_value / len(checks)
    drift = {}
    judged = len(frame) >= MIN_ROWS
    for name, found in checks.items():
        numeric = name != "items"
        effect = found.effect if numeric else found.jensen_shannon
        limit = settings.drift.numeric_effect if numeric else settings.drift.categorical_effect
        significant = judged and found.p_value < threshold
        verdict = "drift" if significant and effect >= limit else "minor" if significant else "none"
        drift[name] = {"test": "ks" if numeric else "chi2", "p_value": found.p_value, "effect": effect,
                       "effect_name": "wasserstein/std" if numeric else "jensen-shannon", "verdict": verdict}
    known_users = frame[user].map(lambda u: model.is_known_user(u))
    known_items = frame[item].isin(model.items)
    judge = RankingJudge(frame[known_users.to_numpy()], frame.iloc[:0], roles, config.model.evaluate.k)
    quality = judge.metrics(model) if len(judge.relevant) else {}
    baseline = judge.metrics(_popularity_of(model)) if len(judge.relevant) else {}
    drifted = [name for name, d in drift.items() if d["verdict"] == "drift"]
    measures: dict[str, Any] = {
        "rows": len(frame), "users": int(frame[user].nunique()),
        "new_user_share": float(1 - known_users.mean()), "new_item_share": float(1 - known_items.mean()),
        "drift_share": len(drifted) / len(drift), **{f"{name}_drift": d["effect"] for name, d in drift.items()},
        **quality, **({"popularity_ndcg": baseline["ndcg"]} if "ndcg" in baseline else {})}
    gates = [check_gate(name, condition, measures.get(name), f"`monitor.gates.{name}`",
                        unavailable="no returning user in the current interactions, or no ratings")
             for name, condition in settings.gates.items()]
    result = {
        "kind": KIND, "rows": len(frame), "reference_rows": reference["rows"], "users": measures["users"],
        "verdict": "drift" if drifted else "ok", "drift": {"checks": drift, "drifted": drifted,
                                                          "compared": len(drift), "drift_share": measures["drift_share"]},
        "newcomers": {"user_share": measures["new_user_share"], "item_share": measures["new_item_share"]},
        "quality": {"k": config.model.evaluate.k, "users": int(len(judge.relevant)), "metrics": quality,
                    "popularity": baseline, "evaluated": {k: v for k, v in (evaluated or {}).items() if k in quality}},
        "gates": gates, "warnings": [] if judged else [
            f"only {len(frame):,} interactions: too few to judge drift (at least {MIN_ROWS}); the statistics are "
            f"shown, no verdict is drawn from them"],
    }
    return result, measures


MIN_ROWS = 50    # fewer new interactions than this: drift is shown, not judged (the tests' approximations fail)
HEALTH = ("requests", "error_rate", "latency_p50_ms", "latency_p95_ms", "latency_p99_ms")


def service_health(current: Any, gates: dict[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """`--log` for a recommender: the served lists' traffic, latency and refusals (health.py)."""
    from mlflow_cli.data.prediction_log import LogScan, read_log
    from mlflow_cli.stages.monitor.health import Health

    health, scan = Health(), LogScan()
    for chunk in read_log(current.folder, since=current.since, until=current.until,
                          model_version=current.model_version, scan=scan):
        health.add(chunk.rows, chunk.refused)
    found = health.result()
    if not found["requests"]:
        raise DataError(f"The {current.label} holds no requests.",
                        hint="Serve the model (mlw serve) and send requests, or widen --since/--until.")
    measures = {name: found[name] for name in HEALTH}
    measures["rows"] = found["requests"]
    checked = [check_gate(name, condition, measures.get(name), f"`monitor.gates.{name}`",
                          unavailable="the log measures service health; interactions: --input or --batch")
               for name, condition in gates.items()]
    result = {"kind": "recommendation_health", "rows": found["requests"], "verdict": "ok", "health": found,
              "gates": checked, "warnings": [], "log_files": scan.files}
    return result, measures


def _popularity_of(model: Any) -> Any:
    """The popularity baseline on the model's own training interactions."""
    from mlflow_cli.models.recommend.algorithms import Popularity
    from mlflow_cli.models.recommend.interactions import Interactions
    from mlflow_cli.models.recommend.recommender import Recommender

    return Recommender.fit(Interactions(model.users, model.items, model.seen), Popularity())


def report_sections(result: dict[str, Any]) -> list[dict[str, Any]]:
    if result["kind"] == "recommendation_health":
        health = result["health"]
        return [{"heading": "Service health", "text": f"{health['requests']:,} requests from {health['first']} to "
                                                      f"{health['last']}; {health['refused']:,} refused.",
                 "table": {"columns": ["measure", "value"],
                           "rows": [[name, health[name]] for name in HEALTH] +
                                   [[f"requests to {k}", v] for k, v in health["endpoints"].items()]}}]
    drift, quality = result["drift"], result["quality"]
    sections: list[dict[str, Any]] = [{
        "heading": "Summary", "status": "fail" if result["verdict"] == "drift" else "pass",
        "text": f"{result['rows']:,} new interactions by {result['users']:,} users against {result['reference_rows']:,} "
                f"training interactions: {', '.join(drift['drifted']) or 'nothing'} drifted; "
                f"{result['newcomers']['user_share']:.1%} of the interactions are by new users, "
                f"{result['newcomers']['item_share']:.1%} of new items."}]
    sections.append({"heading": "Drift", "table": {"columns": ["what", "test", "p-value", "effect", "size", "verdict"],
                     "rows": [[name, d["test"], d["p_value"], d["effect_name"], d["effect"], d["verdict"]]
                              for name, d in drift["checks"].items()]}})
    if quality["metrics"]:
        keys = [k for k in quality["metrics"] if k in ("ndcg", "precision", "recall", "map", "hit_rate", "rmse", "mae")]
        sections.append({"heading": f"Quality on the new interactions ({quality['users']:,} returning users, "
                                    f"k={quality['k']})",
                         "table": {"columns": ["metric", "now", "popularity", "at evaluation"],
                                   "rows": [[k, quality["metrics"][k], quality["popularity"].get(k),
                                             quality["evaluated"].get(k)] for k in keys]}})
    if result["gates"]:
        sections.append({"heading": "Gates", "status": "pass" if all(g["passed"] for g in result["gates"]) else "fail",
                         "table": {"columns": ["gate", "condition", "value", "result"],
                                   "rows": [[g["gate"], g["condition"], g["value"], "pass" if g["passed"] else "FAIL"]
                                            for g in result["gates"]]}})
    return sections
