"""The primitives a version is made of: its id, the hashes of its content, the library versions its
manifest records, and the atomic JSON write. `core/store.py` builds versions from them (and
re-exports them); `core/registry.py` writes registry.json with `write_json_atomic`.

Standard library only: nothing here knows the store's layout, stages or machine learning.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import threading
from datetime import datetime, timedelta, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

TMP_PREFIX = ".tmp-"  # a file or folder being written; its name ends with the writer's pid (gc: pid_alive)
KEY_LIBRARIES = ("pandas", "numpy", "pyarrow", "scikit-learn", "xgboost", "joblib")


_ID_LOCK = threading.Lock()
_last_id = ""


def new_version_id() -> str:
    """Sortable by creation time, unique, short to type: 20240131-235959-123abc.

    The UTC time to the millisecond, then a 3-hex-digit suffix: random at a fresh
    millisecond (two processes rarely pick the same id), counting up within one (ids
    from one process are strictly increasing). A cross-process clash is still possible;
    the atomic publish retries with a fresh id when a folder of that name exists.
    """
    global _last_id
    now = datetime.now(timezone.utc)
    candidate = f"{now:%Y%m%d-%H%M%S}-{now.microsecond // 1000:03d}{random.randrange(16 ** 3 // 2):03x}"
    with _ID_LOCK:
        if candidate <= _last_id:  # same millisecond as the previous id, or the clock stepped back
            candidate = _next_id(_last_id)
        _last_id = candidate
    return candidate


def _next_id(previous: str) -> str:
    stamp, suffix = previous[:-3], int(previous[-3:], 16)
    if suffix < 0xFFF:
        return f"{stamp}{suffix + 1:03x}"
    moment = datetime.strptime(stamp, "%Y%m%d-%H%M%S-%f") + timedelta(milliseconds=1)
    return f"{moment:%Y%m%d-%H%M%S}-{moment.microsecond // 1000:03d}000"


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def hash_json(data: Any) -> str:
    """Stable sha256 over sorted-key JSON: the basis of cache keys and config hashes."""
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def library_versions() -> dict[str, str]:
    found = {}
    for name in KEY_LIBRARIES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON to a temporary file beside `path`, fsync it and rename it over `path`."""
    tmp = path.with_name(f"{TMP_PREFIX}{path.name}-{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, sort_keys=False, default=str)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def pid_alive(pid: int) -> bool:
    """Whether the process that is writing a temporary file still runs (so gc leaves the file)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
