"""`mlw evaluate` for recommendation: each test user's top-k from the trained Recommender (what they
saw in training excluded) against the items they chose in the test split; ranking metrics at
evaluate.k, rating metrics for the rating model; always beside the popularity and bias baselines
fitted on the same training split; gates, the champion on the same split, NDCG@k by user activity,
and the report's sections. Heavy (pandas, scipy, matplotlib): imported only to run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from mlflow_cli.core.config import EvaluateConfig
from mlflow_cli.models.metrics import check_gate
from mlflow_cli.models.recommend.judged import RankingJudge
from mlflow_cli.models.recommend.recommender import Ranked, Recommender
from mlflow_cli.stages.evaluate.evaluation import Evaluation, champion_gate

ACTIVITY_BINS = 5        # users grouped by how many training interactions they have, in this many quantiles


def evaluate_recommender(model: Recommender, *, name: str, metric: str, roles: dict[str, Any], test: pd.DataFrame,
                         train: pd.DataFrame, cfg: EvaluateConfig, out_dir: Path,
                         champion: tuple[str, Recommender] | None) -> tuple[Evaluation, dict[str, Any]]:
    """The evaluation and what the report adds for recommendation (the baselines' metrics, users)."""
    from mlflow_cli.reports.plots import make_plots

    judge = RankingJudge(test, train, roles, cfg.k)
    ranked = model.recommend_many(judge.relevant.index, cfg.k)
    lists = [r.items for r in ranked]
    scored = judge.metrics(model, lists)
    wanted = cfg.metrics or list(scored)
    metrics = {key: value for key, value in scored.items() if key in wanted}
    baselines: dict[str, dict[str, float]] = {}
    curves = {name: judge.per_user_ndcg(lists)}
    for label, baseline in judge.baselines().items():
        base_lists = judge.lists(baseline)
        baselines[label] = {key: value for key, value in judge.metrics(baseline, base_lists).items() if key in wanted}
        if label == "popularity":
            curves[label] = judge.per_user_ndcg(base_lists)
    gates = [check_gate(g, condition, scored.get(g), f"`evaluate.gates.{g}`",
                        unavailable="for this model: rmse and mae need a rating model")
             for g, condition in cfg.gates.items()]
    champion_info = None
    if champion is not None:
        champion_info = _champion(champion, judge, metric, scored, cfg, list(metrics))
        if champion_info.get("gate"):
            gates.append(champion_info["gate"])
    plots = make_plots(out_dir, "recommendation", ranking={"activity": judge.activity.to_numpy(), "ndcg": curves,
                                                           "k": cfg.k, "bins": ACTIVITY_BINS})
    _write_lists(out_dir / "predictions.parquet", judge, ranked, roles)
    lift = {key: metrics[key] / baselines["popularity"][key] for key in ("ndcg", "precision", "recall", "map")
            if key in metrics and baselines["popularity"].get(key)}
    extra = {"baselines": baselines, "lift_over_popularity": lift, "k": cfg.k,
             "test_users": int(len(judge.relevant)),
             "test_users_new": int((judge.activity == 0).sum())}
    return Evaluation(metrics, {}, gates, champion_info, None, None, None, plots, []), extra


def _champion(champion: tuple[str, Recommender], judge: RankingJudge, metric: str, metrics: dict[str, float],
              cfg: EvaluateConfig, reported: list[str]) -> dict[str, Any]:
    label, model = champion
    theirs_all = judge.metrics(model)
    theirs = {k: v for k, v in theirs_all.items() if k in reported}
    info: dict[str, Any] = {"champion": label, "metrics": theirs,
                            "difference": {k: metrics[k] - theirs[k] for k in reported if k in metrics and k in theirs}}
    if cfg.require_better_than:
        info["gate"] = champion_gate(label, metric, metrics, theirs_all, cfg)
    return info


def _write_lists(path: Path, judge: RankingJudge, ranked: list[Ranked], roles: dict[str, Any]) -> None:
    """Each test user's list: user, rank, item, score, and whether they chose it in the test split."""
    rows = []
    for user, one, chosen in zip(judge.relevant.index, ranked, judge.relevant):
        for rank, (item, value) in enumerate(zip(one.items, one.scores), start=1):
            rows.append((user, rank, item, value, item in chosen))
    frame = pd.DataFrame(rows, columns=[roles["user"], "rank", roles["item"], "score", "chosen"])
    frame.to_parquet(path, index=False)


def report_sections(evaluation: Evaluation, info: dict[str, Any], extra: dict[str, Any],
                    out_dir: Path) -> list[dict[str, Any]]:
    k = extra["k"]
    sections: list[dict[str, Any]] = [{
        "heading": "Summary",
        "text": f"{info['model']} (recommendation) from {info['train']}: top-{k} lists for {extra['test_users']:,} "
                f"test users of {info['data']} ({extra['test_users_new']:,} new to the model, who get the popular "
                f"items), items they saw in training excluded; beside the popularity and bias baselines fitted on "
                f"the same training split.",
        "status": "pass" if evaluation.passed else "fail",
    }]
    names = list(extra["baselines"])
    rows = [[_label(key, k), value, *[extra["baselines"][b].get(key) for b in names]]
            for key, value in evaluation.metrics.items()]
    sections.append({"heading": "Metrics", "table": {"columns": ["metric", info["model"], *names], "rows": rows}})
    if evaluation.gates:
        sections.append({"heading": "Gates", "status": "pass" if evaluation.passed else "fail", "table": {
            "columns": ["gate", "condition", "value", "result"],
            "rows": [[g["gate"], g["condition"], g["value"], "pass" if g["passed"] else "FAIL"]
                     for g in evaluation.gates]}})
    if evaluation.champion:
        champ = evaluation.champion
        sections.append({"heading": f"Champion: {champ['champion']}", "table": {
            "columns": ["metric", "challenger", "champion", "difference"],
            "rows": [[_label(key, k), evaluation.metrics[key], champ["metrics"][key], d]
                     for key, d in champ["difference"].items()]}})
    images = [out_dir / name for name in evaluation.plots.values()]
    if images:
        sections.append({"heading": "Plots", "images": images})
    return sections


def _label(metric: str, k: int) -> str:
    return f"{metric}@{k}" if metric in ("ndcg", "precision", "recall", "map", "hit_rate") else metric
