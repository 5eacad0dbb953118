"""The mlw wheel and the pinned requirements of a package.

`build_wheel` builds the wheel from the source tree when mlw is installed editable (or run from a
checkout), and otherwise repacks the installed distribution from its RECORD, so packaging works
offline from a plain `pip install mlw` too. `pinned_requirements` pins the wheel's dependencies,
transitively, at the versions installed here; `library_drift` says when those differ from what a
model was trained with.

Depends on the standard library, `packaging`, and core/ (errors, store); nothing else of mlw.
"""

from __future__ import annotations

import base64
import hashlib
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from importlib import metadata
from pathlib import Path

from mlflow_cli.core.errors import ArtifactError
from mlflow_cli.core.store import Artifact

DISTRIBUTION = "mlw"
PACKAGE_DIR = Path(__file__).resolve().parents[1]  # mlflow_cli/
BUILD_INPUTS = ("pyproject.toml", "setup.py", "setup.cfg", "MANIFEST.in")  # plus README*, LICENSE*, ...


# --------------------------------------------------------------------------- the mlw wheel


def build_wheel(dest: Path) -> tuple[Path, str]:
    """A wheel of the running mlw, and where it came from ('source tree ...' or 'installed ...')."""
    dest.mkdir(parents=True, exist_ok=True)
    source = _source_tree()
    if source is not None:
        return _wheel_from_source(source, dest), f"built from the source tree {source}"
    try:
        dist: metadata.Distribution | None = metadata.distribution(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        dist = None
    if dist is None:
        raise ArtifactError(f"mlw is neither installed (no '{DISTRIBUTION}' distribution) nor run from a source "
                            f"tree with pyproject.toml, so there is nothing to build a wheel from.",
                            hint="Install mlw (pip install mlw, or pip install -e . in a checkout) and try again.")
    return _repack_installed(dist, dest), f"repacked from the installed {dist.metadata['Name']} {dist.version}"


def _source_tree() -> Path | None:
    """The project folder when the running code sits in a source tree (editable install or checkout).

    Decided by where this file is, not by the distribution's metadata: a stray mlw.egg-info in
    the working directory can shadow an installed distribution's metadata."""
    root = PACKAGE_DIR.parent
    try:
        pyproject = (root / "pyproject.toml").read_text(encoding="utf-8")
    except OSError:
        return None
    return root if re.search(rf"""^name\s*=\s*["']{DISTRIBUTION}["']""", pyproject, re.MULTILINE) else None


def _wheel_from_source(root: Path, dest: Path) -> Path:
    """`pip wheel --no-deps` of a clean copy (an in-tree build would leave build/ behind, and stale files in it)."""
    package = PACKAGE_DIR
    with tempfile.TemporaryDirectory(prefix="mlw-wheel-") as scratch:
        copy = Path(scratch) / "src"
        copy.mkdir()
        for item in root.iterdir():
            if item.is_file() and (item.name in BUILD_INPUTS or item.name.upper().startswith(
                    ("README", "LICENSE", "LICENCE", "COPYING", "NOTICE"))):
                shutil.copy2(item, copy / item.name)
        shutil.copytree(package, copy / package.name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check",
                   "--wheel-dir", str(dest), str(copy)]
        if _build_requirements_met(copy / "pyproject.toml"):
            command.insert(4, "--no-build-isolation")  # offline and faster: the backend is installed here
        done = subprocess.run(command, capture_output=True, text=True)
    wheels = sorted(dest.glob("*.whl"))
    if done.returncode != 0 or len(wheels) != 1:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-8:])
        raise ArtifactError(f"Building the mlw wheel from {root} failed (pip exited {done.returncode}):\n{tail}",
                            hint="Check that pip works in this environment (python -m pip --version) and that "
                                 "the build backend (setuptools) can be installed or is installed.")
    return wheels[0]


def _build_requirements_met(pyproject: Path) -> bool:
    try:
        import tomllib
    except ImportError:  # Python 3.10: let pip build in isolation
        return False
    from packaging.requirements import Requirement

    try:
        requires = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("build-system", {}).get("requires", [])
        for text in requires:
            requirement = Requirement(text)
            if not requirement.specifier.contains(metadata.version(requirement.name), prereleases=True):
                return False
    except (ValueError, metadata.PackageNotFoundError):
        return False
    return True


def _repack_installed(dist: metadata.Distribution, dest: Path) -> Path:
    """Rebuild the wheel from the installed files listed in RECORD (without caches and install-time files)."""
    info_dir = next((f.parts[0] for f in dist.files or [] if f.parts[0].endswith(".dist-info")), None)
    wheel_meta = dist.read_text("WHEEL")
    if info_dir is None or not wheel_meta:
        raise ArtifactError(f"The installed {dist.metadata['Name']} has no RECORD or WHEEL file, so it cannot be "
                            f"repacked into a wheel.", hint="Reinstall mlw with pip and try again.")
    tags = [line.split(":", 1)[1].strip() for line in wheel_meta.splitlines() if line.startswith("Tag:")]
    tag = tags[0] if len(tags) == 1 else ".".join(sorted({t.split("-")[0] for t in tags})) + "-none-any"
    name = re.sub(r"[-_.]+", "_", dist.metadata["Name"]).lower()
    path = dest / f"{name}-{dist.version}-{tag}.whl"
    skip = {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"}
    record = []
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(dist.files or [], key=lambda f: f.as_posix()):
            relative = file.as_posix()
            if relative.startswith("..") or "__pycache__" in file.parts or relative.endswith(".pyc") or \
                    (file.parts[0] == info_dir and file.name in skip):
                continue  # console scripts (regenerated from entry_points.txt), caches, install records
            data = Path(str(dist.locate_file(file))).read_bytes()
            entry = zipfile.ZipInfo(relative, date_time=(1980, 1, 1, 0, 0, 0))
            entry.external_attr = 0o644 << 16
            entry.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(entry, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            record.append(f"{relative},sha256={digest},{len(data)}")
        record.append(f"{info_dir}/RECORD,,")
        archive.writestr(zipfile.ZipInfo(f"{info_dir}/RECORD", date_time=(1980, 1, 1, 0, 0, 0)),
                         "\n".join(record) + "\n")
    return path


# --------------------------------------------------------------------------- requirements


def wheel_requires(wheel: Path) -> list[str]:
    """The wheel's Requires-Dist: exactly what pip will resolve when it installs it."""
    import email

    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        return email.message_from_string(archive.read(name).decode("utf-8")).get_all("Requires-Dist") or []


def pinned_requirements(requires: list[str], extras: tuple[str, ...] = ()) -> list[str]:
    """`Name==version` for these requirements and theirs, transitively, as installed in this environment.

    Markers are evaluated for this interpreter and platform, with the root's `extras` (mlw's
    `recommend` for a model that needs implicit), so the pins fit a Linux image of the same Python
    when this runs on Linux."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    pins: dict[str, str] = {}
    seen: set[tuple[str, str]] = set()
    pending = [(text, extra) for text in requires for extra in ("", *extras)]
    while pending:
        text, extra = pending.pop()
        requirement = Requirement(text)
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": extra}):
            continue
        key = canonicalize_name(requirement.name)
        for wanted in ["", *sorted(requirement.extras)]:
            if (key, wanted) in seen:
                continue
            seen.add((key, wanted))
            try:
                dist = metadata.distribution(requirement.name)
            except metadata.PackageNotFoundError:
                raise ArtifactError(f"mlw needs '{requirement.name}', which is not installed in this environment, so "
                                    f"its version cannot be pinned.",
                                    hint=f"pip install '{text}' and try again.") from None
            pins[key] = f"{dist.metadata['Name']}=={dist.version}"
            pending.extend((child, wanted) for child in dist.requires or [])
    return sorted(pins.values(), key=str.lower)


def library_drift(train: Artifact, pins: list[str]) -> list[str]:
    """Pickles load reliably only with the library versions that wrote them: say when the pins differ."""
    from packaging.utils import canonicalize_name

    pinned = {canonicalize_name(pin.split("==")[0]): pin.split("==")[1] for pin in pins}
    warnings = []
    for library, version in sorted(train.manifest.get("libraries", {}).items()):
        now = pinned.get(canonicalize_name(library))
        if now is not None and now != version:
            warnings.append(f"{train.ref} was trained with {library} {version}, but this environment (and so the "
                            f"package) has {library} {now}; the model may not load or may predict differently. "
                            f"Retrain with the installed versions, or package from an environment with {version}.")
    return warnings
