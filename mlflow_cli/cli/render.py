"""How the workflow commands' results look to a person (tables on stdout, status on stderr) and
to a script (`--json`): ingest, prepare, train, evaluate, predict, run and package. Part of the
printing layer with console.py (render_registry.py and render_artifacts.py do the same for
`mlw models`/`mlw runs` and `mlw artifacts`); depends on console.py, formatting.py and
core/stage only, and stages never print."""

from __future__ import annotations

from typing import Any

from mlflow_cli.cli import console
from mlflow_cli.cli.formatting import clip, fmt
from mlflow_cli.core.stage import StageResult


def _headline(result: StageResult, what: str) -> None:
    for warning in result.warnings:
        console.warn(warning)
    ref = f"{result.stage}/{result.version}"
    if result.cached:
        console.status(f"cached: {ref} already holds this result (inputs and config unchanged; --force recomputes)")
    else:
        console.status(f"{what} -> {ref} ({result.manifest.get('duration_s', 0):.2f} s)")


def _share(counts: dict[str, int], cls: str) -> str:
    total = sum(counts.values())
    n = counts.get(cls, 0)
    return f"{n:,} ({n / total:.1%})" if total else "0"


def render_ingest(result: StageResult) -> None:
    info = result.manifest["info"]

    def human() -> None:
        batch = info.get("batch", {})
        what = f"Ingested {info['source']}: {info['rows']:,} rows x {info['columns']} columns"
        if info.get("mode") == "append" and "previous" in batch:
            what += (f" ({batch['previous_rows']:,} from {batch['previous']} + {batch['rows']:,} new, "
                     f"{batch['replaced']:,} replaced by newer rows)")
        _headline(result, what)
        rows = []
        for name, col in result.details["profile"]["columns"].items():
            top = "  ".join(f"{clip(v)} ({n:,})" for v, n in col.get("top", [])[:2])
            distinct = fmt(col["distinct"]) + ("" if col["distinct_exact"] else "+")
            rows.append([name, col["type"], col["kind"], f"{col['missing_share']:.1%}", distinct,
                         fmt(col.get("min")), fmt(col.get("max")), fmt(col.get("mean")), fmt(col.get("std")),
                         top])
        console.print_table(f"{result.stage}/{result.version}: {info['rows']:,} rows",
                            ["column", "dtype", "kind", "missing", "distinct", "min", "max", "mean", "std",
                             "top values"], rows)

    console.emit(result.to_json(), human)


def render_prepare(result: StageResult) -> None:
    info = result.manifest["info"]

    def human() -> None:
        _headline(result, f"Prepared {info['rows_in']:,} rows from {info['source']}")
        rows = [["rows in", fmt(info["rows_in"])]]
        for reason, count in info["dropped"].items():
            rows.append([f"dropped: {reason.replace('_', ' ')}", fmt(count)])
        rows.append(["rows out", fmt(info["rows_out"])])
        for split, count in info["splits"].items():
            rows.append([f"{split} split", fmt(count)])
        rows.append(["task", info["task"]])
        rows.append(["split method", info["split_method"]])
        if "users" in info:  # recommendation: interactions, not features
            rows.append(["users x items", f"{info['users']:,} x {info['items']:,} (density {info['density']:.2%})"])
            rows.append(["test users", f"{info['test_users']:,} ({info['test_users_new']:,} not in train)"])
            if "ratings" in info:
                r = info["ratings"]
                rows.append(["ratings", f"mean {fmt(r['mean'])}, {fmt(r['min'])} to {fmt(r['max'])}"])
            if "metadata" in info:
                m = info["metadata"]
                rows.append(["item metadata", f"{m['items']:,} items ({m['unmatched']:,} rated items unmatched)"])
        else:
            rows.append(["features", f"{info['features_in']} columns -> {info['features_out']} model inputs"])
        for kind, columns in info["feature_kinds"].items():
            rows.append([f"  {kind}", ", ".join(columns)])
        for column, what in info.get("coerced", {}).items():
            rows.append([f"coerced {column}", what])
        console.print_table(f"{result.stage}/{result.version}", ["", ""], rows, header=False)
        balance = info.get("class_balance")
        if balance:
            splits = list(balance)
            classes = sorted({c for counts in balance.values() for c in counts})
            console.print_table("class balance", ["class", *splits],
                                [[c, *(_share(balance[s], c) for s in splits)] for c in classes])

    console.emit(result.to_json(), human)


def positive_text(info: dict[str, Any]) -> str:
    """'yes (the minority class; set data.positive_class to choose)' or 'yes (data.positive_class)'."""
    if info.get("positive_source") == "config":
        return f"{info['positive_class']} (data.positive_class)"
    return f"{info['positive_class']} (the minority class; set data.positive_class to choose)"


def leaderboard_table(info: dict[str, Any]) -> None:
    """model: auto's table: every candidate's best configuration (its tuned parameters, CV mean and
    std, trials, time) and the ensemble, ranked by the metric that chose."""
    metric = info["metric"]
    rows = []
    for row in info["leaderboard"]:
        if row.get("members"):
            what = "soft vote: " + ", ".join(f"{name} {weight:.2f}" for name, weight in row["members"].items())
        elif row.get("skipped"):
            what = row["skipped"]
        elif row.get("params"):
            what = ", ".join(f"{k}={fmt(v)}" for k, v in row["params"].items())
        else:
            what = "defaults" if "trials" in row else ""
        rows.append([row.get("rank", ""), row["model"], fmt(row["score"]) if row["score"] is not None else "",
                     fmt((row.get("cv") or {}).get(metric, {}).get("std")), row.get("trials", ""),
                     "" if row.get("members") else fmt(row["seconds"]), what])
    how = "on a validation split" if info["task"] == "recommendation" else "by cross-validation"
    console.print_table(f"model: auto, chosen by {metric} {how}",
                        ["rank", "model", metric, "std", "trials", "seconds", "tuned parameters"], rows)


def render_train(result: StageResult) -> None:
    info = result.manifest["info"]

    def human() -> None:
        _headline(result, f"Trained {info['model']} ({info['task']}) on {info['train_rows']:,} rows of {info['data']}")
        if info.get("leaderboard"):
            leaderboard_table(info)
        if info.get("search"):
            search = info["search"]
            console.print_table(f"search ({search['method']}, {search['candidates']} candidates): best "
                                f"{search['metric']} {fmt(search['best_score'])}",
                                ["param", "value"], [[k, fmt(v)] for k, v in search["best_params"].items()])
        if info["task"] == "recommendation":
            rating = info.get("rating_model")
            rows = [["ranks with", info["estimator"]],
                    ["predicts ratings with", rating["estimator"] if rating else "(no ratings)"]]
        else:
            rows = [["estimator", info["estimator"]], ["target", info.get("target") or ""],
                    ["features", f"{info['features_in']} columns -> {info['features_out']} model inputs"]]
            if info.get("positive_class") is not None:
                rows.append(["positive class", positive_text(info)])
        rows.append(["fit time", f"{info['fit_seconds']:.2f} s"])
        if info.get("device"):
            where = "no usable GPU found" if info["device"] == "cpu" else "scores on the CPU"
            rows.append(["trained on", f"{info['device']} ({where})"])
        if info.get("best_iteration") is not None:
            rows.append(["early stopping", f"best iteration {info['best_iteration']}"])
        for name, score in (info.get("cv") or {}).items():
            rows.append([f"cv {name}", f"{fmt(score['mean'])} ± {fmt(score['std'])}"])
        changed = {k: v for k, v in info["params"].items() if k in result.manifest["config"]["train"].get("params", {})}
        for key, value in (changed or {}).items():
            rows.append([f"param {key}", fmt(value)])
        console.print_table(f"{result.stage}/{result.version}", ["", ""], rows, header=False)
        if info.get("top_features"):
            console.print_table(f"top features ({info['importance_kind']})", ["feature", "importance"],
                                [[k, fmt(v)] for k, v in info["top_features"].items()])

    console.emit(result.to_json(), human)


def render_evaluate(result: StageResult) -> None:
    info = result.manifest["info"]

    def human() -> None:
        _headline(result, f"Evaluated {info['model']} ({info['train']}) on {info['test_rows']:,} test rows")
        if "baselines" in info:  # recommendation: beside the baselines on the same split
            k, names = info["k"], list(info["baselines"])
            rows = [[_at_k(name, k), fmt(value), *(fmt(info["baselines"][b].get(name)) for b in names)]
                    for name, value in result.manifest["metrics"].items()]
            rating = (info.get("rating_model") or {}).get("model")
            console.print_table(f"{result.stage}/{result.version}: top-{k} lists for {info['test_users']:,} test "
                                f"users", ["metric", info["model"] + (f" + {rating}" if rating else ""), *names],
                                rows)
            lift = info.get("lift_over_popularity", {})
            if "ndcg" in lift:
                console.status(f"ndcg@{k} is {lift['ndcg']:.2f}x the popularity baseline's")
        else:
            train = info.get("train_metrics") or {}
            rows = [[name, fmt(value), fmt(train.get(name))] for name, value in result.manifest["metrics"].items()]
            console.print_table(f"{result.stage}/{result.version}: test metrics", ["metric", "test", "train"], rows)
            if info.get("positive_class") is not None:
                console.status(f"precision, recall, f1 and pr_auc are of the positive class {positive_text(info)}")
        champion = info.get("champion")
        if champion:
            console.print_table(f"challenger vs champion {champion['champion']}",
                                ["metric", "challenger", "champion", "difference"],
                                [[k, fmt(result.manifest["metrics"].get(k)), fmt(champion["metrics"][k]),
                                  f"{d:+.4g}"] for k, d in champion["difference"].items()])
        if info.get("gates"):
            console.print_table("gates", ["gate", "condition", "value", "result"],
                                [[g["gate"], g["condition"], fmt(g["value"]), "pass" if g["passed"] else "FAIL"]
                                 for g in info["gates"]])
        console.status(f"report: {result.details['report']}")

    console.emit(result.to_json(), human)


def _at_k(metric: str, k: int) -> str:
    return f"{metric}@{k}" if metric in ("ndcg", "precision", "recall", "map", "hit_rate") else metric


def render_predict(result: StageResult) -> None:
    """One paragraph (rows scored and rejected, where written, with which model), then the
    first predictions as a table."""
    info = result.manifest["info"]

    def human() -> None:
        for warning in result.warnings:
            console.warn(warning)
        if result.cached:
            console.status(f"cached: {result.stage}/{result.version} already holds these predictions (same model, "
                           f"input and config; --force recomputes)")
        model = info["model"] + (f" ({info['alias']})" if info.get("alias") else "")
        text = (f"Scored {info['rows_scored']:,} of {info['rows_in']:,} rows of {info['input']} with {model}, "
                f"{info.get('model_name')} ({info.get('task')})")
        rejects = info.get("rejects")
        if rejects:
            text += f"; {info['rows_rejected']:,} rejected -> {rejects['path']}"
        where = result.details.get("output", str(result.path))
        text += f". Written to {where}" + (f" ({result.stage}/{result.version})" if result.version else "")
        if not result.cached and result.manifest.get("duration_s") is not None:
            text += f" in {result.manifest['duration_s']:.2f} s"
        console.print_text(text + ".")
        preview = info.get("preview")
        if preview and preview["rows"]:
            console.print_table(f"first {len(preview['rows'])} predictions", preview["columns"],
                                [[fmt(v) for v in row] for row in preview["rows"]])

    console.emit(result.to_json(), human)


def render_step(step: Any) -> None:
    """One status line per stage as the chain advances."""
    where = f"{step.stage}/{step.version}" if step.version else step.stage
    if step.action == "cached":
        console.status(f"{step.stage:<9} cached    {where}")
    elif step.action == "ran":
        seconds = step.result.manifest.get("duration_s", 0) if step.result else 0
        console.status(f"{step.stage:<9} ran       {where} ({seconds:.2f} s; {step.reason})")
    else:
        console.status(f"{step.stage:<9} would run ({step.reason})")


def render_pipeline(outcome: Any) -> None:
    def human() -> None:
        rows = []
        for step in outcome.steps:
            for warning in step.result.warnings if step.result else []:
                console.warn(f"{step.stage}: {warning}")
            metrics = step.result.manifest.get("metrics", {}) if step.result else {}
            shown = "  ".join(f"{k} {fmt(v)}" for k, v in list(metrics.items())[:4])
            rows.append([step.stage, step.action, step.version or "", step.reason, shown])
        title = "dry run: nothing was written" if outcome.dry_run else None
        console.print_table(title, ["stage", "", "version", "why", "metrics"], rows)

    console.emit(outcome.to_json(), human)


def render_package(result: dict[str, Any]) -> None:
    def human() -> None:
        for warning in result["warnings"]:
            console.warn(warning)
        model_name = result["version"] + (f" ({result['alias']})" if result["alias"] else "")
        console.print_text(
            f"Packaged {result['project']} model {model_name}, {result['model']}, into {result['path']}"
            f"{' (replaced)' if result['replaced'] else ''}: {len(result['files'])} files, "
            f"{result['size_bytes'] / 1e6:.1f} MB; mlw {result['wheel_origin']}, {result['requirements']} pinned "
            f"dependencies for Python {result['python']}.\n"
            f"Next: docker build -t {result['project'].lower()}:{result['version']} {result['path']}  "
            f"(or see {result['path']}/README.md to run it without Docker)")

    console.emit(result, human)
