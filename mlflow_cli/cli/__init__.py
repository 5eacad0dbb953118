"""The `mlw` command line. Thin on purpose: parse, load the config, call one stage
function, render its result. Errors are mapped to exit codes in one place
(`_guarded`). Heavy libraries are imported inside the commands that need them."""

from __future__ import annotations

import functools
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from mlflow_cli import __version__
from mlflow_cli.cli import console
from mlflow_cli.core.errors import EXIT_INTERRUPTED, MlwError

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

# ----------------------------------------------------------------- shared options

ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="Config file.", show_default=True)]
SetOpt = Annotated[Optional[list[str]], typer.Option(
    "--set", metavar="KEY=VALUE", help="Override a config value (YAML value), e.g. --set prepare.split.seed=7. "
                                       "Repeatable.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout, nothing else.")]
ForceOpt = Annotated[bool, typer.Option("--force", help="Recompute even when a cached version matches.")]
DEFAULT_CONFIG = Path("mlw.yaml")


def _guarded(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Run a command, turning project errors into a message and the documented exit code."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if kwargs.get("json_out"):
            console.configure(json_mode=True)
        try:
            return fn(*args, **kwargs)
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


def _load(config: Path, overrides: list[str] | None) -> Any:
    from mlflow_cli.core.config import load_config

    return load_config(config, overrides or [])


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


# ----------------------------------------------------------------- stages


@app.command()
@_guarded
def init(
    name: Annotated[str, typer.Argument(help="Project name; also the folder created.")],
    directory: Annotated[Optional[Path], typer.Option("--dir", help="Create the project here instead of ./NAME.")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Scaffold a runnable project (config, sample data, Makefile).

    Writes a commented mlw.yaml, data/churn.csv and a Makefile with a target per stage;
    never overwrites a file.

    Example: `mlw init churn && cd churn && make prepare`
    """
    from mlflow_cli.project.scaffold import scaffold_project

    created = scaffold_project(name, directory or Path(name))
    console.emit({"project": name, "path": str(created["path"]), "files": created["files"]},
                 lambda: console.print_text(
                     f"Created project '{name}' in {created['path']}:\n  " + "\n  ".join(created["files"]) +
                     f"\nNext: cd {created['path']} && make prepare"))


@app.command()
@_guarded
def ingest(
    config: ConfigOpt = DEFAULT_CONFIG,
    set_: SetOpt = None,
    append: Annotated[Optional[bool], typer.Option(
        "--append/--snapshot", help="Add the source to the previous snapshot (de-duplicated on data.id_columns), "
                                    "or replace it. Default: ingest.mode.", show_default=False)] = None,
    json_out: JsonOpt = False,
    force: ForceOpt = False,
) -> None:
    """Snapshot the source into a versioned Parquet artifact.

    Reads CSV/TSV, Parquet, JSON, JSON Lines, Excel, globs of files, or SQL (SQLAlchemy URL),
    infers the schema and prints a profile of every column.

    Example: `mlw ingest -c mlw.yaml` or, for a new batch, `mlw ingest --append --set data.source.path=new.csv`
    """
    from mlflow_cli.cli.render import render_ingest
    from mlflow_cli.stages.ingest.stage import run_ingest

    cfg = _load(config, set_)
    result = run_ingest(cfg, force=force, append=append, progress=console.progress)
    render_ingest(result)


@app.command()
@_guarded
def prepare(
    config: ConfigOpt = DEFAULT_CONFIG,
    set_: SetOpt = None,
    from_: Annotated[Optional[str], typer.Option("--from", help="Ingest version to prepare (default: latest).")] = None,
    json_out: JsonOpt = False,
    force: ForceOpt = False,
) -> None:
    """Clean, split, and fit preprocessing on the train split.

    Drops duplicates and rows without a target, coerces types, splits (stratified, random,
    by time or by group) and fits the preprocessing pipeline on the training rows only.

    Example: `mlw prepare -c mlw.yaml --set prepare.split.test_size=0.25`
    """
    from mlflow_cli.cli.render import render_prepare
    from mlflow_cli.stages.prepare.stage import run_prepare

    cfg = _load(config, set_)
    result = run_prepare(cfg, source_version=from_, force=force)
    render_prepare(result)


@app.command()
@_guarded
def train(
    config: ConfigOpt = DEFAULT_CONFIG,
    set_: SetOpt = None,
    from_: Annotated[Optional[str], typer.Option("--from", help="Prepare version to train on (default: latest).")] = None,
    json_out: JsonOpt = False,
    force: ForceOpt = False,
) -> None:
    """Fit a model on the train split (model: auto compares).

    Saves one scikit-learn Pipeline (fitted preprocessing + estimator) that takes raw records,
    with CV scores, search results and feature importances in its manifest.

    Example: `mlw train --set train.model=xgboost --set train.params.max_depth=4`
    """
    from mlflow_cli.cli.render import render_train
    from mlflow_cli.stages.train.stage import run_train

    cfg = _load(config, set_)
    render_train(run_train(cfg, source_version=from_, force=force, progress=console.progress))


@app.command()
@_guarded
def evaluate(
    config: ConfigOpt = DEFAULT_CONFIG,
    set_: SetOpt = None,
    model: Annotated[Optional[str], typer.Option("--model", help="Train version to evaluate (default: latest).")] = None,
    json_out: JsonOpt = False,
    force: ForceOpt = False,
) -> None:
    """Score the model on the test split; exit 1 on a failed gate.

    Writes metrics.json, plots and a self-contained report.html; compares with the model the
    `production` alias (or evaluate.require_better_than) points at.

    Example: `mlw evaluate --set 'evaluate.gates={f1: ">= 0.8"}'`
    """
    from mlflow_cli.core.errors import GateError
    from mlflow_cli.cli.render import render_evaluate
    from mlflow_cli.stages.evaluate.stage import gate_failures, run_evaluate

    cfg = _load(config, set_)
    result = run_evaluate(cfg, model_version=model, force=force, progress=console.progress)
    render_evaluate(result)
    failures = gate_failures(result)
    if failures:
        raise GateError(f"{len(failures)} gate{'s' if len(failures) > 1 else ''} failed for "
                        f"{result.stage}/{result.version}: " + "; ".join(failures) + ".",
                        hint=f"See {result.details['report']}. Improve the model, or change evaluate.gates.")


@app.command()
@_guarded
def predict(
    config: ConfigOpt = DEFAULT_CONFIG,
    set_: SetOpt = None,
    input_path: Annotated[Optional[Path], typer.Option("--input", "-i", help="CSV or Parquet file to score "
                                                                             "(default: data.source).")] = None,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write CSV or Parquet here instead of a "
                                                                          "versioned artifact.")] = None,
    model: Annotated[Optional[str], typer.Option("--model", help="Alias or train version (default: "
                                                                 "predict.model).")] = None,
    rejects: Annotated[Optional[Path], typer.Option("--rejects", help="Write rows that fail validation here "
                                                                      "and score the rest.")] = None,
    json_out: JsonOpt = False,
    force: ForceOpt = False,
) -> None:
    """Score a batch of records (CSV, Parquet or SQL) with a model.

    Adds the prediction and, for classifiers, one probability column per class; reads and
    writes in chunks, so files larger than memory work.

    Example: `mlw predict --input new.csv --output scored.parquet --model production`
    """
    from mlflow_cli.cli.render import render_predict
    from mlflow_cli.stages.predict.stage import run_predict

    cfg = _load(config, set_)
    render_predict(run_predict(cfg, input_path=input_path, output=output, model_ref=model, rejects=rejects,
                               force=force, progress=console.progress))


@app.command()
@_guarded
def serve(
    config: ConfigOpt = DEFAULT_CONFIG,
    set_: SetOpt = None,
    host: Annotated[Optional[str], typer.Option("--host", help="Interface (default: serve.host, 127.0.0.1).")] = None,
    port: Annotated[Optional[int], typer.Option("--port", help="Port (default: serve.port, 8000).")] = None,
    model: Annotated[Optional[str], typer.Option("--model", help="Alias or train version (default: serve.model, "
                                                                 "production).")] = None,
    workers: Annotated[Optional[int], typer.Option("--workers", min=1, help="Worker processes.")] = None,
) -> None:
    """Serve predictions over HTTP (also MLflow, Open Inference).

    Follows the alias: when it is promoted or rolled back, the server switches models
    without dropping requests. Logs every prediction for `mlw monitor`.

    Example: `mlw serve --port 8000` then
    `curl -s localhost:8000/predict -H 'content-type: application/json' -d @record.json`
    """
    from mlflow_cli.serve import run_server

    cfg = _load(config, set_)
    run_server(cfg, host=host, port=port, model_ref=model, workers=workers)


@app.command()
@_guarded
def package(
    config: ConfigOpt = DEFAULT_CONFIG,
    set_: SetOpt = None,
    model: Annotated[Optional[str], typer.Option("--model", help="Alias or train version (default: "
                                                                 "serve.model).")] = None,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Folder to write (default: "
                                                                          "dist/<project>-<version> beside the "
                                                                          "config).")] = None,
    json_out: JsonOpt = False,
    force: Annotated[bool, typer.Option("--force", help="Replace the output folder if it is not empty.")] = False,
) -> None:
    """Write a deployable folder (model, requirements, Dockerfile).

    The folder is a minimal mlw project that `mlw serve` runs as is (in its image, or after
    `pip install -r requirements.txt`); every model file is verified before and after copying.

    Example: `mlw package --model production -o dist/churn && docker build -t churn dist/churn`
    """
    from mlflow_cli.package.build import build_package
    from mlflow_cli.cli.render import render_package

    cfg = _load(config, set_)
    render_package(build_package(cfg, model, output, force, status=console.status))


@app.command("run")
@_guarded
def run_chain(
    config: ConfigOpt = DEFAULT_CONFIG,
    set_: SetOpt = None,
    start: Annotated[Optional[str], typer.Option("--from", help="Start at this stage (earlier stages' latest "
                                                                "versions are its inputs).")] = None,
    until: Annotated[Optional[str], typer.Option("--until", help="Stop after this stage.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only say what would run and why.")] = False,
    json_out: JsonOpt = False,
    force: ForceOpt = False,
) -> None:
    """Run the chain, reusing stages whose inputs are unchanged.

    Chains the stages in `pipeline` (ingest, prepare, train, evaluate); exit 1 if a gate fails.

    Example: `mlw run --dry-run` then `mlw run --from train`
    """
    from mlflow_cli.core.errors import GateError
    from mlflow_cli.stages.run import run_pipeline
    from mlflow_cli.cli.render import render_pipeline, render_step

    cfg = _load(config, set_)
    outcome = run_pipeline(cfg, start=start, until=until, dry_run=dry_run, force=force,
                           progress=console.progress, on_step=render_step)
    render_pipeline(outcome)
    if outcome.gate_failures:
        raise GateError(f"The chain ran, but {len(outcome.gate_failures)} gate(s) failed: "
                        + "; ".join(outcome.gate_failures) + ".",
                        hint="See the evaluate report (mlw artifacts show evaluate/latest).")


# ----------------------------------------------------------------- models


@models_app.command("catalog")
@_guarded
def models_catalog(json_out: JsonOpt = False) -> None:
    """List the model names train.model accepts, with their tasks.

    Any importable scikit-learn compatible class path works too (sklearn.svm.LinearSVC).

    Example: `mlw models catalog`
    """
    from mlflow_cli.models.catalog import catalog_rows
    from mlflow_cli.cli.render import render_catalog

    render_catalog(catalog_rows())


@models_app.command("list")
@_guarded
def models_list(config: ConfigOpt = DEFAULT_CONFIG, json_out: JsonOpt = False) -> None:
    """List aliases and the train versions they point at.

    Example: `mlw models list`
    """
    from mlflow_cli.core.registry import list_aliases
    from mlflow_cli.cli.render import render_aliases

    render_aliases(list_aliases(_load(config, None)))


@models_app.command("show")
@_guarded
def models_show(
    ref: Annotated[str, typer.Argument(help="An alias (production) or a train version.")],
    config: ConfigOpt = DEFAULT_CONFIG,
    json_out: JsonOpt = False,
) -> None:
    """Show a model: version, aliases, metrics, and the alias's history.

    Example: `mlw models show production`
    """
    from mlflow_cli.core.registry import show_model
    from mlflow_cli.cli.render import render_model

    render_model(show_model(_load(config, None), ref))


@models_app.command("promote")
@_guarded
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
    from mlflow_cli.cli.render import render_move

    render_move(promote(_load(config, None), version, alias, reason), "promoted")


@models_app.command("rollback")
@_guarded
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
    from mlflow_cli.cli.render import render_move

    render_move(rollback(_load(config, None), alias, reason), "rolled back")


# ----------------------------------------------------------------- runs


@runs_app.command("list")
@_guarded
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
    from mlflow_cli.cli.render import render_runs
    from mlflow_cli.project.runs import list_runs

    render_runs(list_runs(_load(config, None), sort=sort, model=model, limit=limit))


@runs_app.command("show")
@_guarded
def runs_show(
    version: Annotated[str, typer.Argument(help="Train version (id, unique prefix, or latest).")],
    config: ConfigOpt = DEFAULT_CONFIG,
    json_out: JsonOpt = False,
) -> None:
    """Show one run: params, cross-validation, test metrics, top features.

    Example: `mlw runs show latest`
    """
    from mlflow_cli.cli.render import render_run
    from mlflow_cli.project.runs import show_run

    render_run(show_run(_load(config, None), version))


@runs_app.command("compare")
@_guarded
def runs_compare(
    first: Annotated[str, typer.Argument(help="Train version A.")],
    second: Annotated[str, typer.Argument(help="Train version B.")],
    config: ConfigOpt = DEFAULT_CONFIG,
    json_out: JsonOpt = False,
) -> None:
    """Params and metrics of two runs side by side, with the differences.

    Example: `mlw runs compare 20261126-1530 latest`
    """
    from mlflow_cli.cli.render import render_compare
    from mlflow_cli.project.runs import compare_runs

    render_compare(compare_runs(_load(config, None), first, second))


# ----------------------------------------------------------------- config


@config_app.command("validate")
@_guarded
def config_validate(config: ConfigOpt = DEFAULT_CONFIG, set_: SetOpt = None, json_out: JsonOpt = False) -> None:
    """Check the config; exit 2 naming every problem.

    Example: `mlw config validate -c mlw.yaml`
    """
    cfg = _load(config, set_)
    console.emit({"valid": True, "config": str(cfg.path)},
                 lambda: console.print_text(f"{cfg.path.name} is valid (project '{cfg.model.project}')."))


@config_app.command("show")
@_guarded
def config_show(config: ConfigOpt = DEFAULT_CONFIG, set_: SetOpt = None, json_out: JsonOpt = False) -> None:
    """Print the resolved config with all defaults.

    Values that came from ${VAR} are shown as the template, never the secret.

    Example: `mlw config show --set prepare.split.seed=7`
    """
    import yaml

    cfg = _load(config, set_)
    data = cfg.dump()
    console.emit(data, lambda: console.print_text(yaml.safe_dump(data, sort_keys=False).rstrip()))


@config_app.command("schema")
@_guarded
def config_schema() -> None:
    """Print the JSON Schema of mlw.yaml (for editors).

    Example: `mlw config schema > mlw.schema.json`
    """
    import json

    from mlflow_cli.core.config import json_schema

    schema = json_schema()
    console.emit(schema, lambda: console.print_text(json.dumps(schema, indent=2)))


# ----------------------------------------------------------------- artifacts


@artifacts_app.command("list")
@_guarded
def artifacts_list(
    stage: Annotated[Optional[str], typer.Argument(help="Only this stage.")] = None,
    config: ConfigOpt = DEFAULT_CONFIG,
    json_out: JsonOpt = False,
) -> None:
    """List versions, newest first, with size, metrics and aliases.

    Example: `mlw artifacts list ingest`
    """
    from mlflow_cli.cli.render import render_artifact_list
    from mlflow_cli.project.inventory import list_artifacts

    render_artifact_list(list_artifacts(_load(config, None), stage))


@artifacts_app.command("show")
@_guarded
def artifacts_show(
    version: Annotated[str, typer.Argument(help="Version id, unique prefix, or STAGE/latest.")],
    config: ConfigOpt = DEFAULT_CONFIG,
    json_out: JsonOpt = False,
) -> None:
    """Show a version's manifest (inputs, outputs, config, metrics).

    Example: `mlw artifacts show prepare/latest`
    """
    from mlflow_cli.cli.render import render_manifest
    from mlflow_cli.project.inventory import show_artifact

    render_manifest(show_artifact(_load(config, None), version))


@artifacts_app.command("lineage")
@_guarded
def artifacts_lineage(
    version: Annotated[str, typer.Argument(help="Version id, unique prefix, or STAGE/latest.")],
    config: ConfigOpt = DEFAULT_CONFIG,
    json_out: JsonOpt = False,
) -> None:
    """Show the tree of inputs behind a version, down to the source.

    Example: `mlw artifacts lineage prepare/latest`
    """
    from mlflow_cli.cli.render import render_lineage
    from mlflow_cli.project.inventory import artifact_lineage

    render_lineage(artifact_lineage(_load(config, None), version))


@artifacts_app.command("verify")
@_guarded
def artifacts_verify(
    version: Annotated[Optional[str], typer.Argument(help="Check only this version (default: all).")] = None,
    config: ConfigOpt = DEFAULT_CONFIG,
    json_out: JsonOpt = False,
) -> None:
    """Check files against their manifests; exit 4 on any mismatch.

    Example: `mlw artifacts verify`
    """
    from mlflow_cli.cli.render import render_verify
    from mlflow_cli.project.inventory import verify_artifacts

    render_verify(verify_artifacts(_load(config, None), version))


@artifacts_app.command("gc")
@_guarded
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
    from mlflow_cli.cli.render import render_gc
    from mlflow_cli.project.inventory import collect_garbage

    render_gc(collect_garbage(_load(config, None), keep, dry_run), dry_run)


