"""`mlw retrain`: a challenger trained on recent rows, judged against the champion on the same rows,
promoted when better; the whole flow in `stage.py`."""

from mlflow_cli.stages.retrain.stage import RetrainResult, run_retrain

__all__ = ["RetrainResult", "run_retrain"]
