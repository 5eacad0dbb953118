"""`mlw models list|show|promote|rollback`: aliases with a history, atomic writes, integrity."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from mlflow_cli.core.config import load_config
from mlflow_cli.core.registry import promote, resolve_model
from mlflow_cli.core.store import Store

FAST = ["--set", "train.model=logistic_regression"]


@pytest.fixture
def two_models(mlw, iris_project: Path) -> tuple[Path, str, str]:
    assert mlw("run", "-c", iris_project, "--until", "train", *FAST).exit_code == 0
    first = mlw("runs", "list", "-c", iris_project, "--json").json()[0]["version"]
    assert mlw("train", "-c", iris_project, "--set", "train.model=knn").exit_code == 0
    second = mlw("runs", "list", "-c", iris_project, "--json").json()[0]["version"]
    return iris_project, first, second


def _registry(config: Path) -> dict:
    return json.loads((config.parent / "artifacts" / "iris" / "registry.json").read_text())


def test_models_promote_rollback_and_history(mlw, two_models):
    config, first, second = two_models
    result = mlw("models", "promote", first, "--alias", "production", "--reason", "first model", "-c", config)
    assert result.exit_code == 0
    assert result.stdout.strip() == f"production promoted to train/{first}"
    moved = mlw("models", "promote", second, "-c", config, "--json").json()
    assert moved == {"alias": "production", "version": second, "previous": first, "reason": None}
    listed = mlw("models", "list", "-c", config, "--json").json()
    assert [(r["alias"], r["version"], r["model"]) for r in listed] == [("production", second, "knn")]
    back = mlw("models", "rollback", "production", "--reason", "knn is slow", "-c", config, "--json").json()
    assert back["version"] == first and back["previous"] == second
    registry = _registry(config)
    assert registry["aliases"]["production"]["version"] == first
    assert [(m["action"], m["from"], m["to"], m["reason"]) for m in registry["history"]] == [
        ("promote", None, first, "first model"), ("promote", first, second, None),
        ("rollback", second, first, "knn is slow")]
    again = mlw("models", "rollback", "production", "-c", config)
    assert again.exit_code == 4
    assert "has no earlier version to roll back to" in again.stderr
    shown = mlw("models", "show", "production", "-c", config, "--json").json()
    assert shown["version"] == first and len(shown["history"]) == 3 and shown["problems"] == []


def test_models_aliases_are_independent_and_gc_keeps_them(mlw, two_models):
    config, first, second = two_models
    mlw("models", "promote", first, "--alias", "production", "-c", config)
    mlw("models", "promote", second, "--alias", "staging", "-c", config)
    for _ in range(2):
        mlw("train", "-c", config, "--force", *FAST)
    gc = mlw("artifacts", "gc", "--keep", "1", "-c", config, "--json").json()
    assert f"train/{first}" not in gc["versions"] and f"train/{second}" not in gc["versions"]
    assert any(v.startswith("train/") for v in gc["versions"])


def test_models_promote_refuses_tampered_version(mlw, two_models):
    config, first, _ = two_models
    model = config.parent / "artifacts" / "iris" / "train" / first / "model.joblib"
    model.write_bytes(model.read_bytes() + b"x")
    result = mlw("models", "promote", first, "-c", config)
    assert result.exit_code == 4
    assert f"Refusing to promote train/{first}: it failed its integrity check" in result.stderr
    assert not (config.parent / "artifacts" / "iris" / "registry.json").exists()


@pytest.mark.parametrize("args,code,message", [
    (["models", "promote", "19990101", "--alias", "production"], 4, "No 'train' version '19990101'"),
    (["models", "promote", "latest", "--alias", "9lives"], 2, "Alias '9lives' must start with a letter"),
    (["models", "rollback", "staging"], 4, "No model holds the alias 'staging'."),
])
def test_models_bad_input(mlw, two_models, args, code, message):
    config, _, _ = two_models
    result = mlw(*args, "-c", config)
    assert result.exit_code == code, result.stderr
    assert message in result.stderr


def test_registry_concurrent_promotions_lose_nothing(two_models):
    config, first, second = two_models
    cfg = load_config(config)
    threads = [threading.Thread(target=promote, args=(cfg, v, f"alias{i}")) for i, v in
               enumerate([first, second] * 5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    registry = _registry(config)
    assert len(registry["aliases"]) == 10 and len(registry["history"]) == 10


def test_resolve_model_refuses_alias_to_another_projects_version(mlw, two_models):
    config, first, _ = two_models
    mlw("models", "promote", first, "-c", config)
    path = config.parent / "artifacts" / "iris" / "registry.json"
    data = json.loads(path.read_text())
    data["aliases"]["production"]["version"] = "20200101-000000-000abc"
    path.write_text(json.dumps(data))
    store = Store(config.parent / "artifacts", "iris")
    from mlflow_cli.core.errors import ArtifactError

    with pytest.raises(ArtifactError, match="which project 'iris' does not have"):
        resolve_model(store, "production")
    artifact, alias = resolve_model(store, first)
    assert artifact.version == first and alias is None


def test_every_reader_takes_an_alias_written_as_a_plain_version(mlw, two_models):
    config, first, second = two_models
    path = config.parent / "artifacts" / "iris" / "registry.json"
    path.write_text(json.dumps({"aliases": {"production": first}}))
    listed = mlw("models", "list", "-c", config, "--json")
    assert listed.exit_code == 0, listed.stderr
    assert [(r["alias"], r["version"]) for r in listed.json()] == [("production", first)]
    shown = mlw("models", "show", "production", "-c", config, "--json")
    assert shown.exit_code == 0 and shown.json()["version"] == first
    runs = {r["version"]: r["aliases"] for r in mlw("runs", "list", "-c", config, "--json").json()}
    assert runs == {first: ["production"], second: []}
    promoted = mlw("models", "promote", second, "-c", config, "--json")
    assert promoted.exit_code == 0 and promoted.json()["previous"] == first
    assert _registry(config)["aliases"]["production"]["version"] == second


@pytest.mark.parametrize("content", ['["production"]', '{"aliases": []}', '{"aliases": {"production": ""}}'])
def test_a_malformed_registry_is_an_artifact_error_for_every_reader(mlw, two_models, content):
    config, first, _ = two_models
    (config.parent / "artifacts" / "iris" / "registry.json").write_text(content)
    for args in (["models", "list"], ["runs", "list"], ["artifacts", "list"], ["models", "promote", first]):
        result = mlw(*args, "-c", config)
        assert result.exit_code == 4, (args, result.stderr)
        assert "registry.json" in result.stderr and "Traceback" not in result.stderr
