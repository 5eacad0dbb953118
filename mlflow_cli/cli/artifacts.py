"""`mlw artifacts list|show|lineage|verify|gc`."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from mlflow_cli.cli.app import artifacts_app
from mlflow_cli.cli.common import DEFAULT_CONFIG, ConfigOpt, JsonOpt, guarded, load


@artifacts_app.command("list")
@guarded
def artifacts_list(
    stage: Annotated[Optional[str], typer.Argument(help="Only this stage.")] = None,
    config: ConfigOpt = DEFAULT_CONFIG,
    json_out: JsonOpt = False,
) -> None:
    """List versions, newest first, with size, metrics and aliases.

    Example: `mlw artifacts list ingest`
    """
    from mlflow_cli.cli.render_artifacts import render_artifact_list
    from mlflow_cli.project.inventory import list_artifacts

    render_artifact_list(list_artifacts(load(config, None), stage))


@artifacts_app.command("show")
@guarded
def artifacts_show(
    version: Annotated[str, typer.Argument(help="Version id, unique prefix, or STAGE/latest.")],
    config: ConfigOpt = DEFAULT_CONFIG,
    json_out: JsonOpt = False,
) -> None:
    """Show a version's manifest (inputs, outputs, config, metrics).

    Example: `mlw artifacts show prepare/latest`
    """
    from mlflow_cli.cli.render_artifacts import render_manifest
    from mlflow_cli.project.inventory import show_artifact

    render_manifest(show_artifact(load(config, None), version))


@artifacts_app.command("lineage")
@guarded
def artifacts_lineage(
    version: Annotated[str, typer.Argument(help="Version id, unique prefix, or STAGE/latest.")],
    config: ConfigOpt = DEFAULT_CONFIG,
    json_out: JsonOpt = False,
) -> None:
    """Show the tree of inputs behind a version, down to the source.

    Example: `mlw artifacts lineage prepare/latest`
    """
    from mlflow_cli.cli.render_artifacts import render_lineage
    from mlflow_cli.project.inventory import artifact_lineage

    render_lineage(artifact_lineage(load(config, None), version))


@artifacts_app.command("verify")
@guarded
def artifacts_verify(
    version: Annotated[Optional[str], typer.Argument(help="Check only this version (default: all).")] = None,
    config: ConfigOpt = DEFAULT_CONFIG,
    json_out: JsonOpt = False,
) -> None:
    """Check files against their manifests; exit 4 on any mismatch.

    Example: `mlw artifacts verify`
    """
    from mlflow_cli.cli.render_artifacts import render_verify
    from mlflow_cli.project.inventory import verify_artifacts

    render_verify(verify_artifacts(load(config, None), version))


@artifacts_app.command("gc")
@guarded
def artifacts_gc(
    keep: Annotated[int, typer.Option("--keep", min=0, help="Versions to keep per stage (newest first).")] = 5,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only say what would be removed.")] = False,
    config: ConfigOpt = DEFAULT_CONFIG,
    json_out: JsonOpt = False,
) -> None:
    """Remove old versions, keeping any that are still referenced.

    Never removes the latest version, an input of a kept version, or a model alias target.

    Example: `mlw artifacts gc --keep 3 --dry-run`
    """
    from mlflow_cli.cli.render_artifacts import render_gc
    from mlflow_cli.project.inventory import collect_garbage

    render_gc(collect_garbage(load(config, None), keep, dry_run), dry_run)
