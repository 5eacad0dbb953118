"""`mlw monitor`: its plan (cheap: config, manifests, hashes), its run and `gate_failures`
(what the command exits 1 on), in `stage.py`; the work in monitoring.py."""

from mlflow_cli.stages.monitor.stage import gate_failures, plan_monitor, run_monitor

__all__ = ["gate_failures", "plan_monitor", "run_monitor"]
