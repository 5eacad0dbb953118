"""ARCHITECTURE.md's tree names every module of the package, and only modules that exist; the
import rules it states hold."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from .conftest import REPO

PACKAGE = REPO / "mlflow_cli"
TREE_LINE = re.compile(r"^(?P<indent> *)(?P<name>\S+)(?:\s{2,}(?P<what>.+))?$")


def _tree() -> dict[str, str]:
    """{path relative to the repository: its one-line description} from the first code block."""
    text = (REPO / "ARCHITECTURE.md").read_text()
    block = text.split("```\n", 2)[1]
    entries, stack = {}, []
    for line in block.splitlines():
        match = TREE_LINE.match(line)
        assert match, f"ARCHITECTURE.md tree line {line!r} is not 'name  description'"
        depth = len(match["indent"]) // 2
        stack[depth:] = [match["name"].rstrip("/")]
        entries["/".join(stack)] = match["what"] or ""
    return entries


def _modules() -> set[str]:
    return {str(p.relative_to(REPO)) for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts}


def test_architecture_names_every_module_and_only_real_ones():
    named = {path for path in _tree() if path.endswith(".py")}
    assert sorted(_modules() - named) == [], "modules missing from ARCHITECTURE.md"
    assert sorted(named - _modules()) == [], "ARCHITECTURE.md names modules that do not exist"


def test_architecture_folders_exist_and_are_described():
    tree = _tree()
    folders = [path for path in tree if not path.endswith(".py")]
    assert "mlflow_cli/templates" in folders
    for folder in folders:
        assert (REPO / folder).is_dir(), f"ARCHITECTURE.md names a folder {folder} that does not exist"
    for path, what in tree.items():
        if path.endswith(".py") or path.count("/") == 1:
            assert what, f"{path} has no description in ARCHITECTURE.md"


def _imports(path: Path) -> set[str]:
    """Every mlflow_cli module a file imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("mlflow_cli"):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("mlflow_cli")}
    return found


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_imports_flow_one_way():
    """core imports only core; data, models and reports never import a command layer or the engine;
    the engine imports only data and core; no stage imports another stage (run.py drives them by
    name; retrain, which runs them in a loop, imports only what their packages export); nothing
    below cli imports cli."""
    upper = {"cli", "stages", "serve", "package", "project"}
    for path in PACKAGE.rglob("*.py"):
        module = ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
        layer = "cli" if path.name == "__main__.py" else _layer(module)
        for target in _imports(path):
            where = f"{path.relative_to(REPO)} imports {target}"
            if layer != "cli":
                assert _layer(target) != "cli", where
            if layer == "core":
                assert _layer(target) in {"core", ""}, where
            if layer in {"data", "models", "reports"}:
                assert _layer(target) not in upper | {"engine"}, where
            if layer == "engine":
                assert _layer(target) in {"engine", "data", "core", ""}, where
            if layer == "stages" and _layer(target) == "stages":
                mine, theirs = module.split(".")[2:3], target.split(".")[2:3]
                if mine == ["retrain"] and theirs != mine:  # an orchestrator: other stages' public names only
                    assert len(target.split(".")) == 3, where
                    continue
                assert mine == theirs or theirs == [], where


def test_only_the_command_line_prints():
    for path in PACKAGE.rglob("*.py"):
        if path.parts[-2] == "cli" or path.name == "__main__.py":
            continue
        calls = [node for node in ast.walk(ast.parse(path.read_text()))
                 if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print"]
        assert not calls, f"{path.relative_to(REPO)} calls print()"


def test_the_registry_module_alone_owns_registry_json():
    owners = sorted(str(p.relative_to(REPO)) for p in PACKAGE.rglob("*.py") if '"registry.json"' in p.read_text())
    assert owners == ["mlflow_cli/core/registry.py"]


def test_the_store_knows_nothing_of_machine_learning():
    heavy = {"pandas", "sklearn", "xgboost", "numpy"}  # joblib (Artifact.unpickle) is a file format
    for name in ("store.py", "stage.py", "errors.py", "registry.py"):
        tree = ast.parse((PACKAGE / "core" / name).read_text())
        imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                    for alias in node.names}
        imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                     if isinstance(node, ast.ImportFrom) and node.module}
        assert not imported & heavy, f"core/{name} imports {imported & heavy}"
