"""What the data source is: its files (with sha256) or its redacted SQL location.

Light on purpose (no pyarrow): `mlw run` decides whether ingest is up to date from these
facts alone. The reading itself lives in `readers.py`, which imports this module (never the
other way round).
"""

from __future__ import annotations

import glob as globlib
import re
from pathlib import Path
from typing import Any

from mlflow_cli.core.config import SourceConfig
from mlflow_cli.core.errors import DataError
from mlflow_cli.core.store import sha256_file

def describe(source: SourceConfig, with_hashes: bool = True) -> dict[str, Any]:
    """What was read, for the manifest and the cache key: files with sha256, or the redacted SQL."""
    if source.type == "sql":
        return {"type": "sql", "url": redact_url(source.url or ""), "table": source.table, "query": source.query}
    files = source_files(source)
    entry: dict[str, Any] = {"type": source.type, "path": source.path}
    entry["files"] = [{"path": str(f), "size": f.stat().st_size,
                       **({"sha256": sha256_file(f)} if with_hashes else {})} for f in files]
    return entry


def source_files(source: SourceConfig) -> list[Path]:
    pattern = source.path or ""
    if globlib.has_magic(pattern):
        files = sorted(Path(p) for p in globlib.glob(pattern, recursive=True) if Path(p).is_file())
        if not files:
            raise DataError(f"data.source.path '{pattern}' matches no files.",
                            hint="Check the pattern; relative paths start at the config file's folder.")
        return files
    path = Path(pattern)
    if not path.is_file():
        hint = "Check data.source.path; relative paths start at the config file's folder."
        if path.parent.is_dir():
            near = [p.name for p in path.parent.iterdir() if p.is_file()]
            from mlflow_cli.core.errors import did_you_mean

            suggestion = did_you_mean(path.name, near).strip()
            hint = f"{suggestion} {hint}" if suggestion else hint
        raise DataError(f"Source file '{path}' does not exist.", hint=hint)
    return [path]


def source_label(source: SourceConfig) -> str:
    """A short name for messages: the file name, the glob, or the table with the redacted URL."""
    if source.type == "sql":
        return f"{source.table or 'query'} ({redact_url(source.url or '')})"
    return Path(source.path or "").name if not globlib.has_magic(source.path or "") else str(source.path)


def total_bytes(source: SourceConfig) -> int | None:
    if source.type == "sql":
        return None
    return sum(f.stat().st_size for f in source_files(source))


def redact_url(url: str) -> str:
    """The URL with its password (user:password@ or ?password=) replaced by ***."""
    url = re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", url)
    return re.sub(r"(?i)([?&]password=)[^&]*", r"\1***", url)


def file_source(path: Path, base: SourceConfig, option: str) -> SourceConfig:
    """A file named on the command line (`option`, e.g. --input) as a source: the reader picked by
    its extension, the delimiter and encoding taken from `base` (data.source) when that is a file
    of the same type."""
    from mlflow_cli.core.config import FILE_TYPES
    from mlflow_cli.core.errors import ConfigError, did_you_mean

    kind = FILE_TYPES.get(path.suffix.lower())
    if kind is None:
        raise ConfigError(f"{option} must be a {', '.join(sorted(FILE_TYPES))} file. Got '{path}'.",
                          hint=f"Convert the file, or name it in the config and leave out {option}.")
    if not path.is_file():
        folder = path.parent if path.parent.is_dir() else None
        near = did_you_mean(path.name, [p.name for p in folder.iterdir()]) if folder else ""
        raise DataError(f"Input file '{path}' does not exist.{near}",
                        hint=f"Check {option}; a relative path starts at the current folder.")
    same = base.type == kind
    return SourceConfig(type=kind, path=str(path.resolve()), encoding=base.encoding if same else "utf-8",
                        delimiter=base.delimiter if same else None)
