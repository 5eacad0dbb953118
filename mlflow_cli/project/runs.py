"""`mlw runs ...`: experiment tracking over the artifact store. A run is a train version; its
test metrics come from the newest evaluate version of that model. Nothing is stored twice:
everything is read from manifests."""

from __future__ import annotations

from typing import Any

from mlflow_cli.core.config import Config
from mlflow_cli.models.train_info import TrainInfo
from mlflow_cli.core.errors import ArtifactError, ConfigError, did_you_mean
from mlflow_cli.models.metrics import GREATER_IS_BETTER
from mlflow_cli.core.registry import read_registry
from mlflow_cli.core.store import Store, open_store




def _evaluations(store: Store) -> dict[str, dict[str, Any]]:
    """train version -> the newest evaluate manifest of it."""
    found: dict[str, dict[str, Any]] = {}
    for version in store.versions("evaluate"):
        manifest = store.manifest("evaluate", version)
        for item in manifest.get("inputs", []):
            if item.get("stage") == "train":
                found[item["version"]] = manifest
    return found


def _run_row(store: Store, version: str, evaluations: dict[str, dict[str, Any]],
             aliases: dict[str, list[str]]) -> dict[str, Any]:
    manifest = store.manifest("train", version)
    info = TrainInfo.of(manifest)
    metric = info.metric
    cv = (info.cv or {}).get(metric) or {}
    evaluation = evaluations.get(version)
    set_params = manifest.get("config", {}).get("train", {}).get("params", {})
    best = (info.search or {}).get("best_params", {})
    return {
        "version": version, "created": manifest.get("created"), "model": info.model,
        "task": info.task, "params": {**set_params, **best}, "all_params": info.params,
        "metric": metric, "cv_mean": cv.get("mean"), "cv_std": cv.get("std"), "cv": info.cv or {},
        "test": evaluation.get("metrics", {}) if evaluation else {},
        "evaluation": evaluation.get("version") if evaluation else None,
        "passed": evaluation.get("info", {}).get("passed") if evaluation else None,
        "data": info.data, "duration_s": manifest.get("duration_s"), "aliases": aliases.get(version, []),
    }


def _aliases(store: Store) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, entry in sorted(read_registry(store)["aliases"].items()):
        out.setdefault(entry["version"], []).append(name)
    return out


def list_runs(config: Config, *, sort: str = "created", model: str | None = None,
              limit: int | None = None) -> list[dict[str, Any]]:
    store = open_store(config)
    evaluations, aliases = _evaluations(store), _aliases(store)
    rows = [_run_row(store, v, evaluations, aliases) for v in store.versions("train")]
    if model:
        known = sorted({r["model"] for r in rows if r["model"]})
        rows = [r for r in rows if r["model"] == model]
        if not rows:
            raise ConfigError(f"--model '{model}' matches no run.{did_you_mean(model, known)}",
                              hint=f"Models with runs: {', '.join(known) or 'none yet'}.")
    if sort == "created":
        rows.sort(key=lambda r: r["version"], reverse=True)
    else:
        if sort not in GREATER_IS_BETTER and sort != "cv":
            raise ConfigError(f"--sort '{sort}' is not a metric.{did_you_mean(sort, GREATER_IS_BETTER)}",
                              hint="Sort by created, cv, or a test metric such as f1, roc_auc, rmse.")
        rows.sort(key=lambda r: _sort_key(r, sort))
    return rows[:limit] if limit else rows


def _sort_key(row: dict[str, Any], metric: str) -> tuple[int, float]:
    """Best first; runs without the metric last."""
    value = row["cv_mean"] if metric == "cv" else row["test"].get(metric)
    name = row["metric"] if metric == "cv" else metric
    if value is None:
        return (1, 0.0)
    return (0, -value if GREATER_IS_BETTER.get(name, True) else value)


def show_run(config: Config, ref: str) -> dict[str, Any]:
    store = open_store(config)
    stage, version = store.resolve(ref, "train")
    row = _run_row(store, version, _evaluations(store), _aliases(store))
    manifest = store.manifest("train", version)
    row["info"] = manifest.get("info", {})
    return row


def compare_runs(config: Config, first: str, second: str) -> dict[str, Any]:
    store = open_store(config)
    versions = []
    for ref in (first, second):
        try:
            versions.append(store.resolve(ref, "train")[1])
        except ArtifactError as exc:
            raise ArtifactError(f"runs compare: {exc.message}", hint=exc.hint) from None
    evaluations, aliases = _evaluations(store), _aliases(store)
    a, b = (_run_row(store, v, evaluations, aliases) for v in versions)
    params = []
    for key in sorted(set(a["all_params"]) | set(b["all_params"])):
        va, vb = a["all_params"].get(key), b["all_params"].get(key)
        params.append({"param": key, "a": va, "b": vb, "changed": va != vb})
    metrics = []
    for source in ("cv", "test"):
        for key in sorted(set(a[source]) | set(b[source])):
            va = a[source].get(key)
            vb = b[source].get(key)
            if source == "cv":
                va, vb = (va or {}).get("mean"), (vb or {}).get("mean")
            delta = vb - va if isinstance(va, (int, float)) and isinstance(vb, (int, float)) else None
            metrics.append({"metric": f"{source} {key}", "a": va, "b": vb, "delta": delta})
    return {"a": {k: a[k] for k in ("version", "model", "data", "created")},
            "b": {k: b[k] for k in ("version", "model", "data", "created")},
            "model_changed": a["model"] != b["model"], "data_changed": a["data"] != b["data"],
            "params": params, "metrics": metrics}
