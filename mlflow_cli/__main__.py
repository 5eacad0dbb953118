"""`python -m mlflow_cli` runs the mlw command line."""

from mlflow_cli.cli import app

app(prog_name="mlw")
