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

The mlw wheel is built from the source tree when mlw is installed editable (or run from a
checkout); otherwise the installed distribution is repacked from its RECORD, so packaging
works offline from a plain `pip install mlw` too.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from datetime import datetime, timezone
from importlib import metadata, resources
from pathlib import Path
from typing import Any

import yaml

from mlflow_cli import __version__
from mlflow_cli.core.config import Config
from mlflow_cli.core.errors import ArtifactError, ConfigError
from mlflow_cli.models.train_info import TrainInfo
from mlflow_cli.core.lineage import newest_evaluation_of, prepare_of
from mlflow_cli.core.registry import STAGE, resolve_model, start_registry
from mlflow_cli.core.store import LATEST, MANIFEST, TMP_PREFIX, Artifact, Store, open_store, write_json_atomic, sha256_file

DISTRIBUTION = "mlw"
PACKAGE_DIR = Path(__file__).resolve().parents[1]  # mlflow_cli/
PACKAGED_ALIAS = "production"
PORT = 8000
SCHEMA_FILE = "schema.json"
METRICS_FILE = "metrics.json"
SUMS_FILE = "SHA256SUMS"
BUILD_INPUTS = ("pyproject.toml", "setup.py", "setup.cfg", "MANIFEST.in")  # plus README*, LICENSE*, ...
ENDPOINTS = [
    ("POST /predict", "one record, a list of records, or {columns, data}; JSON or text/csv"),
    ("POST /invocations", "MLflow scoring protocol (dataframe_split, dataframe_records, inputs; or CSV)"),
    ("POST /v2/models/{project}/infer", "Open Inference Protocol (KServe v2)"),
    ("GET /health", "liveness and the version served (also /ping, /v2/health/live, /v2/health/ready)"),
    ("GET /metadata", "the model: version, task, classes, input schema, evaluation metrics"),
    ("GET /metrics", "Prometheus metrics"),
    ("GET /docs", "OpenAPI documentation with the input schema"),
    ("GET /", "a form to try the model in a browser"),
]

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
        pins = pinned_requirements(wheel_requires(wheel))
        warnings = _library_drift(train, pins)
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


# --------------------------------------------------------------------------- the mlw wheel


def build_wheel(dest: Path) -> tuple[Path, str]:
    """A wheel of the running mlw, and where it came from ('source tree ...' or 'installed ...')."""
    dest.mkdir(parents=True, exist_ok=True)
    source = _source_tree()
    if source is not None:
        return _wheel_from_source(source, dest), f"built from the source tree {source}"
    try:
        dist: metadata.Distribution | None = metadata.distribution(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        dist = None
    if dist is None:
        raise ArtifactError(f"mlw is neither installed (no '{DISTRIBUTION}' distribution) nor run from a source "
                            f"tree with pyproject.toml, so there is nothing to build a wheel from.",
                            hint="Install mlw (pip install mlw, or pip install -e . in a checkout) and try again.")
    return _repack_installed(dist, dest), f"repacked from the installed {dist.metadata['Name']} {dist.version}"


def _source_tree() -> Path | None:
    """The project folder when the running code sits in a source tree (editable install or checkout).

    Decided by where this file is, not by the distribution's metadata: a stray mlw.egg-info in
    the working directory can shadow an installed distribution's metadata."""
    root = PACKAGE_DIR.parent
    try:
        pyproject = (root / "pyproject.toml").read_text(encoding="utf-8")
    except OSError:
        return None
    return root if re.search(rf"""^name\s*=\s*["']{DISTRIBUTION}["']""", pyproject, re.MULTILINE) else None


def _wheel_from_source(root: Path, dest: Path) -> Path:
    """`pip wheel --no-deps` of a clean copy (an in-tree build would leave build/ behind, and stale files in it)."""
    package = PACKAGE_DIR
    with tempfile.TemporaryDirectory(prefix="mlw-wheel-") as scratch:
        copy = Path(scratch) / "src"
        copy.mkdir()
        for item in root.iterdir():
            if item.is_file() and (item.name in BUILD_INPUTS or item.name.upper().startswith(
                    ("README", "LICENSE", "LICENCE", "COPYING", "NOTICE"))):
                shutil.copy2(item, copy / item.name)
        shutil.copytree(package, copy / package.name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check",
                   "--wheel-dir", str(dest), str(copy)]
        if _build_requirements_met(copy / "pyproject.toml"):
            command.insert(4, "--no-build-isolation")  # offline and faster: the backend is installed here
        done = subprocess.run(command, capture_output=True, text=True)
    wheels = sorted(dest.glob("*.whl"))
    if done.returncode != 0 or len(wheels) != 1:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-8:])
        raise ArtifactError(f"Building the mlw wheel from {root} failed (pip exited {done.returncode}):\n{tail}",
                            hint="Check that pip works in this environment (python -m pip --version) and that "
                                 "the build backend (setuptools) can be installed or is installed.")
    return wheels[0]


def _build_requirements_met(pyproject: Path) -> bool:
    try:
        import tomllib
    except ImportError:  # Python 3.10: let pip build in isolation
        return False
    from packaging.requirements import Requirement

    try:
        requires = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("build-system", {}).get("requires", [])
        for text in requires:
            requirement = Requirement(text)
            if not requirement.specifier.contains(metadata.version(requirement.name), prereleases=True):
                return False
    except (ValueError, metadata.PackageNotFoundError):
        return False
    return True


def _repack_installed(dist: metadata.Distribution, dest: Path) -> Path:
    """Rebuild the wheel from the installed files listed in RECORD (without caches and install-time files)."""
    info_dir = next((f.parts[0] for f in dist.files or [] if f.parts[0].endswith(".dist-info")), None)
    wheel_meta = dist.read_text("WHEEL")
    if info_dir is None or not wheel_meta:
        raise ArtifactError(f"The installed {dist.metadata['Name']} has no RECORD or WHEEL file, so it cannot be "
                            f"repacked into a wheel.", hint="Reinstall mlw with pip and try again.")
    tags = [line.split(":", 1)[1].strip() for line in wheel_meta.splitlines() if line.startswith("Tag:")]
    tag = tags[0] if len(tags) == 1 else ".".join(sorted({t.split("-")[0] for t in tags})) + "-none-any"
    name = re.sub(r"[-_.]+", "_", dist.metadata["Name"]).lower()
    path = dest / f"{name}-{dist.version}-{tag}.whl"
    skip = {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"}
    record = []
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(dist.files or [], key=lambda f: f.as_posix()):
            relative = file.as_posix()
            if relative.startswith("..") or "__pycache__" in file.parts or relative.endswith(".pyc") or \
                    (file.parts[0] == info_dir and file.name in skip):
                continue  # console scripts (regenerated from entry_points.txt), caches, install records
            data = Path(str(dist.locate_file(file))).read_bytes()
            entry = zipfile.ZipInfo(relative, date_time=(1980, 1, 1, 0, 0, 0))
            entry.external_attr = 0o644 << 16
            entry.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(entry, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            record.append(f"{relative},sha256={digest},{len(data)}")
        record.append(f"{info_dir}/RECORD,,")
        archive.writestr(zipfile.ZipInfo(f"{info_dir}/RECORD", date_time=(1980, 1, 1, 0, 0, 0)),
                         "\n".join(record) + "\n")
    return path


# --------------------------------------------------------------------------- requirements


def wheel_requires(wheel: Path) -> list[str]:
    """The wheel's Requires-Dist: exactly what pip will resolve when it installs it."""
    import email

    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        return email.message_from_string(archive.read(name).decode("utf-8")).get_all("Requires-Dist") or []


def pinned_requirements(requires: list[str]) -> list[str]:
    """`Name==version` for these requirements and theirs, transitively, as installed in this environment.

    Markers are evaluated for this interpreter and platform (no extras of the root), so the
    pins fit a Linux image of the same Python when this runs on Linux."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    pins: dict[str, str] = {}
    seen: set[tuple[str, str]] = set()
    pending = [(text, "") for text in requires]
    while pending:
        text, extra = pending.pop()
        requirement = Requirement(text)
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": extra}):
            continue
        key = canonicalize_name(requirement.name)
        for wanted in ["", *sorted(requirement.extras)]:
            if (key, wanted) in seen:
                continue
            seen.add((key, wanted))
            try:
                dist = metadata.distribution(requirement.name)
            except metadata.PackageNotFoundError:
                raise ArtifactError(f"mlw needs '{requirement.name}', which is not installed in this environment, so "
                                    f"its version cannot be pinned.",
                                    hint=f"pip install '{text}' and try again.") from None
            pins[key] = f"{dist.metadata['Name']}=={dist.version}"
            pending.extend((child, wanted) for child in dist.requires or [])
    return sorted(pins.values(), key=str.lower)


def _library_drift(train: Artifact, pins: list[str]) -> list[str]:
    """Pickles load reliably only with the library versions that wrote them: say when the pins differ."""
    from packaging.utils import canonicalize_name

    pinned = {canonicalize_name(pin.split("==")[0]): pin.split("==")[1] for pin in pins}
    warnings = []
    for library, version in sorted(train.manifest.get("libraries", {}).items()):
        now = pinned.get(canonicalize_name(library))
        if now is not None and now != version:
            warnings.append(f"{train.ref} was trained with {library} {version}, but this environment (and so the "
                            f"package) has {library} {now}; the model may not load or may predict differently. "
                            f"Retrain with the installed versions, or package from an environment with {version}.")
    return warnings


# --------------------------------------------------------------------------- the files


def _facts(config: Config, train: Artifact, prepare: Artifact, evaluation: Artifact | None, ref: str, wheel: Path,
           pins: list[str], warnings: list[str]) -> dict[str, Any]:
    from mlflow_cli.serve.examples import example_record

    schema = json.loads((prepare.path / SCHEMA_FILE).read_text(encoding="utf-8"))
    info = train.manifest.get("info", {})
    return {"project": config.model.project, "version": train.version, "ref": ref, "info": info,
            "prepare": prepare.version, "evaluate": evaluation.version if evaluation else None,
            "metrics": (evaluation.manifest.get("metrics") if evaluation else None) or train.manifest.get("metrics"),
            "metrics_from": evaluation.ref if evaluation else train.ref, "schema": schema,
            "example": example_record(schema), "libraries": train.manifest.get("libraries", {}),
            "python": f"{sys.version_info.major}.{sys.version_info.minor}", "platform": _platform(),
            "build_flag": f"--platform {_platform()} " if _platform().startswith("linux/") else "",
            "wheel": wheel.name, "pins": pins, "warnings": warnings, "token_env": config.model.serve.token_env,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}


def _platform() -> str:
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
            f"{_platform()}.\n"
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


def _template(name: str) -> str:
    """A file of templates/package/ (package data)."""
    return resources.files("mlflow_cli").joinpath("templates", "package", name).read_text(encoding="utf-8")


def render_readme(facts: dict[str, Any]) -> str:
    project, version, info = facts["project"], facts["version"], facts["info"]
    example = json.dumps(facts["example"], default=str)
    tag = f"{project.lower()}:{version}"
    lines = [
        f"# {project} model {version}",
        "",
        f"A self-contained deployable made by `mlw package` (mlw {__version__}) on {facts['created']} from "
        f"`{facts['ref']}`. It serves one model over HTTP with `mlw serve`: the folder is a minimal mlw project "
        f"whose `{PACKAGED_ALIAS}` alias points at train version `{version}`.",
        "",
        "## The model",
        "",
        "| | |",
        "| --- | --- |",
        f"| project | `{project}` |",
        f"| train version | `{version}` |",
        f"| model | {info.get('model', '?')} (`{info.get('estimator', '?')}`) |",
        f"| task | {info.get('task', '?')}" + (f", target `{info['target']}`" if info.get("target") else "") + " |",
    ]
    if info.get("classes"):
        lines.append(f"| classes | {', '.join(f'`{c}`' for c in info['classes'])} |")
    lines += [
        f"| trained on | prepare version `{facts['prepare']}`, {info.get('train_rows', '?')} rows |",
        f"| libraries at training | {', '.join(f'{k} {v}' for k, v in sorted(facts['libraries'].items()))} |",
        "",
    ]
    metrics = facts["metrics"] or {}
    if metrics:
        lines += [f"Metrics ({facts['metrics_from']}):", "", "| metric | value |", "| --- | --- |"]
        lines += [f"| {name} | {value:.4f} |" if isinstance(value, (int, float)) else f"| {name} | {value} |"
                  for name, value in metrics.items()]
    else:
        lines.append("The model was not evaluated before packaging (run `mlw evaluate` to record metrics).")
    for warning in facts["warnings"]:
        lines += ["", f"**Warning:** {warning}"]
    lines += [
        "",
        "## Run it with Docker",
        "",
        "```sh",
        f"docker build {facts['build_flag']}-t {tag} .",
        f"docker run --rm -p {PORT}:{PORT} -v {project.lower()}-predictions:/app/artifacts/{project}/predictions "
        + (f"-e {facts['token_env']} " if facts["token_env"] else "") + tag,
        "```",
        "",
        f"The image runs `mlw serve` as a non-root user on port {PORT}, with a `HEALTHCHECK` on `/health`. "
        f"The volume keeps the prediction log (`artifacts/{project}/predictions/`), which `mlw monitor` reads. "
        f"Give `docker stop -t 35` so requests in flight finish (the server drains for up to 30 s).",
        *(["", f"Requests must send `Authorization: Bearer <token>`, with the token in the environment variable "
               f"`{facts['token_env']}` (`serve.token_env`); the server refuses to start without it."]
          if facts["token_env"] else []),
        "",
        f"## Run it without Docker (Python {facts['python']})",
        "",
        "```sh",
        f"python{facts['python']} -m venv .venv",
        ".venv/bin/pip install -r requirements.txt     # from this folder: the wheel path is relative",
        f".venv/bin/mlw serve -c mlw.yaml --port {PORT}",
        "```",
        "",
        "## Ask it",
        "",
        "```sh",
        f"curl -s localhost:{PORT}/health",
        f"curl -s localhost:{PORT}/predict -H 'content-type: application/json' \\",
        f"  -d '{example}'",
        "```",
        "",
        "Endpoints:",
        "",
        *[f"- `{route.format(project=project)}`: {what}" for route, what in ENDPOINTS],
        "",
        "Every request is checked against the input schema (`artifacts/.../prepare/*/schema.json`); a bad field "
        "gets 422 with a message per field.",
        "",
        "## What is inside",
        "",
        "- `mlw.yaml`: the project config (`serve` settings of the source project, `serve.model: production`).",
        f"- `artifacts/{project}/train/{version}/`: the model, byte for byte as trained, with its manifest.",
        f"- `artifacts/{project}/prepare/{facts['prepare']}/`: only `schema.json`; its manifest is marked "
        "`\"packaged\": true` and lists the files left out under `dropped_outputs`.",
    ]
    if facts["evaluate"]:
        lines.append(f"- `artifacts/{project}/evaluate/{facts['evaluate']}/`: only `metrics.json` (for `/metadata`).")
    lines += [
        f"- `wheels/{facts['wheel']}` and `requirements.txt`: mlw and the exact versions of its dependencies.",
        "- `Dockerfile`, `.dockerignore`, and `SHA256SUMS` (check a copy with `sha256sum -c SHA256SUMS`).",
        "",
        "`mlw serve` checks every model file against its manifest's sha256 before loading it, and refuses a "
        "modified one. `mlw artifacts verify -c mlw.yaml` checks them by hand.",
        "",
    ]
    return "\n".join(lines)
