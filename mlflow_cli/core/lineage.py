"""How the versions of one project relate: the prepare version a train version was fitted on, and
the newest evaluation of a train version.

Written once, so that evaluate, predict, serve and package find these links the same way and say
the same thing when one is missing. Reads manifests only (no pandas, no models).
"""

from __future__ import annotations

from typing import Any

from mlflow_cli.core.errors import ArtifactError
from mlflow_cli.core.store import Artifact, Store


def input_version(manifest: dict[str, Any], stage: str) -> str | None:
    """The version of `stage` among a manifest's inputs, or None."""
    return next((item["version"] for item in manifest.get("inputs", []) if item.get("stage") == stage), None)


def prepare_of(store: Store, train: Artifact) -> Artifact:
    """The (verified) prepare version a train version was fitted on: its schema.json is the contract
    every record scored by the model is checked against."""
    version = input_version(train.manifest, "prepare")
    if version is None:
        raise ArtifactError(f"{train.ref} does not record the prepare version it was trained on, so its input "
                            f"schema is unknown and records could not be checked.",
                            hint="Use a model trained by `mlw train` (it records the prepare version), or train "
                                 "it again.")
    return store.load("prepare", version)


def newest_evaluation_of(store: Store, train_version: str) -> tuple[str, dict[str, Any]] | None:
    """(version, manifest) of the newest evaluate version that scored this train version; versions
    whose manifest cannot be read are passed over."""
    for version in reversed(store.versions("evaluate")):
        try:
            manifest = store.manifest("evaluate", version)
        except ArtifactError:
            continue
        if any(item.get("stage") == "train" and item.get("version") == train_version
               for item in manifest.get("inputs", [])):
            return version, manifest
    return None
