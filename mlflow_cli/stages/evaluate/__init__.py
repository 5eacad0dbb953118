"""`mlw evaluate`: its plan (cheap: config, manifests, hashes) and its run, in `stage.py`."""

from mlflow_cli.stages.evaluate.stage import plan_evaluate, run_evaluate

__all__ = ["plan_evaluate", "run_evaluate"]
