"""Local stores at the edges of the filesystem (issue 13, section 5).

* every local constructor refuses a bad path the same way: ``Misconfigured`` naming the problem,
  before anything is written;
* no local store follows a symbolic link planted below its root — at construction or on any call —
  and none writes, reads or deletes outside it;
* a write that fails for space leaves nothing behind, names the cause, and works once space is back
  (a real process under ``RLIMIT_FSIZE``: ``space_writer.py``);
* a Durable Objects namespace dropped without ``aclose()`` releases its lock when collected, with a
  ``ResourceWarning``.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from cap_cloudflare_do import Dedupe, DurableObjectNamespace
from cap_cloudflare_kv import KvNamespace
from cap_cloudflare_queue import Queue, QueueConsumer
from cap_cloudflare_r2 import R2Bucket
from cap_opendal_core import LayerSettings
from cap_opendal_core.errors import LimitExceeded, Misconfigured, Unavailable
from cap_opendal_core.operators import FsConfig, build_operator
from tests.cap_cloudflare_do.objects import Box

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

REPO = Path(__file__).resolve().parents[2]
QUIET = LayerSettings(logging=False)


# --- every constructor refuses a bad path the same way --------------------------------------------------

# (name, build from a path, the store's first own entry under its root)
CONSTRUCTORS: list[tuple[str, Callable[[str], object], str]] = [
    ("KvNamespace.local", lambda p: KvNamespace.local(p, settings=QUIET), "k"),
    ("KvNamespace.from_url", lambda p: KvNamespace.from_url(f"fs://{p}", settings=QUIET), "k"),
    ("R2Bucket.local", lambda p: R2Bucket.local(p, settings=QUIET), "keys"),
    ("R2Bucket.from_url", lambda p: R2Bucket.from_url(f"fs://{p}", settings=QUIET), "keys"),
    ("Queue.local", lambda p: Queue.local(p, "jobs", settings=QUIET), "queues.sqlite3"),
    ("Queue.from_url", lambda p: Queue.from_url(f"file://{p}/jobs", settings=QUIET), "queues.sqlite3"),
    ("QueueConsumer.local", lambda p: QueueConsumer.local(p, "jobs", settings=QUIET), "queues.sqlite3"),
    ("DurableObjectNamespace.local", lambda p: DurableObjectNamespace.local(p, Box), "objects.sqlite3"),
    (
        "DurableObjectNamespace.from_url",
        lambda p: DurableObjectNamespace.from_url(f"file://{p}", object_class=Box),
        "objects.sqlite3",
    ),
    ("Dedupe.local", lambda p: Dedupe.local(p), "objects.sqlite3"),
]


def _tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.mark.parametrize(("name", "build", "member"), CONSTRUCTORS, ids=[c[0] for c in CONSTRUCTORS])
@pytest.mark.parametrize("problem", ["nul", "empty", "file", "linked member"])
def test_every_local_constructor_refuses_a_bad_path_as_misconfigured(
    tmp_path: Path, name: str, build: Callable[[str], object], member: str, problem: str
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    if problem == "nul":
        path, expected = f"{tmp_path}/store\x00x", "NUL"
    elif problem == "empty":
        path, expected = "", "empty"
        if name.endswith("from_url"):
            pytest.skip("an empty path makes a malformed URL, refused as such")
    elif problem == "file":
        (tmp_path / "store").write_text("a file, not a directory")
        path, expected = str(tmp_path / "store"), "not a directory"
    else:
        (tmp_path / "store").mkdir()
        os.symlink(outside, tmp_path / "store" / member)
        path, expected = str(tmp_path / "store"), "symbolic link"
    before = _tree(tmp_path)
    with pytest.raises(Misconfigured) as caught:
        build(path)
    assert expected in str(caught.value), f"{name}: {caught.value}"
    assert _tree(tmp_path) == before, f"{name} wrote something before refusing"


def test_the_empty_url_path_is_misconfigured_too() -> None:
    for build in (
        lambda: KvNamespace.from_url("fs://"),
        lambda: R2Bucket.from_url("fs://"),
        lambda: DurableObjectNamespace.from_url("file://", object_class=Box),
    ):
        with pytest.raises(Misconfigured):
            build()


# --- no link below the root is followed, on any call -------------------------------------------------------


async def _refused(call: Awaitable[Any], outside: Path) -> None:
    with pytest.raises(Misconfigured, match="symbolic link"):
        await call
    assert _tree(outside) == [], "the store wrote outside its root"


@pytest.mark.anyio
@pytest.mark.parametrize("planted", ["k", ".tmp", "key's parent", "record"])
async def test_kv_on_fs_urls_never_follows_a_planted_link(tmp_path: Path, planted: str) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "kv"
    long_key = "p" * 150  # over 100 bytes: its file sits in a directory of its own
    kv = KvNamespace.from_url(f"fs://{root}", settings=QUIET)
    await kv.put("short", "v")
    await kv.put(long_key, "v")
    if planted == "key's parent":
        (path,) = (p for p in (root / "k").iterdir() if p.is_dir())
        victim = outside / "moved"
        path.rename(victim)
        os.symlink(victim, path)
        moved = sorted(victim.iterdir())
        calls: list[Awaitable[Any]] = [
            kv.put(long_key, "x"),
            kv.get(long_key),
            kv.delete(long_key),
            kv.list(),
        ]
        for call in calls:
            with pytest.raises(Misconfigured, match="symbolic link"):
                await call
        assert sorted(victim.iterdir()) == moved, "a put or delete went through the link"
        return
    if planted == "record":
        (record,) = (p for p in (root / "k").iterdir() if p.is_file())
        record.rename(outside / "record")
        os.symlink(outside / "record", record)
        reads: list[Awaitable[Any]] = [
            kv.get("short"),
            kv.get("short", "stream"),
            kv.list(),
            kv.put("short", "x"),
        ]
        for call in reads:
            with pytest.raises(Misconfigured, match="symbolic link"):
                await call
        assert (outside / "record").read_bytes().endswith(b"v")
        return
    target = root / planted
    if target.exists():
        os.rename(target, tmp_path / "was")
    os.symlink(outside, target)
    await _refused(kv.put("new", "v"), outside)
    if planted == "k":
        more: list[Awaitable[Any]] = [kv.get("short"), kv.delete("short"), kv.list(), kv.get_many(["short"])]
        for call in more:
            await _refused(call, outside)


@pytest.mark.anyio
@pytest.mark.parametrize("planted", ["keys", "blobs", "tmp", "record"])
async def test_r2_on_fs_urls_never_follows_a_planted_link(tmp_path: Path, planted: str) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "r2"
    bucket = R2Bucket.from_url(f"fs://{root}", settings=QUIET)
    await bucket.put("object", b"body")
    if planted == "record":
        (record,) = (root / "keys").iterdir()
        record.rename(outside / "record")
        os.symlink(outside / "record", record)
        reads: list[Awaitable[Any]] = [bucket.head("object"), bucket.get("object"), bucket.delete("object")]
        for call in reads:
            with pytest.raises(Misconfigured, match="symbolic link"):
                await call
        assert (outside / "record").exists()
        return
    target = root / planted
    if target.exists():
        os.rename(target, tmp_path / "was")
    os.symlink(outside, target)
    await _refused(bucket.put("other", b"body"), outside)
    if planted == "keys":
        more: list[Awaitable[Any]] = [bucket.head("object"), bucket.delete("object"), bucket.list()]
        for call in more:
            await _refused(call, outside)


# the embedded engine (KvNamespace.local, R2Bucket.local, file:// URLs): index, blobs/, sessions/
EMBEDDED = [
    ("kv", lambda root: KvNamespace.local(root, settings=QUIET)),
    ("r2", lambda root: R2Bucket.local(root, settings=QUIET)),
]
BIG = b"x" * 100_000  # over KV's inline limit: a value file


async def _put(store: Any, key: str, value: bytes) -> None:
    await store.put(key, value)


async def _read(store: Any, key: str) -> Any:
    got = await store.get(key, "bytes") if isinstance(store, KvNamespace) else await store.get(key)
    return got if isinstance(got, bytes | None) else await got.read()


@pytest.mark.anyio
@pytest.mark.parametrize("planted", ["blobs", "value directory", "value file"])
@pytest.mark.parametrize(("kind", "build"), EMBEDDED, ids=[e[0] for e in EMBEDDED])
async def test_the_embedded_engine_never_follows_a_planted_link(
    tmp_path: Path, kind: str, build: Callable[[Path], Any], planted: str
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / kind
    store = build(root)
    await _put(store, "big", BIG)
    (value_dir,) = (root / "blobs").iterdir()
    if planted == "blobs":
        os.rename(root / "blobs", tmp_path / "was")
        os.symlink(outside, root / "blobs")
    elif planted == "value directory":
        os.rename(value_dir, tmp_path / "was")
        os.symlink(outside, value_dir)
    else:
        (value,) = value_dir.iterdir()
        value.rename(outside / "value")
        os.symlink(outside / "value", value)
    with pytest.raises(Misconfigured, match="symbolic link"):
        await _read(store, "big")
    if planted != "value file":  # writing a new value goes through the planted directory link
        with pytest.raises(Misconfigured, match="symbolic link"):
            await _put(store, "other", BIG)
        assert _tree(outside) == [], "the store wrote outside its root"
    else:
        assert (outside / "value").read_bytes() == BIG, "the linked file was changed"


@pytest.mark.anyio
@pytest.mark.parametrize("member", ["index.sqlite3", "index.sqlite3-wal", "blobs", "sessions"])
@pytest.mark.parametrize(("kind", "build"), EMBEDDED, ids=[e[0] for e in EMBEDDED])
async def test_an_embedded_store_never_opens_through_a_linked_member(
    tmp_path: Path, kind: str, build: Callable[[Path], Any], member: str
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / kind
    store = build(root)  # built while the tree is sound; opened by the first call
    root.mkdir(exist_ok=True)
    os.symlink(outside / "x" if member.startswith("index") else outside, root / member)
    with pytest.raises(Misconfigured, match="symbolic link"):
        await _put(store, "k", b"v")
    assert _tree(outside) == []


def test_fs_operators_offer_only_checked_calls(tmp_path: Path) -> None:
    """An fs operator the SDK builds cannot be asked for a call that skips the link check."""
    operator = build_operator(FsConfig(root=str(tmp_path)))
    for unchecked in ("copy", "create_dir", "remove_all", "exists", "presign_read"):
        assert not hasattr(operator, unchecked), unchecked
    for checked in ("read", "write", "delete", "open", "rename", "stat", "list"):
        assert callable(getattr(operator, checked)), checked


@pytest.mark.anyio
@pytest.mark.parametrize("planted", ["queues.sqlite3", "queues.sqlite3-wal"])
async def test_the_local_queue_never_opens_a_linked_database(tmp_path: Path, planted: str) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "queue"
    queue = Queue.local(root, "jobs", settings=QUIET)  # built while the tree is sound
    root.mkdir()
    os.symlink(outside / "db", root / planted)
    with pytest.raises(Misconfigured, match="symbolic link"):
        await queue.send("x")
    assert list(outside.iterdir()) == []


@pytest.mark.anyio
@pytest.mark.parametrize("planted", ["objects.sqlite3", "objects.lock"])
async def test_a_do_namespace_never_opens_a_linked_file(tmp_path: Path, planted: str) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "do"
    namespace = DurableObjectNamespace.local(root, Box)
    root.mkdir()
    os.symlink(outside / "file", root / planted)
    with pytest.raises(Misconfigured, match="symbolic link"):
        async with namespace:
            pass
    assert list(outside.iterdir()) == []


# --- a write that fails for space leaves nothing ------------------------------------------------------------


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE is POSIX")
def test_a_write_that_fails_for_space_leaves_nothing_and_works_once_space_is_back(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tests.reliability.space_writer", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    reports = {r["scenario"]: r for r in map(json.loads, done.stdout.splitlines())}
    assert set(reports) == {"kv.put", "r2.put", "r2.put(stream)", "queue.send_batch", "do.put"}
    for name, report in reports.items():
        error = report["error"]
        assert error is not None, f"{name}: the write over the file-size limit succeeded"
        assert error["type"] in (LimitExceeded.__name__, Unavailable.__name__), f"{name}: {error}"
        assert "too large" in error["message"].lower() or "file-size limit" in error["message"], error
        assert report["seen_after_failure"] in (None, 0), f"{name}: the failed write is visible"
        assert report["seen_after_retry"], f"{name}: the write failed again once space was back"
        if not name.startswith(("queue", "do")):  # SQLite's own files may grow; it rolled back
            assert report["after_failure"] == report["before"], f"{name} left a partial file behind"


# --- a dropped Durable Objects namespace lets go of its lock ------------------------------------------------


@pytest.mark.anyio
async def test_a_collected_do_namespace_releases_its_lock_with_a_resource_warning(tmp_path: Path) -> None:
    namespace = DurableObjectNamespace.local(tmp_path / "do", Box)
    await namespace.get(namespace.id_from_name("a")).call("put", "k", "v")
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        del namespace
        gc.collect()
    assert any(
        issubclass(w.category, ResourceWarning) and "unclosed Durable Objects" in str(w.message) for w in seen
    ), [str(w.message) for w in seen]
    async with DurableObjectNamespace.local(tmp_path / "do", Box) as again:
        assert await again.get(again.id_from_name("a")).call("get", "k") == "v"


@pytest.mark.anyio
async def test_a_closed_do_namespace_warns_nothing(tmp_path: Path) -> None:
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        async with DurableObjectNamespace.local(tmp_path / "do", Box) as namespace:
            await namespace.get(namespace.id_from_name("a")).call("put", "k", "v")
        del namespace
        gc.collect()
    assert not [w for w in seen if issubclass(w.category, ResourceWarning)]
