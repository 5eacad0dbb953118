"""The workflow commands: `mlw init`, the stages (`ingest`, `prepare`, `train`, `evaluate`,
`predict`, `monitor`, `retrain`), `serve`, `package` and `run`. Each parses, loads the config, calls one function and
renders its result."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from mlflow_cli.cli import console
from mlflow_cli.cli.app import app
from mlflow_cli.cli.common import DEFAULT_CONFIG, ConfigOpt, ForceOpt, JsonOpt, SetOpt, guarded, load


@app.command()
@guarded
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
@guarded
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

    cfg = load(config, set_)
    result = run_ingest(cfg, force=force, append=append, progress=console.progress)
    render_ingest(result)


@app.command()
@guarded
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

    cfg = load(config, set_)
    result = run_prepare(cfg, source_version=from_, force=force)
    render_prepare(result)


@app.command()
@guarded
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

    cfg = load(config, set_)
    render_train(run_train(cfg, source_version=from_, force=force, progress=console.progress))


@app.command()
@guarded
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

    cfg = load(config, set_)
    result = run_evaluate(cfg, model_version=model, force=force, progress=console.progress)
    render_evaluate(result)
    failures = gate_failures(result)
    if failures:
        raise GateError(f"{len(failures)} gate{'s' if len(failures) > 1 else ''} failed for "
                        f"{result.stage}/{result.version}: " + "; ".join(failures) + ".",
                        hint=f"See {result.details['report']}. Improve the model, or change evaluate.gates.")


@app.command()
@guarded
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

    cfg = load(config, set_)
    render_predict(run_predict(cfg, input_path=input_path, output=output, model_ref=model, rejects=rejects,
                               force=force, progress=console.progress))


@app.command()
@guarded
def monitor(
    config: ConfigOpt = DEFAULT_CONFIG,
    set_: SetOpt = None,
    input_path: Annotated[Optional[Path], typer.Option("--input", "-i", help="File of current data (default: "
                                                                             "monitor.current).")] = None,
    batch: Annotated[Optional[str], typer.Option("--batch", help="Ingest version whose new batch is the current "
                                                                 "data (e.g. latest after `mlw ingest --append`).")] = None,
    log: Annotated[bool, typer.Option("--log", help="Monitor what `mlw serve` logged: inputs, predictions, "
                                                    "latency and errors.")] = False,
    since: Annotated[Optional[str], typer.Option("--since", help="With --log: from this long ago (30m, 24h, 7d) "
                                                                 "or this ISO date/time (UTC).")] = None,
    until: Annotated[Optional[str], typer.Option("--until", help="With --log: up to (not including) this time.")] = None,
    model_version: Annotated[Optional[str], typer.Option("--model-version", help="With --log: only rows this train "
                                                                                 "version answered.")] = None,
    model: Annotated[Optional[str], typer.Option("--model", help="Alias or train version monitored (default: "
                                                                 "monitor.model, production).")] = None,
    window: Annotated[Optional[str], typer.Option("--window", help="One verdict per time window this long (7d): "
                                                                   "over the log, or by data.time_column.")] = None,
    every: Annotated[Optional[str], typer.Option("--every", help="With --window: a window every this long (1d; "
                                                                 "default: the window's length).")] = None,
    json_out: JsonOpt = False,
    force: ForceOpt = False,
) -> None:
    """Detect drift and quality problems; exit 1 on a failed gate.

    Data drift per column (KS + Wasserstein, chi-square + Jensen-Shannon, PSI) and for the
    dataset, target and prediction drift, data quality against the schema, performance once
    labels arrive (estimated from probabilities before), and with --log the service's health.
    Writes monitor/<version> with monitor.json, metrics.json and report.html.

    Example: `mlw monitor --input data/churn_drift.csv`, `mlw monitor --log --since 24h` or
    `mlw monitor --log --window 7d --every 1d`
    """
    from mlflow_cli.core.errors import GateError
    from mlflow_cli.cli.render_monitor import render_monitor
    from mlflow_cli.stages.monitor.stage import gate_failures, run_monitor

    cfg = load(config, set_)
    result = run_monitor(cfg, model_ref=model, input_path=input_path, batch=batch, log=log, since=since, until=until,
                         model_version=model_version, force=force, progress=console.progress, window=window,
                         every=every)
    render_monitor(result)
    failures = gate_failures(result)
    if failures:
        raise GateError(f"{len(failures)} monitor gate{'s' if len(failures) > 1 else ''} failed for "
                        f"{result.stage}/{result.version}: " + "; ".join(failures) + ".",
                        hint=f"See {result.details['report']}. Retrain on recent data (mlw retrain), or change "
                             f"monitor.gates.")


@app.command()
@guarded
def retrain(
    config: ConfigOpt = DEFAULT_CONFIG,
    set_: SetOpt = None,
    input_path: Annotated[Optional[Path], typer.Option("--input", "-i", help="New rows to append to the latest "
                                                                             "ingest version first.")] = None,
    from_: Annotated[Optional[str], typer.Option("--from", help="Ingest version to train from (default: the "
                                                                "latest).")] = None,
    if_drift: Annotated[bool, typer.Option("--if-drift", help="Run `mlw monitor` first (or read --monitor) and "
                                                              "retrain only when a monitor gate fails.")] = False,
    monitor_ref: Annotated[Optional[str], typer.Option("--monitor", help="With --if-drift: the monitor version "
                                                                         "that decides (e.g. latest).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Say what would run and be judged; write and "
                                                            "promote nothing.")] = False,
    no_promote: Annotated[bool, typer.Option("--no-promote", help="Train and judge only.")] = False,
    promote_to: Annotated[Optional[str], typer.Option("--promote-to", help="Alias a winner is promoted to "
                                                                           "(default: retrain.promote_to, "
                                                                           "production).")] = None,
    json_out: JsonOpt = False,
    force: ForceOpt = False,
) -> None:
    """Retrain on new data; promote the challenger if it wins.

    Runs prepare, train and evaluate (cached where nothing changed) on retrain.window's rows,
    scores the champion and the challenger on the same rows, promotes the challenger when it
    wins by retrain.margin and passes evaluate.gates, and records the decision in
    retrain/<version> and the registry's history. Exit 1 when the challenger is not better.

    Example: `mlw retrain --input data/week_5.csv` or `mlw retrain --if-drift --monitor latest`
    """
    from mlflow_cli.core.errors import GateError
    from mlflow_cli.cli.render_retrain import render_retrain
    from mlflow_cli.stages.retrain.stage import run_retrain

    cfg = load(config, set_)
    result = run_retrain(cfg, input_path=input_path, from_version=from_, if_drift=if_drift, monitor_ref=monitor_ref,
                         dry_run=dry_run, promote=not no_promote, promote_to=promote_to, force=force,
                         progress=console.progress)
    render_retrain(result)
    if result.challenger_lost:
        raise GateError(f"The challenger was not promoted: {result.decision['reason']}",
                        hint=f"See retrain/{result.version}. Train on more or newer rows (retrain.window), or "
                             f"lower retrain.margin.")


@app.command()
@guarded
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

    cfg = load(config, set_)
    run_server(cfg, host=host, port=port, model_ref=model, workers=workers)


@app.command()
@guarded
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

    cfg = load(config, set_)
    render_package(build_package(cfg, model, output, force, status=console.status))


@app.command("run")
@guarded
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

    cfg = load(config, set_)
    outcome = run_pipeline(cfg, start=start, until=until, dry_run=dry_run, force=force,
                           progress=console.progress, on_step=render_step)
    render_pipeline(outcome)
    if outcome.gate_failures:
        raise GateError(f"The chain ran, but {len(outcome.gate_failures)} gate(s) failed: "
                        + "; ".join(outcome.gate_failures) + ".",
                        hint="See the evaluate report (mlw artifacts show evaluate/latest).")
