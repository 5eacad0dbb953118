"""The schema of mlw.yaml: one pydantic model per section (extra keys forbidden), with the
defaults and descriptions `mlw config show` and `mlw config schema` print."""


from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


DEFAULT_CONFIG = "mlw.yaml"

FILE_TYPES = {
    ".csv": "csv", ".tsv": "tsv", ".txt": "csv", ".parquet": "parquet", ".pq": "parquet",
    ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl", ".xlsx": "excel", ".xls": "excel",
}


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True, coerce_numbers_to_str=True)

    @model_validator(mode="before")
    @classmethod
    def _empty_section(cls, data: Any) -> Any:
        """`prepare:` with every line below it commented out means 'all defaults'."""
        return {} if data is None else data


# --------------------------------------------------------------------------- data


class SourceConfig(_Section):
    """Where the data comes from: a file, a glob of files, or a SQL database."""

    type: Literal["auto", "csv", "tsv", "parquet", "json", "jsonl", "excel", "sql"] = Field(
        "auto", description="Reader to use; 'auto' picks it from the file extension, or 'sql' when url is set.")
    path: str | None = Field(None, description="File path or glob (data/*.csv), relative to the config file.")
    url: str | None = Field(None, description="SQLAlchemy URL for SQL sources, e.g. postgresql://u:${PGPASSWORD}@host/db.")
    table: str | None = Field(None, description="SQL table to read (or use query).")
    query: str | None = Field(None, description="SQL query to read (or use table).")
    delimiter: str | None = Field(None, description="Field delimiter for csv/tsv; default ',' or tab.")
    encoding: str = Field("utf-8", description="Text encoding of csv/tsv/json files.")
    sheet: str | int = Field(0, description="Excel sheet name or index.")

    @model_validator(mode="after")
    def _check_shape(self) -> SourceConfig:
        if self.type == "sql" or (self.type == "auto" and self.url):
            if not self.url:
                raise ValueError("a sql source needs 'url' (a SQLAlchemy URL)")
            if bool(self.table) == bool(self.query):
                raise ValueError("a sql source needs exactly one of 'table' or 'query'")
            if self.path:
                raise ValueError("a sql source takes 'url', not 'path'")
            self.type = "sql"
            return self
        if not self.path:
            raise ValueError("a file source needs 'path' (a file or a glob such as data/*.csv)")
        if self.type == "auto":
            suffix = Path(self.path).suffix.lower()
            if suffix not in FILE_TYPES:
                raise ValueError(
                    f"cannot tell the file type of '{self.path}' from its extension; "
                    f"set type to one of csv, tsv, parquet, json, jsonl, excel")
            self.type = FILE_TYPES[suffix]
        return self


class DataConfig(_Section):
    """Shared by every stage: the source and the roles of its columns."""

    source: SourceConfig
    target: str | None = Field(None, description="Column to predict; omit for clustering.")
    id_columns: list[str] = Field(default_factory=list,
                                  description="Row identifiers: never features; used to de-duplicate appended batches.")
    time_column: str | None = Field(None, description="When set, splits are time-ordered on this column.")
    positive_class: str | int | float | bool | None = Field(
        None, description="Binary classification: the class precision, recall, f1 and the PR curve are of "
                          "(default: the minority class of the training rows).")
    user_column: str | None = Field(None, description="Recommendation: the column naming who interacted.")
    item_column: str | None = Field(None, description="Recommendation: the column naming the item interacted with.")
    rating_column: str | None = Field(None, description="Recommendation: explicit ratings; without it every row is "
                                                        "an implicit interaction (a view, a purchase).")
    rating_scale: list[float] | None = Field(None, min_length=2, max_length=2,
                                             description="Recommendation: [lowest, highest] rating; ratings outside "
                                                         "are dropped (and counted) by prepare.")
    items: SourceConfig | None = Field(None, description="Recommendation: item metadata (the item column, a title, "
                                                         "genres...) shown beside recommendations.")

    @model_validator(mode="after")
    def _check_roles(self) -> DataConfig:
        if self.target and self.target in self.id_columns:
            raise ValueError(f"column '{self.target}' cannot be both the target and an id column")
        if bool(self.user_column) != bool(self.item_column):
            raise ValueError("recommendation needs both user_column and item_column")
        if not self.user_column and (self.rating_column or self.items or self.rating_scale):
            raise ValueError("rating_column, rating_scale and items are for recommendation: set user_column and "
                             "item_column too")
        if self.user_column and self.target:
            raise ValueError("a recommendation config has no target: the rating is data.rating_column")
        if self.rating_scale and self.rating_scale[0] >= self.rating_scale[1]:
            raise ValueError(f"rating_scale must be [lowest, highest]; got {self.rating_scale}")
        return self

    @property
    def interactions(self) -> bool:
        """Rows are (user, item[, rating]) interactions: the recommendation task."""
        return self.user_column is not None


# --------------------------------------------------------------------------- ingest


class IngestConfig(_Section):
    """How a snapshot is taken and stored."""

    mode: Literal["snapshot", "append"] = Field(
        "snapshot", description="snapshot: replace; append: add the new batch to the previous snapshot, "
                                "de-duplicating on data.id_columns (newest row wins).")
    block_size_mb: int = Field(16, ge=1, le=1024, description="Read large files in blocks of this size.")
    stream_above_mb: int = Field(1024, ge=0, description="CSV files larger than this are streamed block by block "
                                                         "(flat memory); smaller ones are read whole, on all cores.")
    max_categories: int = Field(50, ge=1, description="A string column with at most this many distinct values is categorical.")


# --------------------------------------------------------------------------- prepare

ImputeStrategy = Literal["drop", "mean", "median", "most_frequent", "constant", "none"]
ScaleMethod = Literal["standard", "minmax", "robust", "none"]
EncodeMethod = Literal["auto", "onehot", "ordinal", "target"]
DateComponent = Literal["year", "month", "day", "dayofweek", "dayofyear", "quarter", "hour", "minute"]
ColumnKind = Literal["numeric", "boolean", "categorical", "text", "datetime"]


class SplitConfig(_Section):
    """How rows are split into train / (validation) / test."""

    method: Literal["auto", "random", "stratified", "time", "group", "user_time"] = Field(
        "auto", description="auto: time when data.time_column is set, group when group_column is set, "
                            "stratified for classification, else random; for recommendation user_time (each "
                            "user's last interactions) with a time column, else random.")
    test_size: float = Field(0.2, gt=0, lt=1)
    valid_size: float = Field(0.0, ge=0, lt=1, description="Share of rows held out for validation (early stopping).")
    seed: int = 42
    stratify: bool | None = Field(None, description="Shorthand: true = stratified, false = random.")
    group_column: str | None = Field(None, description="Rows sharing this value stay in the same split.")
    last_n: int | None = Field(None, ge=1, description="user_time: each user's last N interactions are the test "
                                                       "split (instead of their last test_size share).")

    @model_validator(mode="after")
    def _check_sizes(self) -> SplitConfig:
        if self.test_size + self.valid_size >= 1:
            raise ValueError(f"test_size + valid_size must be below 1; got {self.test_size} + {self.valid_size}")
        if self.method == "group" and not self.group_column:
            raise ValueError("method 'group' needs group_column")
        return self


class NumericRule(_Section):
    impute: ImputeStrategy = "median"
    fill_value: float | None = Field(None, description="Value for impute: constant.")
    missing_indicator: bool = False
    scale: ScaleMethod = "standard"


class CategoricalRule(_Section):
    impute: ImputeStrategy = "constant"
    fill_value: str = "missing"
    missing_indicator: bool = False
    encode: EncodeMethod = Field("auto", description="auto: one-hot up to max_onehot categories, target encoding above.")
    min_frequency: float = Field(0.01, ge=0, lt=1, description="One-hot groups categories rarer than this share.")
    max_onehot: int = Field(30, ge=2)


class TextRule(_Section):
    max_features: int = Field(5000, ge=1)
    ngram_max: int = Field(1, ge=1, le=3, description="Use word n-grams up to this length.")
    min_df: int = Field(2, ge=1)


class DatetimeRule(_Section):
    components: list[DateComponent] = Field(default_factory=lambda: ["year", "month", "day", "dayofweek"])
    impute: ImputeStrategy = "median"


class ColumnRule(_Section):
    """Per-column override; options apply to the column's kind."""

    type: Literal["numeric", "boolean", "categorical", "text", "datetime", "drop"] | None = None
    impute: ImputeStrategy | None = None
    fill_value: Any = None
    missing_indicator: bool | None = None
    scale: ScaleMethod | None = None
    encode: EncodeMethod | None = None
    min_frequency: float | None = Field(None, ge=0, lt=1)
    max_onehot: int | None = Field(None, ge=2)
    max_features: int | None = Field(None, ge=1)
    ngram_max: int | None = Field(None, ge=1, le=3)
    min_df: int | None = Field(None, ge=1)
    components: list[DateComponent] | None = None


class PrepareConfig(_Section):
    """Cleaning, splitting and the preprocessing pipeline."""

    split: SplitConfig = Field(default_factory=SplitConfig)
    drop_duplicates: bool = True
    coerce_types: bool = Field(True, description="Turn numeric strings, yes/no booleans and ISO dates into real types.")
    drop_columns: list[str] = Field(default_factory=list)
    numeric: NumericRule = Field(default_factory=NumericRule)
    categorical: CategoricalRule = Field(default_factory=CategoricalRule)
    text: TextRule = Field(default_factory=TextRule)
    datetime: DatetimeRule = Field(default_factory=DatetimeRule)
    columns: dict[str, ColumnRule] = Field(default_factory=dict, description="Per-column overrides by name.")
    min_user_interactions: int = Field(1, ge=1, description="Recommendation: users with fewer interactions are "
                                                            "dropped (and counted).")
    min_item_interactions: int = Field(1, ge=1, description="Recommendation: items with fewer interactions are "
                                                            "dropped (and counted).")
    window: str = Field("all", description="Rows of the snapshot to use: all, the last N rows (5000), or the last "
                                           "period on data.time_column (90d), counted back from its newest row.")

    @field_validator("window")
    @classmethod
    def _check_window(cls, value: str) -> str:
        return check_window(value)


def check_window(value: str) -> str:
    """'all', a positive row count, or a duration such as 90d (prepare.window, retrain.window)."""
    from mlflow_cli.core.durations import DURATION

    text = str(value).strip()
    if text == "all" or (text.isdigit() and int(text) > 0) or DURATION.match(text):
        return text
    raise ValueError(f"must be all, a number of rows (5000) or a period such as 90d, 12w or 36h; got '{value}'")


# --------------------------------------------------------------------------- train


class SearchConfig(_Section):
    """Hyperparameter search over the model's params (scikit-learn's searchers)."""

    method: Literal["grid", "random", "halving"] = Field(
        "random", description="grid: every combination; random: n_iter samples; halving: successive halving.")
    space: dict[str, Any] = Field(description="param -> list of values, {uniform: [lo, hi]}, "
                                              "{loguniform: [lo, hi]} or {int: [lo, hi]}.")
    n_iter: int = Field(20, ge=1, description="Candidates sampled by random search (and halving over distributions).")
    cv: int = Field(3, ge=2, description="Folds per candidate.")


class TrainConfig(_Section):
    """The model: which estimator, its params, and how it is chosen and validated."""

    task: Literal["auto", "classification", "regression", "clustering", "recommendation"] = Field(
        "auto", description="auto: classification for non-float or few-valued targets, regression otherwise, "
                            "recommendation when data.user_column is set, clustering when there is no target.")
    model: str = Field("auto", description="A catalogue name (mlw models catalog), an importable class path "
                                           "(sklearn.svm.LinearSVC), or auto: compare candidates by cross-validation.")
    params: dict[str, Any] = Field(default_factory=dict, description="Estimator parameters, checked before fitting.")
    metric: str | None = Field(None, description="Metric that picks the best model (auto, search); default: "
                                                 "roc_auc (binary), log_loss (multiclass), rmse, silhouette.")
    cv: int = Field(0, ge=0, description="Cross-validation folds to report (0: none; auto uses at least 3).")
    search: SearchConfig | None = None
    candidates: list[str] | None = Field(None, description="Models that auto compares (default: linear, random "
                                                           "forest, hist gradient boosting, xgboost, and lightgbm "
                                                           "and catboost when installed).")
    time_budget_s: float | None = Field(None, ge=0, description="Seconds auto spends comparing and tuning "
                                                                "candidates (default: 60 s per 5,000 rows, 15 s to "
                                                                "10 min; $MLW_TIME_BUDGET_S); 0: defaults only.")
    class_weight: Literal["balanced"] | None = Field(None, description="Reweight classes (class_weight or sample "
                                                                       "weights, e.g. for XGBoost).")
    early_stopping_rounds: int | None = Field(20, ge=1, description="XGBoost: stop when the validation split "
                                                                    "stops improving (needs prepare.split.valid_size).")
    rating_model: str = Field("auto", description="Recommendation: the model predicting ratings (mf, bias or none); "
                                                  "auto: mf with data.rating_column. train.model ranks.")
    n_jobs: int = Field(-1, description="Parallel jobs (joblib; -1 = all cores).")
    seed: int = 42


class EvaluateConfig(_Section):
    """Scoring on the held-out test split, gates for CI, and champion/challenger."""

    metrics: list[str] | None = Field(None, description="Metrics to report (default: all for the task).")
    gates: dict[str, str] = Field(default_factory=dict, description="metric -> condition, e.g. f1: '>= 0.80'; "
                                                                    "any failure exits 1.")
    require_better_than: str | None = Field(None, description="A model alias (e.g. production): the new model must "
                                                              "beat it on the train metric, or exit 1.")
    margin: float = Field(0.0, ge=0, description="How much better than require_better_than it must be.")
    overfit_tolerance: float = Field(0.1, ge=0, description="Warn when train beats test by more than this "
                                                            "(relative) on the train metric.")
    k: int = Field(10, ge=1, description="Recommendation: the length of the lists ranking metrics judge (ndcg@k).")


class ServeConfig(_Section):
    """`mlw serve`: the HTTP service."""

    host: str = Field("127.0.0.1", description="Interface to bind; 127.0.0.1 keeps it local.")
    port: int = Field(8000, ge=0, le=65535)
    model: str = Field("production", description="Alias (hot-reloaded when it moves) or train version to serve.")
    workers: int = Field(1, ge=1, description="Worker processes.")
    token_env: str | None = Field(None, description="Environment variable holding a bearer token; requests "
                                                     "must send it (Authorization: Bearer ...).")
    cors_origins: list[str] = Field(default_factory=list, description="Origins allowed by CORS (off when empty).")
    max_body_mb: float = Field(10.0, gt=0, description="Larger request bodies get 413.")
    unseen_categories: Literal["reject", "allow"] = Field(
        "reject", description="reject: 422 for a category never seen in training; allow: treat it as unknown.")
    log_max_mb: float = Field(50.0, gt=0, description="Prediction log files rotate at this size.")
    reload_interval_s: float = Field(1.0, gt=0, description="How often the served alias is checked for a move.")


class PredictConfig(_Section):
    """`mlw predict`: batch scoring."""

    model: str = Field("production", description="Alias or train version; 'latest' is the newest train version.")
    chunk_rows: int = Field(100_000, ge=1, description="Rows scored per chunk (bounded memory).")
    unseen_categories: Literal["reject", "allow"] = "reject"
    k: int = Field(10, ge=1, description="Recommendation: items per user in the lists written.")


class DriftConfig(_Section):
    """When a column, and the dataset, count as drifted (`mlw monitor`)."""

    p_value: float = Field(0.05, gt=0, lt=1, description="Significance over all the columns compared together: "
                                                         "each column's test must beat p_value / columns "
                                                         "(Bonferroni), so the share of false alarms stays put.")
    numeric_effect: float = Field(0.1, ge=0, description="A numeric column drifts when also its Wasserstein "
                                                         "distance / the reference's standard deviation reaches "
                                                         "this (significant but smaller: minor).")
    categorical_effect: float = Field(0.1, ge=0, le=1, description="A categorical column drifts when also its "
                                                                    "Jensen-Shannon distance (0-1) reaches this.")
    dataset_share: float = Field(0.5, gt=0, le=1, description="The dataset drifts when this share of its columns "
                                                              "drift, or this share of the model's importance.")


class MonitorConfig(_Section):
    """`mlw monitor`: current data against the model's reference (its training rows)."""

    model: str = Field("production", description="Alias or train version monitored; its training rows are the "
                                                 "reference.")
    current: SourceConfig | None = Field(None, description="The current data (or --input FILE, --batch VERSION, "
                                                           "--log).")
    labels: SourceConfig | None = Field(None, description="True outcomes arriving later, joined on data.id_columns "
                                                          "(or request_id and row for the prediction log).")
    drift: DriftConfig = Field(default_factory=DriftConfig)
    gates: dict[str, str] = Field(default_factory=dict, description="measure -> condition, e.g. drift_share: "
                                                                    "'<= 0.3', f1: '>= 0.75', latency_p99_ms: "
                                                                    "'<= 50'; any failure exits 1.")
    score_rows: int = Field(100_000, ge=1, description="Rows the model scores for prediction drift and "
                                                       "performance (a uniform sample of larger data).")
    null_rate_increase: float = Field(0.05, ge=0, le=1, description="Report a column whose share of missing "
                                                                    "values grew by more than this.")
    seed: int = 42


class RetrainConfig(_Section):
    """`mlw retrain`: a challenger trained on recent rows, judged against the champion, promoted if better."""

    window: str = Field("all", description="Rows to train on: all, the last N rows (5000), or the last period on "
                                           "data.time_column (90d); becomes prepare.window.")
    metric: str | None = Field(None, description="Metric that judges (default: train.metric, else the task's).")
    margin: float = Field(0.0, ge=0, description="How much better the challenger must be to be promoted.")
    champion: str = Field("production", description="Alias of the model the challenger must beat.")
    promote_to: str = Field("production", description="Alias a winning challenger is promoted to (or "
                                                      "--promote-to staging).")
    judge_on: SourceConfig | None = Field(None, description="Recent labelled rows both models are also scored on "
                                                            "(besides the new test split).")
    min_rows: int = Field(50, ge=1, description="Fewer rows in the window is an error, not a model.")

    @field_validator("window")
    @classmethod
    def _check_window(cls, value: str) -> str:
        return check_window(value)


MEMORY_LIMIT = r"^(auto|\d+(\.\d+)?\s*([KMGT]i?B|[kmgt]i?b)?)$"


class EngineConfig(_Section):
    """Where the tabular work runs: in this process (local), or on a Dask cluster (the `dask` extra)."""

    type: Literal["local", "dask"] = Field("local", description="local: in this process; dask: on a Dask cluster "
                                                               "(pip install 'mlw[dask]').")
    address: str | None = Field(None, description="dask: a running scheduler (tcp://host:8786); without it, a "
                                                  "local cluster is started for the command and closed after.")
    n_workers: int | None = Field(None, ge=1, description="dask, local cluster: worker processes (default: one "
                                                          "per core).")
    threads_per_worker: int | None = Field(None, ge=1, description="dask, local cluster: threads in each worker "
                                                                   "(default: 1).")
    memory_limit: str = Field("auto", pattern=MEMORY_LIMIT,
                              description="dask, local cluster: memory per worker ('2GB'; auto: the machine's "
                                          "memory shared among the workers); beyond it a worker spills to disk.")
    partition_mb: float = Field(64, ge=0.01, le=4096, description="dask: the size of the parts the data is cut "
                                                              "into, in MB of the source.")

    @model_validator(mode="after")
    def _check_cluster(self) -> EngineConfig:
        started_only = [k for k in ("n_workers", "threads_per_worker") if getattr(self, k) is not None]
        if self.memory_limit != "auto":
            started_only.append("memory_limit")
        if self.type == "local" and (self.address or started_only):
            raise ValueError(f"{', '.join(['address'] * bool(self.address) + started_only)} apply to type: dask; "
                             f"set engine.type: dask, or remove them")
        if self.address and started_only:
            raise ValueError(f"{', '.join(started_only)} apply to the local cluster mlw starts, not to the "
                             f"scheduler at engine.address, whose workers are set where they are started")
        if self.address and not self.address.startswith(("tcp://", "tls://", "inproc://", "ws://", "wss://")):
            raise ValueError(f"address '{self.address}' is not a scheduler address; write it as tcp://host:8786")
        return self


class MlwConfig(_Section):
    """An mlw project: one file, a section per stage."""

    project: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", description="Project name; names the artifact folder.")
    artifacts: str = Field("./artifacts", description="Artifact store root, relative to the config file.")
    data: DataConfig
    ingest: IngestConfig = Field(default_factory=IngestConfig)
    prepare: PrepareConfig = Field(default_factory=PrepareConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    evaluate: EvaluateConfig = Field(default_factory=EvaluateConfig)
    serve: ServeConfig = Field(default_factory=ServeConfig)
    predict: PredictConfig = Field(default_factory=PredictConfig)
    monitor: MonitorConfig = Field(default_factory=MonitorConfig)
    retrain: RetrainConfig = Field(default_factory=RetrainConfig)
    engine: EngineConfig = Field(default_factory=EngineConfig)
    pipeline: list[Literal["ingest", "prepare", "train", "evaluate"]] = Field(
        default_factory=lambda: ["ingest", "prepare", "train", "evaluate"],
        description="The stages `mlw run` chains, in order.")

    @model_validator(mode="after")
    def _check_task(self) -> MlwConfig:
        if self.data.interactions and self.train.task not in ("auto", "recommendation"):
            raise ValueError(f"data.user_column and data.item_column make this a recommendation config, but "
                             f"train.task is '{self.train.task}'; use task: recommendation (or auto)")
        if self.train.task == "recommendation" and not self.data.interactions:
            raise ValueError("train.task recommendation needs data.user_column and data.item_column")
        return self
