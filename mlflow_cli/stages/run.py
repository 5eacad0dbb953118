"""`mlw run`: the configured chain of stages (ingest -> prepare -> train -> evaluate), each fed
the version its upstream stage produced, reusing cached versions when a stage's config and
inputs are unchanged.

Planning needs only config, manifests and file hashes: when every stage is cached, `mlw run`
answers without importing pandas, scikit-learn or XGBoost.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

from mlflow_cli.core.config import Config
from mlflow_cli.core.errors import ConfigError, did_you_mean
from mlflow_cli.core.stage import Plan, ProgressFactory, StageResult, no_progress
from mlflow_cli.core.store import Store, open_store

STAGES = ("ingest", "prepare", "train", "evaluate")
# the keyword through which each stage's plan and run functions take the upstream stage's version
UPSTREAM = {"ingest": None, "prepare": "source_version", "train": "source_version", "evaluate": "model_version"}


@dataclass
class Step:
    stage: str
    action: str  # cached | ran | would run
    version: str | None = None
    reason: str = ""
    result: StageResult | None = None


@dataclass
class PipelineResult:
    steps: list[Step] = field(default_factory=list)
    dry_run: bool = False

    @property
    def gate_failures(self) -> list[str]:
        """What the stages' gates said, from each stage that has gates (its `gate_failures`)."""
        lines = []
        for step in self.steps:
            check = getattr(_stage(step.stage), "gate_failures", None) if step.result else None
            lines += check(step.result) if check else []
        return lines

    def to_json(self) -> dict[str, Any]:
        return {"dry_run": self.dry_run, "steps": [
            {"stage": s.stage, "action": s.action, "version": s.version, "reason": s.reason,
             **({"metrics": s.result.manifest.get("metrics", {}), "warnings": s.result.warnings} if s.result else {})}
            for s in self.steps]}


def select_stages(config: Config, start: str | None, until: str | None) -> list[str]:
    stages = list(config.model.pipeline)
    for option, name in (("--from", start), ("--until", until)):
        if name is not None and name not in stages:
            raise ConfigError(f"{option} '{name}' is not a stage of this pipeline.{did_you_mean(name, stages)}",
                              hint=f"The pipeline (config key `pipeline`) is: {', '.join(stages)}.")
    first = stages.index(start) if start else 0
    last = stages.index(until) if until else len(stages) - 1
    if first > last:
        raise ConfigError(f"--from {start} comes after --until {until} in the pipeline.",
                          hint=f"The order is: {', '.join(stages)}.")
    return stages[first:last + 1]


def run_pipeline(config: Config, *, start: str | None = None, until: str | None = None, dry_run: bool = False,
                 force: bool = False, progress: ProgressFactory = no_progress,
                 on_step: Any = None) -> PipelineResult:
    store = open_store(config)
    selected = select_stages(config, start, until)
    upstream = _upstream_before(store, list(config.model.pipeline), selected[0])
    return run_chain(config, store, selected, upstream, dry_run=dry_run, force=force, progress=progress,
                     on_step=on_step)


def run_chain(config: Config, store: Store, stages: list[str], upstream: str | None, *, dry_run: bool = False,
              force: bool = False, progress: ProgressFactory = no_progress, on_step: Any = None) -> PipelineResult:
    """`stages` in order, the first fed `upstream` (a version of the stage before it), each next
    one the version the previous produced (`mlw run`, and `mlw retrain`'s prepare -> train ->
    evaluate)."""
    outcome = PipelineResult(dry_run=dry_run)
    changed = False
    for stage in stages:
        if dry_run and changed:
            outcome.steps.append(Step(stage, "would run", reason="an upstream stage will run"))
            continue
        plan = _plan(stage, config, store, upstream, force)
        if plan.cached is not None:
            step = Step(stage, "cached", plan.cached.version, result=StageResult.from_artifact(plan.cached, True))
        elif dry_run:
            step = Step(stage, "would run", reason=plan.reason)
            changed = True
        else:
            result = _run(stage, config, plan, progress)
            step = Step(stage, "cached" if result.cached else "ran", result.version, plan.reason, result)
        outcome.steps.append(step)
        upstream = step.version
        if on_step is not None:
            on_step(step)
    return outcome


def _upstream_before(store: Store, stages: list[str], first: str) -> str | None:
    """With --from, the stage before it contributes its latest version."""
    index = stages.index(first)
    if index == 0:
        return None
    previous = stages[index - 1]
    version = store.latest(previous)
    if version is None:
        raise ConfigError(f"--from {first} needs a '{previous}' version, and there is none yet.",
                          hint=f"Run `mlw run --until {previous}` first, or start earlier.")
    return version


def _stage(stage: str) -> Any:
    return importlib.import_module(f"{__package__}.{stage}")


def _plan(stage: str, config: Config, store: Store, upstream: str | None, force: bool) -> Plan:
    keyword = UPSTREAM[stage]
    return getattr(_stage(stage), f"plan_{stage}")(config, store, force=force,
                                                   **({keyword: upstream} if keyword else {}))


def _run(stage: str, config: Config, plan: Plan, progress: ProgressFactory) -> StageResult:
    """Run a stage on the plan already made for it (its inputs are not loaded and checked again)."""
    return getattr(_stage(stage), f"run_{stage}")(config, plan=plan, progress=progress)
