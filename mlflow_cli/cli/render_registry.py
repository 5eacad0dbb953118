"""How `mlw models ...` and `mlw runs ...` results look: the model catalog, aliases and their
history, promotions, training runs and their comparison, as tables or `--json`. Depends on
console.py and formatting.py only."""

from __future__ import annotations

from typing import Any

from mlflow_cli.cli import console
from mlflow_cli.cli.formatting import fmt


def render_catalog(rows: list[dict[str, Any]]) -> None:
    console.emit(rows, lambda: console.print_table(
        "models (train.model)", ["name", "tasks", "description"],
        [[r["name"], ", ".join(r["tasks"]), r["description"]] for r in rows]))


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
        rows += [[k, fmt(v)] for k, v in model["metrics"].items()]
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


def render_runs(rows: list[dict[str, Any]]) -> None:
    def human() -> None:
        if not rows:
            console.status("No training runs yet. Run `mlw train` first.")
            return
        table = []
        for r in rows:
            params = ", ".join(f"{k}={fmt(v)}" for k, v in list(r["params"].items())[:3])
            cv = f"{fmt(r['cv_mean'])} ± {fmt(r['cv_std'])}" if r["cv_mean"] is not None else ""
            test = fmt(r["test"].get(r["metric"])) if r["metric"] else ""
            table.append([r["version"], r["model"], params, f"{r['metric']}", cv, test, r["data"] or "",
                          fmt(r["duration_s"]), ", ".join(r["aliases"])])
        console.print_table(None, ["run (train version)", "model", "params", "metric", "cv", "test", "data",
                                   "seconds", "aliases"], table)

    console.emit(rows, human)


def render_run(run: dict[str, Any]) -> None:
    def human() -> None:
        info = run["info"]
        rows = [["model", f"{run['model']} ({info.get('estimator')})"], ["task", run["task"]],
                ["data", run["data"]], ["created", run["created"]], ["aliases", ", ".join(run["aliases"])]]
        rows += [[f"param {k}", fmt(v)] for k, v in run["all_params"].items() if v is not None and k != "members"]
        rows += [[f"cv {k}", f"{fmt(v['mean'])} ± {fmt(v['std'])}"] for k, v in run["cv"].items()]
        rows += [[f"test {k}", fmt(v)] for k, v in run["test"].items()]
        rows += [[f"feature {k}", fmt(v)] for k, v in (info.get("top_features") or {}).items()]
        console.print_table(f"run train/{run['version']}", ["", ""], rows, header=False)
        if info.get("leaderboard"):
            from mlflow_cli.cli.render import leaderboard_table

            leaderboard_table(info)

    console.emit(run, human)


def render_compare(diff: dict[str, Any]) -> None:
    def human() -> None:
        a, b = diff["a"], diff["b"]
        console.print_table(f"A = train/{a['version']} ({a['model']}), B = train/{b['version']} ({b['model']})",
                            ["metric", "A", "B", "B - A"],
                            [[m["metric"], fmt(m["a"]), fmt(m["b"]),
                              f"{m['delta']:+.4g}" if m["delta"] is not None else ""] for m in diff["metrics"]])
        changed = [p for p in diff["params"] if p["changed"]]
        if changed:
            console.print_table("params that differ", ["param", "A", "B"],
                                [[p["param"], fmt(p["a"]), fmt(p["b"])] for p in changed])
        else:
            console.status("Same params.")
        if diff["data_changed"]:
            console.status(f"Different data: A from {a['data']}, B from {b['data']}.")

    console.emit(diff, human)
