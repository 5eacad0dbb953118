"""`mlw package`: the deployable folder (files, Dockerfile, pins, verified copies), its refusals,
and the real thing: install it into a fresh virtual environment and serve from it."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import zipfile
from importlib import metadata
from pathlib import Path

import httpx
import joblib
import pandas as pd
import pytest

from mlflow_cli.core.config import load_config
from mlflow_cli.core.errors import ArtifactError, ConfigError
from mlflow_cli.package.build import build_package
from mlflow_cli.core.store import Store, sha256_file

from ..conftest import DATA, promoted_churn_project

PIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*==[A-Za-z0-9][A-Za-z0-9.+!_-]*$")
INSTALL_TIMEOUT = 360
START_TIMEOUT = 60


def _versions(config: Path) -> dict[str, str]:
    store = config.parent / "artifacts" / "churn"
    return {stage: (store / stage / "latest").read_text().strip() for stage in ("prepare", "train", "evaluate")}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A churn project: a logistic regression promoted to production, and its evaluation."""
    return promoted_churn_project(tmp_path_factory.mktemp("package-project"), serve={"max_body_mb": 5})


@pytest.fixture(scope="module")
def package(project: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("package-out") / "churn-pkg"
    result = build_package(load_config(project), None, out, False)
    return out, result


@pytest.fixture
def project_copy(project: Path, tmp_path: Path) -> Path:
    shutil.copytree(project.parent, tmp_path / "project")
    return tmp_path / "project" / "mlw.yaml"


def _lines(path: Path) -> list[str]:
    return [line for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]


# --------------------------------------------------------------------------- the folder


def test_package_writes_a_minimal_servable_project(project, package):
    out, result = package
    v = _versions(project)
    wheel = f"wheels/mlw-{metadata.version('mlw')}-py3-none-any.whl"
    assert result["files"] == sorted([
        ".dockerignore", "Dockerfile", "README.md", "SHA256SUMS", "mlw.yaml", "requirements.txt", wheel,
        "artifacts/churn/registry.json",
        f"artifacts/churn/train/{v['train']}/manifest.json", f"artifacts/churn/train/{v['train']}/model.joblib",
        f"artifacts/churn/train/{v['train']}/features.json", f"artifacts/churn/train/{v['train']}/importances.json",
        f"artifacts/churn/train/{v['train']}/reference.json",  # so the deployed model can be monitored
        "artifacts/churn/train/latest",
        f"artifacts/churn/prepare/{v['prepare']}/manifest.json", f"artifacts/churn/prepare/{v['prepare']}/schema.json",
        "artifacts/churn/prepare/latest",
        f"artifacts/churn/evaluate/{v['evaluate']}/manifest.json",
        f"artifacts/churn/evaluate/{v['evaluate']}/metrics.json", "artifacts/churn/evaluate/latest"])
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == result["files"]
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".tmp-")]
    assert {k: result[k] for k in ("path", "project", "version", "alias", "model", "prepare", "evaluate", "wheel",
                                   "replaced", "warnings")} == {
        "path": str(out), "project": "churn", "version": v["train"], "alias": "production",
        "model": "logistic_regression", "prepare": v["prepare"], "evaluate": v["evaluate"], "wheel": wheel,
        "replaced": False, "warnings": []}
    assert result["wheel_origin"].startswith("built from the source tree")
    config = load_config(out / "mlw.yaml")
    assert config.artifacts_dir == out / "artifacts"
    assert config.model.serve.model == "production" and config.model.serve.max_body_mb == 5  # source settings kept
    assert not (out / "data").exists()  # data.source is a placeholder that serving never reads


def test_package_dockerfile_is_slim_non_root_with_healthcheck(package):
    out, _ = package
    lines = _lines(out / "Dockerfile")
    assert lines[0] == f"FROM python:{sys.version_info.major}.{sys.version_info.minor}-slim"
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and all(user.split(":")[0] not in ("root", "0") for user in users)
    assert "RUN pip install --no-cache-dir -r requirements.txt" in lines
    assert "EXPOSE 8000" in lines
    health = next(i for i, line in enumerate(lines) if line.startswith("HEALTHCHECK"))
    assert "http://127.0.0.1:8000/health" in lines[health + 1] and "urllib.request" in lines[health + 1]
    assert json.loads(lines[-1].removeprefix("CMD ")) == ["mlw", "serve", "-c", "mlw.yaml", "--host", "0.0.0.0",
                                                          "--port", "8000"]
    assert "artifacts/*/predictions" in _lines(out / ".dockerignore")


def test_package_requirements_pin_every_dependency(package):
    out, result = package
    lines = _lines(out / "requirements.txt")
    assert lines[0] == f"./{result['wheel']}" and (out / result["wheel"]).is_file()
    assert [line for line in lines[1:] if not PIN.match(line)] == []
    pins = {line.split("==")[0].lower().replace("_", "-"): line.split("==")[1] for line in lines[1:]}
    for name in ("scikit-learn", "pandas", "fastapi", "uvicorn", "prometheus-client", "numpy", "starlette"):
        assert pins[name] == metadata.version(name)  # direct and transitive, as installed here
    assert "pytest" not in pins and "httpx" not in pins and "mlw" not in pins  # no dev extra, no self-pin
    assert result["requirements"] == len(lines) - 1


def test_package_copies_are_verified_and_byte_identical(project, package):
    out, _ = package
    v = _versions(project)
    source, packaged = project.parent / "artifacts" / "churn", out / "artifacts" / "churn"
    train = source / "train" / v["train"]
    for path in train.iterdir():
        assert sha256_file(packaged / "train" / v["train"] / path.name) == sha256_file(path)
    store = Store(out / "artifacts", "churn")
    assert [store.verify(stage, v[stage]) for stage in ("train", "prepare", "evaluate")] == [[], [], []]
    prepare = json.loads((packaged / "prepare" / v["prepare"] / "manifest.json").read_text())
    assert prepare["packaged"] is True and list(prepare["outputs"]) == ["schema.json"]
    assert sorted(prepare["dropped_outputs"]) == ["preprocessor.joblib", "test.parquet", "train.parquet"]
    registry = json.loads((packaged / "registry.json").read_text())
    assert registry["aliases"]["production"]["version"] == v["train"]
    sums = dict(reversed(line.split("  ", 1)) for line in (out / "SHA256SUMS").read_text().splitlines())
    assert sums == {f: sha256_file(out / f) for f in sorted(
        p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file() and p.name != "SHA256SUMS")}


def test_package_readme_describes_the_model_and_a_real_request(project, package):
    out, _ = package
    readme = (out / "README.md").read_text()
    v = _versions(project)
    evaluate = json.loads((project.parent / "artifacts/churn/evaluate" / v["evaluate"] / "manifest.json").read_text())
    assert f"# churn model {v['train']}" in readme
    assert f"| f1 | {evaluate['metrics']['f1']:.4f} |" in readme
    assert "docker build" in readme and "docker run" in readme and ".venv/bin/mlw serve -c mlw.yaml" in readme
    for endpoint in ("/predict", "/invocations", "/v2/models/churn/infer", "/health", "/metadata", "/metrics"):
        assert f"`{endpoint}" in readme or f" {endpoint}`" in readme
    example = json.loads(re.search(r"-d '(\{.*\})'", readme).group(1))
    schema = json.loads(next((out / "artifacts/churn/prepare").glob("*/schema.json")).read_text())
    assert list(example) == list(schema["columns"])


# --------------------------------------------------------------------------- refusals


@pytest.mark.parametrize("stage,name", [("train", "model.joblib"), ("prepare", "schema.json"),
                                        ("prepare", "train.parquet"), ("evaluate", "metrics.json")])
def test_package_refuses_a_tampered_artifact(project_copy, tmp_path, stage, name):
    version = _versions(project_copy)[stage]
    path = project_copy.parent / "artifacts" / "churn" / stage / version / name
    path.write_bytes(path.read_bytes() + b"x")
    out = tmp_path / "dist" / "pkg"
    with pytest.raises(ArtifactError) as caught:
        build_package(load_config(project_copy), "production", out, False)
    assert f"{stage}/{version}/{name} does not match its sha256 in manifest.json" in caught.value.message
    assert not out.parent.exists() or list(out.parent.iterdir()) == []


def test_package_refuses_an_existing_folder_unless_forced(project_copy, tmp_path):
    config = load_config(project_copy)
    out = tmp_path / "pkg"
    out.mkdir()
    build_package(config, None, out, False)  # an empty folder is fine
    (out / "stale.txt").write_text("old")
    with pytest.raises(ConfigError) as caught:
        build_package(config, None, out, False)
    assert caught.value.message == f"`--output` {out} already exists and is not empty."
    assert caught.value.hint == "Pass --force to replace it, or choose another folder with --output."
    result = build_package(config, None, out, True)
    assert result["replaced"] is True and not (out / "stale.txt").exists() and (out / "Dockerfile").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pkg", "project"]  # nothing left aside


def test_package_force_never_deletes_the_project(project_copy):
    config = load_config(project_copy)
    with pytest.raises(ConfigError) as caught:
        build_package(config, None, project_copy.parent, True)
    assert caught.value.message == f"`--output` {project_copy.parent} holds {config.path}, so --force would delete it."
    assert project_copy.is_file() and (project_copy.parent / "artifacts").is_dir()


def test_package_default_folder_version_ref_and_token(project_copy):
    config = load_config(project_copy, ["serve.token_env=MLW_TOKEN"])
    with pytest.raises(ArtifactError, match="No model holds the alias 'staging'"):
        build_package(config, "staging", None, False)
    result = build_package(config, "latest", None, False)
    out = project_copy.parent / "dist" / f"churn-{result['version']}"
    assert result["path"] == str(out) and result["alias"] is None
    assert load_config(out / "mlw.yaml").model.serve.token_env == "MLW_TOKEN"
    assert f"-e MLW_TOKEN churn:{result['version']}" in (out / "README.md").read_text()


def test_package_warns_when_installed_libraries_differ_from_training(project_copy, tmp_path):
    version = _versions(project_copy)["train"]
    path = project_copy.parent / "artifacts" / "churn" / "train" / version / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["libraries"]["scikit-learn"] = "0.24.2"
    path.write_text(json.dumps(manifest))  # the manifest's own bytes are not hashed; its outputs still verify
    result = build_package(load_config(project_copy), None, tmp_path / "pkg", False)
    installed = metadata.version("scikit-learn")
    assert result["warnings"] == [
        f"train/{version} was trained with scikit-learn 0.24.2, but this environment (and so the package) has "
        f"scikit-learn {installed}; the model may not load or may predict differently. Retrain with the installed "
        f"versions, or package from an environment with 0.24.2."]
    assert f"**Warning:** {result['warnings'][0]}" in (tmp_path / "pkg" / "README.md").read_text()


# --------------------------------------------------------------------------- the real thing


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _clean_env(venv: Path) -> dict[str, str]:
    """This machine's environment without the repository's virtual environment."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    repo_bin = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join([str(venv / "bin"), *(p for p in env.get("PATH", "").split(os.pathsep)
                                                        if p and p != repo_bin)])
    return env


@pytest.mark.slow
def test_package_installs_into_a_fresh_venv_and_serves(project, package, tmp_path):
    out, result = package
    folder = tmp_path / "deploy"
    shutil.copytree(out, folder)  # the server writes its prediction log inside the folder
    venv = tmp_path / "venv"
    env = _clean_env(venv)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    started = time.monotonic()
    install = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check",
                              "-r", "requirements.txt"], cwd=folder, env=env, capture_output=True, text=True,
                             timeout=INSTALL_TIMEOUT)
    assert install.returncode == 0, install.stdout[-3000:] + install.stderr[-3000:]
    print(f"fresh venv install: {time.monotonic() - started:.1f} s")
    where = subprocess.run([str(venv / "bin" / "python"), "-c", "import mlflow_cli; print(mlflow_cli.__file__)"],
                           cwd=folder, env=env, capture_output=True, text=True, check=True).stdout.strip()
    assert Path(where).is_relative_to(venv)  # the packaged wheel, not the repository

    port = _free_port()
    server = subprocess.Popen([str(venv / "bin" / "mlw"), "serve", "-c", "mlw.yaml", "--port", str(port),
                               "--host", "127.0.0.1"], cwd=folder, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            assert server.poll() is None, f"mlw serve exited with {server.returncode}: {server.stderr.read()}"
            try:
                health = httpx.get(f"{url}/health", timeout=1)
                if health.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"mlw serve did not answer /health within {START_TIMEOUT} s"
            time.sleep(0.2)
        assert health.json() == {"status": "ok", "model_version": result["version"], "alias": "production"}

        rows = pd.read_csv(DATA / "churn.csv").drop(columns=["churned", "customer_id"]).iloc[:5]
        example = json.loads(re.search(r"-d '(\{.*\})'", (folder / "README.md").read_text()).group(1))
        model = joblib.load(project.parent / "artifacts/churn/train" / result["version"] / "model.joblib")
        for records, frame in [(rows.to_dict(orient="records"), rows), ([example], pd.DataFrame([example]))]:
            answer = httpx.post(f"{url}/predict", json=records, timeout=30)
            assert answer.status_code == 200, answer.text
            body = answer.json()
            assert body["model_version"] == result["version"]
            assert body["predictions"] == list(model.predict(frame))
            expected = model.predict_proba(frame)
            for got, want in zip(body["probabilities"], expected, strict=True):
                assert [got[c] for c in body["classes"]] == pytest.approx(list(want), abs=1e-9)
        metadata_ = httpx.get(f"{url}/metadata", timeout=10).json()
        assert metadata_["evaluation"]["version"] == result["evaluate"]
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
        try:
            _, stderr = server.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            _, stderr = server.communicate()
    assert server.returncode == 0, stderr
    logged = [json.loads(line) for path in (folder / "artifacts/churn/predictions").glob("*.jsonl")
              for line in path.read_text().splitlines()]
    assert len(logged) == 6

    # mlw installed from a wheel (no source tree) packages too: it repacks itself from its RECORD.
    again = tmp_path / "again"
    script = ("import json, sys; from mlflow_cli.core.config import load_config; from mlflow_cli.package.build import "
              "build_package; print(json.dumps(build_package(load_config(sys.argv[1]), None, sys.argv[2], False)))")
    done = subprocess.run([str(venv / "bin" / "python"), "-c", script, str(project), str(again)], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    repacked = json.loads(done.stdout)
    assert repacked["wheel_origin"] == f"repacked from the installed mlw {metadata.version('mlw')}"
    assert _lines(again / "requirements.txt") == _lines(out / "requirements.txt")
    assert _wheel_files(again / repacked["wheel"]) == _wheel_files(out / result["wheel"])
    target = tmp_path / "target"
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--no-deps", "--no-index",
                    "--disable-pip-version-check", "--target", str(target), str(again / repacked["wheel"])],
                   env=env, check=True, capture_output=True, timeout=120)
    assert (target / "mlflow_cli" / "package" / "build.py").is_file()


def _wheel_files(path: Path) -> dict[str, str]:
    """name -> sha256 of each file in a wheel, RECORD aside (its line order may differ)."""
    with zipfile.ZipFile(path) as archive:
        return {name: hashlib.sha256(archive.read(name)).hexdigest() for name in archive.namelist()
                if not name.endswith("/RECORD")}


def test_a_recommender_that_ranks_with_als_gets_the_recommend_extra_pinned():
    from mlflow_cli.package.build import _extras
    from mlflow_cli.package.wheel import pinned_requirements

    requires = ['implicit>=0.7.2; extra == "recommend"', "pyyaml>=6.0"]
    plain = pinned_requirements(requires)
    assert [p.split("==")[0].lower() for p in plain] == ["pyyaml"]
    with_extra = {p.split("==")[0].lower() for p in pinned_requirements(requires, extras=("recommend",))}
    assert {"implicit", "pyyaml", "tqdm", "threadpoolctl", "scipy", "numpy"} <= with_extra

    class Train:
        def __init__(self, info):
            self.manifest = {"info": info}

    assert _extras(Train({"task": "recommendation", "model": "als"})) == ("recommend",)
    assert _extras(Train({"task": "recommendation", "model": "ease"})) == ()
    assert _extras(Train({"task": "classification", "model": "xgboost"})) == ()
