"""The config loader: schema, defaults, line-numbered messages, --set, ${ENV}, and `mlw config`."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
import yaml

from mlflow_cli.core.config import Config, json_schema, load_config
from mlflow_cli.core.errors import EXIT_USAGE, ConfigError

from ..conftest import write_config

MINIMAL = {"project": "demo", "data": {"source": {"path": "data/d.csv"}, "target": "y"}}

# A base file whose line numbers the tests below rely on.
BASE = """\
project: demo
data:
  source:
    path: data/d.csv
  target: y
prepare:
  split:
    test_size: 0.2
"""


def write_text(folder: Path, text: str, name: str = "mlw.yaml") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def config_error(path: Path, overrides: tuple[str, ...] = ()) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_config(path, overrides)
    return info.value


def assert_clean_error(run, exit_code: int = EXIT_USAGE) -> None:
    """One 'Error:' message with the documented exit code, no traceback, nothing on stdout."""
    assert run.exit_code == exit_code, run.stderr
    assert run.stderr.startswith("Error: ")
    assert run.stderr.count("Error: ") == 1
    assert "Traceback" not in run.stderr
    assert run.stdout == ""


# --------------------------------------------------------------------------- valid files


def test_load_config_minimal_fills_defaults(tmp_path: Path) -> None:
    cfg = load_config(write_config(tmp_path, MINIMAL))

    model = cfg.model
    assert model.project == "demo"
    assert model.data.target == "y"
    assert model.data.id_columns == []
    assert model.data.source.type == "csv"  # picked from the extension
    assert model.data.source.encoding == "utf-8"
    assert model.prepare.split.test_size == 0.2
    assert model.prepare.split.valid_size == 0.0
    assert model.prepare.split.seed == 42
    assert model.prepare.split.method == "auto"
    assert model.ingest.mode == "snapshot"
    assert model.ingest.block_size_mb == 16
    assert model.train.task == "auto"
    assert model.prepare.datetime.components == ["year", "month", "day", "dayofweek"]
    assert cfg.path == (tmp_path / "mlw.yaml").resolve()


def test_load_config_relative_paths_resolve_against_config_folder(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)

    cfg = load_config(write_config(project, {**MINIMAL, "artifacts": "out/store"}))

    assert cfg.model.data.source.path == str(project.resolve() / "data" / "d.csv")
    assert cfg.artifacts_dir == project.resolve() / "out" / "store"
    assert cfg.base_dir == project.resolve()


def test_load_config_default_artifacts_dir_is_next_to_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(Path("/"))
    cfg = load_config(write_config(tmp_path, MINIMAL))
    assert cfg.artifacts_dir == tmp_path.resolve() / "artifacts"


def test_load_config_absolute_path_kept(tmp_path: Path) -> None:
    absolute = tmp_path / "abs" / "d.parquet"
    cfg = load_config(write_config(tmp_path, {"project": "demo", "data": {"source": {"path": str(absolute)}}}))
    assert cfg.model.data.source.path == str(absolute)
    assert cfg.model.data.source.type == "parquet"


@pytest.mark.parametrize(("url", "expected"), [
    ("sqlite:///db/churn.db", "sqlite:///{base}/db/churn.db"),
    ("sqlite:////var/abs.db", "sqlite:////var/abs.db"),
    ("sqlite:///:memory:", "sqlite:///:memory:"),
    ("postgresql://u@host/db", "postgresql://u@host/db"),
])
def test_load_config_sqlite_relative_url_resolved(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  url: str, expected: str) -> None:
    monkeypatch.chdir(Path("/"))
    cfg = load_config(write_config(tmp_path, {
        "project": "demo", "data": {"source": {"url": url, "table": "customers"}}}))
    assert cfg.model.data.source.url == expected.format(base=tmp_path.resolve())
    assert cfg.model.data.source.type == "sql"


def test_load_config_glob_path_infers_type(tmp_path: Path) -> None:
    cfg = load_config(write_config(tmp_path, {"project": "demo", "data": {"source": {"path": "batches/*.jsonl"}}}))
    assert cfg.model.data.source.type == "jsonl"
    assert cfg.model.data.source.path == str(tmp_path.resolve() / "batches" / "*.jsonl")


def test_config_where_names_key_and_line(tmp_path: Path) -> None:
    cfg = load_config(write_text(tmp_path, BASE))
    assert cfg.where("data", "target") == "`data.target` (mlw.yaml:5)"
    assert cfg.where("prepare", "split", "test_size") == "`prepare.split.test_size` (mlw.yaml:8)"
    assert cfg.where("train", "task") == "`train.task` (mlw.yaml)"


# --------------------------------------------------------------------------- malformed files


@pytest.mark.parametrize(("text", "fragment"), [
    ("project: demo\ndata: [1,\n", "mlw.yaml:3:1: the file is not valid YAML"),
    ("project: demo\n  data: x\n", "mlw.yaml:2:7: the file is not valid YAML"),
    ("project: 'demo\n", "mlw.yaml:2:1: the file is not valid YAML"),
    ("project: demo\n\tdata: 1\n", "mlw.yaml:2:1: the file is not valid YAML"),
])
def test_load_config_malformed_yaml_names_file_and_line(tmp_path: Path, text: str, fragment: str) -> None:
    error = config_error(write_text(tmp_path, text))
    assert fragment in error.message
    assert error.hint == "Check indentation and quoting on that line."
    assert error.exit_code == EXIT_USAGE


@pytest.mark.parametrize(("text", "fragment"), [
    ("", "Got an empty file."),
    ("# only a comment\n", "Got an empty file."),
    ("- project: demo\n- data: x\n", "Got list."),
    ("just a string\n", "Got str."),
    ("42\n", "Got int."),
])
def test_load_config_not_a_mapping(tmp_path: Path, text: str, fragment: str) -> None:
    error = config_error(write_text(tmp_path, text))
    assert error.message.endswith(f"the file must be a YAML mapping of sections (project:, data:, ...). {fragment}")
    assert error.hint == "Start from `mlw init NAME` or an example in configs/."


def test_load_config_missing_file_hints_init(tmp_path: Path) -> None:
    error = config_error(tmp_path / "nope.yaml")
    assert error.message == f"Config file '{tmp_path / 'nope.yaml'}' not found."
    assert "mlw init NAME" in error.hint


def test_load_config_directory_is_not_a_file(tmp_path: Path) -> None:
    error = config_error(tmp_path)
    assert error.message == f"Config file '{tmp_path}' not found."


def test_load_config_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "mlw.yaml"
    path.write_bytes(b"project: d\xffmo\n")
    error = config_error(path)
    assert error.message == f"{path}: the file is not UTF-8 text (byte 10 cannot be decoded)."
    assert error.hint == "Save the config as UTF-8."


def test_load_config_duplicate_key_is_an_error(tmp_path: Path) -> None:
    path = write_text(tmp_path, BASE + "  split:\n    seed: 1\n")
    error = config_error(path)
    assert error.message == "mlw.yaml:9: key 'split' appears twice in `prepare` (first at line 7)."

    error = config_error(write_text(tmp_path, BASE + "project: other\n"))
    assert error.message == "mlw.yaml:9: key 'project' appears twice at the top level (first at line 1)."


# --------------------------------------------------------------------------- unknown keys


@pytest.mark.parametrize(("extra", "expected"), [
    ("projct: x\n",
     "Unknown key 'projct' in the top level (mlw.yaml:9). Did you mean 'project'? "
     "Allowed keys: project, artifacts, data, ingest, prepare, train, evaluate, serve, predict, monitor, retrain, "
     "engine, pipeline."),
    ("train:\n  tsk: regression\n",
     "Unknown key 'tsk' in `train` (mlw.yaml:10). Did you mean 'task'? Allowed keys: task, model, params, metric, "
     "cv, search, candidates, time_budget_s, class_weight, early_stopping_rounds, rating_model, n_jobs, seed."),
    ("ingest:\n  mod: append\n",
     "Unknown key 'mod' in `ingest` (mlw.yaml:10). Did you mean 'mode'? "
     "Allowed keys: mode, block_size_mb, stream_above_mb, max_categories."),
    ("  splt: {seed: 1}\n",
     "Unknown key 'splt' in `prepare` (mlw.yaml:9). Did you mean 'split'? Allowed keys: split, drop_duplicates, "
     "coerce_types, drop_columns, numeric, categorical, text, datetime, columns, min_user_interactions, "
     "min_item_interactions, window."),
    ("    tst_size: 0.3\n",
     "Unknown key 'tst_size' in `prepare.split` (mlw.yaml:9). Did you mean 'test_size'? "
     "Allowed keys: method, test_size, valid_size, seed, stratify, group_column, last_n."),
    ("  columns:\n    age:\n      scal: none\n",
     "Unknown key 'scal' in `prepare.columns.age` (mlw.yaml:11). Did you mean 'scale'? Allowed keys: type, impute, "
     "fill_value, missing_indicator, scale, encode, min_frequency, max_onehot, max_features, ngram_max, min_df, "
     "components."),
    ("  numeric:\n    xyzzy: 1\n",
     "Unknown key 'xyzzy' in `prepare.numeric` (mlw.yaml:10). Allowed keys: impute, fill_value, "
     "missing_indicator, scale."),
])
def test_load_config_unknown_key(tmp_path: Path, extra: str, expected: str) -> None:
    error = config_error(write_text(tmp_path, BASE + extra))
    assert error.message == expected
    assert error.hint == "See `mlw config schema` for every key, or `mlw config show` for defaults."


def test_load_config_unknown_nested_source_key(tmp_path: Path) -> None:
    text = BASE.replace("    path: data/d.csv\n", "    path: data/d.csv\n    pth: data/e.csv\n")
    error = config_error(write_text(tmp_path, text))
    assert error.message == ("Unknown key 'pth' in `data.source` (mlw.yaml:5). Did you mean 'path'? "
                             "Allowed keys: type, path, url, table, query, delimiter, encoding, sheet.")


def test_load_config_reports_every_problem_at_once(tmp_path: Path) -> None:
    error = config_error(write_text(tmp_path, BASE + "    seeed: 1\ningest:\n  mode: bogus\n"))
    lines = error.message.splitlines()
    assert lines[0] == "mlw.yaml has 2 problems:"
    assert sorted(lines[1:]) == sorted([
        "  - `ingest.mode` (mlw.yaml:11) must be 'snapshot' or 'append'. Got 'bogus'.",
        "  - Unknown key 'seeed' in `prepare.split` (mlw.yaml:9). Did you mean 'seed'? "
        "Allowed keys: method, test_size, valid_size, seed, stratify, group_column, last_n.",
    ])


# --------------------------------------------------------------------------- wrong values


@pytest.mark.parametrize(("key", "value", "expected"), [
    ("test_size", '"abc"', "`prepare.split.test_size` (mlw.yaml:8) must be a valid number, unable to parse "
                           "string as a number. Got 'abc'."),
    ("test_size", "1.5", "`prepare.split.test_size` (mlw.yaml:8) must be less than 1. Got 1.5."),
    ("test_size", "0", "`prepare.split.test_size` (mlw.yaml:8) must be greater than 0. Got 0."),
    ("test_size", "[0.2]", "`prepare.split.test_size` (mlw.yaml:8) must be a valid number. Got [0.2]."),
    ("seed", "4.5", "`prepare.split.seed` (mlw.yaml:8) must be a valid integer, got a number with a fractional "
                    "part. Got 4.5."),
    ("stratify", "maybe", "`prepare.split.stratify` (mlw.yaml:8) must be a valid boolean, unable to interpret "
                          "input. Got 'maybe'."),
    ("method", "zigzag", "`prepare.split.method` (mlw.yaml:8) must be 'auto', 'random', 'stratified', 'time', "
                         "'group' or 'user_time'. Got 'zigzag'."),
])
def test_load_config_wrong_split_value(tmp_path: Path, key: str, value: str, expected: str) -> None:
    text = BASE.replace("    test_size: 0.2\n", f"    {key}: {value}\n")
    assert config_error(write_text(tmp_path, text)).message == expected


@pytest.mark.parametrize(("section", "expected"), [
    ("ingest:\n  mode: bogus\n", "`ingest.mode` (mlw.yaml:10) must be 'snapshot' or 'append'. Got 'bogus'."),
    ("ingest:\n  block_size_mb: 0\n",
     "`ingest.block_size_mb` (mlw.yaml:10) must be greater than or equal to 1. Got 0."),
    ("train:\n  task: ranking\n",
     "`train.task` (mlw.yaml:10) must be 'auto', 'classification', 'regression', 'clustering' or "
     "'recommendation'. Got 'ranking'."),
    ("  datetime:\n    components: [year, fortnight]\n",
     "`prepare.datetime.components.1` (mlw.yaml:10) must be 'year', 'month', 'day', 'dayofweek', 'dayofyear', "
     "'quarter', 'hour' or 'minute'. Got 'fortnight'."),
    ("  drop_columns: notes\n", "`prepare.drop_columns` (mlw.yaml:9) must be a valid list. Got 'notes'."),
])
def test_load_config_wrong_value_in_section(tmp_path: Path, section: str, expected: str) -> None:
    assert config_error(write_text(tmp_path, BASE + section)).message == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("project: bad name!\ndata:\n  source: {path: d.csv}\n",
     "`project` (mlw.yaml:1) must match pattern '^[A-Za-z0-9][A-Za-z0-9_.-]*$'. Got 'bad name!'."),
    ("project: demo\ndata:\n  source: {path: d.csv, sheet: [1]}\n",
     "`data.source.sheet` (mlw.yaml:3) must be a valid string or a valid integer. Got [1]."),
    ("project: demo\ndata:\n  source: {path: d.csv}\n  target: id\n  id_columns: [id]\n",
     "`data` (mlw.yaml:2): column 'id' cannot be both the target and an id column."),
    ("project: demo\ndata:\n  source: {path: d.csv}\nprepare:\n  split: {test_size: 0.5, valid_size: 0.5}\n",
     "`prepare.split` (mlw.yaml:5): test_size + valid_size must be below 1; got 0.5 + 0.5."),
    ("project: demo\ndata:\n  source: {path: d.csv}\nprepare:\n  split: {method: group}\n",
     "`prepare.split` (mlw.yaml:5): method 'group' needs group_column."),
])
def test_load_config_cross_field_and_union_messages(tmp_path: Path, text: str, expected: str) -> None:
    assert config_error(write_text(tmp_path, text)).message == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("data:\n  source: {path: d.csv}\n", "`project` is required (missing in the top level of mlw.yaml)."),
    ("project: demo\n", "`data` is required (missing in the top level of mlw.yaml)."),
    ("project: demo\ndata:\n  target: y\n", "`data.source` is required (missing in `data` (mlw.yaml:2))."),
])
def test_load_config_missing_required(tmp_path: Path, text: str, expected: str) -> None:
    assert config_error(write_text(tmp_path, text)).message == expected


@pytest.mark.parametrize(("source", "expected"), [
    ("{type: sql, url: 'sqlite:///x.db'}", "a sql source needs exactly one of 'table' or 'query'"),
    ("{url: 'sqlite:///x.db', table: t, query: 'select 1'}", "a sql source needs exactly one of 'table' or 'query'"),
    ("{type: sql, table: t}", "a sql source needs 'url' (a SQLAlchemy URL)"),
    ("{url: 'sqlite:///x.db', table: t, path: d.csv}", "a sql source takes 'url', not 'path'"),
    ("{type: csv}", "a file source needs 'path' (a file or a glob such as data/*.csv)"),
    ("{path: data/d.dat}", "cannot tell the file type of 'data/d.dat' from its extension; "
                           "set type to one of csv, tsv, parquet, json, jsonl, excel"),
    ("{type: feather, path: d.csv}", None),
])
def test_load_config_source_shape_errors(tmp_path: Path, source: str, expected: str | None) -> None:
    error = config_error(write_text(tmp_path, f"project: demo\ndata:\n  source: {source}\n"))
    if expected is None:
        assert error.message.startswith("`data.source.type` (mlw.yaml:3) must be 'auto', 'csv', ")
        assert error.message.endswith("Got 'feather'.")
    else:
        assert error.message == f"`data.source` (mlw.yaml:3): {expected}."


def test_load_config_unknown_extension_with_type_is_fine(tmp_path: Path) -> None:
    cfg = load_config(write_text(tmp_path, "project: demo\ndata:\n  source: {type: tsv, path: data/d.dat}\n"))
    assert cfg.model.data.source.type == "tsv"


# --------------------------------------------------------------------------- --set


def test_load_config_set_nested_and_typed_values(tmp_path: Path) -> None:
    cfg = load_config(write_text(tmp_path, BASE), [
        "prepare.split.test_size=0.3",
        "prepare.split.seed=7",
        "prepare.split.stratify=false",
        "data.id_columns=[a, b]",
        "data.target=churned",
        "ingest.block_size_mb=32",
    ])
    split = cfg.model.prepare.split
    assert (split.test_size, split.seed, split.stratify) == (0.3, 7, False)
    assert cfg.model.data.id_columns == ["a", "b"]
    assert cfg.model.data.target == "churned"
    assert cfg.model.ingest.block_size_mb == 32
    assert cfg.where("prepare", "split", "seed") == "`prepare.split.seed` (from --set)"


def test_load_config_set_creates_missing_sections(tmp_path: Path) -> None:
    cfg = load_config(write_config(tmp_path, MINIMAL), ["train.task=regression", "prepare.columns.age.scale=none"])
    assert cfg.model.train.task == "regression"
    assert cfg.model.prepare.columns["age"].scale == "none"


def test_load_config_set_later_override_wins(tmp_path: Path) -> None:
    cfg = load_config(write_config(tmp_path, MINIMAL), ["prepare.split.seed=1", "prepare.split.seed=2"])
    assert cfg.model.prepare.split.seed == 2


def test_load_config_set_value_with_equals_sign(tmp_path: Path) -> None:
    cfg = load_config(write_config(tmp_path, MINIMAL), ["data.source.path=data/a=b.csv"])
    assert cfg.model.data.source.path == str(tmp_path.resolve() / "data" / "a=b.csv")


@pytest.mark.parametrize(("override", "expected"), [
    ("prepare.split.test_size", "--set 'prepare.split.test_size' must look like key.path=value."),
    ("=0.3", "--set '=0.3' must look like key.path=value."),
    ("data.target.name=y", "--set 'data.target.name=y': `data.target` is not a section, so it has no key 'name'."),
    ("data.target=[a", "--set 'data.target=[a': the value is not valid YAML."),
])
def test_load_config_bad_set(tmp_path: Path, override: str, expected: str) -> None:
    assert config_error(write_config(tmp_path, MINIMAL), (override,)).message == expected


@pytest.mark.parametrize(("override", "expected"), [
    ("prepare.split.tst_size=0.3",
     "Unknown key 'tst_size' in `prepare.split` (from --set). Did you mean 'test_size'? "
     "Allowed keys: method, test_size, valid_size, seed, stratify, group_column, last_n."),
    ("prepare.split.test_size=1.5", "`prepare.split.test_size` (from --set) must be less than 1. Got 1.5."),
    ("prepare.split.test_size=abc",
     "`prepare.split.test_size` (from --set) must be a valid number, unable to parse string as a number. Got 'abc'."),
])
def test_load_config_bad_value_from_set(tmp_path: Path, override: str, expected: str) -> None:
    assert config_error(write_text(tmp_path, BASE), (override,)).message == expected


def test_load_config_set_section_value_is_not_blamed_on_file_lines(tmp_path: Path) -> None:
    error = config_error(write_text(tmp_path, BASE), ("prepare.split={test_size: 1.5, tst: 1}",))
    assert error.message.splitlines()[1:] == [
        "  - `prepare.split.test_size` (from --set) must be less than 1. Got 1.5.",
        "  - Unknown key 'tst' in `prepare.split` (from --set). Allowed keys: method, test_size, valid_size, seed, "
        "stratify, group_column, last_n.",
    ]


# --------------------------------------------------------------------------- ${ENV}


def test_load_config_env_expansion(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLW_TEST_DIR", "incoming")
    monkeypatch.setenv("MLW_TEST_SEED", "99")
    monkeypatch.delenv("MLW_TEST_UNSET", raising=False)
    cfg = load_config(write_text(tmp_path, """\
        project: demo
        data:
          source: {path: "${MLW_TEST_DIR}/d.csv"}
          target: "${MLW_TEST_UNSET:-churned}"
        prepare:
          split: {seed: "${MLW_TEST_SEED}"}
        """))
    assert cfg.model.data.source.path == str(tmp_path.resolve() / "incoming" / "d.csv")
    assert cfg.model.data.target == "churned"
    assert cfg.model.prepare.split.seed == 99
    assert cfg.templates == {("data", "source", "path"): "${MLW_TEST_DIR}/d.csv",
                             ("data", "target"): "${MLW_TEST_UNSET:-churned}",
                             ("prepare", "split", "seed"): "${MLW_TEST_SEED}"}


def test_load_config_env_default_may_be_empty(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLW_TEST_UNSET", raising=False)
    cfg = load_config(write_config(tmp_path, {**MINIMAL, "project": "demo${MLW_TEST_UNSET:-}"}))
    assert cfg.model.project == "demo"


def test_load_config_env_missing_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLW_TEST_PASSWORD", raising=False)
    path = write_text(tmp_path, """\
        project: demo
        data:
          source:
            url: "postgresql://u:${MLW_TEST_PASSWORD}@db/x"
            table: customers
        """)
    error = config_error(path)
    assert error.message == ("`data.source.url` (mlw.yaml:4) uses ${MLW_TEST_PASSWORD}, but the environment "
                             "variable MLW_TEST_PASSWORD is not set.")
    assert error.hint == ("Export it before running mlw (export MLW_TEST_PASSWORD=...), "
                          "or write ${MLW_TEST_PASSWORD:-default}.")


def test_load_config_env_missing_variable_from_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLW_TEST_UNSET", raising=False)
    error = config_error(write_config(tmp_path, MINIMAL), ("data.target=${MLW_TEST_UNSET}",))
    assert error.message.startswith("`data.target` (from --set) uses ${MLW_TEST_UNSET}")


SECRET_CONFIG = """\
project: demo
data:
  source:
    url: "postgresql://app:${MLW_TEST_SECRET}@db.example/sales"
    table: customers
"""


def test_config_section_keeps_env_template(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLW_TEST_SECRET", "s3cr3t-hunter2")
    cfg = load_config(write_text(tmp_path, SECRET_CONFIG))

    assert cfg.model.data.source.url == "postgresql://app:s3cr3t-hunter2@db.example/sales"  # stages get the value
    section = cfg.section("data")
    assert section["data"]["source"]["url"] == "postgresql://app:${MLW_TEST_SECRET}@db.example/sales"
    assert "s3cr3t-hunter2" not in json.dumps(section)
    assert "s3cr3t-hunter2" not in json.dumps(cfg.dump())


def test_load_config_bad_env_value_is_not_echoed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLW_TEST_SECRET", "s3cr3t-hunter2")
    error = config_error(write_text(tmp_path, BASE + "ingest:\n  block_size_mb: ${MLW_TEST_SECRET}\n"))
    assert error.message == ("`ingest.block_size_mb` (mlw.yaml:10) must be a valid integer, unable to parse string "
                             "as an integer. Got the value of '${MLW_TEST_SECRET}'.")
    assert "s3cr3t-hunter2" not in str(error)


def test_mlw_config_show_hides_secret(tmp_path: Path, mlw, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLW_TEST_SECRET", "s3cr3t-hunter2")
    path = write_text(tmp_path, SECRET_CONFIG)

    for args in (("config", "show", "-c", path), ("config", "show", "-c", path, "--json")):
        run = mlw(*args)
        assert run.exit_code == 0, run.stderr
        assert "s3cr3t-hunter2" not in run.stdout + run.stderr
        assert "${MLW_TEST_SECRET}" in run.stdout


# --------------------------------------------------------------------------- mlw config ...


def test_mlw_config_validate_ok(tmp_path: Path, mlw) -> None:
    run = mlw("config", "validate", "-c", write_config(tmp_path, MINIMAL))
    assert run.exit_code == 0
    assert run.stdout.strip() == "mlw.yaml is valid (project 'demo')."


def test_mlw_config_validate_json(tmp_path: Path, mlw) -> None:
    path = write_config(tmp_path, MINIMAL)
    run = mlw("config", "validate", "-c", path, "--json")
    assert run.exit_code == 0
    assert run.json() == {"valid": True, "config": str(path.resolve())}


def test_mlw_config_validate_default_path_is_cwd_mlw_yaml(tmp_path: Path, mlw) -> None:
    write_config(tmp_path, MINIMAL)
    run = mlw("config", "validate", cwd=tmp_path)
    assert run.exit_code == 0
    assert "mlw.yaml is valid" in run.stdout


def test_mlw_config_validate_with_set(tmp_path: Path, mlw) -> None:
    path = write_config(tmp_path, MINIMAL)
    assert mlw("config", "validate", "-c", path, "--set", "prepare.split.seed=3").exit_code == 0
    run = mlw("config", "validate", "-c", path, "--set", "prepare.split.seed=x")
    assert_clean_error(run)
    assert "`prepare.split.seed` (from --set) must be a valid integer" in run.stderr


def test_mlw_config_show_fills_defaults(tmp_path: Path, mlw) -> None:
    run = mlw("config", "show", "-c", write_config(tmp_path, MINIMAL), "--set", "prepare.split.seed=7")
    assert run.exit_code == 0, run.stderr
    shown = yaml.safe_load(run.stdout)
    assert list(shown) == ["project", "artifacts", "data", "ingest", "prepare", "train", "evaluate", "serve",
                           "predict", "monitor", "retrain", "engine", "pipeline"]
    assert shown["engine"] == {"type": "local", "address": None, "n_workers": None, "threads_per_worker": None,
                               "memory_limit": "auto", "partition_mb": 64.0}
    assert shown["project"] == "demo"
    assert shown["prepare"]["split"] == {"method": "auto", "test_size": 0.2, "valid_size": 0.0, "seed": 7,
                                         "stratify": None, "group_column": None, "last_n": None}
    assert shown["data"]["source"]["type"] == "csv"
    assert shown["data"]["source"]["path"] == str(tmp_path.resolve() / "data" / "d.csv")
    assert shown["ingest"] == {"mode": "snapshot", "block_size_mb": 16, "stream_above_mb": 1024, "max_categories": 50}
    assert shown["train"]["task"] == "auto" and shown["train"]["model"] == "auto"
    assert shown["evaluate"]["gates"] == {} and shown["pipeline"] == ["ingest", "prepare", "train", "evaluate"]


def test_mlw_config_show_json(tmp_path: Path, mlw) -> None:
    path = write_config(tmp_path, MINIMAL)
    run = mlw("config", "show", "-c", path, "--json")
    assert run.exit_code == 0
    doc = run.json()
    assert doc == load_config(path).dump()
    assert doc["prepare"]["split"]["test_size"] == 0.2


def test_mlw_config_schema_is_json_schema(mlw) -> None:
    run = mlw("config", "schema")
    assert run.exit_code == 0
    schema = json.loads(run.stdout)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["title"] == "mlw.yaml"
    assert {"project", "data", "prepare", "ingest", "train", "artifacts"} <= set(schema["properties"])
    assert schema["required"] == ["project", "data"]
    assert schema["additionalProperties"] is False
    assert schema == json_schema()


def test_json_schema_describes_nested_sections() -> None:
    defs = json_schema()["$defs"]
    assert defs["SplitConfig"]["properties"]["test_size"]["default"] == 0.2
    assert defs["SplitConfig"]["properties"]["test_size"]["exclusiveMaximum"] == 1
    assert defs["SplitConfig"]["additionalProperties"] is False
    assert defs["IngestConfig"]["properties"]["mode"]["enum"] == ["snapshot", "append"]


@pytest.mark.parametrize(("text", "overrides", "fragment"), [
    ("project: demo\ndata: [1,\n", (), "mlw.yaml:3:1: the file is not valid YAML"),
    ("", (), "Got an empty file."),
    ("- a\n- b\n", (), "Got list."),
    (BASE + "  splt: {}\n", (), "Unknown key 'splt' in `prepare` (mlw.yaml:9). Did you mean 'split'?"),
    (BASE, ("prepare.split.test_size=1.5",), "`prepare.split.test_size` (from --set) must be less than 1. Got 1.5."),
    (BASE, ("noequals",), "--set 'noequals' must look like key.path=value."),
    ("project: demo\n", (), "`data` is required (missing in the top level of mlw.yaml)."),
])
@pytest.mark.parametrize("command", ["validate", "show"])
def test_mlw_config_errors_exit_2_without_traceback(tmp_path: Path, mlw, command: str, text: str,
                                                    overrides: tuple[str, ...], fragment: str) -> None:
    path = write_text(tmp_path, text)
    sets = [arg for override in overrides for arg in ("--set", override)]
    run = mlw("config", command, "-c", path, *sets)
    assert_clean_error(run)
    assert fragment in run.stderr


def test_mlw_config_missing_file(tmp_path: Path, mlw) -> None:
    run = mlw("config", "validate", "-c", tmp_path / "missing.yaml")
    assert_clean_error(run)
    assert f"Config file '{tmp_path / 'missing.yaml'}' not found." in run.stderr
    assert "mlw init NAME" in run.stderr


def test_mlw_config_missing_default_file(tmp_path: Path, mlw) -> None:
    run = mlw("config", "show", cwd=tmp_path)
    assert_clean_error(run)
    assert "Config file 'mlw.yaml' not found." in run.stderr


def test_mlw_config_error_with_json_keeps_stdout_empty(tmp_path: Path, mlw) -> None:
    run = mlw("config", "validate", "-c", write_text(tmp_path, BASE + "oops: 1\n"), "--json")
    assert_clean_error(run)


def test_config_dump_round_trips_through_loader(tmp_path: Path) -> None:
    """`mlw config show` output is itself a valid config that loads to the same thing."""
    first = load_config(write_config(tmp_path, {**MINIMAL, "prepare": {"columns": {"age": {"scale": "robust"}}}}))
    copy = tmp_path / "copy"
    copy.mkdir()
    second = load_config(write_config(copy, first.dump()))
    assert isinstance(second, Config)
    assert second.dump() == first.dump()
