"""`mlw evaluate`: its plan (cheap: config, manifests, hashes), its run and `gate_failures`
(what `mlw run` reports and exits 1 on), in `stage.py`."""

from mlflow_cli.stages.evaluate.stage import gate_failures, plan_evaluate, run_evaluate

__all__ = ["gate_failures", "plan_evaluate", "run_evaluate"]
