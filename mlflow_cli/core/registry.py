"""The model registry: named aliases (production, staging, any name) pointing at train
versions, with a history of every move. Stored in <artifacts>/<project>/registry.json, which
only this module reads and writes: changed under a lock and replaced atomically, so two
promotions never lose each other's update and a crash never leaves half a file.

A rollback undoes the latest promotion of an alias: the history is replayed as a stack per
alias (promote pushes, rollback pops), so repeated rollbacks walk further back.
"""

from __future__ import annotations

import fcntl
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any

from mlflow_cli.core.config import Config
from mlflow_cli.core.errors import ArtifactError, ConfigError
from mlflow_cli.core.store import Artifact, Store, open_store
from mlflow_cli.core.versioning import write_json_atomic

STAGE = "train"
REGISTRY = "registry.json"
ALIAS_PATTERN = r"^[A-Za-z][A-Za-z0-9_.-]*$"


def read_registry(store: Store) -> dict[str, Any]:
    """registry.json, checked and in one shape for every reader: {"aliases": {name: {"version",
    "stage", ...}}, "history": [...]}; an alias written as a plain version string is read as
    {"version": it, "stage": "train"}."""
    path = store.project_dir / REGISTRY
    if not path.is_file():
        return {"aliases": {}, "history": []}
    fix = "Restore it from a backup, or delete it to drop all aliases."
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ArtifactError(f"{path} is not valid JSON ({exc}).", hint=fix) from None
    if not isinstance(data, dict) or not isinstance(data.setdefault("aliases", {}), dict) \
            or not isinstance(data.setdefault("history", []), list):
        raise ArtifactError(f"{path} must hold an object with an 'aliases' object and a 'history' list.",
                            hint=fix)
    for name, entry in data["aliases"].items():
        entry = dict(entry) if isinstance(entry, dict) else {"version": entry}
        if not entry.get("version") or not isinstance(entry["version"], (str, int)):
            raise ArtifactError(f"Alias '{name}' in {path} names no version.",
                                hint="Point it at a version again with `mlw models promote`.")
        entry["version"] = str(entry["version"])
        entry.setdefault("stage", "train")
        data["aliases"][name] = entry
    return data

def alias_targets(store: Store) -> set[tuple[str, str]]:
    """(stage, version) of every alias: versions `mlw artifacts gc` must keep."""
    return {(entry["stage"], entry["version"]) for entry in read_registry(store)["aliases"].values()}


def write_registry(store: Store, data: dict[str, Any]) -> None:
    """Replace registry.json atomically (callers changing it hold `_locked`)."""
    store.project_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(store.project_dir / REGISTRY, data)


def start_registry(store: Store, alias: str, version: str, reason: str) -> None:
    """A new registry holding one alias and its one promotion (a packaged project's)."""
    data: dict[str, Any] = {"aliases": {}, "history": []}
    _move(data, store, alias, "promote", None, version, reason)
    write_registry(store, data)


@contextmanager
def _locked(store: Store) -> Iterator[dict[str, Any]]:
    """Read-modify-write of registry.json under an exclusive lock."""
    store.project_dir.mkdir(parents=True, exist_ok=True)
    with open(store.project_dir / ".registry.lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        data = read_registry(store)
        yield data
        write_registry(store, data)


def alias_stacks(data: dict[str, Any]) -> dict[str, list[str]]:
    stacks: dict[str, list[str]] = {}
    for move in data.get("history", []):
        stack = stacks.setdefault(move["alias"], [])
        if move["action"] == "promote":
            stack.append(move["to"])
        elif move["action"] == "rollback" and stack:
            stack.pop()
    return stacks


def resolve_model(store: Store, ref: str) -> tuple[Artifact, str | None]:
    """An alias or a train version -> the verified artifact (and the alias, if one was named).

    Refuses a version whose files fail the integrity check, and an alias that points at a
    version this project does not have (moved to another project's version by hand)."""
    import re

    aliases = read_registry(store)["aliases"]
    alias = ref if ref in aliases else None
    if alias is None and re.match(ALIAS_PATTERN, ref) and not ref[0].isdigit() and ref != "latest":
        known = ", ".join(sorted(aliases)) or "none yet"
        raise ArtifactError(f"No model holds the alias '{ref}' in {store.project_dir}.",
                            hint=f"Aliases: {known}. Promote one with `mlw models promote VERSION --alias {ref}`.")
    version = aliases[alias]["version"] if alias else ref
    if alias and version not in store.versions(STAGE):
        raise ArtifactError(f"Alias '{alias}' points at train version '{version}', which project "
                            f"'{store.project}' does not have (a version of another project, or removed).",
                            hint="Point the alias at one of this project's versions with `mlw models promote`, "
                                 "or `mlw models rollback`.")
    artifact = store.load(STAGE, version)
    if artifact.manifest.get("project") != store.project:
        raise ArtifactError(f"{artifact.ref} belongs to project '{artifact.manifest.get('project')}', not "
                            f"'{store.project}'.", hint="Promote a model trained in this project.")
    return artifact, alias


def promote(config: Config, ref: str, alias: str, reason: str | None = None) -> dict[str, Any]:
    import re

    if not re.match(ALIAS_PATTERN, alias):
        raise ConfigError(f"Alias '{alias}' must start with a letter and use letters, digits, '_', '.', '-'.",
                          hint="For example: production, staging, candidate-2")
    store = open_store(config)
    _, version = store.resolve(ref, STAGE)
    problems = store.verify(STAGE, version)
    if problems:
        raise ArtifactError(f"Refusing to promote {STAGE}/{version}: it failed its integrity check: "
                            f"{'; '.join(problems)}.", hint="Train a fresh version (mlw train --force) and promote it.")
    with _locked(store) as data:
        previous = data["aliases"].get(alias, {}).get("version")
        _move(data, store, alias, "promote", previous, version, reason)
    return {"alias": alias, "version": version, "previous": previous, "reason": reason}


def rollback(config: Config, alias: str, reason: str | None = None) -> dict[str, Any]:
    store = open_store(config)
    with _locked(store) as data:
        if alias not in data["aliases"]:
            raise ArtifactError(f"No model holds the alias '{alias}'.",
                                hint=f"Aliases: {', '.join(sorted(data['aliases'])) or 'none yet'}.")
        stack = alias_stacks(data).get(alias, [])
        if len(stack) < 2:
            raise ArtifactError(f"Alias '{alias}' has no earlier version to roll back to.",
                                hint="Promote the version you want instead (mlw models promote VERSION --alias "
                                     f"{alias}).")
        current, target = stack[-1], stack[-2]
        problems = store.verify(STAGE, target)
        if problems:
            raise ArtifactError(f"Cannot roll '{alias}' back to {STAGE}/{target}: {'; '.join(problems)}.",
                                hint="Promote another version instead.")
        _move(data, store, alias, "rollback", current, target, reason)
    return {"alias": alias, "version": target, "previous": current, "reason": reason}


def _move(data: dict[str, Any], store: Store, alias: str, action: str, old: str | None, new: str,
          reason: str | None) -> None:
    """Point the alias at `new` and record the move in the history."""
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    data["aliases"][alias] = {"version": new, "stage": STAGE, "project": store.project, "since": now, "reason": reason}
    data["history"].append({"at": now, "alias": alias, "action": action, "from": old, "to": new, "reason": reason})


def list_aliases(config: Config) -> list[dict[str, Any]]:
    store = open_store(config)
    rows = []
    for name, entry in sorted(read_registry(store)["aliases"].items()):
        info: dict[str, Any] = {}
        try:
            info = store.manifest(STAGE, entry["version"]).get("info", {})
        except ArtifactError:
            pass
        rows.append({"alias": name, "version": entry["version"], "since": entry.get("since"),
                     "reason": entry.get("reason"), "model": info.get("model"), "task": info.get("task"),
                     "data": info.get("data")})
    return rows


def show_model(config: Config, ref: str) -> dict[str, Any]:
    """An alias (with its history) or a train version (with the aliases it holds)."""
    store = open_store(config)
    data = read_registry(store)
    aliases = data["aliases"]
    if ref in aliases:
        version = aliases[ref]["version"]
        history = [m for m in data.get("history", []) if m["alias"] == ref]
    else:
        _, version = store.resolve(ref, STAGE)
        history = [m for m in data.get("history", []) if version in (m["from"], m["to"])]
    manifest = store.manifest(STAGE, version)
    return {"version": version, "aliases": sorted(n for n, e in aliases.items() if e["version"] == version),
            "info": manifest.get("info", {}), "metrics": manifest.get("metrics", {}), "history": history,
            "problems": store.verify(STAGE, version)}
