"""`mlw artifacts ...`: browse, trace, verify and clean up the store.

Thin shapes over `store.Store` so the CLI can render them as tables or JSON."""

from __future__ import annotations

from typing import Any

from mlflow_cli.core.config import Config
from mlflow_cli.core.errors import ArtifactError
from mlflow_cli.core.registry import alias_targets, read_registry
from mlflow_cli.core.store import open_store




def list_artifacts(config: Config, stage: str | None = None) -> list[dict[str, Any]]:
    store = open_store(config)
    if stage and stage not in store.stages():
        raise ArtifactError(f"There are no '{stage}' artifacts in {store.project_dir}.",
                            hint=f"Stages with artifacts: {', '.join(store.stages()) or 'none yet'}.")
    aliases: dict[str, list[str]] = {}
    for name, entry in read_registry(store)["aliases"].items():
        aliases.setdefault(entry["version"], []).append(name)
    rows = []
    for name in [stage] if stage else store.stages():
        latest = store.latest(name)
        for version in reversed(store.versions(name)):
            try:
                manifest = store.manifest(name, version)
            except ArtifactError as exc:
                rows.append({"stage": name, "version": version, "error": exc.message})
                continue
            rows.append({
                "stage": name, "version": version, "created": manifest.get("created"),
                "size": sum(f["size"] for f in manifest.get("outputs", {}).values()),
                "duration_s": manifest.get("duration_s"), "metrics": manifest.get("metrics", {}),
                "inputs": [f"{i['stage']}/{i['version']}" for i in manifest.get("inputs", []) if "stage" in i],
                "latest": version == latest, "aliases": aliases.get(version, []),
            })
    return rows


def show_artifact(config: Config, ref: str) -> dict[str, Any]:
    store = open_store(config)
    stage, version = store.resolve(ref)
    manifest = store.manifest(stage, version)
    manifest["problems"] = store.verify(stage, version)
    return manifest


def artifact_lineage(config: Config, ref: str) -> dict[str, Any]:
    store = open_store(config)
    stage, version = store.resolve(ref)
    return store.lineage(stage, version)


def verify_artifacts(config: Config, ref: str | None = None) -> dict[str, Any]:
    """Check one version or all; raise ArtifactError (exit 4) naming every bad file."""
    store = open_store(config)
    targets = [store.resolve(ref)] if ref else [(s, v) for s in store.stages() for v in store.versions(s)]
    problems = [p for s, v in targets for p in store.verify(s, v)]
    if problems:
        raise ArtifactError(f"{len(problems)} integrity problem{'s' if len(problems) > 1 else ''} in "
                            f"{store.project_dir}:\n  - " + "\n  - ".join(problems),
                            hint="A modified file may be tampering or disk damage. Re-run the stage with --force "
                                 "to write a fresh version, then `mlw artifacts gc` to drop the bad one.")
    return {"checked": len(targets), "ok": True, "versions": [f"{s}/{v}" for s, v in targets]}


def collect_garbage(config: Config, keep: int, dry_run: bool) -> dict[str, list[str]]:
    store = open_store(config)
    return store.gc(keep, dry_run=dry_run, protected=alias_targets(store))
