"""The work behind `mlw monitor`: read the current data in parts (a source or an ingest batch
through the engine, or the prediction log in chunks), fold them (current.py), score a sample
with the model, join labels, and judge (checks.py, health.py); then the report (report.py).

Heavy (pandas, scipy, the model): the stage module imports it only to run.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlflow_cli.core.config import Config
from mlflow_cli.core.errors import DataError
from mlflow_cli.core.store import Artifact
from mlflow_cli.data.coerce import time_values
from mlflow_cli.data.sources import source_files, source_label, total_bytes
from mlflow_cli.models.reference import Reference, target_values
from mlflow_cli.models.scoring.model import read_schema
from mlflow_cli.models.tasks import TASKS
from mlflow_cli.models.train_info import TrainInfo
from mlflow_cli.stages.monitor.checks import (data_drift, data_quality, drift_of, expected_confusion,
                                              gate_results, metrics_from_confusion, performance_drop)
from mlflow_cli.stages.monitor.current import (ColumnGroups, NumericValues, Tally, as_summary, column_groups, counts_of,
                                               part_facts)
from mlflow_cli.stages.monitor.health import Health
from mlflow_cli.stages.monitor.report import drift_figure, report_sections
from mlflow_cli.stages.monitor.stage import PART_BYTES
from mlflow_cli.stages.monitor.windows import NoRows, require_time_column

LOG_KEYS = ["request_id", "row"]


@dataclass
class Outcome:
    result: dict[str, Any]
    measures: dict[str, Any]
    log_files: list[dict[str, Any]] = field(default_factory=list)


class Monitoring:
    def __init__(self, config: Config, train: Artifact, prepare: Artifact, reference: Reference, task: str | None,
                 current: Any, evaluated: dict[str, Any] | None, progress: Any) -> None:
        self.config, self.cfg = config, config.model.monitor
        self.train, self.prepare, self.reference, self.current = train, prepare, reference, current
        self.task = TASKS.get(task or "")
        self.info = TrainInfo.of(train.manifest)
        self.evaluated = evaluated
        self.progress = progress
        self.schema = read_schema(prepare)
        self.target = (self.schema.get("target") or {}).get("name") or config.model.data.target
        self.categorical = self.task is None or self.task.prediction != "value"
        self.id_columns = list(self.schema.get("id_columns") or config.model.data.id_columns)
        self.warnings: list[str] = []
        self.notes: list[str] = []
        # filled from the log (its own predictions and probabilities) or by scoring the sample
        self.predictions: NumericValues | Counter | None = None
        self.confusion: np.ndarray | None = None
        self.scored_rows = 0
        self.labelled: list[pd.DataFrame] = []  # y_true, y_pred and proba_* of rows with labels
        self.join: dict[str, Any] | None = None   # how monitor.labels joined: keys, label rows, rows joined
        self.health: Health | None = None
        self.drift_png: bytes | None = None       # the report's figure of the changed columns

    # ----------------------------------------------------------------- the run

    def run(self, scorer: Any) -> Outcome:
        """`scorer` (models/scoring/background.py) scores a sample of the current rows; None for a log,
        which holds the served model's own predictions."""
        health = self.health = None
        log_files: list[dict[str, Any]] = []
        if scorer is None:
            tally = Tally(self.schema, self.cfg.score_rows)
            health, log_files = self._read_log(tally)
            self.health = health
        else:
            tally = self._read_parts()
        if tally.rows == 0:
            raise NoRows(self._empty_message(log_files),
                            hint="Point monitor at data with rows (for --log: widen --since/--until, or check that "
                                 "`mlw serve` has answered requests).")
        current = {name: as_summary(acc) for name, acc in tally.values.items()}
        if not current:
            raise DataError(f"{self.current.label} holds none of the columns {self.train.ref} takes "
                            f"({', '.join(list(self.schema['columns'])[:8])}...), so nothing can be compared.",
                            hint="Monitor data of the same table the model was trained on.")
        sample = None
        if scorer is not None:
            sample = self._sample(tally)
            if sample is not None:
                scorer.submit(sample[list(self.schema["columns"])])  # scored while drift is measured
        quality = data_quality(self.reference, self.schema, tally, target=self.target, id_columns=self.id_columns,
                               null_rate_increase=self.cfg.null_rate_increase)
        if quality["missing"]:
            self.warnings.append(f"{self.current.label} lacks {len(quality['missing'])} column(s) the model takes: "
                                 f"{', '.join(quality['missing'])}; they are reported, not compared.")
        drift = data_drift(self.reference, current, self.cfg.drift)
        self.drift_png = drift_figure(drift, self.reference, current)  # drawn while the model scores
        if sample is not None:
            self._score_sample(tally, sample, scorer)
        target = None
        if self.reference.target is not None and tally.target is not None:
            target = drift_of(self.reference.target[1], as_summary(tally.target), self.cfg.drift.p_value,
                              self.cfg.drift)
        prediction = None
        if self.reference.prediction is not None and self.predictions is not None:
            prediction = drift_of(self.reference.prediction, as_summary(self.predictions), self.cfg.drift.p_value,
                                  self.cfg.drift)
        performance = self._performance()
        result: dict[str, Any] = {
            "rows": tally.rows, "reference_rows": self.reference.rows, "drift": drift, "target_drift": target,
            "prediction_drift": prediction, "quality": quality, "performance": performance,
            "health": health.result() if health is not None else None, "scored_rows": self.scored_rows,
            "notes": self.notes,
        }
        measures = self._measures(result)
        result["gates"] = gate_results(self.cfg.gates, measures)
        result["verdict"] = "drift" if drift["dataset_drift"] else "no drift"
        result["warnings"] = self.warnings
        return Outcome(result, measures, log_files)

    def _empty_message(self, log_files: list[dict[str, Any]]) -> str:
        if self.current.kind != "log":
            return f"{self.current.label} has no data rows."
        if not log_files:
            return f"The prediction log ({self.current.folder}) has no files in this window."
        return f"The {self.current.label} has no predicted rows."

    # ----------------------------------------------------------------- reading

    def _read_parts(self) -> Tally:
        """The source's or batch's rows folded, in one pass, or one per group of columns (a
        Parquet file of large row groups: current.column_groups)."""
        from mlflow_cli.engine import engine_for

        engine = engine_for(self.config.model.engine)
        source = self.current.readable()
        size = total_bytes(source) if source.type != "sql" else None
        grouping = self._column_groups(source)
        groups = grouping.groups if grouping is not None else [None]
        passes = []
        with self.progress(f"Reading {self.current.label}", size, unit="bytes") as bar:
            facts = PartFacts(self, self.current)  # one part alone (the engine's rule), sent to workers

            def advance(amount: float) -> None:
                bar.advance(amount / len(groups))

            for columns in groups:
                tally = Tally(self.schema, self.cfg.score_rows)
                for found in engine.map_parts(facts, self.current.parts(advance, columns)):
                    tally.add(found)
                passes.append(tally)
        if grouping is None:
            return passes[0]
        return Tally.side_by_side(passes, grouping.names)

    def _column_groups(self, source: Any) -> ColumnGroups | None:
        import glob

        if source.type != "parquet" or glob.has_magic(source.path or ""):
            return None
        wanted = [c for c in dict.fromkeys(list(self.schema["columns"]) + [self.target]) if c]
        shared = [self.current.time_column] if self.current.time_column else []
        try:
            return column_groups(str(source_files(source)[0]), wanted, self.id_columns, shared)
        except (OSError, ValueError):  # not a Parquet file: reading it says so
            return None

    def _read_log(self, tally: Tally) -> tuple[Health, list[dict[str, Any]]]:
        from mlflow_cli.data.prediction_log import LogScan, log_files, read_log

        health = Health()
        scan = LogScan()
        labels = self._labels_frame()
        classes = [str(c) for c in (self.info.classes or [])]
        size = sum(p.stat().st_size for p in log_files(self.current.folder)) or None
        first = 1
        with self.progress("Reading the prediction log", size, unit="bytes") as bar:
            for chunk in read_log(self.current.folder, since=self.current.since, until=self.current.until,
                                  model_version=self.current.model_version, scan=scan, advance=bar.advance):
                health.add(chunk.rows, chunk.refused)
                if not chunk.rows:
                    continue
                inputs = pd.DataFrame.from_records([r.get("inputs") or {} for r in chunk.rows])
                tally.add(PartFacts(self, self.current).of(inputs, first, sample=False))
                first += len(chunk.rows)
                predicted = [r.get("prediction") for r in chunk.rows]
                self._add_predictions(predicted)
                proba = self._log_proba(chunk.rows, classes)
                if proba is not None:
                    self._add_confusion(proba, predicted, classes)
                if labels is not None:
                    self._join_log_labels(labels, chunk.rows, inputs, predicted, proba, classes)
        if scan.skipped_lines:
            self.notes.append(f"{scan.skipped_lines:,} log line(s) were not complete JSON objects and were passed "
                              f"over.")
        return health, scan.files

    def _add_predictions(self, predicted: list[Any]) -> None:
        values = target_values(pd.Series(predicted, dtype=object), self.categorical)
        if self.predictions is None:
            self.predictions = Counter() if self.categorical else NumericValues()
        if isinstance(self.predictions, Counter):
            self.predictions.update(counts_of(values))
        else:
            self.predictions.add(values)
        self.scored_rows += len(predicted)

    @staticmethod
    def _log_proba(rows: list[dict[str, Any]], classes: list[str]) -> np.ndarray | None:
        if not classes or not all(isinstance(r.get("probabilities"), dict) for r in rows):
            return None
        return np.array([[r["probabilities"].get(c, 0.0) or 0.0 for c in classes] for r in rows], dtype=float)

    def _add_confusion(self, proba: np.ndarray, predicted: list[Any], classes: list[str]) -> None:
        index = {c: i for i, c in enumerate(classes)}
        at = np.array([index.get(str(p), -1) for p in predicted])
        matrix = expected_confusion(proba[at >= 0], at[at >= 0])
        self.confusion = matrix if self.confusion is None else self.confusion + matrix

    # ----------------------------------------------------------------- scoring and labels

    def _sample(self, tally: Tally) -> pd.DataFrame | None:
        """The rows to score, or None (none; or they lack a column the model takes, noted)."""
        sample = tally.sampled()
        if sample is None or not len(sample):
            return None
        missing = [c for c in self.schema["columns"] if c not in sample.columns]
        if missing:
            self.notes.append(f"The model was not run on the current rows: they lack {', '.join(missing)}; "
                              f"prediction drift and performance are left out.")
            return None
        return sample

    def _score_sample(self, tally: Tally, sample: pd.DataFrame, scorer: Any) -> None:
        from mlflow_cli.models.scoring.background import ScoringFailed

        try:
            scores = scorer.result()
        except ScoringFailed as exc:  # the data quality section says what is wrong with these rows
            self.notes.append(f"The model could not score the current rows ({exc}); prediction drift and "
                              f"performance are left out.")
            return
        if scores is None:  # a model that cannot predict new rows
            return
        if len(sample) < tally.rows:
            self.notes.append(f"Predictions and performance are measured on a uniform sample of {len(sample):,} of "
                              f"the {tally.rows:,} rows (monitor.score_rows).")
        predicted = list(scores.predictions)
        self._add_predictions(predicted)
        classes = scores.classes
        if scores.proba is not None and classes:
            self._add_confusion(scores.proba, predicted, classes)
        frame = pd.DataFrame({"y_pred": scores.predictions}, index=sample.index)
        if scores.proba is not None:
            for i, c in enumerate(classes):
                frame[f"proba_{c}"] = np.asarray(scores.proba)[:, i]
        labels = self._labels_frame()
        if labels is not None:
            keys = [c for c in self.id_columns if c in sample.columns]
            if not keys or len(keys) < len(self.id_columns):
                self.warnings.append("monitor.labels cannot be joined: the current data lacks the id columns "
                                     f"({', '.join(self.id_columns) or 'data.id_columns is empty'}).")
                return
            joined = sample[keys].join(frame).merge(labels, on=keys, how="inner")
            self._joined(joined.rename(columns={self.target: "y_true"}), len(labels), keys)
        elif self.target in sample.columns:
            frame["y_true"] = sample[self.target]
            self.labelled.append(frame[frame["y_true"].notna()])

    def _labels_frame(self) -> pd.DataFrame | None:
        """monitor.labels, read whole: the keys and the target (true outcomes are small)."""
        source = self.cfg.labels
        if source is None or self.task is None or not self.task.supervised:
            return None
        from mlflow_cli.engine import engine_named

        frame = engine_named("local").read_frame(source, PART_BYTES)
        if self.target not in frame.columns:
            raise DataError(f"monitor.labels ({source_label(source)}) has no column '{self.target}' (the target).",
                            hint="Give the labels file the target column and the keys: "
                                 f"{', '.join(self.id_columns or LOG_KEYS)}.")
        keys = self._label_keys(frame)
        return frame[keys + [self.target]].drop_duplicates(subset=keys, keep="last")

    def _label_keys(self, frame: pd.DataFrame) -> list[str]:
        if self.current.kind == "log" and all(k in frame.columns for k in LOG_KEYS):
            return list(LOG_KEYS)
        if self.id_columns and all(k in frame.columns for k in self.id_columns):
            return list(self.id_columns)
        wanted = " or ".join(", ".join(k) for k in ([LOG_KEYS] if self.current.kind == "log" else []) +
                             ([self.id_columns] if self.id_columns else []))
        raise DataError(f"monitor.labels ({source_label(self.cfg.labels)}) has no key to join the predictions on: "
                        f"it needs {wanted or 'data.id_columns'}.",
                        hint="Add the id columns (data.id_columns) to the labels, or for the prediction log "
                             "request_id and row.")

    def _join_log_labels(self, labels: pd.DataFrame, rows: list[dict[str, Any]], inputs: pd.DataFrame,
                         predicted: list[Any], proba: np.ndarray | None, classes: list[str]) -> None:
        keys = [c for c in labels.columns if c != self.target]
        if keys == LOG_KEYS:
            frame = pd.DataFrame({"request_id": [r.get("request_id") for r in rows], "row": [r.get("row") for r in rows]})
        else:
            frame = inputs[keys].copy() if all(k in inputs.columns for k in keys) else None
        if frame is None:
            return
        frame["y_pred"] = predicted
        if proba is not None:
            for i, c in enumerate(classes):
                frame[f"proba_{c}"] = proba[:, i]
        self._joined(frame.merge(labels, on=keys, how="inner").rename(columns={self.target: "y_true"}),
                     len(labels), keys)

    def _joined(self, joined: pd.DataFrame, label_rows: int, keys: list[str]) -> None:
        """Rows of predictions joined to their labels (called per chunk of the log: the counts add up)."""
        self.labelled.append(joined[joined["y_true"].notna()])
        before = self.join["joined"] if self.join else 0
        self.join = {"keys": keys, "label_rows": label_rows, "joined": before + len(joined)}

    # ----------------------------------------------------------------- judging

    def _performance(self) -> dict[str, Any] | None:
        if self.task is None or not self.task.supervised:
            return None
        out: dict[str, Any] = {"labelled_rows": 0, "metrics": None, "estimated": None, "join": self.join}
        join = out["join"]
        if join is not None and join["joined"] == 0:
            self.warnings.append(f"No label joined a prediction: 0 of {join['label_rows']:,} rows of monitor.labels "
                                 f"matched on {', '.join(join['keys'])}. Check that the labels use the same ids.")
        rows = pd.concat(self.labelled, ignore_index=True) if self.labelled else None
        if rows is not None and len(rows):
            out["labelled_rows"] = len(rows)
            classes = [c[len("proba_"):] for c in rows.columns if c.startswith("proba_")]
            proba = rows[[f"proba_{c}" for c in classes]].to_numpy() if classes else None
            y_true, y_pred = rows["y_true"], rows["y_pred"]
            if self.categorical:
                y_true, y_pred = y_true.astype(str).to_numpy(), y_pred.astype(str).to_numpy()
            else:
                y_true = pd.to_numeric(y_true, errors="coerce").to_numpy(dtype=float)
                y_pred = pd.to_numeric(y_pred, errors="coerce").to_numpy(dtype=float)
            positive = self.info.positive
            metrics = self.task.score(y_true, y_pred, proba=proba, classes=classes or None,
                                      positive=None if positive is None else str(positive))
            out["metrics"] = performance_drop(metrics, self.evaluated, self.task.lower_is_better)
        if self.confusion is not None and self.task.labels:
            binary = len(self.info.classes or []) == 2
            at = [str(c) for c in self.info.classes].index(str(self.info.positive)) if binary else 1
            estimated = metrics_from_confusion(self.confusion, binary, at)
            out["estimated"] = performance_drop(estimated, self.evaluated, self.task.lower_is_better)
            out["estimated_rows"] = int(round(self.confusion.sum()))
        return out

    def _measures(self, result: dict[str, Any]) -> dict[str, Any]:
        """The flat numbers of metrics.json, which monitor.gates read."""
        drift, quality = result["drift"], result["quality"]
        measures: dict[str, Any] = {
            "rows": result["rows"], "drift_share": drift["drift_share"],
            "weighted_drift_share": drift["weighted_drift_share"], "drifted_columns": len(drift["drifted"]),
            "prediction_drift": _drift_flag(result["prediction_drift"]), "target_drift": _drift_flag(result["target_drift"]),
        }
        for name in ("missing_columns", "extra_columns", "unreadable_values", "new_category_rows",
                     "out_of_range_share", "null_rate_increases", "constant_columns", "duplicate_ids"):
            measures[name] = quality[name]
        performance = result["performance"] or {}
        for name, row in ((performance.get("metrics") or {}).items()):
            measures[name] = row["current"]
        for name, row in ((performance.get("estimated") or {}).items()):
            measures[f"estimated_{name}"] = row["current"]
        health = result["health"]
        if health is not None:
            for name in ("requests", "error_rate", "latency_p50_ms", "latency_p95_ms", "latency_p99_ms",
                         "rows_per_request"):
                measures[name] = health[name]
        return measures

    def write_report(self, out_dir: Path, result: dict[str, Any], title: str) -> None:
        from mlflow_cli.reports.html import write_report

        write_report(out_dir / "report.html", title=title,
                     sections=report_sections(result, self.reference, self.drift_png,
                                              None if self.predictions is None else as_summary(self.predictions),
                                              None if self.health is None else self.health.latency.result(), out_dir))


def _drift_flag(entry: dict[str, Any] | None) -> int | None:
    """1 when a drift verdict says drift, 0 when not, None when it was not measured."""
    return None if entry is None else int(entry["verdict"] == "drift")


class PartFacts:
    """What a part of the current data says (current.py: part_facts), for the rows in the run's
    time window: the function the engine maps over the parts. It holds plain values only, so a
    Dask engine can send it to its workers."""

    def __init__(self, run: Any, current: Any) -> None:
        self.schema, self.target, self.categorical = run.schema, run.target, run.categorical
        self.id_columns, self.seed = run.id_columns, run.cfg.seed
        columns = list(self.schema["columns"]) + [self.target] + self.id_columns
        self.sample_columns = [c for c in dict.fromkeys(columns) if c]
        self.time_column, self.since, self.until = current.time_column, current.since, current.until
        self.label = current.label

    def __call__(self, part: Any) -> Any:
        return self.of(self.in_window(part.table.to_pandas()), part.first_row, sample=True)

    def of(self, frame: pd.DataFrame, first_row: int, sample: bool) -> Any:
        """The facts of these rows; `sample`: also draw from them the rows the model scores."""
        return part_facts(frame, self.schema, target=self.target, categorical_target=self.categorical,
                          id_columns=self.id_columns, sample_columns=self.sample_columns if sample else [],
                          seed=self.seed, first_row=first_row)

    def in_window(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The rows whose time column lies in [since, until) (a --window run over a source), else all."""
        if self.time_column is None:
            return frame
        stamps = time_values(require_time_column(frame, self.time_column, self.label))
        keep = stamps.notna()
        if self.since is not None:
            keep &= stamps >= self.since
        if self.until is not None:
            keep &= stamps < self.until
        return frame[keep.to_numpy()]
