"""`mlw init NAME`: a runnable project folder from the templates shipped in the package."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Any

from mlflow_cli.core.errors import ConfigError

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def scaffold_project(name: str, folder: Path) -> dict[str, Any]:
    """Write mlw.yaml, data/churn.csv and a Makefile; refuse to overwrite anything."""
    if not _NAME.match(name):
        raise ConfigError(f"Project name '{name}' must start with a letter or digit and use only letters, digits, "
                          f"'_', '.' and '-'.", hint="For example: mlw init churn")
    targets = {
        "mlw.yaml": _template("mlw.yaml").replace("__NAME__", name),
        "Makefile": _template("Makefile"),
        "data/churn.csv": _template("churn_sample.csv"),
        ".gitignore": "artifacts/\n",
    }
    existing = [rel for rel in targets if (folder / rel).exists()]
    if existing:
        raise ConfigError(f"{folder} already has {', '.join(existing)}; mlw init never overwrites files.",
                          hint="Choose another name or folder (--dir), or remove those files.")
    try:
        for rel, text in targets.items():
            path = folder / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    except OSError as exc:  # the folder is a file, is not writable, ...
        raise ConfigError(f"Cannot create the project in {folder}: {exc.strerror or exc}.",
                          hint="Choose a folder that does not exist yet or is writable (--dir).") from None
    return {"path": folder, "files": list(targets)}


def _template(name: str) -> str:
    return resources.files("mlflow_cli").joinpath("templates", name).read_text(encoding="utf-8")
