"""`mlw predict`: its plan (cheap: config, manifests, hashes) and its run, in `stage.py`."""

from mlflow_cli.stages.predict.stage import plan_predict, run_predict

__all__ = ["plan_predict", "run_predict"]
