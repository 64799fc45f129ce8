"""The OpenDAL-backed backends: the local disk default, memory, and any operator (S3 via moto).

What the shared scenarios cannot show: durability across restarts, no torn value after a crash
mid-write (a real process, killed), where keys land on disk, expired entries being reclaimed,
cursors that survive restarts and concurrent changes, and the descriptor of each backend.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cap_cloudflare_kv import KvNamespace
from cap_cloudflare_kv.backends.layout import SEGMENT, key_to_path, path_to_key
from cap_opendal_core import BackendError, InvalidInput, Misconfigured
from cap_opendal_core.operators.config import FsConfig, MemoryConfig
from tests.workers.checks.check_kv_scenarios import SCENARIOS, Ctx, ManualClock

from .conftest import QUIET

if TYPE_CHECKING:
    from tests.support.moto_server import MotoS3

REPO = Path(__file__).resolve().parents[2]


# --- durability ------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_local_survives_a_restart(tmp_path: Path, clock: ManualClock) -> None:
    root = tmp_path / "kv"
    async with KvNamespace.local(root, settings=QUIET, clock=clock) as kv:
        await kv.put("kept", "value", metadata={"m": 1}, expiration_ttl=3600)
        await kv.put("gone", "x")
        await kv.delete("gone")
    async with KvNamespace.local(root, settings=QUIET, clock=clock) as again:
        got = await again.get_with_metadata("kept")
        assert (got.value, got.metadata) == ("value", {"m": 1})
        assert [(k.name, k.expiration) for k in (await again.list()).keys] == [("kept", int(clock()) + 3600)]
        assert await again.get("gone") is None


_WRITER = textwrap.dedent(
    """
    import asyncio, sys
    from cap_cloudflare_kv import KvNamespace
    from cap_opendal_core.layers import LayerSettings

    SIZE = 4 * 1024 * 1024

    async def main() -> None:
        kv = KvNamespace.local(sys.argv[1], settings=LayerSettings.off())
        values = [bytes([c]) * SIZE for c in b"ab"]
        await kv.put("big", values[0], metadata={"fill": "a"})
        print("ready", flush=True)
        i = 1
        while True:
            await kv.put("big", values[i % 2], metadata={"fill": "ab"[i % 2]})
            i += 1

    asyncio.run(main())
    """
)


def test_a_crash_mid_write_never_leaves_a_torn_value(tmp_path: Path) -> None:
    """Kill a process that rewrites one 4 MiB value in a loop, several times, at varied moments:
    every time, the key holds one whole value with its own metadata."""
    root = tmp_path / "kv"
    for attempt in range(6):
        proc = subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(root)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=REPO,
        )
        try:
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == b"ready", proc.stderr.read() if proc.stderr else b""
            time.sleep(0.05 + 0.03 * attempt)  # let it get into the middle of some write
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL

        async def read() -> Any:
            async with KvNamespace.local(root, settings=QUIET) as kv:
                return await kv.get_with_metadata("big", "bytes")

        got = asyncio.run(read())
        assert got.value is not None
        assert len(got.value) == 4 * 1024 * 1024
        fill = got.metadata["fill"].encode()
        assert got.value == fill * len(got.value), "the value is whole and matches its metadata"


# --- where keys live ---------------------------------------------------------------------------------

_PATH = re.compile(rf"k/(?:[0-9a-v]{{{SEGMENT}}}/)*[0-9a-v]{{1,{SEGMENT}}}\.kv")
_keys = st.text(min_size=1, max_size=200).filter(
    lambda k: k not in (".", "..") and len(k.encode("utf-8")) <= 512
)


@given(key=_keys)
@settings(max_examples=300, deadline=None)
def test_every_key_maps_to_a_safe_path_and_back(key: str) -> None:
    path = key_to_path(key)
    assert _PATH.fullmatch(path), path
    assert path_to_key(path) == key


@given(a=_keys, b=_keys)
@settings(max_examples=300, deadline=None)
def test_paths_sort_like_the_keys_utf8_bytes(a: str, b: str) -> None:
    assert (a.encode() < b.encode()) == (key_to_path(a) < key_to_path(b))


def test_the_longest_keys_fit_file_system_and_s3_limits() -> None:
    for key in ("x" * 512, "😀" * 128, "日" * 170):
        path = key_to_path(key)
        assert len(path.encode()) <= 1024, "S3 object keys are at most 1024 bytes"
        assert all(len(part) <= 255 for part in path.split("/")), "file names are at most 255 bytes"
        assert path_to_key(path) == key
    # names this layout could not have written are not keys ("c5": non-zero padding bits)
    for foreign in ("k/readme.txt", "k/zz.kv", "k/c5.kv/", "x/c5.kv", "k/" + "0" * 161 + ".kv", "k/c5.kv"):
        assert path_to_key(foreign) is None, foreign


@pytest.mark.anyio
async def test_no_key_escapes_the_root(tmp_path: Path) -> None:
    root = tmp_path / "kv"
    outside = tmp_path / "outside"
    outside.mkdir()
    keys = ["../outside/x", "/etc/passwd", "..\\..\\x", "a/../../b", "%2e%2e/x", " ", "CON", "nul"]
    async with KvNamespace.from_url(f"fs://{root}", settings=QUIET) as kv:
        for key in keys:
            await kv.put(key, key)
        for key in keys:
            assert await kv.get(key) == key
    assert list(outside.iterdir()) == []
    files = [p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()]
    assert len(files) == len(keys)
    assert all(_PATH.fullmatch(f) for f in files), files


@pytest.mark.anyio
async def test_foreign_and_damaged_objects(tmp_path: Path) -> None:
    root = tmp_path / "kv"
    async with KvNamespace.from_url(f"fs://{root}", settings=QUIET) as kv:
        await kv.put("real", "v")
        _write(root / "k" / "README.txt", b"not a key")
        _write(root / "k" / "sub" / "note", b"not a key either")
        assert [k.name for k in (await kv.list()).keys] == ["real"], "foreign files are not keys"
        _write(Path(root, key_to_path("damaged")), b"garbage that is no record")
        with pytest.raises(BackendError, match="not a KV record") as caught:
            await kv.get("damaged")
        assert (caught.value.operation, caught.value.key) == ("get", "damaged")


# --- expiration ----------------------------------------------------------------------------------------


def _stored(root: Path, key: str) -> bool:
    """Whether ``key``'s object is on disk (a plain helper: tests need not await file checks)."""
    return Path(root, key_to_path(key)).exists()


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


@pytest.mark.anyio
async def test_expired_entries_are_reclaimed(tmp_path: Path, clock: ManualClock) -> None:
    root = tmp_path / "kv"
    async with KvNamespace.from_url(f"fs://{root}", settings=QUIET, clock=clock) as kv:
        for name in ("read", "listed", "purged1", "purged2"):
            await kv.put(name, "v", expiration_ttl=60)
        await kv.put("stays", "v", expiration_ttl=3600)
        clock.advance(60)
        assert await kv.get("read") is None
        assert not _stored(root, "read"), "a read reclaims what it finds expired"
        assert [k.name for k in (await kv.list(prefix="l")).keys] == []
        assert not _stored(root, "listed"), "so does a listing"
        assert _stored(root, "purged1")
        assert await kv.purge_expired() == 2
        assert not _stored(root, "purged1")
        assert await kv.purge_expired() == 0
        assert await kv.get("stays") == "v"
        stream = await kv.get("stays", "stream")
        assert stream is not None
        await stream.aclose()
        clock.advance(3600)
        assert await kv.get("stays", "stream") is None


@pytest.mark.anyio
async def test_reclaiming_never_loses_a_write_made_meanwhile(
    memory_kv: KvNamespace, clock: ManualClock
) -> None:
    """A read that reclaims an expired entry races a put of a fresh value: the put always wins."""
    for round_ in range(40):
        await memory_kv.put("k", "old", expiration_ttl=60)
        clock.advance(61)
        await asyncio.gather(memory_kv.get("k"), memory_kv.put("k", f"fresh{round_}"), memory_kv.get("k"))
        assert await memory_kv.get("k") == f"fresh{round_}"


@pytest.mark.anyio
async def test_the_60_second_minimum_holds_on_an_injected_clock(
    memory_kv: KvNamespace, clock: ManualClock
) -> None:
    with pytest.raises(InvalidInput):
        await memory_kv.put("k", "v", expiration=int(clock()) + 59)
    await memory_kv.put("k", "v", expiration=int(clock()) + 60)
    await memory_kv.put("t", "v", expiration=int(clock()) + 60, expiration_ttl=600)
    listed = {k.name: k.expiration for k in (await memory_kv.list()).keys}
    assert listed == {"k": int(clock()) + 60, "t": int(clock()) + 600}, "the TTL wins, as on Cloudflare"


# --- cursors ---------------------------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("backend", ["local", "memory"])
async def test_pages_follow_changes_made_while_paging(tmp_path: Path, backend: str) -> None:
    names = [f"n{i:03d}" for i in range(50)]
    kv = KvNamespace.local(tmp_path / "kv", settings=QUIET) if backend == "local" else None
    kv = kv or KvNamespace.from_url("memory://", settings=QUIET)
    async with kv:
        await kv.put_many({n: n for n in names})
        first = await kv.list(limit=10)
        assert [k.name for k in first.keys] == names[:10]
        # changes through this instance while paging: a new key after the cursor, a deleted one,
        # one before the cursor, and existing keys written again (they must not appear twice)
        await kv.put("n0255", "new")
        await kv.delete("n011")
        await kv.put("a-before", "missed: it sorts before the cursor")
        await kv.put_many({"n030": "again", "n012": "again"})
        second = await kv.list(limit=10, cursor=first.cursor)
        assert [k.name for k in second.keys] == [*names[10:11], *names[12:21]]
        rest = await kv.list(limit=1000, cursor=second.cursor)
        assert [k.name for k in rest.keys] == sorted([*names[21:], "n0255"])
        assert rest.list_complete


@pytest.mark.anyio
async def test_a_cursor_keeps_working_across_restarts(tmp_path: Path) -> None:
    root = tmp_path / "kv"
    names = [f"n{i:03d}" for i in range(30)]
    async with KvNamespace.local(root, settings=QUIET) as kv:
        await kv.put_many({n: n for n in names})
        first = await kv.list(limit=10)
    # a new process (new instance, no snapshot): the cursor still continues after its key
    async with KvNamespace.local(root, settings=QUIET) as kv:
        await kv.delete("n015")
        rest = await kv.list(limit=1000, cursor=first.cursor)
        assert [k.name for k in rest.keys] == [n for n in names[10:] if n != "n015"]
        assert rest.list_complete
        with pytest.raises(InvalidInput) as caught:
            await kv.list(cursor="definitely not a cursor")
        assert caught.value.field == "cursor"


@pytest.mark.anyio
async def test_continuation_pages_see_writes_made_by_another_instance_after_a_rescan(tmp_path: Path) -> None:
    root = tmp_path / "kv"
    async with KvNamespace.local(root, settings=QUIET) as a, KvNamespace.local(root, settings=QUIET) as b:
        await a.put_many({f"k{i}": "v" for i in range(5)})
        page = await a.list(limit=2)
        await b.delete("k3")  # another writer: a's snapshot does not know
        rest = await a.list(limit=10, cursor=page.cursor)
        assert [k.name for k in rest.keys] == ["k2", "k4"], "a key deleted elsewhere is never listed"
        fresh = await a.list()
        assert [k.name for k in fresh.keys] == ["k0", "k1", "k2", "k4"]


# --- constructors and descriptors --------------------------------------------------------------------------


def test_descriptors_per_backend(tmp_path: Path) -> None:
    local = KvNamespace.local(tmp_path / "kv")
    memory = KvNamespace.from_url("memory://")
    fs = KvNamespace.from_url(f"fs://{tmp_path / 'other'}")
    for kv, consistency, durability in (
        (local, "strong", "durable"),
        (memory, "strong", "ephemeral"),
        (fs, "strong", "durable"),
    ):
        assert (kv.info.consistency, kv.info.durability, kv.info.ttl) == (
            consistency,
            durability,
            "per_write",
        )
        assert kv.info.extensions["com.cloudflare.kv.min_ttl_s"] == 60
        assert kv.backend == ("local" if kv is local else "opendal")
        assert kv.binding_kind == "kv_namespace"
        assert kv.provided_hints == ("resource::kv::read", "resource::kv::write", "resource::kv")
    assert "atomic_write_dir" in repr(fs), "fs URLs get an atomic write directory too"
    assert (tmp_path / "kv").is_dir(), "local() creates its directory at once"


def test_bad_constructor_input_is_misconfigured(tmp_path: Path) -> None:
    with pytest.raises(Misconfigured):
        KvNamespace.from_url("fs://relative/path")
    with pytest.raises(Misconfigured):
        KvNamespace.from_url("nonsense")
    with pytest.raises(Misconfigured):
        KvNamespace.from_config({"scheme": "memory"})  # type: ignore[arg-type]
    with pytest.raises(Misconfigured):
        KvNamespace.local(123)  # type: ignore[arg-type]
    (tmp_path / "file").write_text("x")
    with pytest.raises(Misconfigured, match="cannot create"):
        KvNamespace.local(tmp_path / "file" / "kv")
    with pytest.raises(Misconfigured, match="settings"):
        KvNamespace.local(tmp_path / "kv", settings={"logging": False})  # type: ignore[arg-type]


@pytest.mark.anyio
async def test_from_config_takes_core_operator_configs(tmp_path: Path) -> None:
    async with KvNamespace.from_config(MemoryConfig(), settings=QUIET) as kv:
        await kv.put("k", "v")
        assert await kv.get("k") == "v"
    async with KvNamespace.from_config(FsConfig(root=str(tmp_path / "fs")), settings=QUIET) as kv:
        await kv.put("k", "v")
    assert (tmp_path / "fs" / ".tmp").is_dir()


@pytest.mark.anyio
async def test_any_opendal_operator_s3_via_moto(moto_s3: MotoS3) -> None:
    bucket = moto_s3.create_bucket("kv")
    async with KvNamespace.from_url(moto_s3.url(bucket, "/ns"), settings=QUIET) as kv:
        assert (kv.info.consistency, kv.info.durability) == ("strong", "durable")
        for scenario in ("put_get_delete", "metadata", "keys_round_trip", "bulk"):
            await SCENARIOS[scenario](kv, Ctx(prefix=f"{scenario}/"))
    objects = moto_s3.client().list_objects_v2(Bucket=bucket)
    assert all(o["Key"].startswith("ns/k/") for o in objects.get("Contents", []))


@pytest.mark.anyio
async def test_a_missing_bucket_is_not_a_missing_key(moto_s3: MotoS3) -> None:
    """S3 answers 404 for a missing bucket too: that must not read as ``None``."""
    async with KvNamespace.from_url(moto_s3.url("no-such-bucket-for-kv"), settings=QUIET) as kv:
        for call in (kv.get("k"), kv.get("k", "stream"), kv.get_with_metadata("k", "stream")):
            with pytest.raises(Misconfigured, match="NoSuchBucket"):
                await call


@pytest.mark.anyio
async def test_hints_are_recorded_in_the_invocation_scope(memory_kv: KvNamespace) -> None:
    from cap_opendal_core import InvocationScope

    with InvocationScope("reader") as scope:
        await memory_kv.get("k")
        await memory_kv.get_many(["a", "b"])
        await memory_kv.list()
    assert scope.effect_hints == ("resource::kv::read",)
    assert scope.determinism_hints == ("resource::kv",)
    assert scope.observed_effects.name.lower().replace("_", "") == "readonly"
    with InvocationScope("writer") as scope:
        await memory_kv.put("k", "v")
        await memory_kv.delete("k")
        await memory_kv.put_many({"a": "1"})
        await memory_kv.delete_many(["a"])
    assert scope.effect_hints == ("resource::kv::write",)
    assert {(r.operation, r.count) for r in scope.records} == {
        ("put", 1),
        ("delete", 1),
        ("put_many", 1),
        ("delete_many", 1),
    }


def test_repr_names_the_backend(tmp_path: Path) -> None:
    assert repr(KvNamespace.from_url("memory://")) == "KvNamespace(opendal: memory root='/')"
    assert os.fspath(tmp_path) in repr(KvNamespace.local(tmp_path))
