"""`python -m mlflow_cli` runs the mlw command line."""

from .cli import app

app(prog_name="mlw")
