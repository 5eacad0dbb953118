"""The config file: typed schemas, a loader that knows line numbers, --set and ${ENV}.

The whole file is validated before any work starts. Unknown keys are errors (with a
did-you-mean), and every message names the file, the key path and the line. Secrets stay
out of manifests and `config show`: values that came from `${VAR}` are reported with the
template, never with what it expanded to.
"""

from mlflow_cli.core.config.loader import Config, KeyPath, json_schema, load_config
from mlflow_cli.core.config.sections import (
    DEFAULT_CONFIG, FILE_TYPES, DataConfig, DriftConfig, EvaluateConfig, IngestConfig, MlwConfig, MonitorConfig,
    PredictConfig, PrepareConfig, RetrainConfig, EngineConfig,
    ServeConfig, SourceConfig, SplitConfig, TrainConfig,
)

__all__ = ["Config", "KeyPath", "json_schema", "load_config", "DEFAULT_CONFIG", "FILE_TYPES", "DataConfig",
           "DriftConfig", "EngineConfig", "EvaluateConfig", "IngestConfig", "MlwConfig", "MonitorConfig", "PredictConfig", "PrepareConfig", "RetrainConfig", "ServeConfig",
           "SourceConfig", "SplitConfig", "TrainConfig"]
