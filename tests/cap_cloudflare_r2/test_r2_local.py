"""The local backends' own promises (the embedded engine's, and the fs:// layout's where named):
any key fits and stays inside the root, writes are never seen half-done, crash leftovers are
invisible, conditional writes are atomic, multipart follows R2's rules."""

from __future__ import annotations

import datetime as dt
import os
from typing import TYPE_CHECKING

import anyio
import pytest

from cap_cloudflare_r2 import R2Bucket, R2Conditional, TransferSettings
from cap_cloudflare_r2.backends.local import LocalBackend, key_from_record_path, record_path
from cap_opendal_core.errors import InvalidInput, NotFound, Unsupported
from cap_opendal_core.operators import FsConfig, build_operator, operator_capabilities
from tests.workers.checks.check_r2 import SETTINGS, chunks_of, md5

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

pytestmark = pytest.mark.anyio
MiB = 1024 * 1024


@pytest.fixture
async def bucket(tmp_path: Path) -> AsyncIterator[R2Bucket]:
    async with R2Bucket.local(tmp_path / "bucket", settings=SETTINGS) as b:
        yield b


def names_in(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


async def test_keys_that_look_like_paths_stay_distinct_and_inside_the_root(tmp_path: Path) -> None:
    root = tmp_path / "bucket"
    keys = [
        "../escape",
        "/absolute",
        "a/../../b",
        "..",
        ".",
        "a//b",
        "a/",
        "a",
        "a/b",
        "A",
        "nul\x00byte",
        "é" * 512,
    ]
    async with R2Bucket.from_url(f"fs://{root}", settings=SETTINGS) as bucket:
        for i, key in enumerate(keys):
            await bucket.put(key, str(i).encode())
        for i, key in enumerate(keys):
            got = await bucket.get(key)
            assert got is not None, key
            assert await got.read() == str(i).encode(), key
        listed = await bucket.list()
        assert [o.key for o in listed.objects] == sorted(keys)
    outside = names_in(tmp_path)
    assert outside == ["bucket"], f"something was written outside the root: {outside}"
    assert {p.split("/")[0] for p in files_under(root)} <= {"keys", "blobs", "tmp"}


def test_record_paths_round_trip_and_fit_file_name_limits() -> None:
    for key in ["x", "a/b", "é" * 512, "k" * 1024, "..", "/"]:
        path = record_path(key)
        assert key_from_record_path(path) == key
        assert all(len(segment) <= 255 for segment in path.split("/"))
        assert ".." not in path.split("/")
    assert key_from_record_path("keys/zz.json") is None
    assert key_from_record_path("blobs/ab/cd") is None


async def test_a_failed_stream_leaves_the_previous_object_whole(bucket: R2Bucket) -> None:
    await bucket.put("k", b"previous")

    async def broken() -> AsyncIterator[bytes]:
        yield b"new data that never completes"
        raise OSError("the client went away")

    with pytest.raises(Exception, match="went away"):
        await bucket.put("k", broken())
    got = await bucket.get("k")
    assert got is not None
    assert await got.read() == b"previous"


async def test_crash_leftovers_are_invisible(tmp_path: Path) -> None:
    root = tmp_path / "bucket"
    async with R2Bucket.local(root, settings=SETTINGS) as bucket:
        await bucket.put("kept", b"data")
    # what a crash can leave: a blob nothing points at, a record written to tmp/ but never renamed
    (root / "blobs" / "ff").mkdir(parents=True, exist_ok=True)
    (root / "blobs" / "ff" / ("f" * 32)).write_bytes(b"orphan")
    (root / "tmp").mkdir(exist_ok=True)
    (root / "tmp" / "half-written").write_bytes(b'{"v": 1, "key": "ghost"')
    async with R2Bucket.local(root, settings=SETTINGS) as bucket:
        assert [o.key for o in (await bucket.list()).objects] == ["kept"]
        assert await bucket.head("ghost") is None
        got = await bucket.get("kept")
        assert got is not None
        assert await got.read() == b"data"


async def test_overwrites_and_deletes_drop_the_old_bytes(tmp_path: Path) -> None:
    root = tmp_path / "bucket"
    async with R2Bucket.from_url(f"fs://{root}", settings=SETTINGS) as bucket:
        await bucket.put("k", b"one")
        await bucket.put("k", b"two")
        blobs = [f for f in files_under(root) if f.startswith("blobs/")]
        assert len(blobs) == 1
        await bucket.delete("k")
        assert [f for f in files_under(root) if not f.startswith("tmp/")] == []


async def test_a_reader_keeps_the_object_it_opened(bucket: R2Bucket) -> None:
    await bucket.put("k", b"A" * (3 * MiB))
    body = await bucket.get("k")
    assert body is not None
    await bucket.put("k", b"B" * (3 * MiB))  # replaced (and its old blob deleted) mid-read
    data = await body.read()
    assert data == b"A" * (3 * MiB), "a body must never mix two versions"


async def test_concurrent_conditional_puts_let_exactly_one_win(tmp_path: Path) -> None:
    root = tmp_path / "bucket"
    first = R2Bucket.local(root, settings=SETTINGS)
    second = R2Bucket.local(root, settings=SETTINGS)  # another R2Bucket on the same directory
    base = await first.put("k", b"base")
    assert base is not None
    winners: list[bytes] = []

    async def attempt(bucket: R2Bucket, n: int) -> None:
        value = f"writer {n}".encode()
        if await bucket.put("k", value, only_if=R2Conditional(etag_matches=base.etag)) is not None:
            winners.append(value)

    async with anyio.create_task_group() as group:
        for n in range(20):
            group.start_soon(attempt, first if n % 2 else second, n)
    assert len(winners) == 1, winners
    got = await first.get("k")
    assert got is not None
    assert await got.read() == winners[0]


async def test_upload_times_come_from_the_clock_and_only_increase(tmp_path: Path) -> None:
    config = FsConfig(root=str(tmp_path / "bucket"))
    operator = build_operator(config)
    moment = [1_700_000_000.123]
    backend = LocalBackend(
        config, operator, operator_capabilities(operator), TransferSettings(), clock=lambda: moment[0]
    )
    bucket = R2Bucket(backend, settings=SETTINGS)
    first = await bucket.put("k", b"1")
    assert first is not None
    assert first.uploaded == dt.datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=dt.UTC)
    second = await bucket.put("k", b"2")  # the clock did not move: still strictly later
    assert second is not None
    assert second.uploaded > first.uploaded
    assert await bucket.get("k", only_if=R2Conditional(uploaded_after=first.uploaded)) is not None
    late = R2Conditional(uploaded_before=second.uploaded)
    assert await bucket.get("k", only_if=late) is None
    coarse = R2Conditional(uploaded_before=second.uploaded, seconds_granularity=True)
    assert await bucket.get("k", only_if=coarse) is None, "same second: not before"


async def test_objects_persist_across_buckets_on_one_directory(tmp_path: Path) -> None:
    async with R2Bucket.local(tmp_path / "b", settings=SETTINGS) as bucket:
        await bucket.put("k", b"v", custom_metadata={"a": "b"})
    async with R2Bucket.local(tmp_path / "b", settings=SETTINGS) as bucket:
        head = await bucket.head("k")
        assert head is not None
        assert dict(head.custom_metadata) == {"a": "b"}


async def test_a_relative_path_is_resolved_from_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    async with R2Bucket.local(".caps/r2/assets", settings=SETTINGS) as bucket:
        await bucket.put("k", b"v")
    assert (tmp_path / ".caps" / "r2" / "assets" / "index.sqlite3").is_file()


async def test_list_with_include_returns_at_most_100(bucket: R2Bucket) -> None:
    for i in range(105):
        await bucket.put(f"k{i:03d}", b"x", custom_metadata={"i": str(i)})
    page = await bucket.list(include=["custom_metadata"])
    assert len(page.objects) == 100
    assert page.truncated
    rest = await bucket.list(include=["custom_metadata"], cursor=page.cursor)
    assert [o.custom_metadata["i"] for o in rest.objects] == ["100", "101", "102", "103", "104"]
    assert len((await bucket.list()).objects) == 105


async def test_a_cursor_from_elsewhere_is_invalid_input(bucket: R2Bucket) -> None:
    with pytest.raises(InvalidInput) as caught:
        await bucket.list(cursor="not base64!")
    assert caught.value.field == "cursor"


async def test_streamed_puts_are_one_object_with_an_md5_etag(bucket: R2Bucket, tmp_path: Path) -> None:
    data = os.urandom(9 * MiB + 3)
    stored = await bucket.put("big", chunks_of(data, MiB))
    assert stored is not None
    assert stored.etag == md5(data)
    path = tmp_path / "empty"
    path.write_bytes(b"")
    with path.open("rb") as empty:
        nothing = await bucket.put("empty", empty)
    assert nothing is not None
    assert nothing.size == 0


async def test_a_binary_file_is_streamed(bucket: R2Bucket, tmp_path: Path) -> None:
    path = tmp_path / "upload.bin"
    data = os.urandom(2 * MiB + 5)
    path.write_bytes(data)
    with path.open("rb") as file:
        stored = await bucket.put("file", file)
    assert stored is not None
    assert stored.etag == md5(data)
    with path.open("r") as text, pytest.raises(InvalidInput, match="binary mode"):
        await bucket.put("text", text)  # type: ignore[arg-type]


# -- multipart rules --------------------------------------------------------------------------


async def test_parts_below_5_mib_are_refused_on_complete(bucket: R2Bucket) -> None:
    upload = await bucket.create_multipart_upload("k")
    parts = [await upload.upload_part(1, b"small"), await upload.upload_part(2, b"tail")]
    with pytest.raises(InvalidInput, match="at least 5 MiB") as caught:
        await upload.complete(parts)
    assert caught.value.field == "parts"
    assert await bucket.head("k") is None
    # a single part may be any size
    only = await bucket.create_multipart_upload("single")
    done = await only.complete([await only.upload_part(1, b"tiny")])
    assert done.etag == f"{md5(bytes.fromhex(md5(b'tiny')))}-1"


async def test_parts_of_different_sizes_are_refused(bucket: R2Bucket) -> None:
    upload = await bucket.create_multipart_upload("k")
    p1 = await upload.upload_part(1, b"a" * (5 * MiB))
    p2 = await upload.upload_part(2, b"b" * (5 * MiB + 1))
    p3 = await upload.upload_part(3, b"c")
    with pytest.raises(InvalidInput, match="same size"):
        await upload.complete([p1, p2, p3])
    with pytest.raises(InvalidInput, match="last part"):
        await upload.complete([p1, p2])


async def test_a_part_etag_must_match_what_was_uploaded(bucket: R2Bucket) -> None:
    upload = await bucket.create_multipart_upload("k")
    part = await upload.upload_part(1, b"data")
    with pytest.raises(InvalidInput) as caught:
        await upload.complete([{"part_number": 1, "etag": "0" * 32}])
    assert caught.value.field == "parts"
    with pytest.raises(InvalidInput):
        await upload.complete([{"part_number": 2, "etag": part.etag}])
    assert (await upload.complete([part])).size == 4


async def test_reuploading_a_part_replaces_it(bucket: R2Bucket, tmp_path: Path) -> None:
    upload = await bucket.create_multipart_upload("k")
    await upload.upload_part(1, b"first try")
    part = await upload.upload_part(1, b"second")
    obj = await upload.complete([part])
    got = await bucket.get("k")
    assert got is not None
    assert await got.read() == b"second"
    assert obj.size == 6
    blobs = [f for f in files_under(tmp_path / "bucket") if f.startswith("blobs/")]
    assert len(blobs) == 1, "the replaced part's bytes are gone"


async def test_finished_uploads_are_gone(bucket: R2Bucket) -> None:
    upload = await bucket.create_multipart_upload("k")
    part = await upload.upload_part(1, b"x")
    await upload.complete([part])
    with pytest.raises(NotFound):
        await upload.complete([part])
    with pytest.raises(NotFound):
        await upload.upload_part(2, b"late")
    await upload.abort()  # aborting a completed upload changes nothing, as on R2
    got = await bucket.get("k")
    assert got is not None
    assert await got.read() == b"x"
    aborted = await bucket.create_multipart_upload("gone")
    await aborted.abort()
    with pytest.raises(NotFound):
        await aborted.upload_part(1, b"x")


async def test_upload_ids_never_name_paths(bucket: R2Bucket) -> None:
    for upload_id in ["../../keys", "0" * 32, "not-hex"]:
        upload = await bucket.resume_multipart_upload("k", upload_id)
        with pytest.raises(NotFound):
            await upload.upload_part(1, b"x")
        with pytest.raises(NotFound):
            await upload.abort()
    other = await bucket.create_multipart_upload("other-key")
    wrong_key = await bucket.resume_multipart_upload("k", other.upload_id)
    with pytest.raises(NotFound):
        await wrong_key.upload_part(1, b"x")


async def test_aborting_never_deletes_bytes_the_object_uses(tmp_path: Path) -> None:
    """The fs:// layout: a crash between completing and marking the upload completed leaves it
    'open'; aborting it then must not take the object's bytes with it. (The embedded engine completes
    in one transaction: tests/reliability/test_embedded_safety.py.)"""
    bucket = R2Bucket.from_url(f"fs://{tmp_path / 'bucket'}", settings=SETTINGS)
    upload = await bucket.create_multipart_upload("k")
    part = await upload.upload_part(1, b"kept")
    await upload.complete([part])
    # simulate the crash: the upload's record says it is still open
    marker = tmp_path / "bucket" / "uploads" / upload.upload_id / "upload.json"
    marker.write_text(marker.read_text().replace('"completed"', '"open"'))
    await upload.abort()
    got = await bucket.get("k")
    assert got is not None
    assert await got.read() == b"kept"


async def test_presign_is_unsupported_and_the_descriptor_says_so(bucket: R2Bucket) -> None:
    with pytest.raises(Unsupported, match="S3 backend"):
        await bucket.presign("k")
    assert bucket.backend == "local"
    assert bucket.info.durability == "durable"
    assert bucket.info.extensions["com.cloudflare.r2.presign"] is False
    memory = R2Bucket.from_url("memory://", settings=SETTINGS)
    assert memory.info.durability == "ephemeral"
    assert memory.info.consistency == "strong"
