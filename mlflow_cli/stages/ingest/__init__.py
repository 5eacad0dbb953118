"""`mlw ingest`: its plan (cheap: config, manifests, hashes) and its run, in `stage.py`."""

from mlflow_cli.stages.ingest.stage import plan_ingest, run_ingest

__all__ = ["plan_ingest", "run_ingest"]
