"""`mlw init`: the scaffolded project runs as created."""

from __future__ import annotations

import yaml


def test_init_creates_runnable_project(mlw, tmp_path):
    result = mlw("init", "shop", cwd=tmp_path)
    assert result.exit_code == 0, result.stderr
    project = tmp_path / "shop"
    for name in ("mlw.yaml", "Makefile", "data/churn.csv", ".gitignore"):
        assert (project / name).is_file(), name
    config = yaml.safe_load((project / "mlw.yaml").read_text())
    assert config["project"] == "shop"
    assert "# " in (project / "mlw.yaml").read_text()  # commented for a new user
    makefile = (project / "Makefile").read_text()
    for target in ("ingest:", "prepare:"):
        assert target in makefile

    assert mlw("ingest", cwd=project).exit_code == 0
    result = mlw("prepare", "--json", cwd=project)
    assert result.exit_code == 0, result.stderr
    info = result.json()["info"]
    assert info["task"] == "classification"
    assert info["rows_out"] > 500
    assert (project / "artifacts" / "shop" / "prepare" / result.json()["version"] / "preprocessor.joblib").is_file()


def test_init_never_overwrites(mlw, tmp_path):
    assert mlw("init", "shop", cwd=tmp_path).exit_code == 0
    (tmp_path / "shop" / "mlw.yaml").write_text("project: mine\n")
    result = mlw("init", "shop", cwd=tmp_path)
    assert result.exit_code == 2
    assert "never overwrites" in result.stderr
    assert (tmp_path / "shop" / "mlw.yaml").read_text() == "project: mine\n"


def test_init_rejects_bad_name(mlw, tmp_path):
    result = mlw("init", "my project!", cwd=tmp_path)
    assert result.exit_code == 2
    assert "must start with a letter or digit" in result.stderr
    assert not any(tmp_path.iterdir())


def test_init_into_a_file_is_a_clear_error(mlw, tmp_path):
    (tmp_path / "taken").write_text("a file, not a folder\n")
    result = mlw("init", "shop", "--dir", tmp_path / "taken", cwd=tmp_path)
    assert result.exit_code == 2, result.stderr
    assert f"Cannot create the project in {tmp_path / 'taken'}" in result.stderr
    assert "Choose a folder that does not exist yet or is writable (--dir)." in result.stderr
    assert (tmp_path / "taken").read_text() == "a file, not a folder\n"
