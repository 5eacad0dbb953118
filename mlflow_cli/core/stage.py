"""One module per stage. A stage reads the config and the store, never prints, never exits:
it returns a StageResult or raises an MlwError."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlflow_cli import __version__
from mlflow_cli.core.store import Artifact, Store, hash_json

ProgressFactory = Callable[..., AbstractContextManager[Any]]  # (description, total, unit="items")


class _NoProgress:
    def advance(self, amount: float) -> None:
        pass


def no_progress(description: str, total: float | None, unit: str = "items") -> AbstractContextManager[Any]:
    return nullcontext(_NoProgress())


@dataclass
class Plan:
    """What a stage would do: its cache key, its inputs, and the cached version if one matches.

    Planning is cheap (config, manifests, file hashes; no pandas or scikit-learn), so
    `mlw run` can tell what is up to date without importing the heavy libraries."""

    stage: str
    cache_key: str | None
    config: dict[str, Any]
    inputs: list[Artifact] = field(default_factory=list)
    cached: Artifact | None = None
    reason: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def keyed(self, store: Store, force: bool, **more: Any) -> Plan:
        """Set the cache key (the config the stage uses, its inputs' content, mlw's version, and
        `more`: anything else its output depends on), then look it up."""
        self.cache_key = hash_json({"config": self.config, "inputs": [a.content_hash for a in self.inputs],
                                    "mlw": __version__, **more})
        return self.lookup(store, force)

    def lookup(self, store: Store, force: bool) -> Plan:
        """Find a cached version for this key, and say why the stage must run when there is none."""
        if force:
            self.reason = "--force"
            return self
        if self.cache_key is not None:
            self.cached = store.find_cached(self.stage, self.cache_key)
        if self.cached is None:
            self.reason = _why_run(store, self)
        return self


def _why_run(store: Store, plan: Plan) -> str:
    """Compare with the latest version: never run, config changed, or inputs changed."""
    latest = store.latest(plan.stage)
    if latest is None:
        return "no version yet"
    manifest = store.manifest(plan.stage, latest)
    if manifest.get("config_hash") != hash_json(plan.config):
        return "config changed"
    return "inputs changed"


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

