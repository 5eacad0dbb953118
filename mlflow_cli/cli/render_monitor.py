"""How `mlw monitor`'s result looks to a person: the verdict line, one row per drifted or suspect
column, then target and prediction drift, data quality, performance, service health and gates
(stdout), warnings and the report's path (stderr). `--json` prints the whole result instead."""

from __future__ import annotations

from typing import Any

from mlflow_cli.cli import console
from mlflow_cli.cli.formatting import fmt
from mlflow_cli.core.stage import StageResult
from mlflow_cli.stages.monitor.report import drift_rows, quality_rows


def render_monitor(result: StageResult) -> None:
    full = result.details["result"]

    def human() -> None:
        for warning in result.warnings:
            console.warn(warning)
        ref = f"{result.stage}/{result.version}"
        if result.cached:
            console.status(f"cached: {ref} already holds this result (same model, data and config; --force "
                           f"recomputes)")
        if full.get("kind") == "recommendation_health":
            h = full["health"]
            console.print_text(f"Monitored the service of {full['model']} on {full['current']}: {h['requests']:,} "
                               f"requests, {h['refused']:,} refused ({fmt(h['error_rate'], 3)}), latency p50 "
                               f"{fmt(h['latency_p50_ms'])} ms, p99 {fmt(h['latency_p99_ms'])} ms.")
            console.print_table("requests by endpoint", ["endpoint", "requests"],
                                [[k, f"{v:,}"] for k, v in h["endpoints"].items()])
            _gates(full["gates"])
            console.status(f"report: {result.details['report']}")
            return
        if full.get("kind") == "interactions":
            _interactions(full, ref)
            console.status(f"report: {result.details['report']}")
            return
        if full.get("windows"):
            console.print_table(f"{ref}: one verdict per window (the rest is the newest window's)", [
                "from", "to", "rows", "drift share", "drifted", "new-category rows", "out of range", "verdict"],
                [[w["start"][:16].replace("T", " "), w["end"][:16].replace("T", " "), f"{w['rows']:,}",
                  fmt(w.get("drift_share"), 2), ", ".join(w.get("drifted") or []) or "-",
                  fmt(w.get("new_category_rows")), fmt(w.get("out_of_range_share"), 3), w["verdict"]]
                 for w in full["windows"]])
        drift = full["drift"]
        weighted = drift["weighted_drift_share"]
        model = full["model"] + (f" ({full['alias']})" if full.get("alias") else "")
        console.print_text(
            f"Monitored {model} on {full['current']}: {full['rows']:,} rows against {full['reference_rows']:,} "
            f"training rows. {len(drift['drifted'])} of {drift['compared']} columns drift ({drift['drift_share']:.0%}"
            + (f", {weighted:.0%} of the model's importance" if weighted is not None else "")
            + f"), {len(drift['minor'])} minor. Verdict: {full['verdict'].upper()}.")
        shown = [(n, e) for n, e in drift_rows(drift["columns"]) if e["verdict"] != "none"]
        if shown:
            console.print_table(f"{ref}: columns that changed", [
                "column", "kind", "test", "statistic", "p-value", "effect", "size", "importance", "verdict"],
                [[name, e["kind"], e["test"], fmt(e["statistic"]), _p(e["p_value"]), e["effect_name"],
                  fmt(e["effect"], 3), fmt(e.get("importance"), 2), e["verdict"]] for name, e in shown])
        outputs = [[what, e["test"], fmt(e["statistic"]), _p(e["p_value"]), e["effect_name"], fmt(e["effect"], 3),
                    e["verdict"]] for what, e in (("target", full["target_drift"]),
                                                  ("prediction", full["prediction_drift"])) if e is not None]
        if outputs:
            console.print_table("target and predictions", ["", "test", "statistic", "p-value", "effect", "size",
                                                           "verdict"], outputs)
        problems = quality_rows(full["quality"])
        if problems:
            console.print_table("data quality", ["column", "problem"], problems)
        _performance(full["performance"])
        _health(full["health"])
        if full["gates"]:
            console.print_table("gates", ["gate", "condition", "value", "result"],
                                [[g["gate"], g["condition"], fmt(g["value"]), "pass" if g["passed"] else "FAIL"]
                                 for g in full["gates"]])
        for note in full["notes"]:
            console.status(note)
        console.status(f"report: {result.details['report']}")

    console.emit({**result.to_json(), "result": full}, human)


def _p(value: float) -> str:
    return "<1e-300" if value == 0 else f"{value:.2g}"


SHOWN = ("roc_auc", "log_loss", "rmse", "mae", "r2")  # beside those estimated; --json and the report have all


def _performance(performance: dict[str, Any] | None) -> None:
    """One row per metric: on the labelled rows, estimated (CBPE), at evaluation time, and the drop."""
    if not performance:
        return
    labelled = performance.get("metrics") or {}
    estimated = performance.get("estimated") or {}
    names = [n for n in labelled if n in estimated or n in SHOWN] or list(labelled)[:6]
    names += [n for n in estimated if n not in names]
    rows = []
    for name in names:
        row = labelled.get(name) or estimated[name]
        rows.append([name, fmt((labelled.get(name) or {}).get("current")),
                     fmt((estimated.get(name) or {}).get("current")), fmt(row["evaluation"]), fmt(row["drop"])])
    if rows:
        title = f"performance ({performance['labelled_rows']:,} labelled rows)" if performance["labelled_rows"] \
            else "performance (no labels: estimated from the model's probabilities)"
        console.print_table(title, ["metric", "labels", "estimated", "at evaluation", "drop"], rows)


def _health(health: dict[str, Any] | None) -> None:
    if not health:
        return
    rows = [["requests", fmt(health["requests"])], ["refused (4xx)", fmt(health["refused"])],
            ["error rate", f"{health['error_rate']:.2%}" if health["error_rate"] is not None else ""],
            ["latency p50 / p95 / p99", " / ".join(fmt(health[f"latency_p{p}_ms"], 3) for p in (50, 95, 99)) + " ms"],
            ["rows per request", f"{fmt(health['rows_per_request'], 3)} (max {fmt(health['max_rows_per_request'])})"]]
    rows += [[f"refused: {reason}", fmt(n)] for reason, n in health["errors"].items()]
    rows += [[f"model {version}", f"{n:,} rows"] for version, n in health["model_versions"].items()]
    console.print_table("service health", ["measure", "value"], rows)


def _interactions(full: dict[str, Any], ref: str) -> None:
    """A recommender's monitor: drift of ratings, activity and items; newcomers; quality on the new ones."""
    drift, quality, new = full["drift"], full["quality"], full["newcomers"]
    model = full["model"] + (f" ({full['alias']})" if full.get("alias") else "")
    console.print_text(
        f"Monitored {model} on {full['current']}: {full['rows']:,} interactions by {full['users']:,} users against "
        f"{full['reference_rows']:,} training interactions. {new['user_share']:.1%} are by new users, "
        f"{new['item_share']:.1%} of new items; drifted: {', '.join(drift['drifted']) or 'nothing'}. "
        f"Verdict: {full['verdict'].upper()}.")
    console.print_table(f"{ref}: drift", ["what", "test", "p-value", "effect", "size", "verdict"],
                        [[name, d["test"], _p(d["p_value"]), d["effect_name"], fmt(d["effect"], 3), d["verdict"]]
                         for name, d in drift["checks"].items()])
    if quality["metrics"]:
        keys = [k for k in quality["metrics"] if k in ("ndcg", "precision", "recall", "map", "hit_rate", "rmse", "mae")]
        console.print_table(f"quality on the new interactions of {quality['users']:,} returning users (k={quality['k']})",
                            ["metric", "now", "popularity", "at evaluation"],
                            [[k, fmt(quality["metrics"][k]), fmt(quality["popularity"].get(k)),
                              fmt(quality["evaluated"].get(k))] for k in keys])
    _gates(full["gates"])


def _gates(gates: list[dict[str, Any]]) -> None:
    if gates:
        console.print_table("gates", ["gate", "condition", "value", "result"],
                            [[g["gate"], g["condition"], fmt(g["value"]), "pass" if g["passed"] else "FAIL"]
                             for g in gates])
