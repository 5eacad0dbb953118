"""How `mlw retrain`'s result looks to a person: the stages (ran or cached), both models' metrics
on the same rows, and the decision with its reason. `--json` prints the whole result instead."""

from __future__ import annotations

from mlflow_cli.cli import console
from mlflow_cli.cli.formatting import fmt
from mlflow_cli.stages.retrain.stage import RetrainResult


def render_retrain(result: RetrainResult) -> None:
    def human() -> None:
        for warning in result.warnings:
            console.warn(warning)
        trigger = result.decision.get("trigger")
        if trigger:
            failed = trigger["failures"]
            console.status(f"trigger: {trigger['monitor']}: " + (f"{len(failed)} gate(s) failed: " + "; ".join(failed)
                                                                 if failed else "every gate passed"))
        for step in result.steps:
            version = f" {step['stage']}/{step['version']}" if step.get("version") else ""
            why = f" ({step['reason']})" if step.get("reason") and step["action"] != "cached" else ""
            console.status(f"{step['action']}:{version or ' ' + step['stage']}{why}")
        decision = result.decision
        if decision.get("challenger"):
            metric = decision["metric"]
            champion = decision.get("champion")
            rows = []
            for name, count in decision["rows"].items():
                mine = decision["challenger"]["by_rows"][name].get(metric)
                theirs = champion["by_rows"][name].get(metric) if champion else None
                decides = " (decides)" if name == decision["decided_on"] else ""
                rows.append([f"{name}{decides}", f"{count:,}", fmt(mine, 4), fmt(theirs, 4),
                             fmt(None if theirs is None or mine is None else mine - theirs, 4)])
            console.print_table(f"{metric}: challenger {decision['challenger']['ref']} vs champion "
                                f"{champion['ref'] if champion else '(none)'}",
                                ["rows", "count", "challenger", "champion", "difference"], rows)
        where = f" -> retrain/{result.version}" if result.version else ""
        console.print_text(f"{result.action.upper()}: {result.reason}{where}")

    console.emit(result.to_json(), human)
