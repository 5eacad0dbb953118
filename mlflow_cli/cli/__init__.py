"""The `mlw` command line. Thin on purpose: each command parses its arguments, loads the config,
calls one function of a stage or mechanism and renders its result (the `render*.py` modules,
through `console.py`: the only modules that print). Errors are mapped to exit codes in one place
(`common.guarded`). Heavy libraries are imported inside the commands that need them.

The console script is `mlflow_cli.cli:app`; importing the command modules registers them, in
the order `mlw --help` shows.
"""

from mlflow_cli.cli.app import app
from mlflow_cli.cli import artifacts, config, registry, workflow  # noqa: F401  (importing registers the commands)

__all__ = ["app"]
