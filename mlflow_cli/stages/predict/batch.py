"""The work behind `mlw predict`: one pass over the source, in parts, through the engine.

The engine (engine/) reads the source as Arrow parts of `predict.chunk_rows` rows and maps
`BatchJob.score_part` over them: a part of plain numbers is scored from the scoring bundle
without pandas; any other is converted to pandas once, validated against prepare's schema
(data/validation/frame.py) and scored, all through the train version's ScoringModel
(models/scoring/model.py). The part function touches no shared state; the driver writes each
part on (a Parquet row group or a block of CSV lines) and folds its counts into the Tally, so
memory stays bounded however large the input. Bad rows stop the run, naming row and field, or
go aside with `_row` and `_errors`.

Heavy (pyarrow, and pandas for parts that need checks): stage.py imports it only to run.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlflow_cli.core.config import Config, SourceConfig
from mlflow_cli.core.errors import DataError, did_you_mean
from mlflow_cli.core.stage import ProgressFactory
from mlflow_cli.core.store import Artifact
from mlflow_cli.data.sources import source_label, total_bytes
from mlflow_cli.models.scoring.bundle import arrow_array
from mlflow_cli.models.scoring.model import PREDICTION, PROBA_PREFIX, ScoringModel
from mlflow_cli.models.train_info import TrainInfo

ROW_COLUMN, ERRORS_COLUMN = "_row", "_errors"
PREVIEW_ROWS = 5


class Scorer:
    """The train version's ScoringModel with the Arrow types of the columns scoring adds: a chunk
    of plain numbers is scored from the scoring bundle without pandas, any other from a frame."""

    def __init__(self, train: Artifact, schema: dict[str, Any], unseen: str) -> None:
        import pyarrow as pa

        self.schema, self.ref, self.unseen = schema, train.ref, unseen
        self.model = ScoringModel.load(train, schema, TrainInfo.of(train.manifest).task)
        self.model.require_predict("cannot score a batch", hint="Score with a model whose estimator has a "
                                   "predict method (for clustering: kmeans or gaussian_mixture).")
        prediction = self.model.prediction
        fields = []
        if prediction == "label":
            classes = self.model.classes
            fields.append(pa.field(PREDICTION, arrow_array(classes).type))
            if self.model.has_proba:
                fields += [pa.field(f"{PROBA_PREFIX}{c}", pa.float64()) for c in classes]
        else:
            fields.append(pa.field(PREDICTION, pa.int64() if prediction == "cluster" else pa.float64()))
        self.fields = fields

    @property
    def added(self) -> list[str]:
        return [f.name for f in self.fields]

    def score(self, frame: Any) -> list[Any]:
        """Arrow arrays of the added columns for a checked frame's rows, in `fields` order."""
        import pyarrow as pa

        if len(frame) == 0:
            return [pa.array([], type=f.type) for f in self.fields]
        return self._arrays(self.model.score(frame))

    def score_table(self, table: Any) -> list[Any] | None:
        """The same arrays straight from an Arrow chunk of plain numbers (the scoring bundle), or
        None when the chunk needs the full path (checks, issues, rejects)."""
        scores = self.model.score_table(table)
        return None if scores is None else self._arrays(scores)

    def _arrays(self, scores: Any) -> list[Any]:
        proba = scores.proba
        columns = [scores.predictions] + ([proba[:, i] for i in range(proba.shape[1])] if proba is not None else [])
        return [arrow_array(values).cast(f.type) for values, f in zip(columns, self.fields)]


@dataclass
class Tally:
    """What the run adds up, folded from each part's ScoredPart on the driver's side."""

    rows_in: int = 0
    scored: int = 0
    rejected: int = 0
    chunks: int = 0
    lean_chunks: int = 0  # chunks scored from the train version's scoring bundle
    columns: list[str] = field(default_factory=list)
    preview: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)


@dataclass
class ScoredPart:
    """One part's outcome, built from that part alone (engine/: no shared state is touched)."""

    scored: Any              # the rows that were scored, with the columns scoring adds
    rejected: Any            # the rows set aside, with _row and _errors (None without --rejects)
    input_schema: Any        # the part's columns, less those scoring replaces
    clash: list[str]         # input columns that scoring replaces
    rows_in: int
    size: float              # the part's share of the source, for progress
    rejected_rows: int
    from_bundle: bool
    preview: dict[str, Any] | None


class BatchJob:
    """One pass over the source: the engine reads it in parts, `score_part` scores each, and
    the driver writes the parts in order and keeps the tally."""

    def __init__(self, config: Config, source: SourceConfig, scorer: Scorer, rejects_kind: str | None,
                 progress: ProgressFactory) -> None:
        self.config, self.source, self.scorer, self.progress = config, source, scorer, progress
        self.rejects_kind = rejects_kind
        self.label = source_label(source)

    def run(self, out: Path, out_kind: str, rejects_out: Path | None) -> Tally:
        """Score everything, again from the start with a CSV column widened when a later block
        does not fit the type the first block suggested (data/readers.py: retyping)."""
        from mlflow_cli.data.readers import retyping

        tally, _ = retyping(lambda column_types: self._pass(out, out_kind, rejects_out, column_types))
        return tally

    def _pass(self, out: Path, out_kind: str, rejects_out: Path | None, column_types: dict[str, Any]) -> Tally:
        from mlflow_cli.engine import engine_for

        engine = engine_for(self.config.model.engine)
        tally = Tally()
        sink = engine.writer(out, out_kind)
        reject_sink = engine.writer(rejects_out, self.rejects_kind or "csv") if rejects_out is not None else None
        total = total_bytes(self.source)
        unit = "bytes" if total is not None else "items"
        settings = self.config.model
        try:
            with self.progress(f"Scoring {self.label}", total, unit=unit) as bar:
                parts = engine.read_parts(self.source, rows=settings.predict.chunk_rows,
                                          block_size=settings.ingest.block_size_mb << 20,
                                          whole_file_bytes=settings.ingest.stream_above_mb << 20,
                                          column_types=column_types)
                for result in engine.map_parts(self.score_part, parts):
                    self._fold(result, tally, sink, reject_sink)
                    bar.advance(result.size if unit == "bytes" else result.rows_in)
        finally:
            sink.close()
            if reject_sink is not None:
                reject_sink.close()
        if tally.rows_in == 0:
            raise DataError(f"{self.label} has no data rows to score.",
                            hint="Score a file (--input) or a data.source with at least one row.")
        return tally

    def score_part(self, part: Any) -> ScoredPart:
        """Check and score one part of the source; bad rows go aside, or stop the run."""
        import numpy as np

        scorer = self.scorer
        clash = [c for c in scorer.added if c in part.table.column_names]
        table = part.table.drop_columns(clash)
        input_schema = table.schema.remove_metadata()  # pandas metadata would describe the input
        numbers = np.arange(part.first_row, part.first_row + table.num_rows)
        rows_in = table.num_rows
        rejected = None
        arrays = scorer.score_table(table)  # plain numbers, with a scoring bundle: no pandas, no checks needed
        from_bundle = arrays is not None
        if arrays is None:
            table, frame, numbers, rejected = self._checked(table, numbers, part.first_row)
            arrays = scorer.score(frame)
        for name, array in zip(scorer.added, arrays):
            table = table.append_column(name, array)
        return ScoredPart(table, rejected, input_schema, clash, rows_in, part.size,
                           0 if rejected is None else rejected.num_rows, from_bundle,
                           _preview(table, numbers, scorer) if table.num_rows else None)

    def _fold(self, result: ScoredPart, tally: Tally, sink: Any, reject_sink: Any) -> None:
        """Write one part's rows and add its counts, in source order."""
        if tally.chunks == 0:
            self._open(result, tally, sink, reject_sink)
        tally.rows_in += result.rows_in
        tally.chunks += 1
        tally.lean_chunks += result.from_bundle
        sink.write(result.scored)
        tally.scored += result.scored.num_rows
        if result.rejected is not None and reject_sink is not None:
            reject_sink.write(result.rejected)
        tally.rejected += result.rejected_rows
        if tally.preview is None:
            tally.preview = result.preview

    def _checked(self, table: Any, numbers: Any, first_row: int) -> tuple[Any, Any, Any, Any]:
        """The part's rows that pass the schema's checks, as a table and a frame, with their row
        numbers, and the bad rows for the rejects file (or the run stops)."""
        import pyarrow as pa

        from mlflow_cli.data.validation.frame import validate_frame

        scorer = self.scorer
        # Dates as datetime64, not Python objects: validating and coercing them is then vectorised
        # (10x faster), and the model derives the same date parts either way.
        frame = table.to_pandas(date_as_object=False)
        checked = validate_frame(frame, scorer.schema, unseen=scorer.unseen, allow_extra=True)
        if checked.column_errors:
            raise self._missing_columns(frame.columns)
        rejected = None
        if checked.bad_rows.any():
            if self.rejects_kind is None:
                raise self._bad_rows(checked, first_row)
            bad = checked.bad_rows
            rejected = table.filter(pa.array(bad))
            rejected = rejected.append_column(ROW_COLUMN, pa.array(numbers[bad], pa.int64()))
            errors = _row_errors(frame[bad], scorer.schema, scorer.unseen)
            rejected = rejected.append_column(ERRORS_COLUMN, pa.array(errors, pa.string()))
            table, frame, numbers = table.filter(pa.array(~bad)), frame[~bad], numbers[~bad]
        return table, frame, numbers, rejected

    def _open(self, first: ScoredPart, tally: Tally, sink: Any, reject_sink: Any) -> None:
        """Open the writers with the output's schema (so an all-rejected input still gets a
        header), and warn when the input already holds columns that scoring adds."""
        import pyarrow as pa

        scorer = self.scorer
        if first.clash:
            tally.warnings.append(f"{self.label} already has column{'s' if len(first.clash) > 1 else ''} "
                                  f"{', '.join(first.clash)}; the output holds the new predictions instead.")
        schema = first.input_schema
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
