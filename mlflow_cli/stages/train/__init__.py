"""`mlw train`: its plan (cheap: config, manifests, hashes) and its run, in `stage.py`."""

from mlflow_cli.stages.train.stage import plan_train, run_train

__all__ = ["plan_train", "run_train"]
