"""Every public method of ``R2Bucket`` and ``R2MultipartUpload``, with arbitrary arguments, on the
memory and local disk backends.

Arguments: keys (control characters, lone surrogates, ``..`` and ``/`` runs, lengths either side of
1024 bytes, empty, not strings); bodies of every kind (bytes, text, files, streams yielding junk);
HTTP and custom metadata (unknown fields, control characters, too large, not strings); checksums
(several at once, wrong length, not hex, not matching the body); conditions; ranges; list options;
delete batches either side of 1000 keys; part numbers, parts lists, upload ids; presign options.

The rule: a call succeeds and does what R2 documents, or raises ``InvalidInput`` / ``LimitExceeded``
without reaching the backend (the invocation scope saw no pipeline call) and with the store unchanged
(the directory tree, or the memory operator's objects). Three arguments can only be judged by the
backend, and may be refused from inside it — still with nothing written: a list cursor (its format is
the backend's), a range that does not fit the object (its size is only known once it is read) and a
stream's chunks (read as they are sent). Documented errors besides refusals: ``Unsupported`` for
``presign`` off S3, ``NotFound`` for a multipart upload that does not exist. After every example on
disk, nothing exists outside the bucket's directory.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cap_cloudflare_r2 import R2Bucket, R2Conditional, R2HttpMetadata, R2Range, R2UploadedPart, limits
from cap_cloudflare_r2.conditions import condition_holds, epoch_ms
from cap_cloudflare_r2.models import CHECKSUM_ALGORITHMS, HTTP_METADATA_FIELDS
from cap_opendal_core.errors import NotFound, Unsupported
from cap_opendal_core.layers import LayerSettings, RetryPolicy

from . import bad_input_strategies as inputs
from .bad_input_judging import (
    PROPERTY,
    Outcome,
    PropertyEnv,
    attempt,
    confined_tree,
    encodable,
    memory_store,
    utf8_len,
)

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.anyio

SETTINGS = LayerSettings(logging=False, retry=RetryPolicy(attempts=1))
BACKENDS = ("memory", "local")
SEED_KEY = "seed"
SEED_BODY = bytes(range(256)) * 4
MiB = 1024 * 1024
_HTTP_NAMES = {name for pair in HTTP_METADATA_FIELDS for name in pair}
_HEADER_UNSAFE = {chr(c) for c in (*range(0x00, 0x09), *range(0x0A, 0x20), 0x7F)}


@dataclass
class R2Env(PropertyEnv):
    """One bucket for the length of a property (state is compared before and after each call)."""

    DIRECTORY = "bucket"

    bucket: R2Bucket

    async def state(self) -> Any:
        if self.kind == "local":
            return confined_tree(self.parent, self.root)
        return await memory_store(self.bucket)

    async def refused_quietly(self, before: Any, outcome: Outcome, *late_fields: str) -> None:
        outcome.assert_refused_before_io(late_fields=late_fields)
        assert await self.state() == before, "a refused call changed what is stored"


@pytest.fixture(params=BACKENDS)
async def env(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[R2Env]:
    parent = tmp_path / "parent"
    parent.mkdir()
    if request.param == "local":
        bucket = R2Bucket.local(parent / "bucket", settings=SETTINGS)
    else:
        bucket = R2Bucket.from_url("memory://", settings=SETTINGS)
    async with bucket:
        await bucket.put(SEED_KEY, SEED_BODY, custom_metadata={"seed": "yes"})
        yield R2Env(request.param, parent, bucket)


# --- the oracle ------------------------------------------------------------------------------


def key_ok(key: object) -> bool:
    size = utf8_len(key) if isinstance(key, str) else None
    return size is not None and 0 < size <= limits.KEY_MAX_BYTES


def custom_ok(value: object) -> bool:
    if value is None:
        return True
    if not isinstance(value, Mapping):
        return False
    total = 0
    for name, item in value.items():
        if not (
            isinstance(name, str) and name and isinstance(item, str) and encodable(name) and encodable(item)
        ):
            return False
        total += len(name.encode()) + len(item.encode())
    return total <= limits.CUSTOM_METADATA_MAX_BYTES


def http_fields(value: object) -> dict[str, Any] | None:
    """The fields ``value`` sets (Python names), or None when R2 must refuse it."""
    if value is None:
        return {}
    if isinstance(value, R2HttpMetadata):
        fields = {name: getattr(value, name) for name, _ in HTTP_METADATA_FIELDS}
    elif isinstance(value, Mapping):
        if any(k not in _HTTP_NAMES for k in value):
            return None
        fields = {}
        for name, js_name in HTTP_METADATA_FIELDS:
            if name in value and js_name in value:
                return None
            if name in value or js_name in value:
                fields[name] = value[name] if name in value else value[js_name]
    else:
        return None
    for name, item in fields.items():
        if item is None:
            continue
        if name == "cache_expiry":
            if not isinstance(item, dt.datetime):
                return None
        elif not isinstance(item, str) or _HEADER_UNSAFE & set(item):
            return None
    return {k: v for k, v in fields.items() if v is not None}


def body_of(value: object) -> bytes | None:
    """What a bytes-like ``value`` stores; None for streams and for what is not a body at all."""
    if value is None:
        return b""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, str):
        return value.encode() if encodable(value) else None
    return None


# --- strategies ------------------------------------------------------------------------------

R2_KEYS = st.one_of(inputs.keys(limits.KEY_MAX_BYTES), inputs.not_str())
GOOD_KEYS = st.one_of(inputs.valid_text(min_size=1), inputs.long_text(limits.KEY_MAX_BYTES)).filter(key_ok)


async def _stream(parts: list[Any]) -> AsyncIterator[Any]:
    for part in parts:
        yield part


CHUNKS = st.lists(
    st.one_of(st.binary(max_size=16), st.binary(max_size=16), st.text(max_size=2), st.integers()), max_size=4
)
GOOD_BODIES = st.one_of(
    st.binary(max_size=64), st.text(max_size=20), st.none(), st.binary(max_size=8).map(bytearray)
)
BODIES = st.one_of(
    GOOD_BODIES,
    inputs.texts(),
    CHUNKS.map(_stream),
    CHUNKS,
    st.binary(max_size=32).map(io.BytesIO),
    st.text(max_size=8).map(io.StringIO),
    st.integers(),
    inputs.odd_values(),
)
HEADER_TEXT = st.text(
    st.characters(exclude_characters=sorted(_HEADER_UNSAFE), exclude_categories=["Cs"]), max_size=20
)
GOOD_HTTP = st.one_of(
    st.none(),
    st.fixed_dictionaries(
        {},
        optional={
            "content_type": HEADER_TEXT,
            "cacheControl": HEADER_TEXT,
            "content_disposition": HEADER_TEXT,
            "content_language": HEADER_TEXT,
            "contentEncoding": HEADER_TEXT,
            "cache_expiry": st.datetimes(timezones=st.just(dt.UTC)),
        },
    ),
    st.builds(R2HttpMetadata, content_type=HEADER_TEXT),
)
HTTP = st.one_of(
    st.dictionaries(
        st.sampled_from(sorted(_HTTP_NAMES | {"etag", "Content-Type"})),
        st.one_of(inputs.texts(), inputs.numbers(), inputs.datetimes_anywhere()),
        max_size=3,
    ),
    st.builds(
        R2HttpMetadata,
        content_type=st.one_of(inputs.texts(), inputs.numbers()),
        cache_expiry=st.one_of(st.none(), inputs.datetimes_anywhere(), inputs.numbers()),
    ),
    st.just({"content_type": "a", "contentType": "b"}),
    inputs.not_str(),
    inputs.odd_values(),
)
GOOD_CUSTOM = st.one_of(
    st.none(), st.dictionaries(st.text(min_size=1, max_size=8), st.text(max_size=16), max_size=4)
)
CUSTOM = st.one_of(
    st.dictionaries(
        st.one_of(inputs.texts(), st.integers()),
        st.one_of(inputs.texts(), st.integers(), st.none()),
        max_size=3,
    ),
    st.builds(
        lambda n: {"big": "é" * n},
        st.integers(limits.CUSTOM_METADATA_MAX_BYTES // 2 - 3, limits.CUSTOM_METADATA_MAX_BYTES // 2 + 1),
    ),
    inputs.not_str(),
    inputs.odd_values(),
)
DIGEST_HEX = {"md5": 32, "sha1": 40, "sha256": 64, "sha384": 96, "sha512": 128}


@st.composite
def checksums(draw: st.DrawFn, *, wild: bool) -> dict[str, Any]:
    """``{algorithm: checksum}`` to pass to ``put``: the body's own digest (hex or raw), or — wild —
    a wrong one, several at once, the wrong length, not hex, not a string."""
    names = draw(st.lists(st.sampled_from(CHECKSUM_ALGORITHMS), max_size=2 if wild else 1, unique=True))
    out: dict[str, Any] = {}
    for name in names:
        kinds = ["hex", "HEX", "raw"] + (["wrong", "short", "nothex", "int", "raw-short"] if wild else [])
        out[name] = draw(st.sampled_from(kinds))
    return out


def checksum_values(spec: dict[str, str], body: bytes) -> dict[str, Any]:
    """Turn :func:`checksums`' kinds into values for ``body``."""
    out: dict[str, Any] = {}
    for name, kind in spec.items():
        digest = hashlib.new(name, body)
        out[name] = {
            "hex": digest.hexdigest(),
            "HEX": digest.hexdigest().upper(),
            "raw": digest.digest(),
            "wrong": hashlib.new(name, body + b"!").hexdigest(),
            "short": digest.hexdigest()[:-1],
            "nothex": "z" * DIGEST_HEX[name],
            "int": 42,
            "raw-short": digest.digest()[:-1],
        }[kind]
    return out


ETAGS = st.one_of(
    st.just("*"),
    st.just(hashlib.md5(SEED_BODY, usedforsecurity=False).hexdigest()),
    st.text(max_size=8),
    st.just('W/"x"'),
    st.just("a, b"),
    st.integers(),
)
GOOD_CONDITIONS = st.one_of(
    st.none(),
    st.fixed_dictionaries(
        {},
        optional={
            "etag_matches": st.sampled_from(
                ["*", hashlib.md5(SEED_BODY, usedforsecurity=False).hexdigest(), "nope"]
            ),
            "etagDoesNotMatch": st.sampled_from(["*", "nope"]),
            "uploaded_before": st.datetimes(timezones=st.just(dt.UTC)),
            "uploadedAfter": st.datetimes(timezones=st.just(dt.UTC)),
            "seconds_granularity": st.booleans(),
        },
    ),
)
CONDITIONS = st.one_of(
    st.builds(
        R2Conditional,
        etag_matches=st.one_of(st.none(), ETAGS),
        etag_does_not_match=st.one_of(st.none(), ETAGS),
        uploaded_before=st.one_of(st.none(), inputs.datetimes_anywhere(), inputs.numbers()),
        seconds_granularity=st.one_of(st.booleans(), inputs.numbers()),
    ),
    st.dictionaries(
        st.sampled_from(["etag_matches", "etagMatches", "ifMatch", "uploaded_after", "seconds_granularity"]),
        st.one_of(ETAGS, inputs.datetimes_anywhere(), inputs.numbers()),
        max_size=3,
    ),
    inputs.not_str(),
)


# --- properties ------------------------------------------------------------------------------


@PROPERTY
@given(
    args=inputs.mixed(
        key=(GOOD_KEYS, R2_KEYS),
        value=(GOOD_BODIES, BODIES),
        http=(GOOD_HTTP, HTTP),
        custom=(GOOD_CUSTOM, CUSTOM),
        checksums=(checksums(wild=False), checksums(wild=True)),
        only_if=(GOOD_CONDITIONS, CONDITIONS),
    )
)
async def test_put(env: R2Env, args: dict[str, Any]) -> None:
    key, value, http, custom, only_if = (
        args["key"],
        args["value"],
        args["http"],
        args["custom"],
        args["only_if"],
    )
    body = body_of(value)
    sums = checksum_values(args["checksums"], body if body is not None else b"")
    before = await env.state()
    existing = await env.bucket.head(key) if key_ok(key) else None
    outcome = await attempt(
        env.bucket.put(key, value, http_metadata=http, custom_metadata=custom, only_if=only_if, **sums)
    )
    fields = http_fields(http)
    well_formed = key_ok(key) and custom_ok(custom) and fields is not None
    well_formed = well_formed and all(k in ("hex", "HEX", "raw") for k in args["checksums"].values())
    well_formed = well_formed and len(sums) <= 1
    if not well_formed:
        assert not outcome.ok, "R2 refuses a bad key, metadata or checksum"
    if not outcome.ok:
        # a stream's chunks, and so its checksum, are only known as it is read
        late = ("value", *CHECKSUM_ALGORITHMS) if body is None else ()
        await env.refused_quietly(before, outcome, *late)
        return
    assert body is not None or not isinstance(value, int | str), "only bodies and streams are stored"
    condition = None if only_if is None else _conditional(only_if)
    holds = condition is None or condition_holds(
        condition, existing.etag if existing else None, existing.uploaded if existing else None
    )
    stored = outcome.value
    if not holds:
        assert stored is None
        assert await env.state() == before, "a put whose condition failed stored nothing"
        return
    assert stored is not None
    got = await env.bucket.get(key)
    assert got is not None
    data = await got.read()
    if body is not None:
        assert data == body
    assert stored.etag == hashlib.md5(data, usedforsecurity=False).hexdigest()
    assert dict(got.object.custom_metadata) == dict(custom or {})
    assert fields is not None
    for name, item in fields.items():
        if name == "cache_expiry":
            expiry = got.object.http_metadata.cache_expiry
            assert expiry is not None
            assert epoch_ms(expiry) == epoch_ms(item)
        else:
            assert getattr(got.object.http_metadata, name) == item
    await env.state()


def _conditional(value: Any) -> R2Conditional:
    if isinstance(value, R2Conditional):
        return value
    names = {
        "etagMatches": "etag_matches",
        "etagDoesNotMatch": "etag_does_not_match",
        "uploadedBefore": "uploaded_before",
        "uploadedAfter": "uploaded_after",
    }
    fields = {names.get(k, k): v for k, v in value.items()}
    fields["seconds_granularity"] = bool(fields.get("seconds_granularity"))
    return R2Conditional(**fields)


RANGES = st.one_of(
    st.none(),
    st.builds(
        R2Range,
        offset=st.one_of(st.none(), st.integers(-2, 1100)),
        length=st.one_of(st.none(), st.integers(-1, 1100)),
        suffix=st.one_of(st.none(), st.integers(-1, 1100)),
    ),
    st.dictionaries(
        st.sampled_from(["offset", "length", "suffix", "start", "end"]),
        st.one_of(st.integers(-2, 2000), inputs.numbers()),
        max_size=2,
    ),
    st.builds(R2Range, offset=inputs.numbers()),
    inputs.not_str(),
)


@PROPERTY
@given(
    args=inputs.mixed(
        key=(st.one_of(st.just(SEED_KEY), GOOD_KEYS), R2_KEYS),
        range=(
            st.one_of(
                st.none(), st.builds(R2Range, offset=st.integers(0, 1023), length=st.integers(1, 2000))
            ),
            RANGES,
        ),
        only_if=(GOOD_CONDITIONS, CONDITIONS),
    ),
    head=st.booleans(),
)
async def test_get_and_head(env: R2Env, args: dict[str, Any], head: bool) -> None:
    key, range_, only_if = args["key"], args["range"], args["only_if"]
    before = await env.state()
    if head:
        outcome = await attempt(env.bucket.head(key))
    else:
        outcome = await attempt(env.bucket.get(key, range=range_, only_if=only_if))
    if not key_ok(key):
        assert not outcome.ok
    if not outcome.ok:
        await env.refused_quietly(before, outcome, "range")
        return
    found = outcome.value
    if key != SEED_KEY:
        assert found is None
        return
    if head:
        assert found.size == len(SEED_BODY)
        return
    condition = None if only_if is None else _conditional(only_if)
    seed = await env.bucket.head(SEED_KEY)
    assert seed is not None
    if condition is not None and not condition_holds(condition, seed.etag, seed.uploaded):
        assert found is None
        return
    data = await found.read()
    start, length = found.range.offset, found.range.length
    assert data == SEED_BODY[start : start + length]
    if range_ is None:
        assert data == SEED_BODY


@PROPERTY
@given(
    args=inputs.mixed(
        prefix=(st.one_of(st.none(), inputs.valid_text()), st.one_of(inputs.texts(), inputs.not_str())),
        delimiter=(st.one_of(st.none(), st.just("/")), st.one_of(inputs.texts(), inputs.not_str())),
        cursor=(st.none(), st.one_of(inputs.texts(), st.just("c2VlZA=="), st.just("!!"), inputs.not_str())),
        limit=(
            st.integers(limits.LIST_LIMIT_MIN, limits.LIST_LIMIT_MAX),
            st.one_of(
                st.integers(-1, 2),
                st.integers(limits.LIST_LIMIT_MAX, limits.LIST_LIMIT_MAX + 2),
                inputs.numbers(),
            ),
        ),
        start_after=(st.one_of(st.none(), inputs.valid_text()), st.one_of(inputs.texts(), inputs.not_str())),
        include=(
            st.lists(st.sampled_from(["http_metadata", "custom_metadata"]), max_size=2),
            st.one_of(st.text(max_size=15), st.lists(inputs.texts(), max_size=2), inputs.not_str()),
        ),
    )
)
async def test_list(env: R2Env, args: dict[str, Any]) -> None:
    before = await env.state()
    outcome = await attempt(env.bucket.list(**args))
    if not outcome.ok:
        await env.refused_quietly(before, outcome, "cursor")
        return
    page = outcome.value
    names = [o.key for o in page.objects]
    assert names == sorted(names)
    assert len(names) + len(page.delimited_prefixes) <= args["limit"]
    assert all(n.startswith(args["prefix"] or "") for n in names)
    if args["start_after"]:
        assert all(n > args["start_after"] for n in names)
    if args["cursor"]:  # a cursor names a position only the backend can decode
        assert await env.state() == before
        return
    assert (SEED_KEY in names) == (
        SEED_KEY.startswith(args["prefix"] or "")
        and (args["start_after"] or "") < SEED_KEY
        and not (args["delimiter"] and args["delimiter"] in SEED_KEY[len(args["prefix"] or "") :])
    )
    assert await env.state() == before


DELETE_TARGETS = st.one_of(
    R2_KEYS,
    st.lists(st.one_of(GOOD_KEYS, R2_KEYS), max_size=4),
    st.integers(limits.DELETE_MAX_KEYS - 1, limits.DELETE_MAX_KEYS + 1).map(
        lambda n: [f"k{i}" for i in range(n)]
    ),
    st.just({"a": 1}),
    st.just(b"bytes"),
)


@PROPERTY
@given(target=DELETE_TARGETS, with_seed=st.booleans())
async def test_delete(env: R2Env, target: Any, with_seed: bool) -> None:
    if with_seed and isinstance(target, list):
        target = [*target, SEED_KEY]
    before = await env.state()
    outcome = await attempt(env.bucket.delete(target))
    names = [target] if isinstance(target, str) else target if isinstance(target, list) else None
    if names is None or len(names) > limits.DELETE_MAX_KEYS or not all(key_ok(k) for k in names):
        assert not outcome.ok
    if not outcome.ok:
        await env.refused_quietly(before, outcome)
        return
    for name in names or []:
        assert await env.bucket.head(name) is None
    if SEED_KEY in (names or []):
        await env.bucket.put(SEED_KEY, SEED_BODY, custom_metadata={"seed": "yes"})


PART_VALUES = st.one_of(
    st.binary(max_size=32), st.text(max_size=8), CHUNKS.map(_stream), st.integers(), inputs.odd_values()
)
PART_NUMBERS = st.one_of(
    st.integers(limits.PART_NUMBER_MIN, 3),
    st.integers(-1, 1),
    st.integers(limits.PART_NUMBER_MAX, limits.PART_NUMBER_MAX + 1),
    inputs.numbers(),
)


@PROPERTY
@given(
    args=inputs.mixed(
        key=(GOOD_KEYS, R2_KEYS),
        http=(GOOD_HTTP, HTTP),
        custom=(GOOD_CUSTOM, CUSTOM),
    ),
    uploads=st.lists(st.tuples(PART_NUMBERS, PART_VALUES), max_size=3),
    completion=st.one_of(
        st.just("returned"),
        st.lists(
            st.one_of(
                st.builds(
                    R2UploadedPart,
                    part_number=PART_NUMBERS,
                    etag=st.one_of(st.text(max_size=4), inputs.numbers()),
                ),
                st.dictionaries(
                    st.sampled_from(["part_number", "partNumber", "etag"]),
                    st.one_of(PART_NUMBERS, st.text(max_size=4)),
                    max_size=2,
                ),
                inputs.not_str(),
            ),
            max_size=3,
        ),
        st.just("x"),
        st.integers(limits.MULTIPART_MAX_PARTS, limits.MULTIPART_MAX_PARTS + 1).map(
            lambda n: [R2UploadedPart(i + 1, "e") for i in range(n)]
        ),
    ),
    abort=st.booleans(),
)
async def test_multipart(
    env: R2Env, args: dict[str, Any], uploads: list[Any], completion: Any, abort: bool
) -> None:
    key = args["key"]
    before = await env.state()
    created = await attempt(
        env.bucket.create_multipart_upload(key, http_metadata=args["http"], custom_metadata=args["custom"])
    )
    if not (key_ok(key) and custom_ok(args["custom"]) and http_fields(args["http"]) is not None):
        assert not created.ok
    if not created.ok:
        await env.refused_quietly(before, created)
        return
    upload = created.value
    returned: list[R2UploadedPart] = []
    for number, value in uploads:
        part_before = await env.state()
        done = await attempt(upload.upload_part(number, value))
        if not (
            isinstance(number, int) and not isinstance(number, bool) and 1 <= number <= limits.PART_NUMBER_MAX
        ):
            assert not done.ok
        if not done.ok:
            await env.refused_quietly(part_before, done, "value")
            continue
        returned.append(done.value)
        assert done.value.part_number == number
    parts = returned if completion == "returned" else completion
    if abort:
        aborted = await attempt(upload.abort())
        assert aborted.ok
        assert (
            await attempt(upload.complete(returned or [R2UploadedPart(1, "e")]), documented=(NotFound,))
            is not None
        )
        return
    finish_before = await env.state()
    finished = await attempt(upload.complete(parts))
    if not finished.ok:
        # which parts exist and how large they are is only known to the backend
        await env.refused_quietly(finish_before, finished, "parts")
        return
    got = await env.bucket.get(key)
    assert got is not None
    assert got.object.etag.endswith(f"-{len(parts)}")
    assert dict(got.object.custom_metadata) == dict(args["custom"] or {})


@PROPERTY
@given(
    key=R2_KEYS,
    upload_id=st.one_of(inputs.texts(), st.just("0" * 32), inputs.not_str()),
    action=st.sampled_from(["abort", "upload_part", "complete"]),
)
async def test_resume_multipart_upload(env: R2Env, key: Any, upload_id: Any, action: str) -> None:
    before = await env.state()
    resumed = await attempt(env.bucket.resume_multipart_upload(key, upload_id))
    if not (key_ok(key) and isinstance(upload_id, str) and upload_id):
        assert not resumed.ok
    if not resumed.ok:
        await env.refused_quietly(before, resumed)
        return
    upload = resumed.value
    call = {
        "abort": upload.abort,
        "upload_part": lambda: upload.upload_part(1, b"x"),
        "complete": lambda: upload.complete([R2UploadedPart(1, "etag")]),
    }[action]
    outcome = await attempt(call(), documented=(NotFound,))
    assert isinstance(outcome.error, NotFound), "no upload has that id"
    assert await env.state() == before


@PROPERTY
@given(
    key=R2_KEYS,
    method=st.one_of(
        st.sampled_from(["GET", "PUT"]), st.sampled_from(["get", "POST", "DELETE", ""]), inputs.not_str()
    ),
    expires_in=st.one_of(
        st.integers(limits.PRESIGN_MIN_SECONDS - 1, limits.PRESIGN_MIN_SECONDS + 1),
        st.integers(limits.PRESIGN_MAX_SECONDS - 1, limits.PRESIGN_MAX_SECONDS + 1),
        inputs.numbers(),
    ),
    content_type=st.one_of(st.none(), HEADER_TEXT, inputs.texts(), inputs.numbers()),
)
async def test_presign(env: R2Env, key: Any, method: Any, expires_in: Any, content_type: Any) -> None:
    before = await env.state()
    outcome = await attempt(
        env.bucket.presign(key, method=method, expires_in=expires_in, content_type=content_type),
        documented=(Unsupported,),
    )
    valid = (
        key_ok(key)
        and method in ("GET", "PUT")
        and isinstance(expires_in, int)
        and not isinstance(expires_in, bool)
        and limits.PRESIGN_MIN_SECONDS <= expires_in <= limits.PRESIGN_MAX_SECONDS
        and http_fields({"content_type": content_type}) is not None
    )
    if valid:
        assert isinstance(outcome.error, Unsupported), "the local backends have no URL to sign"
    else:
        await env.refused_quietly(before, outcome)
    assert await env.state() == before
