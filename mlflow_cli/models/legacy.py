"""Old module paths that saved models still name.

A `model.joblib` pickles each class by the module it was defined in. Models written before the
package was laid out in folders name `mlflow_cli.features.TypeCoercer` (and `FeatureColumns`,
`DateParts`) and `mlflow_cli.adapters.LabelEncodedClassifier` (and `Densify`). This finder
answers those two names with a module that forwards every attribute to the module where the
classes live now, so old pickles load into today's classes. Installed by `mlflow_cli/__init__.py`;
imports nothing heavy.
"""

from __future__ import annotations

import importlib
import sys
from importlib.machinery import ModuleSpec
from types import ModuleType

MOVED = {
    "mlflow_cli.features": "mlflow_cli.models.features",
    "mlflow_cli.adapters": "mlflow_cli.models.adapters",
}


class MovedModules:
    """A meta path finder and loader for the names in MOVED."""

    def find_spec(self, fullname: str, path: object = None, target: object = None) -> ModuleSpec | None:
        return ModuleSpec(fullname, self) if fullname in MOVED else None

    def create_module(self, spec: ModuleSpec) -> None:
        return None  # the default: an empty module

    def exec_module(self, module: ModuleType) -> None:
        current = importlib.import_module(MOVED[module.__name__])
        module.__doc__ = f"Moved to {current.__name__}; kept so that saved models load."
        module.__getattr__ = lambda name: getattr(current, name)  # type: ignore[method-assign]


def install_moved_modules() -> None:
    if not any(isinstance(finder, MovedModules) for finder in sys.meta_path):
        sys.meta_path.append(MovedModules())
