"""The work behind `mlw prepare`: cleaning, type decisions, splitting, and fitting the
preprocessing pipeline on the training split only. Heavy (pandas, scikit-learn): the stage
module imports it only when it has to run."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from mlflow_cli.core.config import Config
from mlflow_cli.core.errors import ConfigError, DataError, missing_column_error
from mlflow_cli.models.tasks import task_named
from mlflow_cli.data.tokens import BOOLEAN_TOKENS, NA_TOKENS
from mlflow_cli.data.coerce import coerce_column
from mlflow_cli.models.features import FeaturePlan, build_preprocessor, effective_options
from mlflow_cli.core.store import Artifact

MAX_SCHEMA_CATEGORIES = 1000
_ISO_DATE = r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$"


class Preparation:
    """The prepare stage's working state: one frame, cleaned in place, then split."""

    def __init__(self, config: Config, frame: pd.DataFrame, ingest_schema: dict[str, Any]) -> None:
        self.config = config
        self.data = config.model.data
        self.options = config.model.prepare
        self.frame = frame
        self.ingest_schema = ingest_schema
        self.rows_in = len(frame)
        self.dropped: dict[str, int] = {}
        self.coerced: dict[str, str] = {}
        self.warnings: list[str] = []
        self.plan = FeaturePlan()
        self.splits: dict[str, np.ndarray] = {}
        self.task = "clustering"
        self.split_method = "random"

    # ----------------------------------------------------------------- cleaning

    def clean(self) -> None:
        columns = list(self.frame.columns)
        for column in self.options.drop_columns:
            if column not in columns:
                raise missing_column_error(self.config.where("prepare", "drop_columns"), column, columns)
        self.frame = self.frame.drop(columns=self.options.drop_columns)
        target = self.data.target
        self.config.check_data_columns(self.frame.columns)
        for column in self.options.columns:
            if column not in self.frame.columns:
                raise missing_column_error(self.config.where("prepare", "columns", column), column, self.frame.columns)
        group = self.options.split.group_column
        if group and group not in self.frame.columns:
            raise missing_column_error(self.config.where("prepare", "split", "group_column"), group, self.frame.columns)
        if target and self.frame[target].isna().all():
            raise DataError(f"The target column '{target}' is empty in all {len(self.frame):,} rows.",
                            hint="Check data.target names the column holding the labels, and that the source "
                                 "has them filled in.")
        if self.options.drop_duplicates:
            self._drop(self.frame.duplicated(keep="first").to_numpy(), "duplicate_rows")
        if target:
            self._drop(self.frame[target].isna().to_numpy(), "missing_target")
        if self.data.time_column:
            self.frame[self.data.time_column] = coerce_column(self.frame[self.data.time_column], "datetime") \
                if not pd.api.types.is_numeric_dtype(self.frame[self.data.time_column]) \
                else self.frame[self.data.time_column]
            self._drop(self.frame[self.data.time_column].isna().to_numpy(), "missing_time")
        self._window()
        if self.frame.empty:
            raise DataError("No rows are left after cleaning.",
                            hint=f"Dropped: {self.dropped}. Check the source and data.target.")
        self.task = self._resolve_task()

    def _window(self) -> None:
        self._drop(outside_window(self.frame, self.options.window, self.data.time_column), "outside_window")

    def _drop(self, mask: np.ndarray, reason: str) -> None:
        count = int(mask.sum())
        if count:
            self.frame = self.frame.loc[~mask].reset_index(drop=True)
            self.dropped[reason] = self.dropped.get(reason, 0) + count

    def _resolve_task(self) -> str:
        target = self.data.target
        task = self.config.model.train.task
        if target is None:
            if task not in ("auto", "clustering"):
                raise ConfigError(f"train.task is '{task}', which needs a target, but data.target is not set.",
                                  hint="Set data.target to the column to predict, or use task: clustering.")
            return "clustering"
        if task == "clustering":
            return task
        values = self.frame[target]
        numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
        if task == "regression" or (task == "auto" and numeric and not _few_integers(values)):
            if not numeric:
                converted = pd.to_numeric(values, errors="coerce")
                bad = values[converted.isna()]
                if len(bad):
                    raise DataError(f"train.task is regression, but the target '{target}' is not numeric "
                                    f"(e.g. {bad.iloc[0]!r} in row {bad.index[0] + 1}).",
                                    hint="Use task: classification for labels, or clean the target column.")
                self.frame[target] = converted
            return "regression"
        classes = values.nunique()
        if classes < 2:
            raise DataError(f"The target '{target}' has a single class ({values.iloc[0]!r}) in all "
                            f"{len(values):,} rows, so there is nothing to learn.",
                            hint="Check data.target, or ingest data that contains other outcomes.")
        return "classification"

    # ----------------------------------------------------------------- features

    def plan_features(self) -> None:
        excluded = {self.data.target, *self.data.id_columns}
        for column in self.frame.columns:
            if column in excluded:
                continue
            rule = self.options.columns.get(column)
            kind = rule.type if rule and rule.type else self._infer_kind(column)
            if kind == "drop":
                continue
            if self.frame[column].isna().all():
                self.warnings.append(f"column '{column}' is empty in every row; it is not used as a feature")
                continue
            options = effective_options(column, kind, self.options)
            if kind == "categorical":
                options = self._resolve_encoding(column, options)
            self.plan.kinds[column] = kind
            self.plan.options[column] = options
            if options.get("impute") == "drop":
                self._drop(self.frame[column].isna().to_numpy() | coerce_column(self.frame[column], kind).isna()
                           .to_numpy(), f"missing_{column}")
        if not self.plan.kinds:
            raise DataError("No feature columns are left (every column is the target, an id, dropped or empty).",
                            hint="Check data.id_columns and prepare.drop_columns.")

    def _infer_kind(self, column: str) -> str:
        """The ingest schema's kind, upgraded when a string column really holds numbers, booleans or dates."""
        values = self.frame[column]
        kind = self.ingest_schema.get(column, {}).get("kind")
        if kind is None:
            kind = "numeric" if pd.api.types.is_numeric_dtype(values) else "categorical"
        if kind in ("categorical", "text") and self.options.coerce_types:
            coerced = _coercible_kind(values)
            if coerced:
                self.coerced[column] = f"text -> {coerced}"
                return coerced
        return kind

    def _resolve_encoding(self, column: str, options: dict[str, Any]) -> dict[str, Any]:
        if options["encode"] != "auto":
            return options
        distinct = self.frame[column].nunique()
        if distinct <= options["max_onehot"]:
            return {**options, "encode": "onehot"}
        if task_named(self.task).supervised:
            return {**options, "encode": "target"}
        return {**options, "encode": "onehot", "max_categories": options["max_onehot"]}

    # ----------------------------------------------------------------- split

    def split(self) -> None:
        settings = self.options.split
        method = settings.method
        if method == "auto":
            if settings.stratify is not None:
                method = "stratified" if settings.stratify else "random"
            elif self.data.time_column:
                method = "time"
            elif settings.group_column:
                method = "group"
            else:
                method = task_named(self.task).default_split
        if method == "stratified" and not task_named(self.task).labels:
            raise ConfigError(f"prepare.split.method 'stratified' needs a classification target; this is {self.task}.",
                              hint="Use method: random (or auto).")
        if method == "time" and not self.data.time_column:
            raise ConfigError("prepare.split.method 'time' needs data.time_column.",
                              hint="Set data.time_column to the column that orders rows in time.")
        self.split_method = method
        n = len(self.frame)
        test_n, valid_n = int(round(n * settings.test_size)), int(round(n * settings.valid_size))
        if n - test_n - valid_n < 2 or test_n < 1:
            raise DataError(f"Only {n} rows are left after cleaning: too few to split into train and test.",
                            hint="Ingest more data, or lower prepare.split.test_size.")
        order = np.arange(n)
        if method == "time":
            order = np.argsort(self.frame[self.data.time_column].to_numpy(), kind="stable")
            train, valid, test = order[:n - test_n - valid_n], order[n - test_n - valid_n:n - test_n], order[n - test_n:]
        elif method == "group":
            train, valid, test = self._group_split(test_n, valid_n)
        else:
            train, valid, test = self._shuffle_split(order, test_n, valid_n, stratified=method == "stratified")
        self.splits = {"train": np.sort(train), "test": np.sort(test)}
        if valid_n:
            self.splits["valid"] = np.sort(valid)

    def _shuffle_split(self, order: np.ndarray, test_n: int, valid_n: int,
                       stratified: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        from sklearn.model_selection import train_test_split

        seed = self.options.split.seed
        labels = self.frame[self.data.target].astype(str).to_numpy() if stratified else None
        if stratified:
            counts = pd.Series(labels).value_counts()
            if counts.min() < 2:
                rare = counts[counts < 2].index.tolist()
                raise DataError(f"Class {rare[0]!r} of '{self.data.target}' has only 1 row; a stratified split "
                                f"needs at least 2 rows per class.",
                                hint="Remove or merge the rare class, or --set prepare.split.method=random.")
        rest, test = train_test_split(order, test_size=test_n, random_state=seed, stratify=labels)
        if not valid_n:
            return rest, np.array([], dtype=int), test
        train, valid = train_test_split(rest, test_size=valid_n, random_state=seed,
                                        stratify=labels[rest] if stratified else None)
        return train, valid, test

    def _group_split(self, test_n: int, valid_n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        from sklearn.model_selection import GroupShuffleSplit

        seed = self.options.split.seed
        groups = self.frame[self.options.split.group_column].astype(str).fillna("<missing>").to_numpy()
        n = len(groups)
        if len(set(groups)) < 2:
            raise DataError(f"prepare.split.group_column '{self.options.split.group_column}' has a single group; "
                            f"a group split needs at least 2.", hint="Pick a column with several groups.")
        splitter = GroupShuffleSplit(n_splits=1, test_size=test_n / n, random_state=seed)
        rest, test = next(splitter.split(np.zeros(n), groups=groups))
        if not valid_n:
            return rest, np.array([], dtype=int), test
        inner = GroupShuffleSplit(n_splits=1, test_size=valid_n / len(rest), random_state=seed)
        train_i, valid_i = next(inner.split(np.zeros(len(rest)), groups=groups[rest]))
        return rest[train_i], rest[valid_i], test

    # ----------------------------------------------------------------- fit

    def fit(self) -> Any:
        """Fit preprocessing on the training rows only: test rows never inform it."""
        train = self.frame.iloc[self.splits["train"]]
        y = train[self.data.target] if self.data.target else None
        supervised = task_named(self.task).supervised
        pipeline = build_preprocessor(self.plan, supervised, self.options.split.seed)
        try:
            pipeline.fit(train, y if supervised else None)
        except ValueError as exc:
            raise DataError(f"Fitting the preprocessing pipeline failed: {exc}",
                            hint="Check the per-column options in prepare (for text columns, a lower "
                                 "prepare.text.min_df helps on small data).") from None
        return pipeline

    # ----------------------------------------------------------------- outputs

    def schema(self) -> dict[str, Any]:
        """The contract for prediction: raw input columns, dtypes, kinds, categories, ranges, nullability."""
        train = self.frame.iloc[self.splits["train"]]
        columns = {}
        for column, kind in self.plan.kinds.items():
            values = train[column]
            entry: dict[str, Any] = {"dtype": str(values.dtype), "kind": kind, "nullable": bool(values.isna().any())}
            if kind == "categorical":
                distinct = coerce_column(pd.Series(values.dropna().unique(), dtype=object), kind)
                categories = sorted(set(distinct))
                entry["categories"] = categories if len(categories) <= MAX_SCHEMA_CATEGORIES else None
            elif kind in ("numeric", "datetime"):
                typed = coerce_column(values, kind)
                if typed.notna().any():
                    entry["min"], entry["max"] = _plain(typed.min()), _plain(typed.max())
            columns[column] = entry
        target: dict[str, Any] | None = None
        if self.data.target:
            target = {"name": self.data.target, "dtype": str(self.frame[self.data.target].dtype), "task": self.task}
            if task_named(self.task).labels:
                target["classes"] = sorted(map(str, self.frame[self.data.target].dropna().unique()))
        return {"columns": columns, "target": target, "id_columns": list(self.data.id_columns),
                "task": self.task}

    def summary(self, ingest: Artifact, pipeline: Any) -> dict[str, Any]:
        feature_kinds: dict[str, list[str]] = {}
        for column, kind in self.plan.kinds.items():
            feature_kinds.setdefault(kind, []).append(column)
        try:
            features_out = len(pipeline.get_feature_names_out())
        except (AttributeError, ValueError):
            features_out = None
        info: dict[str, Any] = {
            "source": ingest.ref, "task": self.task, "split_method": self.split_method,
            "rows_in": self.rows_in, "dropped": self.dropped, "rows_out": len(self.frame),
            "splits": {name: len(rows) for name, rows in self.splits.items()},
            "features_in": len(self.plan.kinds), "features_out": features_out,
            "feature_kinds": feature_kinds, "coerced": self.coerced,
        }
        if task_named(self.task).labels:
            target = self.frame[self.data.target].astype(str)
            info["class_balance"] = {name: {str(k): int(v) for k, v in target.iloc[rows].value_counts().items()}
                                     for name, rows in self.splits.items()}
        return info


def outside_window(frame: pd.DataFrame, window: str, time: str | None) -> np.ndarray:
    """prepare.window: which rows are older than the last N rows (in time order when time is set,
    else the snapshot's), or than the period before the newest time."""
    old = np.zeros(len(frame), dtype=bool)
    if window == "all" or frame.empty:
        return old
    if window.isdigit():
        keep = int(window)
        if keep >= len(frame):
            return old
        order = np.argsort(frame[time].to_numpy(), kind="stable") if time else np.arange(len(frame))
        old[order[:-keep]] = True
        return old
    if not time:
        raise ConfigError(f"prepare.window '{window}' is a period, which needs data.time_column to count it on.",
                          hint="Set data.time_column, or give the window as a number of rows (5000) or all.")
    from mlflow_cli.core.durations import duration

    stamps = frame[time]
    span = duration(window, "prepare.window")
    if pd.api.types.is_numeric_dtype(stamps) and not pd.api.types.is_datetime64_any_dtype(stamps):
        raise ConfigError(f"prepare.window '{window}' is a period, but data.time_column '{time}' holds numbers, "
                          f"not times.", hint="Give the window as a number of rows (5000), or all.")
    return (stamps <= stamps.max() - span).to_numpy()


def _few_integers(values: pd.Series, limit: int = 20) -> bool:
    """Integer-valued with few distinct values: labels, not a quantity."""
    sample = values.dropna()
    return bool(sample.nunique() <= limit and np.all(np.mod(sample.to_numpy(dtype=float), 1) == 0))


def _coercible_kind(values: pd.Series) -> str | None:
    """'numeric', 'boolean' or 'datetime' when every non-missing value parses as such."""
    present = values.dropna()
    if present.empty:
        return None
    distinct = pd.Series(pd.Series(present.unique()).astype(str).str.strip().unique())
    distinct = distinct[~distinct.str.lower().isin(NA_TOKENS)]
    if distinct.empty:
        return None
    lowered = set(distinct.str.lower())
    if len(lowered) <= 2 and lowered <= set(BOOLEAN_TOKENS):
        return "boolean"
    probe = distinct.head(1000)
    if pd.to_numeric(probe, errors="coerce").notna().all() and pd.to_numeric(distinct, errors="coerce").notna().all():
        return "numeric"
    if probe.str.match(_ISO_DATE).all() and distinct.str.match(_ISO_DATE).all():
        return "datetime"
    return None


def _plain(value: Any) -> Any:
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value
