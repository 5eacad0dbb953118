"""The text files of a package, rendered from its facts: mlw.yaml, requirements.txt, Dockerfile,
.dockerignore and README.md.

Each `render_*` is a pure function of the facts `build.py` gathers (and, for mlw.yaml, the source
config); the Dockerfile, .dockerignore and README are templates/package/ files (package data).
Depends on the standard library, PyYAML and core/config; nothing here reads the store or writes.
"""

from __future__ import annotations

import json
import platform
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

import yaml

from mlflow_cli import __version__
from mlflow_cli.core.config import Config

PACKAGED_ALIAS = "production"
PORT = 8000


def docker_platform() -> str:
    """Where the pins were resolved, as Docker names platforms (linux/amd64)."""
    machine = platform.machine().lower()
    machine = {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)
    return f"{platform.system().lower()}/{machine}"


def render_config(config: Config, facts: dict[str, Any]) -> str:
    """A minimal, valid project: only what `mlw serve` (and `mlw predict --input`) read."""
    data = config.model.data
    section: dict[str, Any] = {"source": {"type": "csv", "path": "data/records.csv"}}
    if data.target:
        section["target"] = data.target
    if data.id_columns:
        section["id_columns"] = list(data.id_columns)
    if data.time_column:
        section["time_column"] = data.time_column
    dumped = config.dump()
    serve = {**dumped["serve"], "model": PACKAGED_ALIAS}
    predict = {**dumped["predict"], "model": PACKAGED_ALIAS}
    body = yaml.safe_dump({"project": facts["project"], "artifacts": "./artifacts", "data": section,
                           "serve": serve, "predict": predict}, sort_keys=False)
    return (f"# Made by `mlw package` (mlw {__version__}) on {facts['created']}: {facts['project']} model "
            f"{facts['version']}.\n"
            f"# `mlw serve -c mlw.yaml` serves the model that the '{PACKAGED_ALIAS}' alias points at.\n"
            f"# data.source is not shipped and `mlw serve` does not read it; `mlw predict --input FILE` scores\n"
            f"# a file.\n"
            f"{body}")


def render_requirements(wheel: Path, pins: list[str], origin: str) -> str:
    return (f"# Made by `mlw package` (mlw {__version__}) with Python {platform.python_version()} on "
            f"{docker_platform()}.\n"
            f"# wheels/{wheel.name}: mlw itself, {origin}.\n"
            f"# The pins are every runtime dependency of mlw, transitively, at the version installed where the\n"
            f"# package was made (read with importlib.metadata, markers evaluated for that Python and platform).\n"
            f"# Install from this folder: pip install -r requirements.txt\n"
            f"./wheels/{wheel.name}\n" + "".join(f"{pin}\n" for pin in pins))


def render_dockerfile(facts: dict[str, Any]) -> str:
    health = (f"import sys, urllib.request; sys.exit(0 if urllib.request.urlopen("
              f"'http://127.0.0.1:{PORT}/health', timeout=4).status == 200 else 1)")
    return _template("Dockerfile").format(
        project=facts["project"], image=facts["project"].lower(), version=facts["version"], python=facts["python"],
        platform=facts["platform"], build_flag=facts["build_flag"], mlw_version=__version__, port=PORT, health=health)


def render_dockerignore() -> str:
    return _template("dockerignore")


def render_readme(facts: dict[str, Any]) -> str:
    """README.md: templates/package/README.md with $placeholders (Markdown has braces, so not str.format).

    The optional parts (target, classes, metrics, warnings, token, evaluation) are whole lines
    rendered here, each with its own leading newlines, so an absent one leaves no blank line."""
    project, version, info, token_env = facts["project"], facts["version"], facts["info"], facts["token_env"]
    metrics = facts["metrics"] or {}
    if metrics:
        metric_lines = [f"Metrics ({facts['metrics_from']}):", "", "| metric | value |", "| --- | --- |"]
        metric_lines += [f"| {name} | {value:.4f} |" if isinstance(value, (int, float)) else f"| {name} | {value} |"
                         for name, value in metrics.items()]
    else:
        metric_lines = ["The model was not evaluated before packaging (run `mlw evaluate` to record metrics)."]
    token_note = (f"\n\nRequests must send `Authorization: Bearer <token>`, with the token in the environment "
                  f"variable `{token_env}` (`serve.token_env`); the server refuses to start without it."
                  if token_env else "")
    evaluate = (f"\n- `artifacts/{project}/evaluate/{facts['evaluate']}/`: only `metrics.json` (for `/metadata`)."
                if facts["evaluate"] else "")
    return Template(_template("README.md")).substitute(
        project=project, version=version, mlw_version=__version__, created=facts["created"], ref=facts["ref"],
        alias=PACKAGED_ALIAS, model=f"{info.get('model', '?')}", estimator=f"{info.get('estimator', '?')}",
        task=f"{info.get('task', '?')}", target=f", target `{info['target']}`" if info.get("target") else "",
        classes=f"\n| classes | {', '.join(f'`{c}`' for c in info['classes'])} |" if info.get("classes") else "",
        prepare=facts["prepare"], train_rows=f"{info.get('train_rows', '?')}",
        libraries=", ".join(f"{k} {v}" for k, v in sorted(facts["libraries"].items())),
        metrics="\n".join(metric_lines), warnings="".join(f"\n\n**Warning:** {w}" for w in facts["warnings"]),
        build_flag=facts["build_flag"], tag=f"{project.lower()}:{version}", image=project.lower(), port=PORT,
        token_flag=f"-e {token_env} " if token_env else "", token_note=token_note, python=facts["python"],
        example=json.dumps(facts["example"], default=str), evaluate=evaluate, wheel=facts["wheel"])


def _template(name: str) -> str:
    """A file of templates/package/ (package data)."""
    return resources.files("mlflow_cli").joinpath("templates", "package", name).read_text(encoding="utf-8")
