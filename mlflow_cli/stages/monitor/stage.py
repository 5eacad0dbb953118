"""`mlw monitor`: the current data against the monitored model's reference (its training rows,
summarised at train time in `train/<version>/reference.json`), published as `monitor/<version>`:
the verdict and every statistic (`monitor.json`), `metrics.json` (what the gates read) and
`report.html`.

What is compared, in this order of precedence:
- `--log`: the rows `mlw serve` logged (data/prediction_log.py), within `--since` / `--until`,
  optionally of one `--model-version`; their logged predictions and probabilities, and the
  service's health;
- `--batch VERSION`: the rows an ingest version added (the batch `mlw ingest --append` read), or
  all of a snapshot's;
- `--input FILE`, else `monitor.current`: any file or SQL source.
Files and batches are scored by the model (a uniform sample of `monitor.score_rows` rows) for
prediction drift and performance. A monitor run reads the model's artifacts and never writes them.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from collections.abc import Iterator
from typing import Any

from mlflow_cli.core.config import Config, SourceConfig
from mlflow_cli.core.errors import ArtifactError, ConfigError, did_you_mean
from mlflow_cli.core.lineage import newest_evaluation_of, prepare_of
from mlflow_cli.core.registry import resolve_model
from mlflow_cli.core.stage import Plan, ProgressFactory, StageResult, no_progress
from mlflow_cli.core.store import Artifact, Store, open_store
from mlflow_cli.data.sources import describe, file_source, source_label
from mlflow_cli.models.metrics import parse_gate
from mlflow_cli.models.train_info import REFERENCE_FILE, TrainInfo
from mlflow_cli.core.durations import DURATION, duration

STAGE = "monitor"
RESULT_FILE = "monitor.json"
PART_BYTES = 16 << 20  # current data is read in parts of about this many bytes
# What monitor.gates can name besides the task's metrics (and `estimated_<metric>`).
MEASURES = ("drift_share", "weighted_drift_share", "drifted_columns", "prediction_drift", "target_drift",
            "missing_columns", "extra_columns", "unreadable_values", "new_category_rows", "out_of_range_share",
            "null_rate_increases", "constant_columns", "duplicate_ids", "rows", "requests", "error_rate",
            "latency_p50_ms", "latency_p95_ms", "latency_p99_ms", "rows_per_request")
ESTIMATED = ("accuracy", "precision", "recall", "f1", "precision_macro", "recall_macro", "f1_macro")


@dataclass
class Current:
    """What a monitor run compares: one of a source, an ingest batch or the prediction log."""

    kind: str                            # "source", "batch" or "log"
    label: str                           # for people: the file, `ingest/<v> (batch)`, `prediction log ...`
    source: SourceConfig | None = None
    batch: Artifact | None = None
    first_row: int = 0                   # a batch's first row in its snapshot
    folder: Path | None = None
    since: datetime | None = None
    until: datetime | None = None
    model_version: str | None = None
    time_column: str | None = None       # a source's or batch's rows in [since, until) of this column (--window)
    asked_at: datetime | None = None     # the log: when the run began (--since 24h counts back from it)

    def readable(self) -> SourceConfig:
        """What a source or batch reads (a batch: its snapshot; `parts` passes over the earlier rows)."""
        if self.kind == "batch":
            return SourceConfig(type="parquet", path=str(self.batch.file("data.parquet")))  # type: ignore[union-attr]
        return self.source  # type: ignore[return-value]

    def parts(self, advance: Any = None, columns: list[str] | None = None) -> Iterator[Any]:
        """A source's or batch's rows as engine parts of about PART_BYTES (a batch's: only the rows it
        added, each part's `first_row` kept); `columns`: only these."""
        import dataclasses

        from mlflow_cli.engine import engine_named

        skip = self.first_row if self.kind == "batch" else 0
        for part in engine_named("local").read_parts(self.readable(), rows=None, block_size=PART_BYTES,
                                                     whole_file_bytes=0, advance=advance, columns=columns):
            if part.first_row + part.table.num_rows - 1 <= skip:
                continue
            if part.first_row <= skip:  # a batch starts inside this part
                part = dataclasses.replace(part, table=part.table.slice(skip - part.first_row + 1))
            yield part


def plan_monitor(config: Config, store: Store, *, model_ref: str | None = None, input_path: Path | None = None,
                 batch: str | None = None, log: bool = False, since: str | None = None, until: str | None = None,
                 model_version: str | None = None, force: bool = False, window: str | None = None,
                 every: str | None = None) -> Plan:
    settings = config.model.monitor
    ref = model_ref or settings.model
    train, alias = resolve_model(store, ref)
    prepare = prepare_of(store, train)
    task = TrainInfo.of(train.manifest).task
    _check_gates(settings.gates, task)
    current = _current(config, store, input_path=input_path, batch=batch, log=log, since=since, until=until,
                       model_version=model_version)
    spec = _window_spec(config, current, window, every)
    used = {"monitor": {**config.section("monitor")["monitor"], "model": ref,
                        **({"window": window, "every": every or window} if spec else {})}}
    inputs = [train, prepare] + ([current.batch] if current.batch is not None else [])
    extra = {"train": train, "prepare": prepare, "alias": alias, "current": current, "task": task, "window": spec}
    plan = Plan(STAGE, None, used, inputs, extra=extra)
    if current.kind == "log":
        plan.reason = "the prediction log is read again on every run"
        return plan
    if current.kind == "source" and current.source is not None and current.source.type == "sql":
        plan.reason = "SQL sources are read again on every run"
        return plan
    facts = {"batch": current.batch.version, "first_row": current.first_row} if current.batch is not None else \
        [{k: f[k] for k in ("size", "sha256")} for f in describe(current.source)["files"]]  # type: ignore[arg-type]
    labels = describe(settings.labels) if settings.labels is not None else None
    return plan.keyed(store, force, model=train.version, current=facts, labels=labels)


def _window_spec(config: Config, current: Current, window: str | None,
                 every: str | None) -> tuple[timedelta, timedelta] | None:
    """(window, every) for a --window run, after checking it can be cut by time; None without --window."""
    if window is None:
        if every is not None:
            raise ConfigError("--every steps --window; give both.", hint="Example: mlw monitor --log --window 7d --every 1d")
        return None
    spec = duration(window, "--window"), duration(every or window, "--every")
    if current.kind != "log":
        column = config.model.data.time_column
        if not column:
            raise ConfigError("--window needs times: the prediction log (--log), or data.time_column for a file "
                              "or batch.", hint="Set data.time_column to the column holding each row's time.")
        current.time_column = column
    return spec


def _check_gates(gates: dict[str, str], task: str | None) -> None:
    from mlflow_cli.models.tasks import TASKS

    metrics = TASKS[task].metrics if task in TASKS else ()
    valid = list(MEASURES) + list(metrics) + [f"estimated_{m}" for m in ESTIMATED]
    if task in TASKS and TASKS[task].interactions:
        from mlflow_cli.stages.monitor.interactions import MEASURES as INTERACTION_MEASURES

        valid = ["rows", "drift_share", *INTERACTION_MEASURES, *metrics]
    for name, condition in gates.items():
        if name not in valid:
            raise ConfigError(f"`monitor.gates` names '{name}', which monitor does not measure.{did_you_mean(name, valid)}",
                              hint="Gate on a drift, quality or health measure (drift_share, missing_columns, "
                                   "latency_p99_ms, error_rate ...) or a metric of the task (mlw models catalog "
                                   "lists them).")
        parse_gate(condition, f"`monitor.gates.{name}`")


def _current(config: Config, store: Store, *, input_path: Path | None, batch: str | None, log: bool,
             since: str | None, until: str | None, model_version: str | None) -> Current:
    named = [option for option, given in (("--log", log), ("--batch", batch), ("--input", input_path)) if given]
    if len(named) > 1:
        raise ConfigError(f"{' and '.join(named)} both name the current data; give one.",
                          hint="--log reads the serving log, --batch an ingest version, --input a file.")
    if (since or until or model_version) and not log:
        raise ConfigError("--since, --until and --model-version choose rows of the prediction log; add --log.",
                          hint="Example: mlw monitor --log --since 24h")
    if log:
        now = datetime.now(timezone.utc)
        start, end = _when(since, now, "--since"), _when(until, now, "--until")
        if start and end and start >= end:
            raise ConfigError(f"--since ({start:%Y-%m-%d %H:%M}) must be before --until ({end:%Y-%m-%d %H:%M}).")
        window = (f"from {start:%Y-%m-%d %H:%M} UTC" if start else "") + (f" until {end:%Y-%m-%d %H:%M} UTC" if end else "")
        window = window.strip() or "all of it"
        return Current("log", f"prediction log ({window})", folder=store.log_dir("predictions"), since=start,
                       until=end, model_version=model_version, asked_at=now)
    if batch:
        artifact = store.load("ingest", batch)
        first = int(((artifact.manifest.get("info") or {}).get("batch") or {}).get("first_row") or 0)
        what = "batch" if first else "snapshot"
        return Current("batch", f"{artifact.ref} ({what})", batch=artifact, first_row=first)
    source = file_source(input_path, config.model.data.source, "--input") if input_path else \
        config.model.monitor.current
    if source is None:
        raise ConfigError("Nothing to monitor: no current data was named.",
                          hint="Set monitor.current in the config, or pass --input FILE, --batch VERSION (an ingest "
                               "version) or --log (the serving log).")
    if source.type != "sql":
        describe(source, with_hashes=False)  # a missing file is a data error now, before any work
    return Current("source", source_label(source), source=source)




def _when(text: str | None, now: datetime, option: str) -> datetime | None:
    """'24h' (that long before now), or an ISO 8601 date or time (UTC unless it says)."""
    if not text:
        return None
    if DURATION.match(text):
        return now - duration(text, option)
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ConfigError(f"{option} must be a duration such as 30m, 24h or 7d, or an ISO date or time such as "
                          f"2024-01-31 or 2024-01-31T12:00. Got '{text}'.") from None
    return when.replace(tzinfo=timezone.utc) if when.tzinfo is None else when.astimezone(timezone.utc)


def run_monitor(config: Config, *, model_ref: str | None = None, input_path: Path | None = None,
                batch: str | None = None, log: bool = False, since: str | None = None, until: str | None = None,
                model_version: str | None = None, force: bool = False, progress: ProgressFactory = no_progress,
                plan: Plan | None = None, window: str | None = None, every: str | None = None) -> StageResult:
    """`plan`: the plan_monitor result for these arguments, when the caller already made it."""
    from mlflow_cli.models.scoring.background import start_scorer

    started = time.perf_counter()
    # The model scores a sample of the current rows (not a log's: it holds the served predictions).
    # Where it can, a second process imports the model's libraries from now on (see background.py).
    scorer = None if log or window else start_scorer()
    try:
        store = open_store(config)
        plan = plan or plan_monitor(config, store, model_ref=model_ref, input_path=input_path, batch=batch, log=log,
                                    since=since, until=until, model_version=model_version, force=force,
                                    window=window, every=every)
        if plan.cached is not None:
            return _result(plan.cached, cached=True)
        if plan.extra["task"] == "recommendation":
            return _monitor_recommender(config, store, plan, started)
        if plan.extra["window"]:
            job, outcome, evaluation, warnings = _monitor_windows(config, store, plan, progress)
        else:
            job, outcome, evaluation, warnings = _monitor(config, store, plan, progress, scorer)
    finally:
        if scorer is not None:
            scorer.close()
    train, current = plan.extra["train"], plan.extra["current"]
    with store.writer(STAGE, started=started) as writer:
        writer.config, writer.cache_key = plan.config, plan.cache_key
        for artifact in plan.inputs:
            writer.add_input(artifact)
        if current.kind == "source":
            writer.add_external_input({"source": describe(current.source)})
        if current.kind == "log":
            writer.add_external_input({"log": outcome.log_files})
        if config.model.monitor.labels is not None:
            writer.add_external_input({"labels": describe(config.model.monitor.labels)})
        result = outcome.result
        result.update(model=train.ref, alias=plan.extra["alias"], current=current.label,
                      evaluation=f"evaluate/{evaluation[0]}" if evaluation else None)
        result["warnings"] = warnings + result.get("warnings", [])
        (writer.path / RESULT_FILE).write_text(json.dumps(result, indent=2, default=str), encoding="utf-8")
        (writer.path / "metrics.json").write_text(json.dumps(outcome.measures, indent=2, default=str))
        job.write_report(writer.path, result, title=f"mlw monitor: {config.model.project} {train.ref} on "
                                                    f"{current.label}")
        writer.metrics = outcome.measures
        writer.info = {"model": train.ref, "alias": plan.extra["alias"], "current": current.label,
                       "kind": current.kind, "rows": result["rows"], "verdict": result["verdict"],
                       "drifted": result["drift"]["drifted"], "gates": result["gates"],
                       "passed": all(g["passed"] for g in result["gates"]), "warnings": result["warnings"]}
    return _result(writer.artifact, cached=False)


def _monitor_recommender(config: Config, store: Store, plan: Plan, started: float) -> StageResult:
    """Recommendation (interactions.py): new interactions against the model's reference."""
    import pandas as pd

    from mlflow_cli.models.scoring.model import read_schema
    from mlflow_cli.models.train_info import MODEL_FILE
    from mlflow_cli.reports.html import write_report
    from mlflow_cli.models.reference import interaction_reference
    from mlflow_cli.stages.monitor.interactions import monitor_interactions, report_sections, service_health

    train, prepare, current = plan.extra["train"], plan.extra["prepare"], plan.extra["current"]
    if plan.extra["window"]:
        raise ConfigError("--window is for tabular models: a recommender is monitored on new interactions.",
                          hint="Give the interactions of the period: --input FILE or --batch VERSION.")
    warnings: list[str] = []
    if current.kind == "log":  # the served lists: the service's health
        result, measures = service_health(current, config.model.monitor.gates)
    else:
        roles = read_schema(prepare)["interactions"]
        if REFERENCE_FILE in train.manifest["outputs"]:
            reference = json.loads(train.file(REFERENCE_FILE).read_text(encoding="utf-8"))
        else:
            reference = interaction_reference(pd.read_parquet(prepare.file("train.parquet")), roles)
            warnings.append(f"{train.ref} has no reference.json; it was computed from {prepare.ref}'s training split")
        frame = pd.concat([part.table.to_pandas() for part in current.parts()], ignore_index=True)
        evaluation = newest_evaluation_of(store, train.version)
        result, measures = monitor_interactions(frame, reference, train.unpickle(MODEL_FILE), roles, config,
                                                evaluation[1].get("metrics") if evaluation else None)
    result.update(model=train.ref, alias=plan.extra["alias"], current=current.label,
                  warnings=warnings + result.get("warnings", []))
    warnings = result["warnings"]
    with store.writer(STAGE, started=started) as writer:
        writer.config, writer.cache_key = plan.config, plan.cache_key
        for artifact in plan.inputs:
            writer.add_input(artifact)
        if current.kind == "source":
            writer.add_external_input({"source": describe(current.source)})
        if current.kind == "log":  # the files read, as the tabular path records them
            writer.add_external_input({"log": result.pop("log_files")})
        (writer.path / RESULT_FILE).write_text(json.dumps(result, indent=2, default=str), encoding="utf-8")
        (writer.path / "metrics.json").write_text(json.dumps(measures, indent=2, default=str))
        write_report(writer.path / "report.html", sections=report_sections(result),
                     title=f"mlw monitor: {config.model.project} {train.ref} on {current.label}")
        writer.metrics = measures
        writer.info = {"model": train.ref, "alias": plan.extra["alias"], "current": current.label,
                       "kind": current.kind, "rows": result["rows"], "verdict": result["verdict"],
                       "drifted": (result.get("drift") or {}).get("drifted", []), "gates": result["gates"],
                       "passed": all(g["passed"] for g in result["gates"]), "warnings": warnings}
    return _result(writer.artifact, cached=False)


def _monitor_windows(config: Config, store: Store, plan: Plan, progress: ProgressFactory) -> tuple:
    """One Monitoring per window (windows.py); the newest window with rows gives the result, plus the rows over time."""
    import dataclasses

    from mlflow_cli.models.scoring.background import start_scorer
    from mlflow_cli.stages.monitor.windows import NoRows, log_range, spans, window_row

    length, every = plan.extra["window"]
    current: Current = plan.extra["current"]
    if current.kind == "log":
        start, end = log_range(current.folder, current.since, current.until or current.asked_at)
    else:
        start, end = _source_range(current)
    rows, newest = [], None
    name = "prediction log" if current.kind == "log" else current.label  # the log's label names its window
    scorer = None if current.kind == "log" else start_scorer(background=False)  # one model for every window
    for begin, finish in spans(start, end, length, every):
        part = dataclasses.replace(current, since=begin, until=finish,
                                   label=f"{name} {begin:%Y-%m-%d %H:%M} to {finish:%Y-%m-%d %H:%M} UTC")
        try:
            found = _monitor(config, store, plan, progress, scorer, current=part)
        except NoRows:
            rows.append(window_row(begin, finish, None, None))
            continue
        rows.append(window_row(begin, finish, found[1].measures, found[1].result))
        newest = found
    if newest is None:
        raise NoRows(f"No window of {current.label} has rows.", hint="Widen --since/--until, or check the times.")
    outcome = newest[1]
    outcome.result["windows"] = rows
    outcome.result["window"] = {"length": length.total_seconds(), "every": every.total_seconds()}
    outcome.measures["windows"] = len(rows)
    outcome.measures["drifted_windows"] = sum(r["verdict"] == "drift" for r in rows)
    return newest


def _source_range(current: Current) -> tuple[datetime, datetime]:
    from mlflow_cli.stages.monitor.windows import source_range

    parts = current.parts(columns=[current.time_column])  # type: ignore[list-item]
    return source_range((part.table.to_pandas() for part in parts), current.time_column, current.label)


def _monitor(config: Config, store: Store, plan: Plan, progress: ProgressFactory, scorer: Any,
             current: Current | None = None) -> tuple:
    """Read and judge the current data (Monitoring); (the job, its Outcome, the newest evaluation, warnings)."""
    from mlflow_cli.models.scoring.model import read_schema
    from mlflow_cli.stages.monitor.monitoring import Monitoring

    train, prepare = plan.extra["train"], plan.extra["prepare"]
    if scorer is not None:
        scorer.load(train, read_schema(prepare), plan.extra["task"])  # unpickled while the rows are read
    evaluation = newest_evaluation_of(store, train.version)
    reference, warnings = _reference(train, prepare, plan.extra["task"])
    job = Monitoring(config, train, prepare, reference, plan.extra["task"], current or plan.extra["current"],
                     evaluated=(evaluation[1].get("metrics") if evaluation else None), progress=progress)
    return job, job.run(scorer), evaluation, warnings


def _reference(train: Artifact, prepare: Artifact, task: str | None) -> tuple[Any, list[str]]:
    """The model's reference: its reference.json, or for a model trained before mlw wrote one,
    computed now from prepare's training split (in memory; the model's artifacts are not touched)."""
    from mlflow_cli.models.reference import Reference

    if REFERENCE_FILE in train.manifest["outputs"]:
        try:
            return Reference.from_json(json.loads(train.file(REFERENCE_FILE).read_text(encoding="utf-8"))), []
        except ValueError as exc:
            raise ArtifactError(f"{train.ref}/{REFERENCE_FILE} cannot be read as a reference ({exc}).",
                                hint="Train the model again (mlw train --force) to write a fresh reference.") from None
    import pandas as pd

    from mlflow_cli.models.reference import build_reference
    from mlflow_cli.models.scoring.model import read_schema
    from mlflow_cli.models.tasks import task_named

    schema = read_schema(prepare)
    rows = pd.read_parquet(prepare.file("train.parquet"))
    categorical = task_named(task).prediction != "value" if task else True
    importances = None
    if "importances.json" in train.manifest["outputs"] and task:
        values = json.loads(train.file("importances.json").read_text()).get("values") or {}
        if set(values) <= set(schema["columns"]):
            total = sum(abs(v) for v in values.values()) or 1.0
            importances = {k: abs(v) / total for k, v in values.items()}
    reference = build_reference(schema, rows, None, categorical, importances)
    return reference, [f"{train.ref} was trained before mlw kept a reference with the model; the reference was "
                       f"computed from {prepare.ref}'s training rows for this run (no prediction drift: train the "
                       f"model again to keep one)."]


def _result(artifact: Artifact, cached: bool) -> StageResult:
    info = artifact.manifest["info"]
    result = json.loads(artifact.file(RESULT_FILE).read_text(encoding="utf-8"))
    return StageResult.from_artifact(artifact, cached, warnings=list(info.get("warnings", [])),
                                     details={"passed": info["passed"], "result": result,
                                              "report": str(artifact.path / "report.html")})


def gate_failures(result: StageResult) -> list[str]:
    """One line per failed gate, for the exit-1 message."""
    return [g["message"] + f" [{g['gate']}]" for g in result.manifest["info"]["gates"] if not g["passed"]]
