"""`mlw prepare`: its plan (cheap: config, manifests, hashes) and its run, in `stage.py`."""

from mlflow_cli.stages.prepare.stage import plan_prepare, run_prepare

__all__ = ["plan_prepare", "run_prepare"]
