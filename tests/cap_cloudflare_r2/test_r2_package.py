"""The package's surface: cheap import, hints recorded, descriptor and bag integration, plugin,
refusal to pickle, and the pure helpers every backend shares (conditions, paging, parts)."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import pickle
import subprocess
import sys
from typing import TYPE_CHECKING

import anyio
import pytest

import cap_cloudflare_r2
from cap_cloudflare_r2 import (
    PresignedRequest,
    R2Bucket,
    R2Checksums,
    R2Conditional,
    R2HttpMetadata,
    R2Object,
    R2ObjectBody,
    R2Range,
    TransferSettings,
)
from cap_cloudflare_r2.conditions import condition_holds, normalize_etag
from cap_cloudflare_r2.listing import page_of
from cap_cloudflare_r2.models import deferred
from cap_cloudflare_r2.transfer import Digests, multipart_etag, split_parts, upload_parts
from cap_opendal_core.bag import CapabilityBag
from cap_opendal_core.errors import BackendError, CapabilityError, InvalidInput, Misconfigured
from cap_opendal_core.scope import InvocationScope
from tests.workers.checks.check_r2 import SETTINGS, chunks_of

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

pytestmark = pytest.mark.anyio
T0 = dt.datetime(2026, 1, 1, 12, 0, 0, 500000, tzinfo=dt.UTC)


# -- import cost ------------------------------------------------------------------------------


def _modules_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print('\\n'.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return {name.split(".")[0] for name in out.split()}


@pytest.mark.parametrize(
    "statement",
    [
        "import cap_cloudflare_r2",
        "from cap_cloudflare_r2 import R2Bucket, R2Conditional, R2HttpMetadata, R2Range",
    ],
)
def test_importing_pulls_in_no_server_side_dependency(statement: str) -> None:
    loaded = _modules_after(statement)
    assert not loaded & {"opendal", "pydantic", "httpx"}, sorted(loaded & {"opendal", "pydantic", "httpx"})
    if statement == "import cap_cloudflare_r2":
        assert "structlog" not in loaded


def test_the_server_side_loads_only_with_a_server_side_bucket() -> None:
    loaded = _modules_after("from cap_cloudflare_r2 import R2Bucket; R2Bucket.from_url('memory://')")
    assert {"opendal", "pydantic"} <= loaded
    assert "httpx" not in loaded, "httpx is for S3 multipart only, loaded on first use"


def test_public_names_resolve() -> None:
    for name in cap_cloudflare_r2.__all__:
        assert getattr(cap_cloudflare_r2, name) is not None
    with pytest.raises(AttributeError):
        _ = cap_cloudflare_r2.NoSuchThing


# -- what the capability declares -------------------------------------------------------------


async def test_calls_record_their_hints_and_a_pinned_read_records_pinned() -> None:
    bucket = R2Bucket.from_url("memory://", settings=SETTINGS)
    with InvocationScope("writer") as scope:
        stored = await bucket.put("k", b"v")
    assert scope.effect_hints == ("resource::blob::write",)
    assert scope.observed_determinism.name.lower() == "best_effort"
    assert stored is not None
    with InvocationScope("reader") as scope:
        got = await bucket.get("k")
        assert got is not None
        await got.read()
        await bucket.head("k")
        await bucket.list()
    assert set(scope.effect_hints) == {"resource::blob::read"}
    assert set(scope.determinism_hints) == {"resource::blob"}
    with InvocationScope("pinned") as scope:
        got = await bucket.get("k", only_if=R2Conditional(etag_matches=stored.etag))
        assert got is not None
        await got.aclose()
    assert scope.determinism_hints == ("resource::blob::pinned",)
    # hints.md: a read pinned to an etag cannot drift, so a node doing only that may declare Stable
    assert scope.observed_determinism.name.lower() == "stable"
    assert scope.check("read_only", "stable") == []


def test_the_bag_reads_kind_descriptor_and_hints_from_the_bucket() -> None:
    bag = CapabilityBag({"ASSETS": R2Bucket.from_url("memory://", settings=SETTINGS)})
    entry = bag.entry("ASSETS")
    assert entry.kind == "r2_bucket"
    assert entry.descriptor is not None
    assert entry.descriptor.consistency == "strong"
    assert entry.descriptor.durability == "ephemeral"
    assert entry.provides("resource::blob::write")
    assert entry.provides("resource::blob::pinned")


def test_the_plugin_constructors_are_the_buckets() -> None:
    from cap_cloudflare_r2.plugin import PLUGIN

    assert PLUGIN.binding_kind == R2Bucket.binding_kind
    assert set(PLUGIN.provided_hints) == set(R2Bucket.provided_hints)
    for name, reference in PLUGIN.constructors.items():
        module, _, attribute = reference.partition(":")
        assert module == "cap_cloudflare_r2"
        assert attribute == f"R2Bucket.{name}"
        assert callable(getattr(R2Bucket, name))


async def test_buckets_and_uploads_refuse_to_be_pickled(tmp_path: object) -> None:
    bucket = R2Bucket.from_url("memory://", settings=SETTINGS)
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(bucket)
    upload = await bucket.create_multipart_upload("k")
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(upload)


def test_from_env_outside_a_worker_is_misconfigured() -> None:
    with pytest.raises(Misconfigured, match="only inside a Python Worker"):
        R2Bucket.from_env({"BUCKET": object()}, "BUCKET")
    with pytest.raises(Misconfigured, match="'BUCKET' is missing from env"):
        R2Bucket.from_env(object(), "BUCKET")


def test_presigned_requests_hide_their_signature() -> None:
    request = PresignedRequest(
        "GET", "https://host/b/k?X-Amz-Signature=secretsig&X-Amz-Credential=id", {}, 60
    )
    assert "secretsig" not in repr(request)
    assert "https://host/b/k" in repr(request)


# -- bodies -----------------------------------------------------------------------------------


def _object(size: int = 3) -> R2Object:
    return R2Object(key="k", size=size, etag="e", uploaded=T0)


async def test_a_body_is_read_once() -> None:
    body = R2ObjectBody(_object(), chunks_of(b"abc", 1))
    assert await body.read() == b"abc"
    with pytest.raises(RuntimeError, match="already read"):
        await body.read()


async def test_a_failing_stream_raises_a_capability_error() -> None:
    async def broken() -> AsyncIterator[bytes]:
        yield b"a"
        raise ConnectionResetError("peer went away")

    body = R2ObjectBody(_object(), broken())
    with pytest.raises(CapabilityError, match="peer went away") as caught:
        await body.read()
    assert isinstance(caught.value.__cause__, ConnectionResetError)


async def test_closing_a_body_early_closes_its_stream() -> None:
    closed: list[bool] = []

    async def stream() -> AsyncIterator[bytes]:
        try:
            yield b"a"
            yield b"b"
        finally:
            closed.append(True)

    async with R2ObjectBody(_object(), stream()) as body:
        async for _ in body:
            break
    assert closed == [True]


# -- fields read on first use (the Workers backend's results) ---------------------------------


def _deferred(reads: list[str]) -> R2Object:
    """An object as the Workers backend builds it: each field group set by the loader when first read."""
    groups: dict[str, dict[str, object]] = {
        "size": {"size": 3},
        "etag": {"etag": "e", "uploaded": T0, "version": "v"},
    }

    def load(obj: R2Object, name: str) -> None:
        reads.append(name)
        for group in groups.values():
            if name in group:
                for field_name, value in group.items():
                    object.__setattr__(obj, field_name, value)
        defaults = {"http_metadata": R2HttpMetadata(), "custom_metadata": {}, "checksums": R2Checksums()}
        if name in defaults:
            object.__setattr__(obj, name, defaults[name])
        if name == "storage_class":
            object.__setattr__(obj, name, "Standard")

    return deferred("k", load)


def test_a_deferred_object_reads_each_group_once_on_first_use() -> None:
    reads: list[str] = []
    obj = _deferred(reads)
    assert type(obj) is R2Object
    assert obj.key == "k"
    assert reads == []
    assert (obj.size, obj.size) == (3, 3)
    assert reads == ["size"]
    assert (obj.etag, obj.uploaded, obj.version, obj.http_etag) == ("e", T0, "v", '"e"')
    assert reads == ["size", "etag"]  # uploaded and version came with the etag


def test_a_deferred_object_behaves_as_any_other() -> None:
    eager = R2Object(key="k", size=3, etag="e", uploaded=T0, version="v")
    assert _deferred([]) == eager
    assert eager == _deferred([])
    assert repr(_deferred([])) == repr(eager)
    assert pickle.loads(pickle.dumps(_deferred([]))) == eager
    assert copy.copy(_deferred([])) == eager
    assert dataclasses.asdict(_deferred([])) == dataclasses.asdict(eager)
    assert dataclasses.replace(_deferred([]), etag="f") == dataclasses.replace(eager, etag="f")
    obj = _deferred([])
    with pytest.raises(dataclasses.FrozenInstanceError):
        obj.size = 4  # type: ignore[misc]
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = obj.nope  # type: ignore[attr-defined]
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = eager.nope  # type: ignore[attr-defined]


async def test_a_body_reads_its_size_only_when_its_range_is_asked_for() -> None:
    reads: list[str] = []
    body = R2ObjectBody(_deferred(reads), chunks_of(b"abc", 1))
    assert await body.read() == b"abc"
    assert reads == []
    assert body.range == R2Range(offset=0, length=3)
    assert reads == ["size"]


# -- conditions ---------------------------------------------------------------------------------


def test_etag_conditions_take_one_etag_or_a_star() -> None:
    assert normalize_etag('"abc"') == "abc"
    assert normalize_etag(" abc ") == "abc"
    assert normalize_etag("*") == "*"
    for bad in ('W/"abc"', "a, b", '"a", "b"', ""):
        with pytest.raises(ValueError):  # noqa: PT011 - the message varies by what is wrong
            normalize_etag(bad)


@pytest.mark.parametrize(
    ("condition", "exists", "holds"),
    [
        (R2Conditional(etag_matches="e"), True, True),
        (R2Conditional(etag_matches="x"), True, False),
        (R2Conditional(etag_matches="*"), False, False),
        (R2Conditional(etag_does_not_match="*"), False, True),
        (R2Conditional(etag_does_not_match="e"), True, False),
        (R2Conditional(uploaded_after=T0 - dt.timedelta(milliseconds=1)), True, True),
        (R2Conditional(uploaded_after=T0), True, False),
        (R2Conditional(uploaded_after=T0), False, False),
        (R2Conditional(uploaded_before=T0), False, True),
        (R2Conditional(uploaded_before=T0 + dt.timedelta(milliseconds=1)), True, True),
        (
            R2Conditional(uploaded_before=T0 + dt.timedelta(milliseconds=1), seconds_granularity=True),
            True,
            False,
        ),
        # an etag that holds outranks the upload time (If-Match over If-Unmodified-Since)
        (R2Conditional(etag_matches="e", uploaded_before=T0 - dt.timedelta(days=1)), True, True),
        (R2Conditional(etag_does_not_match="x", uploaded_after=T0 + dt.timedelta(days=1)), True, True),
    ],
)
def test_condition_semantics_follow_r2(condition: R2Conditional, exists: bool, holds: bool) -> None:
    etag, uploaded = ("e", T0) if exists else (None, None)
    assert condition_holds(condition, etag, uploaded) is holds


# -- paging -----------------------------------------------------------------------------------


async def _keys(*keys: str) -> AsyncIterator[str]:
    for key in keys:
        yield key


async def test_a_page_counts_prefixes_and_ends_after_its_last_group() -> None:
    page = await page_of(
        _keys("a", "b/1", "b/2", "c", "d/1"), str, prefix="", delimiter="/", start_after=None, limit=2
    )
    assert page.objects == ["a"]
    assert page.delimited_prefixes == ["b/"]
    assert page.truncated
    assert page.last_key == "b/2", "the cursor lands after the whole group"
    last = await page_of(_keys("c", "d/1"), str, prefix="", delimiter="/", start_after="b/2", limit=2)
    assert (last.objects, last.delimited_prefixes, last.truncated, last.last_key) == (
        ["c"],
        ["d/"],
        False,
        None,
    )


async def test_a_page_stops_at_the_end_of_its_prefix() -> None:
    seen: list[str] = []

    async def keys() -> AsyncIterator[str]:
        for key in ("a", "p/1", "p/2", "q", "r"):
            seen.append(key)
            yield key

    page = await page_of(keys(), str, prefix="p/", delimiter=None, start_after=None, limit=10)
    assert page.objects == ["p/1", "p/2"]
    assert seen == ["a", "p/1", "p/2", "q"], "keys past the prefix are not read"


# -- parts ------------------------------------------------------------------------------------


async def test_streams_are_cut_into_exact_parts() -> None:
    parts = [p async for p in split_parts(chunks_of(b"x" * 25, 7), 10)]
    assert [len(p) for p in parts] == [10, 10, 5]
    assert [p async for p in split_parts(chunks_of(b"", 7), 10)] == []
    assert [len(p) async for p in split_parts(chunks_of(b"y" * 20, 3), 10)] == [10, 10]


async def test_parts_upload_with_bounded_concurrency_in_order() -> None:
    in_flight = 0
    peak = 0

    async def upload(number: int, data: bytes) -> int:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await anyio.sleep(0.001 * (number % 3))
        in_flight -= 1
        return number

    async def parts() -> AsyncIterator[bytes]:
        for _ in range(12):
            yield b"p"

    assert await upload_parts(parts(), upload, concurrency=3) == list(range(1, 13))
    assert peak <= 3


async def test_the_first_failing_part_is_raised_as_itself() -> None:
    async def upload(number: int, data: bytes) -> int:
        if number == 2:
            raise BackendError("part 2 failed")
        await anyio.sleep(0.01)
        return number

    async def parts() -> AsyncIterator[bytes]:
        for _ in range(5):
            yield b"p"

    with pytest.raises(BackendError, match="part 2 failed"):
        await upload_parts(parts(), upload, concurrency=2)


def test_multipart_etags_follow_s3() -> None:
    import hashlib

    a, b = hashlib.md5(b"a").hexdigest(), hashlib.md5(b"b").hexdigest()
    expected = hashlib.md5(bytes.fromhex(a) + bytes.fromhex(b)).hexdigest()
    assert multipart_etag([a, b]) == f"{expected}-2"


def test_digests_verify_what_was_promised() -> None:
    import hashlib

    Digests.of(b"abc", {"sha256": hashlib.sha256(b"abc").hexdigest()}).verify()
    with pytest.raises(InvalidInput) as caught:
        Digests.of(b"abc", {"sha1": hashlib.sha1(b"abd").hexdigest()}).verify()
    assert caught.value.field == "sha1"


@pytest.mark.parametrize(
    "fields",
    [
        {"part_size": 1024},
        {"part_size": 6 * 1024**3},
        {"concurrency": 0},
        {"read_chunk_size": 10},
        {"concurrency": True},
    ],
)
def test_transfer_settings_are_checked(fields: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="TransferSettings"):
        TransferSettings(**fields)
