"""One module per stage. A stage reads the config and the store, never prints, never exits:
it returns a StageResult or raises an MlwError."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import Config
from ..store import Artifact, Store

ProgressFactory = Callable[[str, float | None], AbstractContextManager[Any]]


class _NoProgress:
    def advance(self, amount: float) -> None:
        pass


def no_progress(description: str, total: float | None) -> AbstractContextManager[Any]:
    return nullcontext(_NoProgress())


@dataclass
class StageResult:
    """What a stage produced: the version (new or reused from cache) and what to show."""

    stage: str
    version: str
    cached: bool
    path: Path
    manifest: dict[str, Any]
    details: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @classmethod
    def from_artifact(cls, artifact: Artifact, cached: bool, **extra: Any) -> StageResult:
        return cls(artifact.stage, artifact.version, cached, artifact.path, artifact.manifest, **extra)

    def to_json(self) -> dict[str, Any]:
        return {"stage": self.stage, "version": self.version, "cached": self.cached, "path": str(self.path),
                "info": self.manifest.get("info", {}), "metrics": self.manifest.get("metrics", {}),
                "inputs": self.manifest.get("inputs", []), "warnings": self.warnings, **self.details}


def open_store(config: Config) -> Store:
    return Store(config.artifacts_dir, config.model.project)
