"""`mlw package`: one model as a self-contained folder that builds into a container image.

The folder is a minimal mlw project that `mlw serve -c mlw.yaml` runs as it is:

    mlw.yaml                       project, artifacts: ./artifacts, serve (model: production)
    artifacts/<project>/
        registry.json              production -> the packaged train version
        train/<version>/           byte-identical copy of the train version (model.joblib, manifest.json, ...)
        prepare/<version>/         schema.json only; manifest rewritten to list it ("packaged": true)
        evaluate/<version>/        metrics.json only, when the model was evaluated (for /metadata)
    wheels/mlw-<v>-py3-none-any.whl
    requirements.txt               that wheel + exact pins of mlw's runtime dependencies as installed now
    Dockerfile, .dockerignore      slim Python of the running major.minor, non-root, HEALTHCHECK on /health
    README.md                      what is inside, how to run it with and without Docker, an example request
    SHA256SUMS                     every file, for `sha256sum -c SHA256SUMS` after a transfer

Integrity: the source versions are verified before anything is copied (a tampered pickle is
refused, never shipped), and the copies are verified again, as `mlw serve` will, before the
folder is published. The folder is built next to the target and renamed into place, so a
failure never leaves half a package, and an existing non-empty folder is replaced only with
`force`.

This module assembles the folder: it gathers the facts, copies and checks the artifacts, and
publishes. The wheel and the pins come from package/wheel.py, the text files from
package/files.py. Depends on core/ (store, registry, lineage, config), models/train_info and, for
the example request, serve/examples; never on cli/.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from mlflow_cli.core.config import Config
from mlflow_cli.core.errors import ArtifactError, ConfigError
from mlflow_cli.models.train_info import TrainInfo
from mlflow_cli.core.lineage import newest_evaluation_of, prepare_of
from mlflow_cli.core.registry import STAGE, resolve_model, start_registry
from mlflow_cli.core.store import LATEST, MANIFEST, TMP_PREFIX, Artifact, Store, open_store, write_json_atomic, sha256_file
from mlflow_cli.package.files import (PACKAGED_ALIAS, docker_platform, render_config, render_dockerfile,
                                      render_dockerignore, render_readme, render_requirements)
from mlflow_cli.package.wheel import build_wheel, library_drift, pinned_requirements, wheel_requires

SCHEMA_FILE = "schema.json"
METRICS_FILE = "metrics.json"
SUMS_FILE = "SHA256SUMS"

Status = Callable[[str], None]


def build_package(config: Config, model_ref: str | None = None, out_dir: Path | None = None, force: bool = False,
                  status: Status | None = None) -> dict[str, Any]:
    """Write the deployable folder for one model (alias or train version; default serve.model).

    Returns what was written: path, version, wheel, pins, files, and warnings to show."""
    say = status or (lambda message: None)
    store = open_store(config)
    ref = model_ref or config.model.serve.model
    train, alias = resolve_model(store, ref)  # verified: a tampered model is refused here
    prepare = _prepare_of(store, train)
    evaluation = _evaluation_of(store, train)
    target = Path(out_dir) if out_dir is not None else config.resolve("dist") / f"{store.project}-{train.version}"
    target = Path(os.path.abspath(target))
    _check_target(target, config, force)

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f"{TMP_PREFIX}{target.name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        say(f"Copying {train.ref}, {prepare.ref}" + (f" and {evaluation.ref}" if evaluation else "") + " ...")
        pkg_store = Store(tmp / "artifacts", store.project)
        _copy_artifacts(pkg_store, train, prepare, evaluation, ref)
        say("Building the mlw wheel ...")
        wheel, wheel_origin = build_wheel(tmp / "wheels")
        pins = pinned_requirements(wheel_requires(wheel), extras=_extras(train))
        warnings = library_drift(train, pins)
        facts = _facts(config, train, prepare, evaluation, alias or ref, wheel, pins, warnings)
        (tmp / "mlw.yaml").write_text(render_config(config, facts), encoding="utf-8")
        (tmp / "requirements.txt").write_text(render_requirements(wheel, pins, wheel_origin), encoding="utf-8")
        (tmp / "Dockerfile").write_text(render_dockerfile(facts), encoding="utf-8")
        (tmp / ".dockerignore").write_text(render_dockerignore(), encoding="utf-8")
        (tmp / "README.md").write_text(render_readme(facts), encoding="utf-8")
        _check_package(tmp, store.project, train, prepare, evaluation)
        files = _write_sums(tmp)
        replaced = _publish(tmp, target, force)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return {"path": str(target), "project": store.project, "version": train.version, "alias": alias,
            "model": TrainInfo.of(train.manifest).model, "prepare": prepare.version,
            "evaluate": evaluation.version if evaluation else None, "python": facts["python"],
            "wheel": f"wheels/{wheel.name}", "wheel_origin": wheel_origin, "requirements": len(pins),
            "files": files, "size_bytes": sum((target / f).stat().st_size for f in files),
            "replaced": replaced, "warnings": warnings}


# --------------------------------------------------------------------------- sources


def _prepare_of(store: Store, train: Artifact) -> Artifact:
    """The prepare version the model was trained on: its schema.json is the serving contract."""
    prepare = prepare_of(store, train)
    prepare.file(SCHEMA_FILE)  # ArtifactError naming the files it has, when there is none
    return prepare


def _evaluation_of(store: Store, train: Artifact) -> Artifact | None:
    """The newest evaluate version that scored this model (its metrics go into README and /metadata)."""
    found = newest_evaluation_of(store, train.version)
    return store.load("evaluate", found[0]) if found else None  # refuses a tampered evaluation rather than ship it


def _check_target(target: Path, config: Config, force: bool) -> None:
    if target.exists() and not target.is_dir():
        raise ConfigError(f"`--output` {target} must be a folder. Got a file.",
                          hint="Choose another folder with --output.")
    if not target.is_dir() or not any(target.iterdir()):
        return
    if not force:
        raise ConfigError(f"`--output` {target} already exists and is not empty.",
                          hint="Pass --force to replace it, or choose another folder with --output.")
    protected = [config.path, config.artifacts_dir, Path.cwd(), Path.home()]
    for path in protected:
        if Path(os.path.abspath(path)) == target or target in Path(os.path.abspath(path)).parents:
            raise ConfigError(f"`--output` {target} holds {path}, so --force would delete it.",
                              hint="Write the package to a folder of its own, e.g. --output dist/NAME.")


# --------------------------------------------------------------------------- artifacts


def _copy_artifacts(pkg: Store, train: Artifact, prepare: Artifact, evaluation: Artifact | None, ref: str) -> None:
    """train: byte for byte; prepare and evaluate: only what serving reads, with honest manifests."""
    _copy_version(train, pkg.stage_dir(STAGE) / train.version, list(train.manifest["outputs"]), rewrite=False)
    _copy_version(prepare, pkg.stage_dir("prepare") / prepare.version, [SCHEMA_FILE], rewrite=True)
    if evaluation is not None:
        keep = [METRICS_FILE] if METRICS_FILE in evaluation.manifest.get("outputs", {}) else []
        _copy_version(evaluation, pkg.stage_dir("evaluate") / evaluation.version, keep, rewrite=True)
    for artifact in filter(None, (train, prepare, evaluation)):
        (pkg.stage_dir(artifact.stage) / LATEST).write_text(artifact.version + "\n")
    start_registry(pkg, PACKAGED_ALIAS, train.version, reason=f"mlw package: '{ref}' of the source project")


def _copy_version(artifact: Artifact, dest: Path, keep: list[str], rewrite: bool) -> None:
    dest.mkdir(parents=True)
    for name in keep:
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(artifact.path / name, dest / name)
    if not rewrite:
        shutil.copy2(artifact.path / MANIFEST, dest / MANIFEST)
        return
    outputs = artifact.manifest.get("outputs", {})
    manifest = dict(artifact.manifest)
    manifest["outputs"] = {name: outputs[name] for name in keep}
    manifest["packaged"] = True
    manifest["dropped_outputs"] = {name: facts for name, facts in outputs.items() if name not in keep}
    write_json_atomic(dest / MANIFEST, manifest)


def _check_package(root: Path, project: str, train: Artifact, prepare: Artifact, evaluation: Artifact | None) -> None:
    """Check the folder the way `mlw serve` will read it: config, alias, hashes of every copy."""
    from mlflow_cli.core.config import load_config

    pkg = Store(root / "artifacts", project)
    for artifact in filter(None, (train, prepare, evaluation)):
        problems = pkg.verify(artifact.stage, artifact.version)
        if problems:
            raise ArtifactError(f"The packaged copy of {artifact.ref} failed its integrity check: "
                                f"{'; '.join(problems)}.", hint="The disk may be full or failing; try again.")
    if sha256_file(pkg.stage_dir(STAGE) / train.version / MANIFEST) != sha256_file(train.path / MANIFEST):
        raise ArtifactError(f"The packaged manifest of {train.ref} differs from the source.", hint="Try again.")
    packaged, _ = resolve_model(pkg, PACKAGED_ALIAS)
    if packaged.version != train.version:
        raise ArtifactError(f"The package's '{PACKAGED_ALIAS}' alias resolves to {packaged.ref}, not {train.ref}.")
    load_config(root / "mlw.yaml")


def _write_sums(root: Path) -> list[str]:
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    (root / SUMS_FILE).write_text("".join(f"{sha256_file(root / f)}  {f}\n" for f in files), encoding="utf-8")
    return sorted([*files, SUMS_FILE])


def _publish(tmp: Path, target: Path, force: bool) -> bool:
    """Rename the finished folder into place; with force, an old one is moved aside first and removed after."""
    try:
        if target.is_dir() and not any(target.iterdir()):
            target.rmdir()
        if not target.exists():
            os.rename(tmp, target)
            return False
    except OSError:
        if not target.exists():
            raise
    if not force:  # it appeared while this package was being built
        raise ConfigError(f"`--output` {target} was written by someone else while this package was built.",
                          hint="Run `mlw package` again (one at a time per folder), or pass --force.")
    old = target.parent / f"{TMP_PREFIX}old-{target.name}-{os.getpid()}"
    os.rename(target, old)
    try:
        os.rename(tmp, target)
    except OSError:
        os.rename(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)
    return True


# --------------------------------------------------------------------------- the facts


def _facts(config: Config, train: Artifact, prepare: Artifact, evaluation: Artifact | None, ref: str, wheel: Path,
           pins: list[str], warnings: list[str]) -> dict[str, Any]:
    """Everything the files of package/files.py are rendered from, gathered once."""
    from mlflow_cli.serve.examples import example_record

    schema = json.loads((prepare.path / SCHEMA_FILE).read_text(encoding="utf-8"))
    info = train.manifest.get("info", {})
    return {"project": config.model.project, "version": train.version, "ref": ref, "info": info,
            "prepare": prepare.version, "evaluate": evaluation.version if evaluation else None,
            "metrics": (evaluation.manifest.get("metrics") if evaluation else None) or train.manifest.get("metrics"),
            "metrics_from": evaluation.ref if evaluation else train.ref, "schema": schema,
            "example": example_record(schema), "libraries": train.manifest.get("libraries", {}),
            "python": f"{sys.version_info.major}.{sys.version_info.minor}", "platform": docker_platform(),
            "build_flag": f"--platform {docker_platform()} " if docker_platform().startswith("linux/") else "",
            "wheel": wheel.name, "pins": pins, "warnings": warnings, "token_env": config.model.serve.token_env,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}


def _extras(train: Artifact) -> tuple[str, ...]:
    """mlw's extras the model needs to load: `recommend` (implicit) for a recommender ranking with als."""
    info = TrainInfo.of(train.manifest)
    return ("recommend",) if info.task == "recommendation" and info.model == "als" else ()
