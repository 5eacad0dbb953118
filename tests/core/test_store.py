"""The artifact store: version ids, atomic publish, manifests, integrity, resolve, lineage, gc,
and the `mlw artifacts ...` commands on top of it."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import re
import subprocess
import sys
import time
from collections import deque
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import pytest

from mlflow_cli import __version__
from mlflow_cli.core import store as store_module
from mlflow_cli.core import versioning
from mlflow_cli.core.errors import EXIT_ARTIFACT, ArtifactError
from mlflow_cli.core.registry import alias_targets
from mlflow_cli.core.store import MANIFEST, Artifact, Store, hash_json, new_version_id

from ..conftest import write_config

ID_PATTERN = re.compile(r"^\d{8}-\d{6}-\d{3}[0-9a-f]{3}$")


# --------------------------------------------------------------------------- helpers


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "artifacts", "demo")


@pytest.fixture
def fixed_ids(monkeypatch: pytest.MonkeyPatch) -> deque[str]:
    """Queue of ids that `new_version_id` hands out before falling back to real ones.

    The writer takes one id for its temporary folder and one per publish attempt, so a
    version with a chosen id needs two entries: see `publish(..., version=...)`."""
    queue: deque[str] = deque()
    real = store_module.new_version_id
    monkeypatch.setattr(store_module, "new_version_id", lambda: queue.popleft() if queue else real())
    return queue


def publish(store: Store, stage: str, files: dict[str, bytes] | None = None, *, inputs: list[dict] = (),
            cache_key: str | None = None, config: dict | None = None, version: str | None = None,
            ids: deque[str] | None = None) -> Artifact:
    """Write one version through the real writer and return it loaded (and so verified)."""
    if version is not None:
        ids.extend([f"tmp{version}", version])
    with store.writer(stage) as writer:
        for name, content in (files or {"data.bin": stage.encode()}).items():
            (writer.path / name).parent.mkdir(parents=True, exist_ok=True)
            (writer.path / name).write_bytes(content)
        writer.config = config or {stage: {"seed": 1}}
        writer.cache_key = cache_key
        writer.inputs.extend(inputs)
    return store.load(stage, writer.artifact.version)


def entries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def flip_byte(path: Path, offset: int = 0) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


# --------------------------------------------------------------------------- version ids


def test_new_version_id_unique_over_many_calls() -> None:
    ids = [new_version_id() for _ in range(5000)]
    assert len(set(ids)) == 5000
    assert ids == sorted(ids)  # one process: strictly increasing in creation order


def test_new_version_id_order_follows_creation_across_sleep() -> None:
    ids = []
    for _ in range(5):
        ids.append(new_version_id())
        time.sleep(0.003)
    assert ids == sorted(ids)
    assert len(set(ids)) == 5


def test_new_version_id_is_short_and_readable() -> None:
    version = new_version_id()
    assert len(version) <= 25
    assert ID_PATTERN.match(version), version
    stamp = datetime.strptime(version[:15], "%Y%m%d-%H%M%S").replace(tzinfo=timezone.utc)
    assert abs((datetime.now(timezone.utc) - stamp).total_seconds()) < 60  # UTC time, not local


class _FrozenClock:
    """Stands in for `datetime` in core/versioning.py: now() returns the queued moments."""

    def __init__(self, *moments: datetime) -> None:
        self.moments = list(moments)

    def now(self, tz=None) -> datetime:
        return self.moments.pop(0)

    def __getattr__(self, name):
        return getattr(datetime, name)


def test_new_version_id_same_millisecond_and_clock_step_back(monkeypatch: pytest.MonkeyPatch) -> None:
    t0 = datetime(2024, 1, 31, 23, 59, 59, 123000, tzinfo=timezone.utc)
    earlier = datetime(2024, 1, 31, 23, 59, 58, tzinfo=timezone.utc)
    monkeypatch.setattr(versioning, "datetime", _FrozenClock(t0, t0, earlier))
    monkeypatch.setattr(versioning.random, "randrange", lambda n: 0x7FF)
    monkeypatch.setattr(versioning, "_last_id", "")
    assert [store_module.new_version_id() for _ in range(3)] == [
        "20240131-235959-1237ff", "20240131-235959-123800", "20240131-235959-123801"]


def test_next_id_rolls_over_to_next_millisecond() -> None:
    assert versioning._next_id("20240131-235959-999ffe") == "20240131-235959-999fff"
    assert versioning._next_id("20240131-235959-999fff") == "20240201-000000-000000"


# --------------------------------------------------------------------------- publishing


def test_writer_publishes_files_and_manifest(store: Store) -> None:
    inputs = [{"external": True, "source": {"type": "csv", "path": "/data/x.csv"}}]
    started = time.perf_counter() - 2.0
    with store.writer("ingest", started=started) as writer:
        assert writer.path.parent == store.stage_dir("ingest")
        assert writer.path.name.startswith(".tmp-")
        assert store.versions("ingest") == []  # invisible while being written
        (writer.path / "data.parquet").write_bytes(b"PAR1 rows")
        (writer.path / "plots").mkdir()
        (writer.path / "plots" / "roc.png").write_bytes(b"\x89PNG")
        writer.config = {"ingest": {"mode": "snapshot"}}
        writer.cache_key = "key-1"
        writer.inputs.extend(inputs)
        writer.metrics = {"rows": 3}
        writer.info = {"source": "x.csv"}

    version = writer.artifact.version
    folder = store.stage_dir("ingest") / version
    assert ID_PATTERN.match(version)
    assert entries(store.stage_dir("ingest")) == sorted([".lock", "latest", version])
    assert entries(folder) == ["data.parquet", "manifest.json", "plots"]
    assert (store.stage_dir("ingest") / "latest").read_text() == version + "\n"
    assert store.latest("ingest") == version
    assert store.versions("ingest") == [version]

    manifest = json.loads((folder / MANIFEST).read_text())
    outputs = {"data.parquet": {"sha256": hashlib.sha256(b"PAR1 rows").hexdigest(), "size": 9},
               "plots/roc.png": {"sha256": hashlib.sha256(b"\x89PNG").hexdigest(), "size": 4}}
    assert manifest["outputs"] == outputs
    assert manifest["content_hash"] == hashlib.sha256(json.dumps(
        {k: v["sha256"] for k, v in outputs.items()}, sort_keys=True).encode()).hexdigest()
    assert (manifest["stage"], manifest["version"], manifest["project"]) == ("ingest", version, "demo")
    assert manifest["config"] == {"ingest": {"mode": "snapshot"}}
    assert manifest["config_hash"] == hash_json({"ingest": {"mode": "snapshot"}})
    assert manifest["cache_key"] == "key-1"
    assert manifest["inputs"] == inputs
    assert manifest["metrics"] == {"rows": 3}
    assert manifest["info"] == {"source": "x.csv"}
    assert manifest["mlw_version"] == __version__
    assert manifest["python"] == ".".join(map(str, sys.version_info[:3]))
    assert manifest["libraries"]["pandas"] == metadata.version("pandas")
    assert manifest["libraries"]["pyarrow"] == metadata.version("pyarrow")
    assert 2.0 <= manifest["duration_s"] < 60
    created = datetime.fromisoformat(manifest["created"])
    assert abs((datetime.now(timezone.utc) - created).total_seconds()) < 60
    assert store.verify("ingest", version) == []


def test_writer_content_hash_depends_on_content_only(store: Store) -> None:
    a = publish(store, "ingest", {"x": b"1"}, config={"a": 1})
    b = publish(store, "ingest", {"x": b"1"}, config={"a": 2})
    c = publish(store, "ingest", {"x": b"2"}, config={"a": 1})
    assert a.content_hash == b.content_hash != c.content_hash
    assert a.manifest["config_hash"] != b.manifest["config_hash"]
    assert a.as_input() == {"stage": "ingest", "version": a.version, "content_hash": a.content_hash}


def test_writer_latest_advances_to_newest(store: Store) -> None:
    first = publish(store, "ingest")
    second = publish(store, "ingest")
    assert first.version < second.version
    assert store.latest("ingest") == second.version
    assert store.versions("ingest") == [first.version, second.version]


def test_logs_live_in_the_store_layout_but_are_not_stages(store: Store) -> None:
    publish(store, "ingest")
    log = store.log_dir("predictions")
    assert log == store.project_dir / "predictions"
    log.mkdir()
    (log / "predictions-1.jsonl").write_text("{}\n")
    assert store.stages() == ["ingest"]
    with pytest.raises(ValueError, match="log must be one of predictions, ratings; got 'train'"):
        store.log_dir("train")


@pytest.mark.parametrize("exception", [RuntimeError("disk full"), KeyboardInterrupt()])
def test_writer_failure_leaves_nothing(store: Store, exception: BaseException) -> None:
    before = publish(store, "ingest", {"data.bin": b"good"})
    listing = entries(store.stage_dir("ingest"))

    with pytest.raises(type(exception)):
        with store.writer("ingest") as writer:
            (writer.path / "data.bin").write_bytes(b"half")
            writer.cache_key = "never"
            raise exception

    assert entries(store.stage_dir("ingest")) == listing  # no version, no .tmp- folder
    assert not writer.path.exists()
    assert store.versions("ingest") == [before.version]
    assert store.latest("ingest") == before.version
    assert store.find_cached("ingest", "never") is None
    assert store.verify("ingest", before.version) == []


def test_writer_failure_before_first_version(store: Store) -> None:
    with pytest.raises(ValueError):
        with store.writer("train"):
            raise ValueError("boom")
    assert store.versions("train") == []
    assert store.latest("train") is None
    assert entries(store.stage_dir("train")) == []


def test_publish_retries_when_version_id_is_taken(store: Store, fixed_ids: deque[str]) -> None:
    taken = publish(store, "ingest", {"a": b"first"}, version="20240101-000000-000000", ids=fixed_ids)
    fixed_ids.extend(["tmp-next", "20240101-000000-000000", "20240101-000000-000001"])
    with store.writer("ingest") as writer:
        (writer.path / "a").write_bytes(b"second")
    assert writer.artifact.version == "20240101-000000-000001"
    assert store.versions("ingest") == ["20240101-000000-000000", "20240101-000000-000001"]
    assert (store.stage_dir("ingest") / taken.version / "a").read_bytes() == b"first"
    assert store.verify("ingest", taken.version) == []
    assert store.manifest("ingest", "20240101-000000-000001")["version"] == "20240101-000000-000001"


def test_latest_does_not_go_back_to_an_older_version(store: Store, fixed_ids: deque[str]) -> None:
    publish(store, "ingest", version="20240101-000000-000002", ids=fixed_ids)
    publish(store, "ingest", version="20240101-000000-000001", ids=fixed_ids)  # a slower concurrent run
    assert store.latest("ingest") == "20240101-000000-000002"


def test_latest_falls_back_when_pointer_is_missing_or_stale(store: Store) -> None:
    first = publish(store, "ingest")
    second = publish(store, "ingest")
    pointer = store.stage_dir("ingest") / "latest"
    pointer.write_text("20000101-000000-000000\n")
    assert store.latest("ingest") == second.version
    pointer.unlink()
    assert store.latest("ingest") == second.version
    pointer.write_text(first.version)
    assert store.latest("ingest") == first.version
    assert store.latest("nothing") is None


def _publish_worker(root: str, barrier, results, index: int, count: int) -> None:
    store = Store(Path(root), "demo")
    barrier.wait()
    for n in range(count):
        with store.writer("ingest") as writer:
            (writer.path / "data.bin").write_bytes(f"worker {index} run {n}".encode())
        results.put(writer.artifact.version)


def test_writer_concurrent_processes_publish_distinct_versions(store: Store) -> None:
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    results = context.Queue()
    workers = [context.Process(target=_publish_worker, args=(str(store.root), barrier, results, i, 5))
               for i in range(2)]
    for worker in workers:
        worker.start()
    versions = [results.get(timeout=60) for _ in range(10)]
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0

    assert len(set(versions)) == 10
    assert store.versions("ingest") == sorted(versions)
    assert store.latest("ingest") == max(versions)
    assert (store.stage_dir("ingest") / "latest").read_text().strip() == max(versions)
    assert not [p for p in store.stage_dir("ingest").iterdir() if p.name.startswith(".tmp-")]
    contents = {(store.stage_dir("ingest") / v / "data.bin").read_bytes() for v in versions}
    assert len(contents) == 10
    assert all(store.verify("ingest", v) == [] for v in versions)


# --------------------------------------------------------------------------- cache


def test_find_cached_returns_newest_matching_version(store: Store) -> None:
    old = publish(store, "prepare", {"x": b"1"}, cache_key="k1")
    new = publish(store, "prepare", {"x": b"2"}, cache_key="k1")
    other = publish(store, "prepare", {"x": b"3"}, cache_key="k2")

    assert store.find_cached("prepare", "k1").version == new.version
    assert store.find_cached("prepare", "k2").version == other.version
    assert store.find_cached("prepare", "k3") is None
    assert store.find_cached("train", "k1") is None

    flip_byte(new.path / "x")
    assert store.find_cached("prepare", "k1").version == old.version  # the tampered one is ignored
    (old.path / MANIFEST).write_text("{not json")
    assert store.find_cached("prepare", "k1") is None


# --------------------------------------------------------------------------- verify and load


def _modify(folder: Path) -> None:
    flip_byte(folder / "data.parquet", 3)


def _append(folder: Path) -> None:
    with open(folder / "data.parquet", "ab") as fh:
        fh.write(b"!")


def _delete(folder: Path) -> None:
    (folder / "data.parquet").unlink()


def _extra(folder: Path) -> None:
    (folder / "evil.pkl").write_bytes(b"x")


def _extra_nested(folder: Path) -> None:
    (folder / "plots" / "extra.png").write_bytes(b"x")


@pytest.mark.parametrize(("tamper", "problem"), [
    (_modify, "{ref}/data.parquet does not match its sha256 in manifest.json (modified after it was written)"),
    (_append, "{ref}/data.parquet does not match its sha256 in manifest.json (modified after it was written)"),
    (_delete, "{ref}/data.parquet is missing"),
    (_extra, "{ref}/evil.pkl is not listed in manifest.json"),
    (_extra_nested, "{ref}/plots/extra.png is not listed in manifest.json"),
])
def test_verify_names_each_problem(store: Store, tamper, problem: str) -> None:
    artifact = publish(store, "ingest", {"data.parquet": b"PAR1 0123456789", "plots/a.png": b"png"})
    tamper(artifact.path)
    assert store.verify("ingest", artifact.version) == [problem.format(ref=artifact.ref)]


def test_verify_reports_every_problem(store: Store) -> None:
    artifact = publish(store, "ingest", {"a": b"1", "b": b"2"})
    flip_byte(artifact.path / "a")
    (artifact.path / "b").unlink()
    (artifact.path / "c").write_bytes(b"3")
    assert store.verify("ingest", artifact.version) == [
        f"{artifact.ref}/a does not match its sha256 in manifest.json (modified after it was written)",
        f"{artifact.ref}/b is missing",
        f"{artifact.ref}/c is not listed in manifest.json",
    ]


@pytest.mark.parametrize(("text", "problem"), [
    ("{not json", "{ref}/manifest.json cannot be read ("),
    ("", "{ref}/manifest.json cannot be read ("),
    ("[1, 2]", "{ref}/manifest.json is not a manifest (no JSON object of outputs)."),
    ('{"outputs": []}', "{ref}/manifest.json is not a manifest (no JSON object of outputs)."),
])
def test_verify_corrupt_manifest(store: Store, text: str, problem: str) -> None:
    artifact = publish(store, "ingest")
    (artifact.path / MANIFEST).write_text(text)
    problems = store.verify("ingest", artifact.version)
    assert len(problems) == 1
    assert problems[0].startswith(problem.format(ref=artifact.ref))
    with pytest.raises(ArtifactError) as info:
        store.manifest("ingest", artifact.version)
    assert info.value.hint == "The manifest is corrupt; delete the version and run the stage again."


def test_verify_missing_manifest(store: Store) -> None:
    artifact = publish(store, "ingest")
    (artifact.path / MANIFEST).unlink()
    assert store.verify("ingest", artifact.version) == [f"{artifact.ref} has no manifest.json."]
    assert store.versions("ingest") == []  # an incomplete folder is not a version


def test_load_refuses_tampered_artifact(store: Store) -> None:
    artifact = publish(store, "train", {"model.joblib": b"pickle bytes"})
    flip_byte(artifact.path / "model.joblib")
    with pytest.raises(ArtifactError) as info:
        store.load("train", artifact.version)
    error = info.value
    assert error.exit_code == EXIT_ARTIFACT == 4
    assert error.message == (f"{artifact.ref} failed its integrity check: {artifact.ref}/model.joblib does not "
                             f"match its sha256 in manifest.json (modified after it was written).")
    assert "model files are pickles" in error.hint
    with pytest.raises(ArtifactError):
        store.load("train")  # latest is the same tampered version


def test_load_returns_verified_artifact(store: Store) -> None:
    artifact = publish(store, "prepare", {"train.parquet": b"t", "test.parquet": b"s"})
    loaded = store.load("prepare")
    assert (loaded.stage, loaded.version, loaded.path) == ("prepare", artifact.version, artifact.path)
    assert loaded.file("train.parquet") == artifact.path / "train.parquet"
    with pytest.raises(ArtifactError) as info:
        loaded.file("model.joblib")
    assert info.value.message == f"{artifact.ref} has no file 'model.joblib'."
    assert info.value.hint == "Its files are: test.parquet, train.parquet."


def test_load_with_no_versions(store: Store) -> None:
    with pytest.raises(ArtifactError) as info:
        store.load("ingest")
    assert info.value.message == f"There are no 'ingest' artifacts in {store.project_dir}."
    assert info.value.hint == "Run `mlw ingest` first."


# --------------------------------------------------------------------------- resolve

A1, A2, B1 = "20240101-120000-000aaa", "20240101-120000-001bbb", "20240102-090000-000ccc"


@pytest.fixture
def resolvable(store: Store, fixed_ids: deque[str]) -> Store:
    publish(store, "ingest", version=A1, ids=fixed_ids)
    publish(store, "ingest", version=A2, ids=fixed_ids)
    publish(store, "prepare", version=B1, ids=fixed_ids)
    return store


@pytest.mark.parametrize(("ref", "stage", "expected"), [
    (A1, None, ("ingest", A1)),
    (B1, None, ("prepare", B1)),
    ("20240102", None, ("prepare", B1)),
    ("20240101-120000-001", None, ("ingest", A2)),
    (f"  {A1} ", None, ("ingest", A1)),
    (f"ingest/{A1}", None, ("ingest", A1)),
    (f"ingest@{A2}", None, ("ingest", A2)),
    ("ingest/20240101-120000-000", None, ("ingest", A1)),
    ("ingest/latest", None, ("ingest", A2)),
    ("prepare@latest", None, ("prepare", B1)),
    ("latest", "ingest", ("ingest", A2)),
    ("20240101-120000-000", "ingest", ("ingest", A1)),
    (f"ingest/{A1}", "ingest", ("ingest", A1)),
])
def test_store_resolve(resolvable: Store, ref: str, stage: str | None, expected: tuple[str, str]) -> None:
    assert resolvable.resolve(ref, stage) == expected


@pytest.mark.parametrize(("ref", "stage", "message", "hint"), [
    ("2024", None, f"'2024' matches 3 versions: ingest/{A1}, ingest/{A2}, prepare/{B1}.",
     "Type more of the version id, or prefix it with its stage (stage/version)."),
    ("ingest/20240101", None, f"'20240101' matches 2 versions: ingest/{A1}, ingest/{A2}.", None),
    ("20240101-120000-000aab", None,
     f"No version '20240101-120000-000aab' in {{root}}. Did you mean '{A1}'?",
     "List versions with `mlw artifacts list`."),
    ("nothing-like-it", None, "No version 'nothing-like-it' in {root}.", None),
    (B1, "ingest", f"No 'ingest' version '{B1}' in {{root}}. Did you mean '{A1}'?", None),
    ("latest", None, "'latest' needs a stage, e.g. ingest/latest.", "Write STAGE/latest."),
    ("ingets/latest", None, "There are no 'ingets' artifacts in {root}.",
     "Run `mlw ingets` first. Did you mean 'ingest'?"),
    ("train/latest", None, "There are no 'train' artifacts in {root}.", "Run `mlw train` first."),
    (f"prepare/{B1}", "ingest", f"'prepare/{B1}' names a 'prepare' version, but a version of 'ingest' is needed "
                                "here.", "Use ingest/latest or another ingest version."),
])
def test_store_resolve_errors(resolvable: Store, ref: str, stage: str | None, message: str,
                              hint: str | None) -> None:
    with pytest.raises(ArtifactError) as info:
        resolvable.resolve(ref, stage)
    assert info.value.message == message.format(root=resolvable.project_dir)
    assert info.value.exit_code == EXIT_ARTIFACT
    if hint is not None:
        assert info.value.hint == hint


# --------------------------------------------------------------------------- lineage


def test_lineage_three_stage_chain(store: Store) -> None:
    source = {"source": {"type": "csv", "path": "/data/churn.csv",
                         "files": [{"path": "/data/churn.csv", "size": 10, "sha256": "ab" * 32}]}}
    ingest = publish(store, "ingest", inputs=[{"external": True, **source}])
    prepare = publish(store, "prepare", inputs=[ingest.as_input()])
    train = publish(store, "train", inputs=[prepare.as_input()])

    def node(artifact: Artifact, inputs: list) -> dict:
        return {"stage": artifact.stage, "version": artifact.version, "created": artifact.manifest["created"],
                "content_hash": artifact.content_hash, "inputs": inputs}

    assert store.lineage("train", train.version) == node(train, [
        node(prepare, [node(ingest, [{**source, "external": True}])])])


def test_lineage_marks_removed_inputs_and_survives_cycles(store: Store, fixed_ids: deque[str]) -> None:
    gone = {"stage": "ingest", "version": "20230101-000000-000000", "content_hash": "x"}
    looped = "20240101-000000-000000"
    itself = {"stage": "prepare", "version": looped, "content_hash": "y"}
    publish(store, "prepare", inputs=[gone, itself], version=looped, ids=fixed_ids)
    tree = store.lineage("prepare", looped)
    assert tree["inputs"] == [{"stage": "ingest", "version": "20230101-000000-000000", "missing": True,
                               "inputs": []}]


# --------------------------------------------------------------------------- gc


@pytest.fixture
def history(store: Store, fixed_ids: deque[str]) -> dict[str, str]:
    """ingest i1..i4; prepare p1(i1) p2(i3) p3(i3); train t1(p1) t2(p2) t3(p3); production -> t1."""
    ids = {name: f"2024010{n}-000000-000000" for n, name in enumerate(
        ["i1", "i2", "i3", "i4", "p1", "p2", "p3", "t1", "t2", "t3"])}
    made: dict[str, Artifact] = {}

    def make(name: str, stage: str, parent: str | None = None) -> None:
        inputs = [made[parent].as_input()] if parent else [{"external": True, "source": {"type": "csv"}}]
        made[name] = publish(store, stage, {"f": name.encode()}, inputs=inputs, version=ids[name], ids=fixed_ids)

    for name in ["i1", "i2", "i3", "i4"]:
        make(name, "ingest")
    make("p1", "prepare", "i1")
    make("p2", "prepare", "i3")
    make("p3", "prepare", "i3")
    make("t1", "train", "p1")
    make("t2", "train", "p2")
    make("t3", "train", "p3")
    (store.project_dir / "registry.json").write_text(json.dumps(
        {"aliases": {"production": {"version": ids["t1"], "stage": "train"}}, "history": []}))
    return ids


def remaining(store: Store, ids: dict[str, str]) -> list[str]:
    by_id = {v: k for k, v in ids.items()}
    return sorted(by_id[v] for s in store.stages() for v in store.versions(s))


def test_gc_keeps_latest_aliases_and_their_inputs(store: Store, history: dict[str, str]) -> None:
    removed = store.gc(keep=1, protected=alias_targets(store))
    assert removed == {"versions": [f"ingest/{history['i2']}", f"prepare/{history['p2']}",
                                    f"train/{history['t2']}"], "temporary": []}
    assert remaining(store, history) == ["i1", "i3", "i4", "p1", "p3", "t1", "t3"]
    assert all(store.verify(s, v) == [] for s in store.stages() for v in store.versions(s))


def test_gc_keep_zero_still_keeps_latest(store: Store, history: dict[str, str]) -> None:
    (store.project_dir / "registry.json").unlink()
    store.gc(keep=0, protected=alias_targets(store))
    assert remaining(store, history) == ["i3", "i4", "p3", "t3"]
    assert store.latest("train") == history["t3"]


def test_gc_keeps_more_with_higher_keep(store: Store, history: dict[str, str]) -> None:
    store.gc(keep=2, protected=alias_targets(store))
    assert remaining(store, history) == ["i1", "i3", "i4", "p1", "p2", "p3", "t1", "t2", "t3"]


def test_gc_honours_plain_alias_form(store: Store, history: dict[str, str]) -> None:
    (store.project_dir / "registry.json").write_text(json.dumps({"aliases": {"staging": history["t2"]}}))
    store.gc(keep=1, protected=alias_targets(store))
    assert remaining(store, history) == ["i3", "i4", "p2", "p3", "t2", "t3"]


def test_gc_dry_run_removes_nothing(store: Store, history: dict[str, str]) -> None:
    before = remaining(store, history)
    assert store.gc(keep=1, dry_run=True, protected=alias_targets(store)) == store.gc(keep=1, dry_run=True, protected=alias_targets(store))
    assert store.gc(keep=1, dry_run=True, protected=alias_targets(store))["versions"] == [f"ingest/{history['i2']}", f"prepare/{history['p2']}",
                                                          f"train/{history['t2']}"]
    assert remaining(store, history) == before


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_gc_cleans_stale_temporary_folders(store: Store) -> None:
    kept = publish(store, "ingest")
    stage_dir = store.stage_dir("ingest")
    dead = _dead_pid()
    (stage_dir / f".tmp-20240101-000000-000000-{dead}").mkdir()
    (stage_dir / f".tmp-20240101-000000-000000-{dead}" / "half.parquet").write_bytes(b"half")
    (stage_dir / f".tmp-latest-{dead}").write_text("x")
    alive = stage_dir / f".tmp-20240101-000000-000001-{os.getpid()}"
    alive.mkdir()

    dry = store.gc(keep=5, dry_run=True, protected=alias_targets(store))
    assert sorted(dry["temporary"]) == [f"ingest/.tmp-20240101-000000-000000-{dead}", f"ingest/.tmp-latest-{dead}"]
    assert (stage_dir / f".tmp-latest-{dead}").exists()

    assert store.gc(keep=5, protected=alias_targets(store)) == dry
    assert entries(stage_dir) == sorted([".lock", "latest", kept.version, alive.name])


def test_gc_corrupt_registry_is_an_artifact_error(store: Store) -> None:
    publish(store, "train")
    (store.project_dir / "registry.json").write_text("{oops")
    with pytest.raises(ArtifactError) as info:
        store.gc(keep=1, protected=alias_targets(store))
    assert info.value.message.startswith(f"{store.project_dir / 'registry.json'} is not valid JSON (")


# --------------------------------------------------------------------------- mlw artifacts ...

CSV_1 = "customer_id,tenure,plan,churned\n1,3,basic,yes\n2,40,pro,no\n3,12,basic,no\n4,1,pro,yes\n"
CSV_2 = CSV_1 + "5,7,basic,no\n"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "tiny.csv").write_text(CSV_1)
    return write_config(tmp_path, {
        "project": "tiny",
        "data": {"source": {"path": "data/tiny.csv"}, "target": "churned", "id_columns": ["customer_id"]},
    })


def ingest(mlw, config: Path) -> str:
    run = mlw("ingest", "-c", config, "--json")
    assert run.exit_code == 0, run.stderr
    return run.json()["version"]


def test_mlw_artifacts_list_and_show(project: Path, mlw) -> None:
    first = ingest(mlw, project)
    (project.parent / "data" / "tiny.csv").write_text(CSV_2)
    second = ingest(mlw, project)
    assert first < second

    run = mlw("artifacts", "list", "-c", project, "--json")
    assert run.exit_code == 0, run.stderr
    rows = run.json()
    assert [(r["stage"], r["version"], r["latest"]) for r in rows] == [("ingest", second, True),
                                                                       ("ingest", first, False)]
    assert rows[0]["metrics"] == {"rows": 5, "columns": 4}
    assert rows[1]["metrics"] == {"rows": 4, "columns": 4}

    human = mlw("artifacts", "list", "ingest", "-c", project)
    assert human.exit_code == 0
    assert first in human.stdout and second in human.stdout and "latest" in human.stdout

    run = mlw("artifacts", "show", "ingest/latest", "-c", project, "--json")
    assert run.exit_code == 0
    manifest = run.json()
    assert (manifest["stage"], manifest["version"], manifest["problems"]) == ("ingest", second, [])
    assert sorted(manifest["outputs"]) == ["data.parquet", "profile.json", "schema.json"]
    store = Store(project.parent / "artifacts", "tiny")
    assert manifest["outputs"]["data.parquet"]["sha256"] == store_module.sha256_file(
        store.stage_dir("ingest") / second / "data.parquet")

    run = mlw("artifacts", "show", first[:-2], "-c", project)  # a unique prefix, human output
    assert run.exit_code == 0
    assert f"version: {first}" in run.stdout


def test_mlw_ingest_reuses_cached_version(project: Path, mlw) -> None:
    first = ingest(mlw, project)
    run = mlw("ingest", "-c", project, "--json")
    assert run.json()["version"] == first
    assert run.json()["cached"] is True
    assert Store(project.parent / "artifacts", "tiny").versions("ingest") == [first]


def test_mlw_artifacts_lineage(project: Path, mlw) -> None:
    version = ingest(mlw, project)
    run = mlw("artifacts", "lineage", "ingest/latest", "-c", project, "--json")
    assert run.exit_code == 0
    tree = run.json()
    assert (tree["stage"], tree["version"]) == ("ingest", version)
    [source] = tree["inputs"]
    assert source["external"] is True
    [file] = source["source"]["files"]
    assert file["path"] == str(project.parent.resolve() / "data" / "tiny.csv")
    assert file["sha256"] == hashlib.sha256(CSV_1.encode()).hexdigest()

    human = mlw("artifacts", "lineage", version, "-c", project)
    assert human.exit_code == 0
    assert f"ingest/{version}" in human.stdout
    assert f"tiny.csv (sha256 {file['sha256'][:12]})" in human.stdout


def test_mlw_artifacts_verify(project: Path, mlw) -> None:
    version = ingest(mlw, project)
    run = mlw("artifacts", "verify", "-c", project)
    assert run.exit_code == 0
    assert run.stdout.strip() == "OK: 1 version matches its manifest."
    assert mlw("artifacts", "verify", "-c", project, "--json").json() == {
        "checked": 1, "ok": True, "versions": [f"ingest/{version}"]}

    data = project.parent / "artifacts" / "tiny" / "ingest" / version / "data.parquet"
    flip_byte(data, 10)
    run = mlw("artifacts", "verify", "-c", project)
    assert run.exit_code == EXIT_ARTIFACT
    assert run.stdout == ""
    assert "Traceback" not in run.stderr
    assert f"1 integrity problem in {project.parent.resolve() / 'artifacts' / 'tiny'}:" in run.stderr
    assert (f"ingest/{version}/data.parquet does not match its sha256 in manifest.json "
            f"(modified after it was written)") in run.stderr

    run = mlw("artifacts", "verify", version, "-c", project, "--json")
    assert run.exit_code == EXIT_ARTIFACT
    assert run.stdout == ""

    run = mlw("prepare", "-c", project)  # a later stage refuses to read it
    assert run.exit_code == EXIT_ARTIFACT
    assert f"ingest/{version} failed its integrity check" in run.stderr


def test_mlw_artifacts_verify_store_built_with_writer(tmp_path: Path, mlw) -> None:
    config = write_config(tmp_path, {"project": "demo", "data": {"source": {"path": "d.csv"}}})
    store = Store(tmp_path / "artifacts", "demo")
    good = publish(store, "ingest", {"data.parquet": b"ok"})
    bad = publish(store, "train", {"model.joblib": b"model", "metrics.json": b"{}"})
    (bad.path / "model.joblib").unlink()
    (bad.path / "backdoor.py").write_text("import os")

    run = mlw("artifacts", "verify", "-c", config)
    assert run.exit_code == EXIT_ARTIFACT
    assert f"2 integrity problems in {store.project_dir}:" in run.stderr
    assert f"  - train/{bad.version}/model.joblib is missing" in run.stderr
    assert f"  - train/{bad.version}/backdoor.py is not listed in manifest.json" in run.stderr
    assert mlw("artifacts", "verify", good.version, "-c", config).exit_code == 0


def test_mlw_artifacts_gc(project: Path, mlw) -> None:
    first = ingest(mlw, project)
    (project.parent / "data" / "tiny.csv").write_text(CSV_2)
    second = ingest(mlw, project)

    run = mlw("artifacts", "gc", "--keep", "1", "--dry-run", "-c", project)
    assert run.exit_code == 0
    assert run.stdout.strip() == f"Would remove ingest/{first}"
    store = Store(project.parent / "artifacts", "tiny")
    assert store.versions("ingest") == [first, second]

    run = mlw("artifacts", "gc", "--keep", "1", "-c", project, "--json")
    assert run.exit_code == 0
    assert run.json() == {"dry_run": False, "versions": [f"ingest/{first}"], "temporary": []}
    assert store.versions("ingest") == [second]

    run = mlw("artifacts", "gc", "--keep", "0", "-c", project)
    assert run.exit_code == 0
    assert run.stdout.strip() == "Nothing to remove."
    assert store.versions("ingest") == [second]


def test_mlw_artifacts_gc_negative_keep_is_usage_error(project: Path, mlw) -> None:
    run = mlw("artifacts", "gc", "--keep", "-1", "-c", project)
    assert run.exit_code == 2
    assert "Traceback" not in run.stderr


@pytest.mark.parametrize(("args", "fragment"), [
    (("show", "20991231"), "No version '20991231' in"),
    (("show", "prepare/latest"), "There are no 'prepare' artifacts in"),
    (("lineage", "latest"), "'latest' needs a stage, e.g. ingest/latest."),
    (("list", "trian"), "There are no 'trian' artifacts in"),
    (("verify", "nope"), "No version 'nope' in"),
])
def test_mlw_artifacts_errors_exit_4(project: Path, mlw, args: tuple[str, ...], fragment: str) -> None:
    ingest(mlw, project)
    run = mlw("artifacts", *args, "-c", project)
    assert run.exit_code == EXIT_ARTIFACT
    assert run.stderr.startswith("Error: ")
    assert fragment in run.stderr
    assert "Traceback" not in run.stderr
    assert run.stdout == ""


def test_mlw_artifacts_list_empty_store(project: Path, mlw) -> None:
    run = mlw("artifacts", "list", "-c", project, "--json")
    assert run.exit_code == 0
    assert run.json() == []
    run = mlw("artifacts", "list", "-c", project)
    assert run.exit_code == 0
    assert "No artifacts yet." in run.stderr


def test_the_writer_hands_back_the_published_version(store):
    with store.writer("train") as writer:
        (writer.path / "model.joblib").write_bytes(b"weights")
        writer.config = {"train": {"model": "x"}}
    assert writer.artifact is not None
    loaded = store.load("train", writer.artifact.version)
    assert loaded.manifest == writer.artifact.manifest and loaded.path == writer.artifact.path
    assert writer.artifact.content_hash == hash_json({"model.joblib": hashlib.sha256(b"weights").hexdigest()})


def test_a_pickle_the_libraries_cannot_read_is_an_artifact_error(store):
    import joblib

    artifact = publish(store, "train", {"model.joblib": b"not a pickle at all"})
    with pytest.raises(ArtifactError) as caught:
        artifact.unpickle("model.joblib")
    assert caught.value.message.startswith(f"{artifact.ref}/model.joblib cannot be loaded (")
    assert "match the manifest's `libraries`" in caught.value.hint
    with store.writer("prepare") as writer:
        joblib.dump({"fitted": [1, 2]}, writer.path / "preprocessor.joblib")
    assert store.load("prepare", writer.artifact.version).unpickle("preprocessor.joblib") == {"fitted": [1, 2]}
