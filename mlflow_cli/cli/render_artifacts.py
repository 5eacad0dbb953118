"""How `mlw artifacts list|show|lineage|verify|gc` results look: the version table, a manifest as
YAML, the lineage tree (rich), verify's and gc's lines, or `--json`. Depends on console.py and
formatting.py; PyYAML and rich are imported when a table is drawn."""

from __future__ import annotations

from typing import Any

from mlflow_cli.cli import console
from mlflow_cli.cli.formatting import fmt, human_size


def render_artifact_list(rows: list[dict[str, Any]]) -> None:
    def human() -> None:
        if not rows:
            console.status("No artifacts yet. Run `mlw ingest` to create the first one.")
            return
        table = []
        for row in rows:
            if "error" in row:
                table.append([row["stage"], row["version"], "", "", row["error"]])
                continue
            marks = (["latest"] if row["latest"] else []) + row["aliases"]
            metrics = "  ".join(f"{k} {fmt(v)}" for k, v in list(row["metrics"].items())[:4])
            table.append([row["stage"], row["version"], (row["created"] or "")[:19].replace("T", " "),
                          human_size(row["size"]), metrics, ", ".join(row["inputs"]), ", ".join(marks)])
        console.print_table(None, ["stage", "version", "created (UTC)", "size", "metrics", "inputs", ""], table)

    console.emit(rows, human)


def render_manifest(manifest: dict[str, Any]) -> None:
    def human() -> None:
        import yaml

        shown = {k: v for k, v in manifest.items() if k != "problems"}
        console.print_text(yaml.safe_dump(shown, sort_keys=False, default_flow_style=False).rstrip())
        if manifest["problems"]:
            for problem in manifest["problems"]:
                console.warn(problem)

    console.emit(manifest, human)


def render_lineage(tree: dict[str, Any]) -> None:
    def human() -> None:
        from rich.tree import Tree

        root = Tree(_lineage_label(tree))
        _lineage_children(root, tree)
        console.out.print(root)

    console.emit(tree, human)


def _lineage_label(node: dict[str, Any]) -> str:
    if node.get("external"):
        source = node.get("source", {})
        if source.get("type") == "sql":
            return f"source: sql {source.get('table') or source.get('query')} @ {source.get('url')}"
        files = source.get("files", [])
        sums = ", ".join(f"{f['path']} (sha256 {f.get('sha256', '')[:12]})" for f in files[:3])
        more = f" and {len(files) - 3} more" if len(files) > 3 else ""
        return f"source: {source.get('type')} {sums}{more}"
    if node.get("missing"):
        return f"{node['stage']}/{node['version']} (removed)"
    created = (node.get("created") or "")[:19].replace("T", " ")
    return f"{node['stage']}/{node['version']}  {created}  content {node.get('content_hash', '')[:12]}"


def _lineage_children(branch: Any, node: dict[str, Any]) -> None:
    for child in node.get("inputs", []):
        sub = branch.add(_lineage_label(child))
        _lineage_children(sub, child)


def render_verify(summary: dict[str, Any]) -> None:
    n = summary["checked"]
    console.emit(summary, lambda: console.print_text(
        f"OK: {n} version{'s match their manifests' if n != 1 else ' matches its manifest'}."))


def render_gc(removed: dict[str, list[str]], dry_run: bool) -> None:
    def human() -> None:
        verb = "Would remove" if dry_run else "Removed"
        if not removed["versions"] and not removed["temporary"]:
            console.print_text("Nothing to remove.")
            return
        for ref in removed["versions"]:
            console.print_text(f"{verb} {ref}")
        for ref in removed["temporary"]:
            console.print_text(f"{verb} leftover temporary folder {ref}")

    console.emit({"dry_run": dry_run, **removed}, human)
