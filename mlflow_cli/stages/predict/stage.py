"""`mlw predict`: batch scoring of a file or SQL source with a trained model.

Planning is cheap (config, manifests, hashes): it resolves the model and the input and, when the
output is a predict version of files, keys the cache on their sha256. Running hands the pass
over the source to batch.py (in parts, through the engine) and publishes what it wrote. Output
= the input columns + `prediction` (+ `proba_<class>` for classifiers); for recommendation, each
user's top-k (lists.py).

Nothing half-written is ever visible: `--output` and `--rejects` are written to temporary
files next to their targets and renamed at the end; a versioned artifact goes through the
store's writer. Without `--rejects`, the first bad row stops the run (exit 3) naming its
row number and field; with it, bad rows go aside with `_row` and `_errors`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlflow_cli.models.train_info import TrainInfo
from mlflow_cli.core.config import Config, SourceConfig
from mlflow_cli.core.lineage import prepare_of
from mlflow_cli.core.errors import ConfigError
from mlflow_cli.core.registry import resolve_model
from mlflow_cli.data.sources import describe, file_source, source_label
from mlflow_cli.core.store import Artifact, Store, open_store, sha256_file
from mlflow_cli.core.stage import Plan, ProgressFactory, StageResult, no_progress

if TYPE_CHECKING:
    from mlflow_cli.stages.predict.batch import BatchJob, Tally
    from mlflow_cli.stages.predict.lists import ListJob

STAGE = "predict"
OUTPUT_FILE = "predictions.parquet"
WRITE_TYPES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


# --------------------------------------------------------------------------- planning (light)


def plan_predict(config: Config, store: Store, *, input_path: Path | None = None, output: Path | None = None,
                 model_ref: str | None = None, rejects: Path | None = None, force: bool = False) -> Plan:
    """Resolve the model (verified) and the input; a cache key only when writing an artifact
    from files (the files' sha256 decide: the same bytes under another name reuse the version)."""
    ref = model_ref or config.model.predict.model
    train, alias = resolve_model(store, ref)
    prepare = prepare_of(store, train)
    source = _input_source(config, input_path)
    facts = describe(source, with_hashes=output is None)
    used = {"predict": {**config.section("predict")["predict"], "model": ref}}
    extra = {"train": train, "prepare": prepare, "alias": alias, "source": source, "facts": facts}
    plan = Plan(STAGE, None, used, [train], extra=extra)
    if output is not None:
        plan.reason = "--output writes a file, not a version"
        return plan
    if source.type == "sql":
        plan.reason = "SQL sources are read again on every run"
        return plan
    content = [{k: f[k] for k in ("size", "sha256")} for f in facts["files"]]
    plan.keyed(store, force, input={"type": facts["type"], "files": content},
               rejects=str(rejects.resolve()) if rejects else None)
    if plan.cached is not None and rejects is not None and not _rejects_intact(plan.cached, rejects):
        plan.cached, plan.reason = None, f"{rejects} is missing or changed"
    return plan


def _input_source(config: Config, input_path: Path | None) -> SourceConfig:
    return config.model.data.source if input_path is None else file_source(input_path, config.model.data.source,
                                                                           "--input")


def _write_type(path: Path, option: str) -> str:
    kind = WRITE_TYPES.get(path.suffix.lower())
    if kind is None:
        raise ConfigError(f"{option} must end in .csv, .parquet or .pq. Got '{path}'.",
                          hint=f"For example: {option} scored.parquet")
    return kind


def _check_paths(input_path: Path | None, output: Path | None, rejects: Path | None) -> None:
    paths = {"--input": input_path, "--output": output, "--rejects": rejects}
    named = [(option, p.resolve()) for option, p in paths.items() if p is not None]
    for i, (first, a) in enumerate(named):
        for second, b in named[i + 1:]:
            if a == b:
                raise ConfigError(f"{first} and {second} name the same file '{a}'.",
                                  hint="Write the results to another file; the input is never overwritten.")


def _rejects_intact(cached: Artifact, rejects: Path) -> bool:
    recorded = (cached.manifest.get("info") or {}).get("rejects") or {}
    return rejects.is_file() and recorded.get("sha256") == sha256_file(rejects)


# --------------------------------------------------------------------------- running


def run_predict(config: Config, *, input_path: Path | None = None, output: Path | None = None,
                model_ref: str | None = None, rejects: Path | None = None, force: bool = False,
                progress: ProgressFactory = no_progress) -> StageResult:
    started = time.perf_counter()
    output_kind = _write_type(output, "--output") if output is not None else None
    rejects_kind = _write_type(rejects, "--rejects") if rejects is not None else None
    _check_paths(input_path, output, rejects)
    store = open_store(config)
    plan = plan_predict(config, store, input_path=input_path, output=output, model_ref=model_ref,
                        rejects=rejects, force=force)
    if plan.cached is not None:
        return StageResult.from_artifact(plan.cached, cached=True,
                                         details={"output": str(plan.cached.path / OUTPUT_FILE)})
    train, prepare, source = plan.extra["train"], plan.extra["prepare"], plan.extra["source"]
    from mlflow_cli.models.scoring.model import read_schema
    from mlflow_cli.stages.predict.batch import BatchJob, Scorer

    if TrainInfo.of(train.manifest).task == "recommendation":
        from mlflow_cli.models.train_info import MODEL_FILE
        from mlflow_cli.stages.predict.lists import ListJob

        job: BatchJob | ListJob = ListJob(config, source, train.unpickle(MODEL_FILE), progress)
    else:
        job = BatchJob(config, source, Scorer(train, read_schema(prepare), config.model.predict.unseen_categories),
                       rejects_kind, progress)
    if output is not None:
        return _score_to_file(plan, job, output, output_kind or "parquet", rejects, started)
    return _score_to_version(store, plan, job, rejects, started)


def _score_to_file(plan: Plan, job: BatchJob | ListJob, output: Path, kind: str, rejects: Path | None,
                   started: float) -> StageResult:
    """--output: the file is replaced only once every row is scored; no version, no cache."""
    with _replacing(output) as tmp_out, _replacing(rejects) as tmp_rejects:
        tally = job.run(tmp_out, kind, tmp_rejects)
        info = _info(plan, tally, str(output), tmp_rejects, rejects)
    inputs = [plan.extra["train"].as_input(), {"external": True, "source": plan.extra["facts"]}]
    manifest = {"stage": STAGE, "version": "", "config": plan.config, "inputs": inputs, "info": info,
                "metrics": _metrics(tally), "duration_s": round(time.perf_counter() - started, 3)}
    return StageResult(STAGE, "", False, output, manifest, details={"output": str(output)},
                       warnings=tally.warnings)


def _score_to_version(store: Store, plan: Plan, job: BatchJob | ListJob, rejects: Path | None, started: float) -> StageResult:
    """No --output: predictions.parquet in a new predict version (published only when complete)."""
    train = plan.extra["train"]
    with _replacing(rejects) as tmp_rejects:
        with store.writer(STAGE, started=started) as writer:
            writer.config, writer.cache_key = plan.config, plan.cache_key
            writer.add_input(train)
            writer.add_external_input({"source": plan.extra["facts"]})
            tally = job.run(writer.path / OUTPUT_FILE, "parquet", tmp_rejects)
            writer.info = _info(plan, tally, OUTPUT_FILE, tmp_rejects, rejects)
            writer.metrics = _metrics(tally)
    artifact = writer.artifact
    return StageResult.from_artifact(artifact, cached=False, details={"output": str(artifact.path / OUTPUT_FILE)},
                                     warnings=tally.warnings)


@contextmanager
def _replacing(target: Path | None) -> Iterator[Path | None]:
    """A temporary path next to `target`, renamed onto it when the block succeeds and removed
    when it fails, so the target is either the complete new file or untouched."""
    if target is None:
        yield None
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        if tmp.exists():
            os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _info(plan: Plan, tally: Tally, output: str, tmp_rejects: Path | None, rejects: Path | None) -> dict[str, Any]:
    train = plan.extra["train"]
    info = TrainInfo.of(train.manifest)
    return {
        "input": source_label(plan.extra["source"]), "model": train.ref, "alias": plan.extra["alias"],
        "model_name": info.model, "task": info.task, "target": info.target,
        "rows_in": tally.rows_in, "rows_scored": tally.scored, "rows_rejected": tally.rejected,
        "chunks": tally.chunks, "chunks_from_bundle": tally.lean_chunks, "columns": tally.columns, "output": output,
        "rejects": None if rejects is None or tmp_rejects is None else {
            "path": str(rejects), "rows": tally.rejected, "sha256": sha256_file(tmp_rejects)},
        "preview": tally.preview,
    }


def _metrics(tally: Tally) -> dict[str, Any]:
    return {"rows_scored": tally.scored, "rows_rejected": tally.rejected}
