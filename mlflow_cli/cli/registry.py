"""`mlw models ...` (the catalogue and the registry of aliases) and `mlw runs ...` (experiment
tracking over train versions)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from mlflow_cli.cli.app import models_app, runs_app
from mlflow_cli.cli.common import DEFAULT_CONFIG, ConfigOpt, JsonOpt, guarded, load


@models_app.command("catalog")
@guarded
def models_catalog(json_out: JsonOpt = False) -> None:
    """List the model names train.model accepts, with their tasks.

    Any importable scikit-learn compatible class path works too (sklearn.svm.LinearSVC).

    Example: `mlw models catalog`
    """
    from mlflow_cli.models.catalog import catalog_rows
    from mlflow_cli.cli.render_registry import render_catalog

    render_catalog(catalog_rows())


@models_app.command("list")
@guarded
def models_list(config: ConfigOpt = DEFAULT_CONFIG, json_out: JsonOpt = False) -> None:
    """List aliases and the train versions they point at.

    Example: `mlw models list`
    """
    from mlflow_cli.core.registry import list_aliases
    from mlflow_cli.cli.render_registry import render_aliases

    render_aliases(list_aliases(load(config, None)))


@models_app.command("show")
@guarded
def models_show(
    ref: Annotated[str, typer.Argument(help="An alias (production) or a train version.")],
    config: ConfigOpt = DEFAULT_CONFIG,
    json_out: JsonOpt = False,
) -> None:
    """Show a model: version, aliases, metrics, and the alias's history.

    Example: `mlw models show production`
    """
    from mlflow_cli.core.registry import show_model
    from mlflow_cli.cli.render_registry import render_model

    render_model(show_model(load(config, None), ref))


@models_app.command("promote")
@guarded
def models_promote(
    version: Annotated[str, typer.Argument(help="Train version (id, unique prefix, or latest).")],
    alias: Annotated[str, typer.Option("--alias", help="Alias to point at it.")] = "production",
    reason: Annotated[Optional[str], typer.Option("--reason", help="Why, for the history.")] = None,
    config: ConfigOpt = DEFAULT_CONFIG,
    json_out: JsonOpt = False,
) -> None:
    """Point an alias at a train version (refuses one that fails its integrity check).

    Example: `mlw models promote latest --alias production --reason "beats v3 on f1"`
    """
    from mlflow_cli.core.registry import promote
    from mlflow_cli.cli.render_registry import render_move

    render_move(promote(load(config, None), version, alias, reason), "promoted")


@models_app.command("rollback")
@guarded
def models_rollback(
    alias: Annotated[str, typer.Argument(help="Alias to move back to its previous version.")] = "production",
    reason: Annotated[Optional[str], typer.Option("--reason", help="Why, for the history.")] = None,
    config: ConfigOpt = DEFAULT_CONFIG,
    json_out: JsonOpt = False,
) -> None:
    """Move an alias back to the version it pointed at before its latest promotion.

    Example: `mlw models rollback production --reason "latency regression"`
    """
    from mlflow_cli.core.registry import rollback
    from mlflow_cli.cli.render_registry import render_move

    render_move(rollback(load(config, None), alias, reason), "rolled back")




@runs_app.command("list")
@guarded
def runs_list(
    config: ConfigOpt = DEFAULT_CONFIG,
    sort: Annotated[str, typer.Option("--sort", help="created, cv, or a test metric (best first).")] = "created",
    model: Annotated[Optional[str], typer.Option("--model", help="Only runs of this model.")] = None,
    limit: Annotated[Optional[int], typer.Option("--limit", min=1, help="At most this many runs.")] = None,
    json_out: JsonOpt = False,
) -> None:
    """List training runs with model, params, CV score and test metrics.

    Example: `mlw runs list --sort f1 --limit 5`
    """
    from mlflow_cli.cli.render_registry import render_runs
    from mlflow_cli.project.runs import list_runs

    render_runs(list_runs(load(config, None), sort=sort, model=model, limit=limit))


@runs_app.command("show")
@guarded
def runs_show(
    version: Annotated[str, typer.Argument(help="Train version (id, unique prefix, or latest).")],
    config: ConfigOpt = DEFAULT_CONFIG,
    json_out: JsonOpt = False,
) -> None:
    """Show one run: params, cross-validation, test metrics, top features.

    Example: `mlw runs show latest`
    """
    from mlflow_cli.cli.render_registry import render_run
    from mlflow_cli.project.runs import show_run

    render_run(show_run(load(config, None), version))


@runs_app.command("compare")
@guarded
def runs_compare(
    first: Annotated[str, typer.Argument(help="Train version A.")],
    second: Annotated[str, typer.Argument(help="Train version B.")],
    config: ConfigOpt = DEFAULT_CONFIG,
    json_out: JsonOpt = False,
) -> None:
    """Params and metrics of two runs side by side, with the differences.

    Example: `mlw runs compare 20261126-1530 latest`
    """
    from mlflow_cli.cli.render_registry import render_compare
    from mlflow_cli.project.runs import compare_runs

    render_compare(compare_runs(load(config, None), first, second))
