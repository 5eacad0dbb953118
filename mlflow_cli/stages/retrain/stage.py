"""`mlw retrain`: new data -> prepare -> train -> evaluate (the same stage code as `mlw run`,
cached where nothing changed) -> champion/challenger on the same rows -> promote if better.

1. Trigger (`--if-drift`): a monitor version's gates (`--monitor VERSION`, or a fresh `mlw
   monitor` run); when none failed there is nothing to do.
2. Data: `--input FILE` is appended to the latest ingest version (like `mlw ingest --append`),
   `--from VERSION` names an ingest version, else the latest one (ingested first when there is
   none). `retrain.window` becomes `prepare.window`: the rows the challenger learns from.
3. prepare -> train -> evaluate through stages/run.py's chain.
4. Judge: the champion (the model `retrain.champion` names) and the challenger are scored on
   the same rows: the challenger's test split and, when `retrain.judge_on` names a source,
   those labelled rows, which then decide (they are the most recent). The challenger wins when
   it beats the champion by more than `retrain.margin` on the judging metric and passes
   `evaluate.gates`.
5. `retrain/<version>` records the decision (both models' metrics on the same rows, the trigger,
   the window, promoted or not and why); then a winner is promoted to `retrain.promote_to` with
   that reason in the registry's history, where `mlw serve` picks it up by hot reload.

A stage never prints or exits: `run_retrain` returns a RetrainResult; the CLI exits 1 when the
challenger is not promoted because it is not better.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlflow_cli.core.config import Config, SourceConfig
from mlflow_cli.core.errors import ConfigError, DataError
from mlflow_cli.core.stage import ProgressFactory, no_progress
from mlflow_cli.core.store import Artifact, Store, open_store

STAGE = "retrain"
DECISION_FILE = "decision.json"
CHAIN = ["prepare", "train", "evaluate"]


@dataclass
class RetrainResult:
    """What a retrain did: `action` is promoted, not better (the champion keeps serving), judged
    (--no-promote), unchanged (the challenger is the champion), nothing to do (--if-drift, no
    gate failed) or dry run."""

    action: str
    reason: str
    decision: dict[str, Any] = field(default_factory=dict)
    steps: list[dict[str, Any]] = field(default_factory=list)
    version: str | None = None
    path: Path | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def challenger_lost(self) -> bool:
        return not self.decision.get("wins", True)

    def to_json(self) -> dict[str, Any]:
        return {"stage": STAGE, "action": self.action, "reason": self.reason, "version": self.version,
                "path": str(self.path) if self.path else None, "steps": self.steps, "decision": self.decision,
                "warnings": self.warnings}


def run_retrain(config: Config, *, input_path: Path | None = None, from_version: str | None = None,
                if_drift: bool = False, monitor_ref: str | None = None, dry_run: bool = False, promote: bool = True,
                promote_to: str | None = None, force: bool = False,
                progress: ProgressFactory = no_progress) -> RetrainResult:
    from mlflow_cli.stages.run import run_chain

    started = time.perf_counter()
    settings = config.model.retrain
    store = open_store(config)
    target_alias = promote_to or settings.promote_to
    _check_alias(target_alias)
    trigger = None
    if if_drift or monitor_ref:
        trigger = _trigger(config, store, monitor_ref, progress)
        if not trigger["failures"]:
            return RetrainResult("nothing to do", f"{trigger['monitor']} passed every gate: no retrain needed.",
                                 {"trigger": trigger})
    judge_on = _judge_on(config)  # read before any work: a bad source stops the run here
    windowed = _windowed(config, settings.window)
    ingest, ingest_step = _ingest(windowed, store, input_path, from_version, dry_run, force, progress)
    steps = [ingest_step] if ingest_step else []
    if ingest is None:  # a dry run that would ingest first: every later stage would run
        steps += [{"stage": s, "action": "would run", "version": None, "reason": "an upstream stage will run"}
                  for s in CHAIN]
    else:
        chain = run_chain(windowed, store, CHAIN, ingest, dry_run=dry_run, force=force, progress=progress)
        steps += [_step(s) for s in chain.steps]
    if dry_run:
        champion = _champion_entry(store, settings.champion)
        return RetrainResult("dry run", f"Would train on {_window_label(settings.window)} and judge against "
                             f"{settings.champion} ({champion or 'none yet'}); nothing was written or promoted.",
                             {"trigger": trigger, "window": settings.window}, steps)
    prepare = store.load("prepare", chain.steps[0].version)
    _check_rows(prepare, settings.min_rows, settings.window)
    challenger = store.load("train", chain.steps[1].version)
    evaluation = chain.steps[2].result
    decision = _judge(config, store, challenger, prepare, evaluation, judge_on)
    decision.update({"trigger": trigger, "window": settings.window, "promote_to": target_alias,
                     "ingest": f"ingest/{ingest}"})
    if decision.get("unchanged"):
        return RetrainResult("unchanged", decision["reason"], decision, steps)
    promoting = decision["wins"] and promote
    decision["promoted"] = promoting
    inputs = [store.load("ingest", ingest), prepare, challenger, store.load("evaluate", evaluation.version)]
    artifact = _record(config, store, started, decision, inputs)
    if promoting:
        from mlflow_cli.core.registry import promote as promote_alias

        promote_alias(config, challenger.version, target_alias, reason=f"{artifact.ref}: {decision['reason']}")
    action = artifact.manifest["info"]["action"]
    return RetrainResult(action, decision["reason"], decision, steps, artifact.version, artifact.path)


def _record(config: Config, store: Store, started: float, decision: dict[str, Any],
            inputs: list[Artifact]) -> Artifact:
    """retrain/<version>: decision.json, and every version the decision read as an input."""
    with store.writer(STAGE, started=started) as writer:
        writer.config = config.section("retrain")
        for artifact in inputs:
            writer.add_input(artifact)
        if decision.get("champion"):
            writer.add_input(store.load("train", decision["champion"]["version"]))
        if decision.get("trigger"):
            writer.add_input(store.load("monitor", decision["trigger"]["version"]))
        (writer.path / DECISION_FILE).write_text(json.dumps(decision, indent=2, default=str))
        writer.info = {"action": "promoted" if decision["promoted"] else ("judged" if decision["wins"]
                                                                          else "not better"),
                       "reason": decision["reason"], "challenger": decision["challenger"]["ref"],
                       "champion": (decision.get("champion") or {}).get("ref"), "promote_to": decision["promote_to"]}
        writer.metrics = {f"{who}_{decision['metric']}": decision[who]["metrics"].get(decision["metric"])
                          for who in ("challenger", "champion") if decision.get(who)}
    return writer.artifact


# ----------------------------------------------------------------------------- steps


def _check_alias(alias: str) -> None:
    import re

    from mlflow_cli.core.registry import ALIAS_PATTERN

    if not re.match(ALIAS_PATTERN, alias):
        raise ConfigError(f"Alias '{alias}' must start with a letter and use letters, digits, '_', '.', '-'.",
                          hint="For example: production or staging.")


def _trigger(config: Config, store: Store, monitor_ref: str | None, progress: ProgressFactory) -> dict[str, Any]:
    """The monitor version that decides whether to retrain, and its failed gates."""
    from mlflow_cli.core.stage import StageResult
    from mlflow_cli.stages.monitor import gate_failures

    if monitor_ref:
        result = StageResult.from_artifact(store.load("monitor", monitor_ref), cached=True)
    else:
        if config.model.monitor.current is None:
            raise ConfigError("--if-drift runs `mlw monitor` first, and monitor.current names no data to monitor.",
                              hint="Set monitor.current, or run `mlw monitor --log` (or --input) yourself and pass "
                                   "--monitor latest.")
        from mlflow_cli.stages.monitor import run_monitor

        result = run_monitor(config, progress=progress)
    gates = result.manifest["info"].get("gates", [])
    if not gates:
        raise ConfigError(f"--if-drift retrains when a monitor gate fails, and monitor/{result.version} checked no "
                          f"gate.", hint="Set monitor.gates (for example drift_share: '<= 0.3'), or leave out "
                                         "--if-drift to retrain now.")
    return {"monitor": f"monitor/{result.version}", "version": result.version, "failures": gate_failures(result)}


def _windowed(config: Config, window: str) -> Config:
    """The config with retrain.window as prepare.window (the rows the challenger learns from)."""
    model = config.model.model_copy(deep=True)
    model.prepare.window = window
    return dataclasses.replace(config, model=model)


def _ingest(config: Config, store: Store, input_path: Path | None, from_version: str | None, dry_run: bool,
            force: bool, progress: ProgressFactory) -> tuple[str | None, dict[str, Any] | None]:
    """The ingest version to train from (None on a dry run that would ingest first), and its step."""
    from mlflow_cli.stages.ingest import plan_ingest, run_ingest

    if input_path is not None and from_version is not None:
        raise ConfigError("Give --input (new rows to append) or --from (an ingest version), not both.")
    if from_version is not None:
        return store.load("ingest", from_version).version, None
    if input_path is None and store.latest("ingest") is not None:
        return store.latest("ingest"), None
    if input_path is not None:
        from mlflow_cli.data.sources import file_source

        model = config.model.model_copy(deep=True)
        model.data.source = file_source(Path(input_path), config.model.data.source, "--input")
        config = dataclasses.replace(config, model=model)
    append = input_path is not None and store.latest("ingest") is not None
    plan = plan_ingest(config, store, force=force, append=append)
    if plan.cached is not None:
        return plan.cached.version, {"stage": "ingest", "action": "cached", "version": plan.cached.version}
    if dry_run:
        return None, {"stage": "ingest", "action": "would run", "version": None, "reason": plan.reason}
    result = run_ingest(config, force=force, append=append, progress=progress, plan=plan)
    return result.version, {"stage": "ingest", "action": "ran", "version": result.version, "reason": plan.reason}


def _step(step: Any) -> dict[str, Any]:
    return {"stage": step.stage, "action": step.action, "version": step.version, "reason": step.reason}


def _check_rows(prepare: Artifact, min_rows: int, window: str) -> None:
    info = prepare.manifest["info"]
    rows = info.get("rows_out", 0)
    if rows < min_rows:
        raise DataError(f"The window ({window}) leaves {rows:,} rows to train on, fewer than retrain.min_rows "
                        f"({min_rows:,}); nothing was trained or promoted.",
                        hint="Widen retrain.window, wait for more data, or lower retrain.min_rows.")
    balance = (info.get("class_balance") or {}).get("train")
    if balance is not None and len(balance) < 2:
        only = next(iter(balance), "?")
        raise DataError(f"Every training row in the window ({window}) has the same class ('{only}'), so no "
                        f"classifier can be trained on it; nothing was promoted.",
                        hint="Widen retrain.window so that it holds rows of every class.")


def _champion_entry(store: Store, alias: str) -> str | None:
    from mlflow_cli.core.registry import read_registry

    entry = read_registry(store)["aliases"].get(alias)
    return entry["version"] if entry else None


# ----------------------------------------------------------------------------- judging


def _judge(config: Config, store: Store, challenger: Artifact, prepare: Artifact, evaluation: Any,
           judge_on: Any) -> dict[str, Any]:
    """Both models on the same rows, and whether the challenger wins (see the module docstring)."""
    from mlflow_cli.core.registry import resolve_model
    from mlflow_cli.models.metrics import check_metric_names, default_metric, scorer_sign
    from mlflow_cli.models.train_info import TrainInfo

    settings = config.model.retrain
    info = TrainInfo.of(challenger.manifest)
    metric = settings.metric or info.metric or default_metric(info.task, len(info.classes or []) or None)
    check_metric_names(info.task, [metric], "`retrain.metric`")
    version = _champion_entry(store, settings.champion)
    champion = resolve_model(store, settings.champion)[0] if version else None  # verified: tampered exits 4
    if champion is not None and champion.version == challenger.version:
        return {"unchanged": True, "metric": metric, "reason": f"The challenger is {settings.champion}'s model "
                f"already ({challenger.ref}): nothing changed since it was trained, so nothing to promote."}
    import pandas as pd

    rows = {"test": pd.read_parquet(prepare.file("test.parquet"))}
    if judge_on is not None:
        rows["judge_on"] = judge_on
    if info.task == "recommendation":  # lists judged on the new test split's interactions
        judge = _ranking_scores(config, prepare)
        scores = {"challenger": judge(challenger, rows)}
        if champion is not None:
            scores["champion"] = judge(champion, rows)
    else:
        scores = {"challenger": _scores(challenger, prepare, info.task, info.target, rows, metric)}
        if champion is not None:
            scores["champion"] = _scores(champion, None, info.task, info.target, rows, metric, label=champion.ref)
    decide = "judge_on" if "judge_on" in rows else "test"
    mine = scores["challenger"][decide].get(metric)
    from mlflow_cli.stages.evaluate import gate_failures

    failed_gates = gate_failures(evaluation)
    gates_passed = not failed_gates
    decision: dict[str, Any] = {
        "metric": metric, "margin": settings.margin, "decided_on": decide,
        "rows": {name: len(frame) for name, frame in rows.items()},
        "challenger": {"ref": challenger.ref, "version": challenger.version, "metrics": scores["challenger"][decide],
                       "by_rows": scores["challenger"]},
        "evaluation": f"evaluate/{evaluation.version}", "gates_passed": gates_passed, "failed_gates": failed_gates,
    }
    if mine is None:
        raise DataError(f"The challenger's {metric} cannot be computed on the {decide} rows (one class, or no "
                        f"probabilities); nothing was promoted.", hint="Judge on more rows, or set retrain.metric.")
    if champion is None:
        decision["champion"] = None
        wins = gates_passed
        reason = (f"no model holds '{settings.champion}' yet: the challenger ({metric} {mine:.4g}) is the first"
                  if wins else f"the challenger fails evaluate.gates: {'; '.join(failed_gates)}")
    else:
        theirs = scores["champion"][decide].get(metric)
        decision["champion"] = {"ref": champion.ref, "version": champion.version,
                                "metrics": scores["champion"][decide], "by_rows": scores["champion"]}
        gain = None if theirs is None else scorer_sign(metric) * (mine - theirs)
        decision["gain"] = gain
        better = gain is not None and gain > settings.margin
        wins = better and gates_passed
        versus = (f"{metric} {mine:.4g} vs {theirs:.4g} for {champion.ref} on the {_rows_label(decide, rows)}"
                  if theirs is not None else f"{champion.ref}'s {metric} cannot be computed on these rows")
        if not gates_passed:
            reason = f"the challenger fails evaluate.gates ({'; '.join(failed_gates)}); {versus}"
        elif better:
            reason = f"the challenger is better by {gain:.4g} (more than the margin {settings.margin:g}): {versus}"
        else:
            reason = (f"the challenger is not better by more than the margin {settings.margin:g}: {versus}; "
                      f"{champion.ref} keeps serving")
    decision["wins"], decision["reason"] = wins, reason[0].upper() + reason[1:] + "."
    return decision


def _window_label(window: str) -> str:
    if window == "all":
        return "all rows"
    return f"the last {int(window):,} rows" if window.isdigit() else f"the rows of the last {window}"


def _rows_label(name: str, rows: dict[str, Any]) -> str:
    return f"{len(rows[name]):,} {'judge_on' if name == 'judge_on' else 'new test'} rows"


def _judge_on(config: Config) -> Any:
    """retrain.judge_on's labelled rows as a frame, or None when it names no source."""
    source: SourceConfig | None = config.model.retrain.judge_on
    if source is None:
        return None
    from mlflow_cli.data.sources import source_label
    from mlflow_cli.engine import engine_named

    target = config.model.data.target
    frame = engine_named("local").read_frame(source)
    if target and target not in frame.columns:
        raise DataError(f"retrain.judge_on ({source_label(source)}) has no column '{target}' (the target), so "
                        f"the models cannot be judged on it.", hint="Give those rows their true outcomes.")
    labelled = frame[frame[target].notna()].reset_index(drop=True) if target else frame
    if labelled.empty:
        raise DataError(f"retrain.judge_on ({source_label(source)}) has no rows with a label in '{target}'.",
                        hint="Point it at recent rows whose outcomes are known.")
    return labelled


def _ranking_scores(config: Config, prepare: Artifact) -> Any:
    """(model, rows) -> each set of rows' ranking (and rating) metrics, as evaluate computes them."""
    import pandas as pd

    from mlflow_cli.models.recommend.judged import RankingJudge
    from mlflow_cli.models.scoring.model import read_schema
    from mlflow_cli.models.train_info import MODEL_FILE

    roles = read_schema(prepare)["interactions"]
    train = pd.read_parquet(prepare.file("train.parquet"))

    def judge(model: Artifact, rows: dict[str, Any]) -> dict[str, dict[str, float]]:
        recommender = model.unpickle(MODEL_FILE)
        return {name: RankingJudge(frame, train, roles, config.model.evaluate.k).metrics(recommender)
                for name, frame in rows.items()}
    return judge


def _scores(model: Artifact, prepare: Artifact | None, task: str | None, target: str | None,
            rows: dict[str, Any], metric: str, label: str | None = None) -> dict[str, dict[str, float]]:
    """The model's metrics on each set of rows, through evaluate's own scoring."""
    from mlflow_cli.models.scoring.model import ScoringModel, read_schema
    from mlflow_cli.models.scoring.scored import score

    scoring = ScoringModel(model, read_schema(prepare) if prepare is not None else {"columns": {}}, task)
    out = {}
    for name, frame in rows.items():
        try:
            out[name] = {k: float(v) for k, v in score(scoring, frame, task, target).metrics.items()}
        except (ValueError, KeyError) as exc:
            raise DataError(f"{label or model.ref} cannot score the {name} rows: {exc}.",
                            hint="Its input columns differ from this data: promote a model trained on compatible "
                                 "data by hand (mlw models promote).") from None
    return out
