"""README stays true: every command and every config key is documented."""

from __future__ import annotations

import types
import typing

from pydantic import BaseModel

from mlflow_cli.core.config import MlwConfig, SourceConfig

from .conftest import REPO
from .test_cli import LEAVES

README = (REPO / "README.md").read_text()


def _model(annotation: object) -> type[BaseModel] | None:
    candidates = typing.get_args(annotation) if typing.get_origin(annotation) in (typing.Union, types.UnionType) \
        else (annotation,)
    return next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)


def _keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    keys = []
    for name, field in model.model_fields.items():
        path = f"{prefix}{name}"
        annotation = _model(field.annotation) or field.annotation
        if typing.get_origin(annotation) is dict:
            value = typing.get_args(annotation)[1]
            keys.append(f"{path}.<name>" if _model(value) else path)
            continue
        if annotation is SourceConfig and path != "data.source":
            keys.append(path)  # another source (monitor.current, monitor.labels) takes data.source's keys
        elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
            keys.extend(_keys(annotation, path + "."))
        else:
            keys.append(path)
    return keys


def test_docs_readme_lists_every_config_key():
    missing = [key for key in _keys(MlwConfig) if f"`{key}`" not in README]
    assert missing == []


def test_docs_readme_lists_every_command():
    missing = [" ".join(cmd) for cmd in LEAVES if f"`mlw {' '.join(cmd)}" not in README]
    assert missing == []


def test_docs_readme_has_one_demo_and_one_test_command():
    assert "make demo" in README and "make test" in README
    ci = (REPO / ".ci" / "run").read_text()
    assert "make test" in ci
