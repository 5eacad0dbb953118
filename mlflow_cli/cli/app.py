"""The typer application: the `mlw` group, its sub-groups and the global options.

The commands register themselves on these objects from the modules beside this one, which
`cli/__init__.py` imports in the order `mlw --help` lists them."""

from __future__ import annotations

import signal
from typing import Annotated, Any

import typer

from mlflow_cli import __version__
from mlflow_cli.cli import console
from mlflow_cli.cli.common import JsonOpt

app = typer.Typer(
    name="mlw",
    help="mlw: the whole machine-learning workflow from one YAML file.\n\n"
         "Each stage reads mlw.yaml and writes a versioned artifact under ./artifacts; "
         "stages chain through files on disk.\n\n"
         "Start with `mlw init NAME`, or run `mlw ingest -c configs/churn.yaml` in this repository.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
config_app = typer.Typer(help="Check, show and describe the config file.", no_args_is_help=True)
runs_app = typer.Typer(help="Experiment tracking: list, show and compare training runs.", no_args_is_help=True)
models_app = typer.Typer(help="The model registry (aliases such as production).",
                         no_args_is_help=True)
artifacts_app = typer.Typer(help="Browse, trace, verify and clean up artifact versions.", no_args_is_help=True)
app.add_typer(config_app, name="config")
app.add_typer(artifacts_app, name="artifacts")
app.add_typer(models_app, name="models")
app.add_typer(runs_app, name="runs")


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mlw {__version__}")  # plain echo: --version must not load rich
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Show the version and exit.")] = False,
    json_out: JsonOpt = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only results and errors; no status lines.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
) -> None:
    console.reset(json_mode=json_out, quiet=quiet, debug=debug)
    signal.signal(signal.SIGTERM, _raise_interrupt)


