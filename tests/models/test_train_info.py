"""TrainInfo is exactly what `mlw train` writes, and reads what earlier versions wrote."""

from __future__ import annotations

import json

import pytest

from mlflow_cli.models.train_info import TrainInfo

from ..conftest import REPO

LEGACY_TRAIN = REPO / "tests" / "fixtures" / "legacy_41c61df" / "artifacts" / "legacy" / "train"


def _manifest() -> dict:
    return json.loads(next(LEGACY_TRAIN.glob("*/manifest.json")).read_text())


def test_train_info_reads_a_manifest_written_before_it_existed():
    manifest = _manifest()
    info = TrainInfo.of(manifest)
    assert info.to_json() == manifest["info"]  # same keys, same order, same values
    assert list(info.to_json()) == list(manifest["info"])
    assert (info.task, info.model, info.metric, info.classes) == ("classification", "xgboost", "f1", ["no", "yes"])
    assert info.data.startswith("prepare/")


def test_train_info_fills_missing_fields_and_ignores_unknown_ones():
    info = TrainInfo.of({"info": {"task": "regression", "renamed_later": 1}})
    assert info.task == "regression" and info.classes is None and info.params == {} and not info.scoring_bundle
    assert TrainInfo.of({}).task is None


def test_train_info_has_no_string_lookup():
    with pytest.raises(AttributeError):
        TrainInfo.of(_manifest()).taks  # a misspelt field fails loudly
