"""The artifact store: versioned folders, manifests, hashing, atomic publish, cache lookup.

Layout: <root>/<project>/<stage>/<version>/ holding the files and `manifest.json`, a
`latest` pointer file per stage. (<root>/<project>/registry.json, the model aliases, belongs to
`core/registry.py`; `gc` is told which versions the aliases protect.)
A version is built in a hidden temporary folder and published with one rename, so a
reader sees either a complete version or none. The store knows nothing about machine
learning: it stores files and facts about them.

Ids, hashes and the atomic JSON write are `core/versioning.py`'s, imported and re-exported here.
The store calls them by these names, so a test may replace `store.new_version_id` or
`store.sha256_file`; the id clock and its state (`datetime`, `_last_id`) are patched in versioning.
"""

from __future__ import annotations

import fcntl
import json
import os
import platform
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from mlflow_cli import __version__
from mlflow_cli.core.errors import ArtifactError, did_you_mean
from mlflow_cli.core.versioning import (KEY_LIBRARIES, TMP_PREFIX, hash_json, library_versions, new_version_id,
                                        pid_alive, sha256_file, write_json_atomic)

__all__ = ["KEY_LIBRARIES", "LATEST", "LOGS", "MANIFEST", "TMP_PREFIX", "Artifact", "Store", "VersionWriter",
           "hash_json", "library_versions", "new_version_id", "open_store", "sha256_file", "write_json_atomic"]

MANIFEST = "manifest.json"
LOGS = frozenset({"predictions", "ratings"})  # append-only logs beside the stages (serve's predictions, ratings)
LATEST = "latest"


@dataclass
class Artifact:
    """A published, verified version."""

    stage: str
    version: str
    path: Path
    manifest: dict[str, Any]

    @property
    def ref(self) -> str:
        return f"{self.stage}/{self.version}"

    @property
    def content_hash(self) -> str:
        return self.manifest["content_hash"]

    def file(self, name: str) -> Path:
        if name not in self.manifest.get("outputs", {}):
            raise ArtifactError(f"{self.ref} has no file '{name}'.",
                                hint=f"Its files are: {', '.join(self.manifest.get('outputs', {}))}.")
        return self.path / name

    def as_input(self) -> dict[str, str]:
        return {"stage": self.stage, "version": self.version, "content_hash": self.content_hash}

    def unpickle(self, name: str) -> Any:
        """A joblib file of this (verified) version, or ArtifactError when the installed libraries
        cannot read it (a pickle from another scikit-learn or XGBoost version, a truncated file)."""
        import joblib

        path = self.file(name)
        try:
            return joblib.load(path)
        except Exception as exc:
            raise ArtifactError(f"{self.ref}/{name} cannot be loaded ({type(exc).__name__}: {exc}).",
                                hint="Check that the installed scikit-learn/xgboost match the manifest's "
                                     "`libraries`, or run that stage again with --force.") from None


@dataclass
class VersionWriter:
    """Collects a version's files and facts; `Store.publish` turns it into a version."""

    stage: str
    path: Path
    config: dict[str, Any] = field(default_factory=dict)
    cache_key: str | None = None
    inputs: list[dict[str, Any]] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)
    artifact: Artifact | None = None  # the published version, once the writer's block has succeeded

    def add_input(self, artifact: Artifact) -> None:
        self.inputs.append(artifact.as_input())

    def add_external_input(self, description: dict[str, Any]) -> None:
        """An input from outside the store (a source file, a database query)."""
        self.inputs.append({"external": True, **description})



def open_store(config: Any) -> Store:
    """The store of a loaded config (`config.Config`): its artifacts folder and project."""
    return Store(config.artifacts_dir, config.model.project)

class Store:
    def __init__(self, root: Path, project: str) -> None:
        self.root = Path(root)
        self.project = project
        self.project_dir = self.root / project

    # ----------------------------------------------------------------- reading

    def stage_dir(self, stage: str) -> Path:
        return self.project_dir / stage

    def stages(self) -> list[str]:
        """The stage folders; the logs (LOGS) beside them are not stages and hold no versions."""
        if not self.project_dir.is_dir():
            return []
        return sorted(p.name for p in self.project_dir.iterdir()
                      if p.is_dir() and not p.name.startswith(".") and p.name not in LOGS)

    def log_dir(self, name: str) -> Path:
        """The folder of an append-only log of this project, e.g. "predictions" (its writer creates it)."""
        if name not in LOGS:
            raise ValueError(f"log must be one of {', '.join(sorted(LOGS))}; got {name!r}")
        return self.project_dir / name

    def versions(self, stage: str) -> list[str]:
        """Complete versions of a stage, oldest first (half-written ones are invisible)."""
        folder = self.stage_dir(stage)
        if not folder.is_dir():
            return []
        return sorted(p.name for p in folder.iterdir()
                      if p.is_dir() and not p.name.startswith(".") and (p / MANIFEST).is_file())

    def latest(self, stage: str) -> str | None:
        pointer = self.stage_dir(stage) / LATEST
        try:
            version = pointer.read_text().strip()
        except OSError:
            version = ""
        if version and (self.stage_dir(stage) / version / MANIFEST).is_file():
            return version
        versions = self.versions(stage)
        return versions[-1] if versions else None

    def resolve(self, ref: str, stage: str | None = None) -> tuple[str, str]:
        """Turn 'latest', a version id, a unique prefix, or 'stage/version' into (stage, version)."""
        ref = ref.strip()
        if "/" in ref or "@" in ref:
            named, _, ref = ref.replace("@", "/").partition("/")
            if stage and named != stage:
                raise ArtifactError(f"'{named}/{ref}' names a '{named}' version, but a version of '{stage}' is "
                                    f"needed here.", hint=f"Use {stage}/latest or another {stage} version.")
            stage = named
        stages = [stage] if stage else self.stages()
        if stage and stage not in self.stages():
            raise ArtifactError(f"There are no '{stage}' artifacts in {self.project_dir}.",
                                hint=f"Run `mlw {stage}` first.{did_you_mean(stage, self.stages())}")
        if ref == LATEST:
            if not stage:
                raise ArtifactError("'latest' needs a stage, e.g. ingest/latest.", hint="Write STAGE/latest.")
            version = self.latest(stage)
            if version is None:
                raise ArtifactError(f"There are no '{stage}' artifacts yet in {self.project_dir}.",
                                    hint=f"Run `mlw {stage}` first.")
            return stage, version
        matches = [(s, v) for s in stages for v in self.versions(s) if v == ref]
        if not matches:
            matches = [(s, v) for s in stages for v in self.versions(s) if v.startswith(ref)]
        if len(matches) == 1:
            return matches[0]
        where = f"'{stage}' " if stage else ""
        if not matches:
            known = [v for s in stages for v in self.versions(s)]
            raise ArtifactError(f"No {where}version '{ref}' in {self.project_dir}.{did_you_mean(ref, known)}",
                                hint="List versions with `mlw artifacts list`.")
        raise ArtifactError(f"'{ref}' matches {len(matches)} versions: "
                            f"{', '.join(f'{s}/{v}' for s, v in matches[:5])}.",
                            hint="Type more of the version id, or prefix it with its stage (stage/version).")

    def manifest(self, stage: str, version: str) -> dict[str, Any]:
        path = self.stage_dir(stage) / version / MANIFEST
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ArtifactError(f"{stage}/{version} has no manifest.json.",
                                hint="The version is incomplete or was damaged; run the stage again.") from None
        except (OSError, ValueError) as exc:
            raise ArtifactError(f"{stage}/{version}/manifest.json cannot be read ({exc}).",
                                hint="The manifest is corrupt; delete the version and run the stage again.") from None
        if not isinstance(manifest, dict) or not isinstance(manifest.get("outputs", {}), dict):
            raise ArtifactError(f"{stage}/{version}/manifest.json is not a manifest (no JSON object of outputs).",
                                hint="The manifest is corrupt; delete the version and run the stage again.")
        return manifest

    def verify(self, stage: str, version: str) -> list[str]:
        """Every file against the manifest's sha256 and size; returns the problems found."""
        folder = self.stage_dir(stage) / version
        try:
            manifest = self.manifest(stage, version)
        except ArtifactError as exc:
            return [exc.message]
        problems = []
        outputs = manifest.get("outputs", {})
        for name, facts in outputs.items():
            path = folder / name
            if not path.is_file():
                problems.append(f"{stage}/{version}/{name} is missing")
            elif path.stat().st_size != facts["size"] or sha256_file(path) != facts["sha256"]:
                problems.append(f"{stage}/{version}/{name} does not match its sha256 in manifest.json "
                                f"(modified after it was written)")
        for path in sorted(folder.rglob("*")):
            name = path.relative_to(folder).as_posix()
            if path.is_file() and name != MANIFEST and name not in outputs:
                problems.append(f"{stage}/{version}/{name} is not listed in manifest.json")
        return problems

    def load(self, stage: str, ref: str = LATEST) -> Artifact:
        """Resolve and integrity-check a version before anything reads its files."""
        stage, version = self.resolve(ref, stage)
        problems = self.verify(stage, version)
        if problems:
            raise ArtifactError(f"{stage}/{version} failed its integrity check: {'; '.join(problems)}.",
                                hint="Do not load it (model files are pickles). Re-run the stage with --force "
                                     "to write a fresh version, or `mlw artifacts verify` to check the rest.")
        return Artifact(stage, version, self.stage_dir(stage) / version, self.manifest(stage, version))

    def find_cached(self, stage: str, cache_key: str) -> Artifact | None:
        """The newest complete version with this cache key that still verifies."""
        for version in reversed(self.versions(stage)):
            try:
                manifest = self.manifest(stage, version)
            except ArtifactError:
                continue
            if manifest.get("cache_key") == cache_key and not self.verify(stage, version):
                return Artifact(stage, version, self.stage_dir(stage) / version, manifest)
        return None

    # ----------------------------------------------------------------- writing

    @contextmanager
    def writer(self, stage: str, started: float | None = None) -> Iterator[VersionWriter]:
        """Build a version in a temporary folder; publish it only if the block succeeds.

        Any exception, Ctrl-C included, removes the temporary folder, so no half
        version is ever visible and earlier versions are never touched.
        """
        stage_dir = self.stage_dir(stage)
        stage_dir.mkdir(parents=True, exist_ok=True)
        tmp = stage_dir / f"{TMP_PREFIX}{new_version_id()}-{os.getpid()}"
        tmp.mkdir()
        writer = VersionWriter(stage=stage, path=tmp)
        if started is not None:
            writer.started = started
        try:
            yield writer
            self._publish(writer)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)

    def _publish(self, writer: VersionWriter) -> None:
        outputs = {}
        for path in sorted(writer.path.rglob("*")):
            if path.is_file():
                outputs[path.relative_to(writer.path).as_posix()] = {
                    "sha256": sha256_file(path), "size": path.stat().st_size}
        content_hash = hash_json({k: v["sha256"] for k, v in outputs.items()})
        for attempt in range(20):
            version = new_version_id()
            final = self.stage_dir(writer.stage) / version
            manifest = {
                "stage": writer.stage,
                "version": version,
                "project": self.project,
                "created": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
                "mlw_version": __version__,
                "python": platform.python_version(),
                "libraries": library_versions(),
                "config": writer.config,
                "config_hash": hash_json(writer.config),
                "cache_key": writer.cache_key,
                "inputs": writer.inputs,
                "outputs": outputs,
                "content_hash": content_hash,
                "metrics": writer.metrics,
                "info": writer.info,
                "duration_s": round(time.perf_counter() - writer.started, 3),
            }
            write_json_atomic(writer.path / MANIFEST, manifest)
            if final.exists():
                continue
            try:
                os.rename(writer.path, final)
            except OSError:
                if final.exists():
                    continue
                raise
            writer.artifact = Artifact(writer.stage, version, final, manifest)
            self._advance_latest(writer.stage, version)
            return
        raise ArtifactError(f"Could not find a free version id in {self.stage_dir(writer.stage)}.")

    def _advance_latest(self, stage: str, version: str) -> None:
        """Point `latest` at version unless a newer one was published meanwhile."""
        stage_dir = self.stage_dir(stage)
        with open(stage_dir / ".lock", "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            current = self.latest(stage)
            if current is None or current <= version:
                tmp = stage_dir / f"{TMP_PREFIX}{LATEST}-{os.getpid()}"
                tmp.write_text(version + "\n")
                os.replace(tmp, stage_dir / LATEST)

    # ----------------------------------------------------------------- browsing

    def lineage(self, stage: str, version: str, _seen: frozenset[str] = frozenset()) -> dict[str, Any]:
        """The tree of inputs behind a version, back to its external sources."""
        manifest = self.manifest(stage, version)
        node: dict[str, Any] = {"stage": stage, "version": version, "created": manifest.get("created"),
                                "content_hash": manifest.get("content_hash"), "inputs": []}
        seen = _seen | {f"{stage}/{version}"}
        for item in manifest.get("inputs", []):
            if item.get("external"):
                node["inputs"].append({k: v for k, v in item.items() if k != "external"} | {"external": True})
            elif f"{item['stage']}/{item['version']}" in seen:
                continue
            elif (self.stage_dir(item["stage"]) / item["version"] / MANIFEST).is_file():
                node["inputs"].append(self.lineage(item["stage"], item["version"], seen))
            else:
                node["inputs"].append({"stage": item["stage"], "version": item["version"], "missing": True,
                                       "inputs": []})
        return node

    def gc(self, keep: int, dry_run: bool = False,
           protected: set[tuple[str, str]] | frozenset[tuple[str, str]] = frozenset()) -> dict[str, list[str]]:
        """Remove all but the newest `keep` versions per stage, never a referenced one: not `latest`,
        not one of `protected` (what model aliases point at: core/registry.py), not an input of a
        kept version."""
        keep_set: set[tuple[str, str]] = set()
        for stage in self.stages():
            keep_set.update((stage, v) for v in self.versions(stage)[-keep:] if keep > 0)
            latest = self.latest(stage)
            if latest:
                keep_set.add((stage, latest))
        keep_set |= {t for t in protected if (self.stage_dir(t[0]) / t[1]).is_dir()}
        pending = list(keep_set)
        while pending:
            stage, version = pending.pop()
            try:
                inputs = self.manifest(stage, version).get("inputs", [])
            except ArtifactError:
                continue
            for item in inputs:
                key = (item.get("stage"), item.get("version"))
                if not item.get("external") and key not in keep_set:
                    keep_set.add(key)
                    pending.append(key)
        removed: dict[str, list[str]] = {"versions": [], "temporary": []}
        for stage in self.stages():
            for version in self.versions(stage):
                if (stage, version) not in keep_set:
                    removed["versions"].append(f"{stage}/{version}")
                    if not dry_run:
                        shutil.rmtree(self.stage_dir(stage) / version)
            for tmp in self.stage_dir(stage).glob(f"{TMP_PREFIX}*"):
                pid = tmp.name.rsplit("-", 1)[-1]
                if pid.isdigit() and not pid_alive(int(pid)):
                    removed["temporary"].append(f"{stage}/{tmp.name}")
                    if not dry_run:
                        shutil.rmtree(tmp, ignore_errors=True) if tmp.is_dir() else tmp.unlink(missing_ok=True)
        return removed
