"""What every command shares: its options, the guard that maps errors to exit codes (the only
place that does), and loading the config."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from mlflow_cli.cli import console
from mlflow_cli.core.errors import EXIT_INTERRUPTED, MlwError

ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="Config file.", show_default=True)]
SetOpt = Annotated[Optional[list[str]], typer.Option(
    "--set", metavar="KEY=VALUE", help="Override a config value (YAML value), e.g. --set prepare.split.seed=7. "
                                       "Repeatable.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout, nothing else.")]
ForceOpt = Annotated[bool, typer.Option("--force", help="Recompute even when a cached version matches.")]
DEFAULT_CONFIG = Path("mlw.yaml")


def guarded(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Run a command, turning project errors into a message and the documented exit code."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if kwargs.get("json_out"):
            console.configure(json_mode=True)
        from mlflow_cli import engine

        engine.set_announcer(console.status)  # a cluster started for this command says where it is
        try:
            try:
                return fn(*args, **kwargs)
            finally:
                engine.close_engines()  # no worker outlives the command, however it ends
        except MlwError as exc:
            if console.state.debug:
                console.err.print_exception()
            console.error(exc.message, exc.hint)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            console.error("Interrupted. Nothing half-written was kept; earlier versions are untouched.")
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except (typer.Exit, typer.Abort, SystemExit):
            raise
        except Exception as exc:  # a bug, not a user mistake: say so plainly
            if console.state.debug:
                console.err.print_exception()
            else:
                console.error(f"Unexpected internal error: {type(exc).__name__}: {exc}",
                              "This is a bug in mlw. Re-run with --debug for the traceback and report it.")
            raise typer.Exit(1) from None

    return wrapper


def load(config: Path, overrides: list[str] | None) -> Any:
    from mlflow_cli.core.config import load_config

    return load_config(config, overrides or [])
