"""`mlw predict`: batch scoring of a file or SQL source with a trained model.

The source is streamed as Arrow, re-cut into chunks of `predict.chunk_rows` rows, and each
chunk is converted to pandas once, validated against prepare's schema, scored, and written
on (a Parquet row group or a block of CSV lines), so memory stays bounded however large
the input. Output = the input columns + `prediction` (+ `proba_<class>` for classifiers).

Nothing half-written is ever visible: `--output` and `--rejects` are written to temporary
files next to their targets and renamed at the end; a versioned artifact goes through the
store's writer. Without `--rejects`, the first bad row stops the run (exit 3) naming its
row number and field; with it, bad rows go aside with `_row` and `_errors`.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlflow_cli.models.train_info import TrainInfo
from mlflow_cli.core.config import FILE_TYPES, Config, SourceConfig
from mlflow_cli.core.lineage import prepare_of
from mlflow_cli.core.errors import ArtifactError, ConfigError, DataError, did_you_mean
from mlflow_cli.core.registry import resolve_model
from mlflow_cli.data.sources import describe, source_label, total_bytes
from mlflow_cli.core.store import Artifact, Store, open_store, sha256_file
from mlflow_cli.core.stage import Plan, ProgressFactory, StageResult, no_progress

STAGE = "predict"
OUTPUT_FILE = "predictions.parquet"
WRITE_TYPES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
PREDICTION = "prediction"
PROBA_PREFIX = "proba_"
ROW_COLUMN, ERRORS_COLUMN = "_row", "_errors"
PREVIEW_ROWS = 5


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
    """--input as a source (reader picked by extension, delimiter and encoding taken from
    data.source when that is a file of the same type), or data.source itself."""
    if input_path is None:
        return config.model.data.source
    kind = FILE_TYPES.get(input_path.suffix.lower())
    if kind is None:
        raise ConfigError(f"--input must be a {', '.join(sorted(FILE_TYPES))} file. Got '{input_path}'.",
                          hint="Convert the file, or point data.source at it and leave out --input.")
    if not input_path.is_file():
        folder = input_path.parent if input_path.parent.is_dir() else None
        near = did_you_mean(input_path.name, [p.name for p in folder.iterdir()]) if folder else ""
        raise DataError(f"Input file '{input_path}' does not exist.{near}",
                        hint="Check --input; a relative path starts at the current folder.")
    base = config.model.data.source
    same = base.type == kind
    return SourceConfig(type=kind, path=str(input_path.resolve()), encoding=base.encoding if same else "utf-8",
                        delimiter=base.delimiter if same else None)


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
    schema = json.loads(prepare.file("schema.json").read_text())
    scorer = Scorer(train, schema, config.model.predict.unseen_categories, lean=_lean_model(train, schema))
    job = _Job(config, source, scorer, rejects_kind, progress)
    if output is not None:
        return _score_to_file(plan, job, output, output_kind or "parquet", rejects, started)
    return _score_to_version(store, plan, job, rejects, started)


def _score_to_file(plan: Plan, job: _Job, output: Path, kind: str, rejects: Path | None,
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


def _score_to_version(store: Store, plan: Plan, job: _Job, rejects: Path | None, started: float) -> StageResult:
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


def _info(plan: Plan, tally: _Tally, output: str, tmp_rejects: Path | None, rejects: Path | None) -> dict[str, Any]:
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


def _metrics(tally: _Tally) -> dict[str, Any]:
    return {"rows_scored": tally.scored, "rows_rejected": tally.rejected}


# --------------------------------------------------------------------------- scoring (heavy)


def score_frame(model: Any, frame: Any, task: str) -> Any:
    """The prediction columns for one frame of raw records: `prediction` and, for a classifier
    with probabilities, `proba_<class>`. One pandas frame in, one out, nothing else touched,
    so an engine can map it over partitions. The preprocessing runs once (scoring.py)."""
    import pandas as pd

    from mlflow_cli.models.scoring.pipeline import final_estimator, predict_scores

    labels, proba = predict_scores(model, frame, want_proba=task == "classification")
    columns: dict[str, Any] = {PREDICTION: labels}
    if proba is not None:
        for i, label in enumerate(final_estimator(model).classes_):
            columns[f"{PROBA_PREFIX}{label}"] = proba[:, i]
    return pd.DataFrame(columns, index=frame.index)


def _lean_model(train: Artifact, schema: dict[str, Any]) -> Any:
    """The train version's scoring bundle (lean.py), when it has one this process can load."""
    from mlflow_cli.models.scoring.bundle import LeanModel

    try:
        return LeanModel.load(train.path, schema)
    except (OSError, ValueError, KeyError, RuntimeError, AttributeError):  # no usable libxgboost, an unreadable bundle
        return None


class Scorer:
    """A trained model with its input contract and the Arrow types of the columns it adds.

    With a scoring bundle (`lean`), chunks of plain numbers are scored without scikit-learn or
    pandas (lean.py) and the pipeline is only unpickled for a chunk that needs the full path."""

    def __init__(self, train: Artifact, schema: dict[str, Any], unseen: str, lean: Any = None) -> None:
        import numpy as np
        import pyarrow as pa

        from mlflow_cli.models.scoring.bundle import arrow_array

        self.train, self.schema, self.ref, self.unseen, self.lean = train, schema, train.ref, unseen, lean
        self.task = TrainInfo.of(train.manifest).task or schema.get("task")
        self._model: Any = None
        if lean is not None:
            classes, has_proba = lean.classes, lean.classes is not None
        else:
            estimator = self._estimator()
            classes, has_proba = getattr(estimator, "classes_", None), hasattr(estimator, "predict_proba")
        fields = []
        if self.task == "classification":
            classes = np.asarray(classes)
            fields.append(pa.field(PREDICTION, arrow_array(classes).type))
            if has_proba:
                fields += [pa.field(f"{PROBA_PREFIX}{c}", pa.float64()) for c in classes]
        else:
            fields.append(pa.field(PREDICTION, pa.int64() if self.task == "clustering" else pa.float64()))
        self.fields = fields

    @property
    def model(self) -> Any:
        """The fitted pipeline, unpickled on first use (a lean run may never need it)."""
        if self._model is None:
            self._estimator()
        return self._model

    def _estimator(self) -> Any:
        from mlflow_cli.models.scoring.pipeline import final_estimator

        self._model = self.train.unpickle("model.joblib")
        estimator = final_estimator(self._model)
        if not hasattr(estimator, "predict"):
            raise ArtifactError(f"{self.ref} ({type(estimator).__name__}) cannot predict new rows, so it cannot "
                                f"score a batch.", hint="Score with a model whose estimator has a predict method "
                                                        "(for clustering: kmeans or gaussian_mixture).")
        return estimator

    @property
    def added(self) -> list[str]:
        return [f.name for f in self.fields]

    def score(self, frame: Any) -> list[Any]:
        """Arrow arrays of the added columns for the frame's rows, in `fields` order."""
        import pyarrow as pa

        if len(frame) == 0:
            return [pa.array([], type=f.type) for f in self.fields]
        scored = score_frame(self.model, frame, self.task)
        return [pa.array(scored[f.name].to_numpy()).cast(f.type) for f in self.fields]

    def score_table(self, table: Any) -> list[Any] | None:
        """The same arrays straight from an Arrow chunk of plain numbers (lean.py), or None when
        there is no bundle or the chunk needs the full path (checks, issues, rejects)."""
        from mlflow_cli.models.scoring.bundle import arrow_array

        if self.lean is None or table.num_rows == 0:
            return None
        try:
            found = self.lean.score_table(table, self.schema)
        except (RuntimeError, ValueError):  # libxgboost refused the call: the pipeline scores the rest
            self.lean = None
            return None
        if found is None:
            return None
        labels, proba = found
        columns = [labels] + ([proba[:, i] for i in range(proba.shape[1])] if proba is not None else [])
        return [arrow_array(values).cast(f.type) for values, f in zip(columns, self.fields)]


@dataclass
class _Tally:
    rows_in: int = 0
    scored: int = 0
    rejected: int = 0
    chunks: int = 0
    lean_chunks: int = 0  # chunks scored from the train version's scoring bundle (lean.py)
    columns: list[str] = field(default_factory=list)
    preview: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)


class _Job:
    """One pass over the source: read, re-chunk, validate, score, write."""

    def __init__(self, config: Config, source: SourceConfig, scorer: Scorer, rejects_kind: str | None,
                 progress: ProgressFactory) -> None:
        self.config, self.source, self.scorer, self.progress = config, source, scorer, progress
        self.rejects_kind = rejects_kind
        self.label = source_label(source)

    def run(self, out: Path, out_kind: str, rejects_out: Path | None) -> _Tally:
        """Score everything; a CSV column whose type the first block guessed wrong (a number
        column with text further down) makes the reader ask for a restart with it widened."""
        from mlflow_cli.data.readers import RetypeNeeded

        column_types: dict[str, Any] = {}
        while True:
            try:
                return self._pass(out, out_kind, rejects_out, column_types)
            except RetypeNeeded as retype:
                column_types[retype.column] = retype.type

    def _pass(self, out: Path, out_kind: str, rejects_out: Path | None, column_types: dict[str, Any]) -> _Tally:
        tally = _Tally()
        sink = _Sink(out, out_kind)
        reject_sink = _Sink(rejects_out, self.rejects_kind or "csv") if rejects_out is not None else None
        total = total_bytes(self.source)
        unit = "bytes" if total is not None else "items"
        settings = self.config.model
        try:
            with self.progress(f"Scoring {self.label}", total, unit=unit) as bar:
                pieces = _read(self.source, settings.ingest.block_size_mb << 20, column_types,
                               settings.ingest.stream_above_mb << 20)
                for chunk, size in _rechunk(pieces, settings.predict.chunk_rows):
                    self._chunk(chunk, tally, sink, reject_sink)
                    bar.advance(size if unit == "bytes" else chunk.num_rows)
        finally:
            sink.close()
            if reject_sink is not None:
                reject_sink.close()
        if tally.rows_in == 0:
            raise DataError(f"{self.label} has no data rows to score.",
                            hint="Score a file (--input) or a data.source with at least one row.")
        return tally

    def _chunk(self, table: Any, tally: _Tally, sink: _Sink, reject_sink: _Sink | None) -> None:
        import numpy as np

        scorer = self.scorer
        if tally.chunks == 0:
            self._first_chunk(table, tally, sink, reject_sink)
        table = table.drop_columns([c for c in scorer.added if c in table.column_names])
        first_row = tally.rows_in + 1  # rows are 1-based data rows of the input, counted across chunks
        numbers = np.arange(first_row, first_row + table.num_rows)
        tally.rows_in += table.num_rows
        tally.chunks += 1
        arrays = scorer.score_table(table)  # plain numbers, with a scoring bundle: no pandas, no checks needed
        if arrays is None:
            table, frame, numbers = self._checked(table, numbers, first_row, tally, reject_sink)
            arrays = scorer.score(frame)
        else:
            tally.lean_chunks += 1
        for name, array in zip(scorer.added, arrays):
            table = table.append_column(name, array)
        sink.write(table)
        tally.scored += table.num_rows
        if tally.preview is None and table.num_rows:
            tally.preview = _preview(table, numbers, scorer)

    def _checked(self, table: Any, numbers: Any, first_row: int, tally: _Tally,
                 reject_sink: _Sink | None) -> tuple[Any, Any, Any]:
        """The chunk's rows that pass the schema's checks, as a table and a frame, with their row
        numbers; bad rows go to the rejects file, or stop the run."""
        import pyarrow as pa

        from mlflow_cli.data.validation.frame import validate_frame

        scorer = self.scorer
        # Dates as datetime64, not Python objects: validating and coercing them is then vectorised
        # (10x faster), and the model derives the same date parts either way.
        frame = table.to_pandas(date_as_object=False)
        checked = validate_frame(frame, scorer.schema, unseen=scorer.unseen, allow_extra=True)
        if checked.column_errors:
            raise self._missing_columns(frame.columns)
        if checked.bad_rows.any():
            if reject_sink is None:
                raise self._bad_rows(checked, first_row)
            bad = checked.bad_rows
            rejected = table.filter(pa.array(bad))
            rejected = rejected.append_column(ROW_COLUMN, pa.array(numbers[bad], pa.int64()))
            errors = _row_errors(frame[bad], scorer.schema, scorer.unseen)
            reject_sink.write(rejected.append_column(ERRORS_COLUMN, pa.array(errors, pa.string())))
            tally.rejected += int(bad.sum())
            table, frame, numbers = table.filter(pa.array(~bad)), frame[~bad], numbers[~bad]
        return table, frame, numbers

    def _first_chunk(self, table: Any, tally: _Tally, sink: _Sink, reject_sink: _Sink | None) -> None:
        """Open the writers with the output's schema (so an all-rejected input still gets a
        header), and warn when the input already holds columns that scoring adds."""
        import pyarrow as pa

        scorer = self.scorer
        clash = [c for c in scorer.added if c in table.column_names]
        if clash:
            tally.warnings.append(f"{self.label} already has column{'s' if len(clash) > 1 else ''} "
                                  f"{', '.join(clash)}; the output holds the new predictions instead.")
        schema = table.drop_columns(clash).schema.remove_metadata()  # pandas metadata would describe the input
        tally.columns = list(schema.names) + scorer.added
        sink.open(pa.schema(list(schema) + scorer.fields))
        if reject_sink is not None:
            reject_sink.open(pa.schema(list(schema) + [pa.field(ROW_COLUMN, pa.int64()),
                                                       pa.field(ERRORS_COLUMN, pa.string())]))

    def _missing_columns(self, present: Any) -> DataError:
        needed = list(self.scorer.schema["columns"])
        missing = [c for c in needed if c not in present]
        names = ", ".join(f"'{c}'" for c in missing)
        near = did_you_mean(missing[0], [str(c) for c in present])
        return DataError(f"{self.label} lacks column{'s' if len(missing) > 1 else ''} {names}, which model "
                         f"{self.scorer.ref} needs.{near}",
                         hint=f"The model takes: {', '.join(needed)}. Rename the columns in the input, or score "
                              f"with a model trained on the columns the input has.")

    def _bad_rows(self, checked: Any, offset: int) -> DataError:
        unseen = any(i.message.startswith("unseen category") for i in checked.issues)
        hint = "Fix those rows, or pass --rejects FILE to write the bad rows there and score the rest."
        if unseen:
            hint += " To score categories never seen in training as unknown, set predict.unseen_categories: allow."
        return DataError(f"{self.label} has rows that model {self.scorer.ref} cannot score: "
                         f"{checked.summary(row_offset=offset)}.", hint=hint)


def _row_errors(frame: Any, schema: dict[str, Any], unseen: str) -> list[str]:
    """Every problem of every (bad) row, as 'column: problem; column: problem'."""
    frame = frame.reset_index(drop=True)
    problems: list[list[str]] = [[] for _ in range(len(frame))]
    for name, spec in schema["columns"].items():
        for row, message in _column_issues(frame[[name]], {"columns": {name: spec}}, unseen):
            problems[row].append(f"{name}: {message}")
    return ["; ".join(p) for p in problems]


def _column_issues(column: Any, schema: dict[str, Any], unseen: str) -> Iterator[tuple[int, str]]:
    """(row, message) for each bad value of one column. validate_frame lists at most
    MAX_ISSUES issues per call (one per row for a single column), so more bad rows than
    that are checked again in slices of that size: every bad field gets its message."""
    import numpy as np

    from mlflow_cli.data.validation.frame import MAX_ISSUES, validate_frame

    found = validate_frame(column, schema, unseen=unseen)
    rows = np.flatnonzero(found.bad_rows)
    if len(rows) <= MAX_ISSUES:
        yield from ((issue.row, issue.message) for issue in found.issues if issue.row is not None)
        return
    for start in range(0, len(rows), MAX_ISSUES):
        part = rows[start:start + MAX_ISSUES]
        again = validate_frame(column.iloc[part].reset_index(drop=True), schema, unseen=unseen)
        yield from ((int(part[issue.row]), issue.message) for issue in again.issues if issue.row is not None)


def _preview(table: Any, numbers: Any, scorer: Scorer) -> dict[str, Any]:
    """The first scored rows (input row number, id columns, what scoring added), JSON-ready."""
    ids = [c for c in scorer.schema.get("id_columns") or [] if c in table.column_names]
    head = table.slice(0, PREVIEW_ROWS)
    columns = ["row", *ids, *scorer.added]
    values = [[int(n) for n in numbers[:PREVIEW_ROWS]]] + [head.column(c).to_pylist() for c in [*ids, *scorer.added]]
    rows = [[_plain(v) for v in row] for row in zip(*values)]
    return {"columns": columns, "rows": rows}


def _plain(value: Any) -> Any:
    if isinstance(value, float) and value != value:
        return None
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


# --------------------------------------------------------------------------- reading and writing


def _read(source: SourceConfig, block_size: int, column_types: dict[str, Any],
          whole_file_bytes: int) -> Iterator[tuple[Any, float]]:
    """The reader's batches as Arrow tables, each with the bytes (SQL: rows) it accounted for."""
    import pyarrow as pa

    from mlflow_cli.data.readers import read_batches

    done = [0.0]

    def advance(amount: float) -> None:
        done[0] += amount

    seen = 0.0
    for piece in read_batches(source, block_size, advance, column_types, whole_file_bytes):
        table = pa.Table.from_batches([piece]) if isinstance(piece, pa.RecordBatch) else piece
        yield table, done[0] - seen
        seen = done[0]


def _rechunk(pieces: Iterator[tuple[Any, float]], rows: int) -> Iterator[tuple[Any, float]]:
    """Re-cut the reader's tables into tables of exactly `rows` rows (the last may be shorter),
    each with its rows' share of the bytes read, for the progress bar."""
    import pyarrow as pa

    held: list[Any] = []
    count, size = 0, 0.0
    for table, amount in pieces:
        per_row = amount / table.num_rows if table.num_rows else 0.0
        start = 0
        while start < table.num_rows:
            take = min(rows - count, table.num_rows - start)
            held.append(table.slice(start, take))
            count, size, start = count + take, size + take * per_row, start + take
            if count == rows:
                yield (held[0] if len(held) == 1 else pa.concat_tables(held)), size
                held, count, size = [], 0, 0.0
    if count:
        yield (held[0] if len(held) == 1 else pa.concat_tables(held)), size


class _Sink:
    """A CSV or Parquet file written chunk by chunk (a Parquet row group, or CSV lines each)."""

    def __init__(self, path: Path, kind: str) -> None:
        self.path, self.kind = path, kind
        self.writer: Any = None
        self.schema: Any = None

    def open(self, schema: Any) -> None:
        self.schema = schema
        if self.kind == "csv":
            import pyarrow.csv as pcsv

            self.writer = pcsv.CSVWriter(str(self.path), schema)
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            # Dictionary-encode text only: on float columns it costs ~3x the write time for nothing.
            text = [f.name for f in schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)]
            self.writer = pq.ParquetWriter(str(self.path), schema, use_dictionary=text)

    def write(self, table: Any) -> None:
        if table.num_rows:
            self.writer.write_table(table if table.schema == self.schema else table.cast(self.schema))

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
