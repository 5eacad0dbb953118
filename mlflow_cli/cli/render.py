"""How each command's result looks to a person (tables on stdout, status on stderr) and to a
script (`--json`). Part of the printing layer with console.py; stages never print."""

from __future__ import annotations

from typing import Any

from mlflow_cli.cli import console
from mlflow_cli.core.stage import StageResult


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def _clip(value: Any, width: int = 24) -> str:
    text = str(value)
    return text if len(text) <= width else text[:width - 1] + "…"


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def _headline(result: StageResult, what: str) -> None:
    for warning in result.warnings:
        console.warn(warning)
    ref = f"{result.stage}/{result.version}"
    if result.cached:
        console.status(f"cached: {ref} already holds this result (inputs and config unchanged; --force recomputes)")
    else:
        console.status(f"{what} -> {ref} ({result.manifest.get('duration_s', 0):.2f} s)")


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
            top = "  ".join(f"{_clip(v)} ({n:,})" for v, n in col.get("top", [])[:2])
            distinct = _fmt(col["distinct"]) + ("" if col["distinct_exact"] else "+")
            rows.append([name, col["type"], col["kind"], f"{col['missing_share']:.1%}", distinct,
                         _fmt(col.get("min")), _fmt(col.get("max")), _fmt(col.get("mean")), _fmt(col.get("std")),
                         top])
        console.print_table(f"{result.stage}/{result.version}: {info['rows']:,} rows",
                            ["column", "dtype", "kind", "missing", "distinct", "min", "max", "mean", "std",
                             "top values"], rows)

    console.emit(result.to_json(), human)


def render_prepare(result: StageResult) -> None:
    info = result.manifest["info"]

    def human() -> None:
        _headline(result, f"Prepared {info['rows_in']:,} rows from {info['source']}")
        rows = [["rows in", _fmt(info["rows_in"])]]
        for reason, count in info["dropped"].items():
            rows.append([f"dropped: {reason.replace('_', ' ')}", _fmt(count)])
        rows.append(["rows out", _fmt(info["rows_out"])])
        for split, count in info["splits"].items():
            rows.append([f"{split} split", _fmt(count)])
        rows.append(["task", info["task"]])
        rows.append(["split method", info["split_method"]])
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


def render_train(result: StageResult) -> None:
    info = result.manifest["info"]

    def human() -> None:
        _headline(result, f"Trained {info['model']} ({info['task']}) on {info['train_rows']:,} rows of {info['data']}")
        if info.get("leaderboard"):
            rows = [[row.get("rank", ""), row["model"], _fmt(row["score"]) if row["score"] is not None else "",
                     _fmt((row.get("cv") or {}).get(info["metric"], {}).get("std")), _fmt(row["seconds"]),
                     row.get("skipped", "")] for row in info["leaderboard"]]
            console.print_table(f"model: auto, {info['metric']} by cross-validation",
                                ["rank", "model", info["metric"], "std", "seconds", ""], rows)
        if info.get("search"):
            search = info["search"]
            console.print_table(f"search ({search['method']}, {search['candidates']} candidates): best "
                                f"{search['metric']} {_fmt(search['best_score'])}",
                                ["param", "value"], [[k, _fmt(v)] for k, v in search["best_params"].items()])
        rows = [["estimator", info["estimator"]], ["target", info.get("target") or ""],
                ["features", f"{info['features_in']} columns -> {info['features_out']} model inputs"],
                ["fit time", f"{info['fit_seconds']:.2f} s"]]
        if info.get("device"):
            where = "no usable GPU found" if info["device"] == "cpu" else "scores on the CPU"
            rows.append(["trained on", f"{info['device']} ({where})"])
        if info.get("best_iteration") is not None:
            rows.append(["early stopping", f"best iteration {info['best_iteration']}"])
        for name, score in (info.get("cv") or {}).items():
            rows.append([f"cv {name}", f"{_fmt(score['mean'])} ± {_fmt(score['std'])}"])
        changed = {k: v for k, v in info["params"].items() if k in result.manifest["config"]["train"].get("params", {})}
        for key, value in (changed or {}).items():
            rows.append([f"param {key}", _fmt(value)])
        console.print_table(f"{result.stage}/{result.version}", ["", ""], rows, header=False)
        if info.get("top_features"):
            console.print_table(f"top features ({info['importance_kind']})", ["feature", "importance"],
                                [[k, _fmt(v)] for k, v in info["top_features"].items()])

    console.emit(result.to_json(), human)


def render_evaluate(result: StageResult) -> None:
    info = result.manifest["info"]

    def human() -> None:
        _headline(result, f"Evaluated {info['model']} ({info['train']}) on {info['test_rows']:,} test rows")
        train = info.get("train_metrics") or {}
        rows = [[name, _fmt(value), _fmt(train.get(name))] for name, value in result.manifest["metrics"].items()]
        console.print_table(f"{result.stage}/{result.version}: test metrics", ["metric", "test", "train"], rows)
        champion = info.get("champion")
        if champion:
            console.print_table(f"challenger vs champion {champion['champion']}",
                                ["metric", "challenger", "champion", "difference"],
                                [[k, _fmt(result.manifest["metrics"].get(k)), _fmt(champion["metrics"][k]),
                                  f"{d:+.4g}"] for k, d in champion["difference"].items()])
        if info.get("gates"):
            console.print_table("gates", ["gate", "condition", "value", "result"],
                                [[g["gate"], g["condition"], _fmt(g["value"]), "pass" if g["passed"] else "FAIL"]
                                 for g in info["gates"]])
        console.status(f"report: {result.details['report']}")

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
            shown = "  ".join(f"{k} {_fmt(v)}" for k, v in list(metrics.items())[:4])
            rows.append([step.stage, step.action, step.version or "", step.reason, shown])
        title = "dry run: nothing was written" if outcome.dry_run else None
        console.print_table(title, ["stage", "", "version", "why", "metrics"], rows)

    console.emit(outcome.to_json(), human)


def render_runs(rows: list[dict[str, Any]]) -> None:
    def human() -> None:
        if not rows:
            console.status("No training runs yet. Run `mlw train` first.")
            return
        table = []
        for r in rows:
            params = ", ".join(f"{k}={_fmt(v)}" for k, v in list(r["params"].items())[:3])
            cv = f"{_fmt(r['cv_mean'])} ± {_fmt(r['cv_std'])}" if r["cv_mean"] is not None else ""
            test = _fmt(r["test"].get(r["metric"])) if r["metric"] else ""
            table.append([r["version"], r["model"], params, f"{r['metric']}", cv, test, r["data"] or "",
                          _fmt(r["duration_s"]), ", ".join(r["aliases"])])
        console.print_table(None, ["run (train version)", "model", "params", "metric", "cv", "test", "data",
                                   "seconds", "aliases"], table)

    console.emit(rows, human)


def render_run(run: dict[str, Any]) -> None:
    def human() -> None:
        info = run["info"]
        rows = [["model", f"{run['model']} ({info.get('estimator')})"], ["task", run["task"]],
                ["data", run["data"]], ["created", run["created"]], ["aliases", ", ".join(run["aliases"])]]
        rows += [[f"param {k}", _fmt(v)] for k, v in run["all_params"].items() if v is not None]
        rows += [[f"cv {k}", f"{_fmt(v['mean'])} ± {_fmt(v['std'])}"] for k, v in run["cv"].items()]
        rows += [[f"test {k}", _fmt(v)] for k, v in run["test"].items()]
        rows += [[f"feature {k}", _fmt(v)] for k, v in (info.get("top_features") or {}).items()]
        console.print_table(f"run train/{run['version']}", ["", ""], rows, header=False)

    console.emit(run, human)


def render_compare(diff: dict[str, Any]) -> None:
    def human() -> None:
        a, b = diff["a"], diff["b"]
        console.print_table(f"A = train/{a['version']} ({a['model']}), B = train/{b['version']} ({b['model']})",
                            ["metric", "A", "B", "B - A"],
                            [[m["metric"], _fmt(m["a"]), _fmt(m["b"]),
                              f"{m['delta']:+.4g}" if m["delta"] is not None else ""] for m in diff["metrics"]])
        changed = [p for p in diff["params"] if p["changed"]]
        if changed:
            console.print_table("params that differ", ["param", "A", "B"],
                                [[p["param"], _fmt(p["a"]), _fmt(p["b"])] for p in changed])
        else:
            console.status("Same params.")
        if diff["data_changed"]:
            console.status(f"Different data: A from {a['data']}, B from {b['data']}.")

    console.emit(diff, human)


def render_aliases(rows: list[dict[str, Any]]) -> None:
    def human() -> None:
        if not rows:
            console.status("No aliases yet. Promote a model: mlw models promote latest --alias production")
            return
        console.print_table(None, ["alias", "train version", "model", "since", "reason"],
                            [[r["alias"], r["version"], r["model"] or "", (r["since"] or "").replace("T", " "),
                              r["reason"] or ""] for r in rows])

    console.emit(rows, human)


def render_model(model: dict[str, Any]) -> None:
    def human() -> None:
        info = model["info"]
        rows = [["version", f"train/{model['version']}"], ["aliases", ", ".join(model["aliases"])],
                ["model", f"{info.get('model')} ({info.get('estimator')})"], ["data", info.get("data")]]
        rows += [[k, _fmt(v)] for k, v in model["metrics"].items()]
        console.print_table(None, ["", ""], rows, header=False)
        if model["history"]:
            console.print_table("history", ["when", "alias", "action", "from", "to", "reason"],
                                [[m["at"].replace("T", " "), m["alias"], m["action"], m["from"] or "", m["to"],
                                  m["reason"] or ""] for m in model["history"]])
        for problem in model["problems"]:
            console.warn(problem)

    console.emit(model, human)


def render_move(move: dict[str, Any], verb: str) -> None:
    previous = f" (was {move['previous']})" if move["previous"] else ""
    console.emit(move, lambda: console.print_text(f"{move['alias']} {verb} to train/{move['version']}{previous}"))


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


def render_catalog(rows: list[dict[str, Any]]) -> None:
    console.emit(rows, lambda: console.print_table(
        "models (train.model)", ["name", "tasks", "description"],
        [[r["name"], ", ".join(r["tasks"]), r["description"]] for r in rows]))


def _share(counts: dict[str, int], cls: str) -> str:
    total = sum(counts.values())
    n = counts.get(cls, 0)
    return f"{n:,} ({n / total:.1%})" if total else "0"


def render_artifact_list(rows: list[dict[str, Any]]) -> None:
    def human() -> None:
        if not rows:
            console.status("No artifacts yet. Run `mlw ingest` to create the first one.")
            return
        table = []
        for row in rows:
            if "error" in row:
                table.append([row["stage"], row["version"], "", "", row["error"]])
                continue
            marks = (["latest"] if row["latest"] else []) + row["aliases"]
            metrics = "  ".join(f"{k} {_fmt(v)}" for k, v in list(row["metrics"].items())[:4])
            table.append([row["stage"], row["version"], (row["created"] or "")[:19].replace("T", " "),
                          _size(row["size"]), metrics, ", ".join(row["inputs"]), ", ".join(marks)])
        console.print_table(None, ["stage", "version", "created (UTC)", "size", "metrics", "inputs", ""], table)

    console.emit(rows, human)


def render_manifest(manifest: dict[str, Any]) -> None:
    def human() -> None:
        import yaml

        shown = {k: v for k, v in manifest.items() if k != "problems"}
        console.print_text(yaml.safe_dump(shown, sort_keys=False, default_flow_style=False).rstrip())
        if manifest["problems"]:
            for problem in manifest["problems"]:
                console.warn(problem)

    console.emit(manifest, human)


def render_lineage(tree: dict[str, Any]) -> None:
    def human() -> None:
        from rich.tree import Tree

        root = Tree(_lineage_label(tree))
        _lineage_children(root, tree)
        console.out.print(root)

    console.emit(tree, human)


def _lineage_label(node: dict[str, Any]) -> str:
    if node.get("external"):
        source = node.get("source", {})
        if source.get("type") == "sql":
            return f"source: sql {source.get('table') or source.get('query')} @ {source.get('url')}"
        files = source.get("files", [])
        sums = ", ".join(f"{f['path']} (sha256 {f.get('sha256', '')[:12]})" for f in files[:3])
        more = f" and {len(files) - 3} more" if len(files) > 3 else ""
        return f"source: {source.get('type')} {sums}{more}"
    if node.get("missing"):
        return f"{node['stage']}/{node['version']} (removed)"
    created = (node.get("created") or "")[:19].replace("T", " ")
    return f"{node['stage']}/{node['version']}  {created}  content {node.get('content_hash', '')[:12]}"


def _lineage_children(branch: Any, node: dict[str, Any]) -> None:
    for child in node.get("inputs", []):
        sub = branch.add(_lineage_label(child))
        _lineage_children(sub, child)


def render_verify(summary: dict[str, Any]) -> None:
    n = summary["checked"]
    console.emit(summary, lambda: console.print_text(
        f"OK: {n} version{'s match their manifests' if n != 1 else ' matches its manifest'}."))


def render_gc(removed: dict[str, list[str]], dry_run: bool) -> None:
    def human() -> None:
        verb = "Would remove" if dry_run else "Removed"
        if not removed["versions"] and not removed["temporary"]:
            console.print_text("Nothing to remove.")
            return
        for ref in removed["versions"]:
            console.print_text(f"{verb} {ref}")
        for ref in removed["temporary"]:
            console.print_text(f"{verb} leftover temporary folder {ref}")

    console.emit({"dry_run": dry_run, **removed}, human)


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
                                [[_fmt(v) for v in row] for row in preview["rows"]])

    console.emit(result.to_json(), human)
