"""Every public method of ``KvNamespace``, with arbitrary arguments, on memory, local disk and REST.

Each property draws arguments (keys with control characters, lone surrogates, ``..`` and ``/`` runs,
lengths either side of 512 bytes; values, streams, metadata that is not JSON or too large; expirations
and TTLs that are naive, NaN, huge, too soon, past 2038; batch sizes; cursors) and holds each call to
the rule: it succeeds and does what Workers KV documents, or it raises ``InvalidInput`` /
``LimitExceeded`` having done no I/O — the REST stand-in received no request and the stored state (the
directory tree, the memory store, the stand-in's entries) is unchanged. On local disk, after every
example nothing exists outside the namespace's directory. Where the rule is simple enough to state
from ``limits.py`` (keys, values, metadata, expirations) an oracle also says which of the two must
happen.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cap_cloudflare_kv import KvNamespace, KvWrite, limits
from cap_cloudflare_kv.backends.rest import RestBackend
from cap_cloudflare_kv.models import VALUE_TYPES
from cap_opendal_core.layers import LayerSettings, RetryPolicy
from tests.support.cf_kv_api import ACCOUNT_ID, NAMESPACE_ID, KvApi, kv_api_server

from . import bad_input_strategies as inputs
from .bad_input_judging import (
    PROPERTY,
    Outcome,
    PropertyEnv,
    answer_at_once,
    attempt,
    confined_tree,
    encodable,
    finite_or_none,
    memory_store,
    utf8_len,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator
    from pathlib import Path

pytestmark = pytest.mark.anyio

NOW = 1_800_000_000.0
SETTINGS = LayerSettings(logging=False, retry=RetryPolicy(attempts=1))
BACKENDS = ("memory", "local", "rest")
REST_BASE = f"/client/v4/accounts/{ACCOUNT_ID}/storage/kv/namespaces/{NAMESPACE_ID}/"
REST_ENDPOINT = re.compile(r"(values|metadata)/[^/]+|keys|bulk|bulk/get|bulk/delete")
SEEDED = {"seed-text": '{"a": [1, "ü"]}', "seed/other": "[]"}
"""Stored before each property: reads of every type have something valid to find."""


def _clock() -> float:
    return NOW


@dataclass
class KvEnv(PropertyEnv):
    """One backend for the length of a property: a namespace per example, one store throughout."""

    DIRECTORY = "kv"

    api: KvApi | None
    shared: KvNamespace | None = None
    seen_requests: int = 0

    @asynccontextmanager
    async def namespace(self) -> AsyncIterator[KvNamespace]:
        """The namespace for one example: on disk a new one each time (a restart, on the same
        directory); in memory and over REST one for the whole property (a REST client costs an SSL
        context to build), closed by the fixture."""
        if self.kind == "local":
            async with KvNamespace.local(self.root, settings=SETTINGS, clock=_clock) as kv:
                yield kv
            return
        if self.shared is None:
            self.shared = self._build()
        yield self.shared

    def _build(self) -> KvNamespace:
        if self.kind == "memory":
            return KvNamespace.from_url("memory://", settings=SETTINGS, clock=_clock)
        assert self.api is not None
        config = self.api.config()
        backend = RestBackend(config)
        backend.clock = _clock
        return KvNamespace(backend, settings=SETTINGS)

    async def state(self, kv: KvNamespace) -> Any:
        """Everything stored (and, for REST, how many requests were sent), to compare before/after."""
        if self.kind == "local":
            return confined_tree(self.parent, self.root)
        if self.kind == "memory":
            return await memory_store(kv)
        assert self.api is not None
        self.check_requests_stay_in_namespace()  # what came before this snapshot is checked now
        with self.api.lock:
            entries = {
                k: (e.value, e.expiration, json.dumps(e.metadata)) for k, e in self.api.entries.items()
            }
        return entries, len(self.api.api.requests)

    def check_requests_stay_in_namespace(self, key: str | None = None) -> None:
        """REST: every request since the last check went to one of this namespace's endpoints (no key
        turned into another path), and a request about ``key`` named exactly that key."""
        if self.api is None:
            return
        sent = self.api.api.requests[self.seen_requests :]
        self.seen_requests = len(self.api.api.requests)
        for request in sent:
            assert request.raw_path.startswith(REST_BASE), request.raw_path
            assert REST_ENDPOINT.fullmatch(request.raw_path[len(REST_BASE) :]), request.raw_path
        if key is not None:
            named = [r.params.get("key") for r in sent if "key" in r.params]
            assert named, "the call sent a request about the key"
            assert all(k == key for k in named), (key, named)

    async def refused_quietly(self, kv: KvNamespace, before: Any, outcome: Outcome) -> None:
        outcome.assert_refused_before_io()
        assert await self.state(kv) == before, "a refused call changed what is stored (or sent a request)"


@pytest.fixture(scope="module")
def kv_api() -> Iterator[KvApi]:
    with kv_api_server() as state:
        answer_at_once(state.api)
        yield state


@pytest.fixture(params=BACKENDS)
async def env(request: pytest.FixtureRequest, tmp_path: Path, kv_api: KvApi) -> AsyncIterator[KvEnv]:
    kind = request.param
    api = None
    if kind == "rest":
        kv_api.reset()
        kv_api.clock = _clock
        api = kv_api
    parent = tmp_path / "parent"
    parent.mkdir()
    environment = KvEnv(kind, parent, api)
    async with environment.namespace() as kv:
        for key, value in SEEDED.items():
            await kv.put(key, value)
    yield environment
    if environment.shared is not None:
        await environment.shared.aclose()


# --- the oracle ------------------------------------------------------------------------------


def key_ok(key: object) -> bool:
    if not isinstance(key, str):
        return False
    size = utf8_len(key)
    return size is not None and 0 < size <= limits.KEY_MAX_BYTES and key not in limits.FORBIDDEN_KEYS


def value_bytes(value: object) -> bytes | None:
    if isinstance(value, str):
        return value.encode() if encodable(value) else None
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    return None


def metadata_json(metadata: object) -> str | None:
    """The compact JSON KV stores for ``metadata``; None when KV must refuse it."""
    try:
        text = json.dumps(metadata, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        return None
    if not _js_safe(metadata):
        return None  # Cloudflare parses metadata in JavaScript: integers past 2**53 would change
    size = utf8_len(text)
    return text if size is not None and size <= limits.METADATA_MAX_BYTES else None


def _js_safe(value: object) -> bool:
    """Every integer inside ``value`` is one a JavaScript number holds exactly (the documented rule).
    Walked with a stack, not recursion: metadata nested as deep as JSON allows must not make the
    oracle itself depend on how much of the interpreter's stack is left."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, bool):
            continue
        if isinstance(item, int):
            if abs(item) > 2**53 - 1:
                return False
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return True


def expires_at(expiration: object, ttl: object) -> tuple[bool, int | None]:
    """``(valid, when it expires)`` for ``put``'s expiration arguments, by the documented rules."""
    floor_now = math.floor(NOW)
    latest = limits.EXPIRATION_MAX_EPOCH
    absolute = seconds = None
    if expiration is not None:
        if isinstance(expiration, dt.datetime):
            if expiration.utcoffset() is None:
                return False, None
            moment: float | None = expiration.timestamp()
        else:
            moment = finite_or_none(expiration)
        if moment is None or not floor_now + limits.EXPIRATION_MIN_SECONDS <= math.floor(moment) <= latest:
            return False, None
        absolute = math.floor(moment)
    if ttl is not None:
        span = ttl.total_seconds() if isinstance(ttl, dt.timedelta) else finite_or_none(ttl)
        if span is None or math.floor(span) < limits.EXPIRATION_MIN_SECONDS:
            return False, None
        seconds = math.floor(span)
        if floor_now + seconds > latest:
            return False, None
    return True, floor_now + seconds if seconds is not None else absolute


# --- strategies ------------------------------------------------------------------------------

KV_KEYS = st.one_of(inputs.keys(limits.KEY_MAX_BYTES), inputs.not_str())
VALUES = st.one_of(
    st.text(max_size=40),
    inputs.texts(),
    st.binary(max_size=64),
    st.binary(max_size=8).map(bytearray),
    st.builds(bytes, st.just(limits.VALUE_MAX_BYTES + 1)),
    st.integers(),
    st.none(),
    inputs.odd_values(),
)
METADATA = st.one_of(st.none(), inputs.json_like(), st.just({"big": "é" * 600}), inputs.odd_values())
EXPIRATIONS = st.one_of(
    st.none(),
    st.none(),
    st.integers(-120, 400).map(lambda d: NOW + d),
    st.floats(NOW - 10, NOW + 1000),
    inputs.numbers(),
    st.integers(min_value=2**1024, max_value=2**1100),
    st.just(limits.EXPIRATION_MAX_EPOCH + 1),
    inputs.datetimes_anywhere(),
)
TTLS = st.one_of(
    st.none(),
    st.none(),
    st.integers(55, 65),
    st.floats(59.0, 61.0),
    inputs.numbers(),
    st.integers(min_value=2**1024, max_value=2**1100),
    st.timedeltas(),
    st.just(limits.EXPIRATION_MAX_EPOCH),
)
TYPES = st.one_of(
    st.sampled_from(VALUE_TYPES), st.sampled_from(["TEXT", "", "arrayBuffer", "str"]), inputs.not_str()
)

GOOD_KEYS = st.one_of(inputs.valid_text(min_size=1), inputs.long_text(limits.KEY_MAX_BYTES)).filter(key_ok)
GOOD_VALUES = st.one_of(st.text(max_size=40), st.binary(max_size=64), st.binary(max_size=8).map(bytearray))
GOOD_METADATA = st.one_of(st.none(), inputs.json_valid().filter(lambda m: metadata_json(m) is not None))
LATEST = limits.EXPIRATION_MAX_EPOCH
GOOD_EXPIRATIONS = st.one_of(
    st.none(),
    st.integers(int(NOW) + limits.EXPIRATION_MIN_SECONDS, LATEST),
    st.floats(NOW + limits.EXPIRATION_MIN_SECONDS, LATEST),
    st.datetimes(
        min_value=dt.datetime(2027, 1, 18), max_value=dt.datetime(2038, 1, 18), timezones=st.just(dt.UTC)
    ),
)
GOOD_TTLS = st.one_of(
    st.none(),
    st.integers(limits.EXPIRATION_MIN_SECONDS, 10**8),
    st.floats(limits.EXPIRATION_MIN_SECONDS, 1e8),
    st.timedeltas(dt.timedelta(seconds=limits.EXPIRATION_MIN_SECONDS), dt.timedelta(days=1000)),
)
PUT_ARGUMENTS = {
    "key": (GOOD_KEYS, KV_KEYS),
    "value": (GOOD_VALUES, VALUES),
    "metadata": (GOOD_METADATA, METADATA),
    "expiration": (GOOD_EXPIRATIONS, EXPIRATIONS),
    "ttl": (GOOD_TTLS, TTLS),
}


# --- properties ------------------------------------------------------------------------------


@PROPERTY
@given(args=inputs.mixed(**PUT_ARGUMENTS))
async def test_put(env: KvEnv, args: dict[str, Any]) -> None:
    key, value, metadata, expiration, ttl = (
        args[n] for n in ("key", "value", "metadata", "expiration", "ttl")
    )
    async with env.namespace() as kv:
        before = await env.state(kv)
        outcome = await attempt(
            kv.put(key, value, metadata=metadata, expiration=expiration, expiration_ttl=ttl)
        )
        stored, meta = value_bytes(value), metadata_json(metadata)
        times_ok, expires = expires_at(expiration, ttl)
        valid = (
            key_ok(key)
            and stored is not None
            and len(stored) <= limits.VALUE_MAX_BYTES
            and (metadata is None or meta is not None)
            and times_ok
        )
        assert outcome.ok == valid, f"expected {'success' if valid else 'a refusal'}, got {outcome}"
        if not outcome.ok:
            await env.refused_quietly(kv, before, outcome)
            return
        got = await kv.get_with_metadata(key, "bytes")
        assert got.value == stored
        assert got.metadata == (None if meta is None else json.loads(meta))
        env.check_requests_stay_in_namespace(key)
        listed = {k.name: k for k in (await kv.list(prefix=key)).keys}
        assert listed[key].expiration == expires
        await env.state(kv)
        env.check_requests_stay_in_namespace()


async def _chunks(parts: list[Any]) -> AsyncIterator[Any]:
    for part in parts:
        yield part


@PROPERTY
@given(
    key=KV_KEYS,
    parts=st.lists(
        st.one_of(st.binary(max_size=16), st.text(max_size=3), st.integers(), st.none()), max_size=4
    ),
    oversized=st.booleans(),
)
async def test_put_stream(env: KvEnv, key: Any, parts: list[Any], oversized: bool) -> None:
    if oversized:
        parts = [*parts, b"\x00" * (limits.VALUE_MAX_BYTES // 2 + 1), b"\x00" * (limits.VALUE_MAX_BYTES // 2)]
    async with env.namespace() as kv:
        before = await env.state(kv)
        outcome = await attempt(kv.put(key, _chunks(parts)))
        valid = key_ok(key) and all(isinstance(p, bytes) for p in parts) and not oversized
        assert outcome.ok == valid, outcome
        if not outcome.ok:
            await env.refused_quietly(kv, before, outcome)
            return
        assert await kv.get(key, "bytes") == b"".join(parts)
        env.check_requests_stay_in_namespace()


@PROPERTY
@given(
    key=st.one_of(KV_KEYS, st.sampled_from(sorted(SEEDED))),
    value_type=TYPES,
    cache_ttl=st.one_of(st.none(), inputs.numbers(), st.integers(25, 35), st.timedeltas()),
    with_metadata=st.booleans(),
)
async def test_get(env: KvEnv, key: Any, value_type: Any, cache_ttl: Any, with_metadata: bool) -> None:
    async with env.namespace() as kv:
        before = await env.state(kv)
        read = kv.get_with_metadata if with_metadata else kv.get
        outcome = await attempt(read(key, value_type, cache_ttl=cache_ttl))
        span = cache_ttl.total_seconds() if isinstance(cache_ttl, dt.timedelta) else finite_or_none(cache_ttl)
        ttl_ok = cache_ttl is None or (
            span is not None
            and limits.CACHE_TTL_MIN_SECONDS <= math.floor(span) <= limits.EXPIRATION_MAX_EPOCH
        )
        valid = key_ok(key) and isinstance(value_type, str) and value_type in VALUE_TYPES and ttl_ok
        assert outcome.ok == valid, outcome
        if not outcome.ok:
            await env.refused_quietly(kv, before, outcome)
            return
        value = outcome.value.value if with_metadata else outcome.value
        if value_type == "stream" and value is not None:
            value = (await value.read()).decode()
        expected = SEEDED.get(key)
        if expected is None:
            assert value is None
        elif value_type == "json":
            assert value == json.loads(expected)
        elif value_type == "bytes":
            assert value == expected.encode()
        else:
            assert value == expected
        env.check_requests_stay_in_namespace()


@PROPERTY
@given(
    many=st.one_of(
        st.lists(st.one_of(KV_KEYS, st.sampled_from(sorted(SEEDED))), max_size=6),
        st.integers(limits.BULK_GET_MAX_KEYS - 1, limits.BULK_GET_MAX_KEYS + 3).map(
            lambda n: [f"k{i}" for i in range(n)]
        ),
        st.text(max_size=3),
        inputs.not_str(),
    ),
    value_type=TYPES,
)
async def test_get_many(env: KvEnv, many: Any, value_type: Any) -> None:
    async with env.namespace() as kv:
        before = await env.state(kv)
        outcome = await attempt(kv.get_many(many, value_type))
        valid = (
            isinstance(many, list)
            and all(key_ok(k) for k in many)
            and isinstance(value_type, str)
            and value_type in ("text", "json")
        )
        assert outcome.ok == valid, outcome
        if not outcome.ok:
            await env.refused_quietly(kv, before, outcome)
            return
        expected = {k: SEEDED.get(k) for k in many}
        if value_type == "json":
            expected = {k: None if v is None else json.loads(v) for k, v in expected.items()}
        assert outcome.value == expected
        env.check_requests_stay_in_namespace()


@PROPERTY
@given(
    prefix=st.one_of(st.none(), KV_KEYS, st.just("seed")),
    limit=st.one_of(
        st.integers(-2, 12),
        st.integers(limits.LIST_LIMIT_MAX - 1, limits.LIST_LIMIT_MAX + 1),
        inputs.numbers(),
    ),
    cursor=st.one_of(st.none(), st.none(), st.just(""), inputs.texts(), st.just("cap~5~"), inputs.not_str()),
    iterate=st.booleans(),
)
async def test_list(env: KvEnv, prefix: Any, limit: Any, cursor: Any, iterate: bool) -> None:
    async with env.namespace() as kv:
        before = await env.state(kv)
        limit_ok = isinstance(limit, int) and not isinstance(limit, bool)
        limit_ok = limit_ok and limits.LIST_LIMIT_MIN <= limit <= limits.LIST_LIMIT_MAX
        prefix_ok = prefix is None or (encodable(prefix) and (utf8_len(prefix) or 0) <= limits.KEY_MAX_BYTES)
        fresh = iterate or cursor in (None, "")
        if iterate:
            outcome = await attempt(_collect(kv, prefix, limit))
        else:
            outcome = await attempt(kv.list(prefix=prefix, limit=limit, cursor=cursor))
        if fresh:
            assert outcome.ok == (prefix_ok and limit_ok), outcome
        if not outcome.ok:
            if env.kind == "rest" and not fresh and not str(cursor).startswith("cap~"):
                # Cloudflare's own cursors are opaque: only Cloudflare can refuse one (nothing is written)
                assert (await env.state(kv))[0] == before[0]
                return
            await env.refused_quietly(kv, before, outcome)
            return
        names = [k.name for k in (outcome.value if iterate else outcome.value.keys)]
        assert names == sorted(names, key=lambda n: n.encode())
        assert all(n.startswith(prefix or "") for n in names)
        if fresh:
            expected = sorted((k for k in SEEDED if k.startswith(prefix or "")), key=lambda n: n.encode())
            assert names == (expected if iterate else expected[:limit])
        env.check_requests_stay_in_namespace()


async def _collect(kv: KvNamespace, prefix: Any, page_size: Any) -> list[Any]:
    return [k async for k in kv.iter_keys(prefix=prefix, page_size=page_size)]


def _write(args: dict[str, Any]) -> KvWrite:
    return KvWrite(
        args["key"],
        args["value"],
        expiration=args["expiration"],
        expiration_ttl=args["ttl"],
        metadata=args["metadata"],
    )


ITEM = st.one_of(
    st.tuples(GOOD_KEYS, GOOD_VALUES),
    st.tuples(KV_KEYS, VALUES),
    inputs.mixed(**PUT_ARGUMENTS).map(_write),
    inputs.mixed(**PUT_ARGUMENTS).map(_write),
    st.tuples(st.text(max_size=3)),
    inputs.not_str(),
)


@PROPERTY
@given(
    items=st.one_of(
        st.lists(ITEM, max_size=5),
        st.lists(ITEM, max_size=5),
        st.dictionaries(inputs.keys(limits.KEY_MAX_BYTES), VALUES, max_size=4),
        st.text(max_size=3),
        inputs.not_str(),
    )
)
async def test_put_many(env: KvEnv, items: Any) -> None:
    async with env.namespace() as kv:
        before = await env.state(kv)
        outcome = await attempt(kv.put_many(items))
        entries = list(items.items()) if isinstance(items, dict) else items
        expected: dict[str, tuple[bytes | None, Any]] = {}
        valid = isinstance(entries, list)
        for item in entries if valid else ():
            if isinstance(item, KvWrite):
                key, value, md = item.key, item.value, item.metadata
                times_ok = expires_at(item.expiration, item.expiration_ttl)[0]
            elif isinstance(item, tuple) and len(item) == 2:
                (key, value), md, times_ok = item, None, True
            else:
                valid = False
                break
            stored, meta = value_bytes(value), metadata_json(md)
            if not (key_ok(key) and stored is not None and (md is None or meta is not None) and times_ok):
                valid = False
                break
            if len(stored) > limits.VALUE_MAX_BYTES:
                valid = False
                break
            expected[key] = (stored, None if meta is None else json.loads(meta))
        assert outcome.ok == valid, outcome
        if not outcome.ok:
            await env.refused_quietly(kv, before, outcome)
            return
        for key, (stored, meta) in expected.items():
            got = await kv.get_with_metadata(key, "bytes")
            assert (got.value, got.metadata) == (stored, meta)
        await env.state(kv)
        env.check_requests_stay_in_namespace()


@PROPERTY
@given(
    target=st.one_of(
        KV_KEYS,
        st.lists(st.one_of(KV_KEYS, st.sampled_from(sorted(SEEDED))), max_size=5),
        st.sampled_from(sorted(SEEDED)),
    )
)
async def test_delete(env: KvEnv, target: Any) -> None:
    async with env.namespace() as kv:
        before = await env.state(kv)
        many = isinstance(target, list)
        outcome = await attempt(kv.delete_many(target) if many else kv.delete(target))
        valid = all(key_ok(k) for k in target) if many else key_ok(target)
        assert outcome.ok == valid, outcome
        if not outcome.ok:
            await env.refused_quietly(kv, before, outcome)
            return
        for key in target if many else [target]:
            assert await kv.get(key) is None
        for key, value in SEEDED.items():  # put the seeds back for the next example
            await kv.put(key, value)
        env.check_requests_stay_in_namespace()
