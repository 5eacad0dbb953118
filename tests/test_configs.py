"""Every shipped config in configs/ validates and runs the whole chain as shipped, passing
its own gates."""

from __future__ import annotations

import pytest

from .conftest import REPO

CONFIGS = sorted((REPO / "configs").glob("*.yaml"))
EXPECTED_TASKS = {"diabetes": "regression", "iris_clusters": "clustering", "movies": "recommendation"}


def test_configs_folder_has_examples():
    assert len(CONFIGS) >= 5


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.stem)
def test_configs_run_as_shipped(mlw, config, tmp_path):
    store = f"artifacts={tmp_path / 'artifacts'}"
    assert mlw("config", "validate", "-c", config).exit_code == 0
    ingest = mlw("ingest", "-c", config, "--set", store, "--json")
    assert ingest.exit_code == 0, ingest.stderr
    assert ingest.json()["info"]["rows"] > 100
    prepare = mlw("prepare", "-c", config, "--set", store, "--json")
    assert prepare.exit_code == 0, prepare.stderr
    info = prepare.json()["info"]
    assert info["task"] == EXPECTED_TASKS.get(config.stem, "classification")
    assert sum(info["splits"].values()) == info["rows_out"]
    assert info["features_out"] >= info["features_in"]
    chain = mlw("run", "-c", config, "--set", store, "--json")
    assert chain.exit_code == 0, chain.stderr  # every shipped config passes its own gates
    for output in (chain.stdout, chain.stderr):  # no warning of ours or of our libraries' deprecations leaks
        assert "FutureWarning" not in output and "DeprecationWarning" not in output
    steps = {s["stage"]: s for s in chain.json()["steps"]}
    sql = "url:" in config.read_text()
    assert steps["ingest"]["action"] == ("ran" if sql else "cached")  # databases are read again every run
    assert steps["prepare"]["action"] == "cached"  # ...but the same rows give the same snapshot
    assert steps["train"]["action"] == steps["evaluate"]["action"] == "ran"
    assert steps["evaluate"]["metrics"]
