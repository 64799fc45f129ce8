"""The behaviour every KvNamespace backend must show, written once and run everywhere.

CPython runs these scenarios against the memory and local (disk) backends
(``tests/cap_cloudflare_kv/test_kv_namespace.py``); the Workers harness runs the very same functions
against Miniflare's real KV binding (``check_kv.py``). So this module imports nothing but the
standard library and the packages themselves, and has no ``check_*`` functions of its own.

Each scenario takes a :class:`KvNamespace` and a :class:`Ctx`: ``ctx.key(name)`` namespaces keys so
runs never collide, and ``ctx.clock`` is a controllable clock on local backends (None on Workers,
where expirations are only checked for validation — nothing here sleeps).

It also holds the seeded random operation sequence of the differential test: the same seed gives
the same operations on CPython 3.11 and Pyodide's 3.13 (a small LCG, not ``random``), and the
observations are plain JSON so the two runs compare directly.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cap_cloudflare_kv import KvNamespace, KvWrite
from cap_opendal_core.errors import CapabilityError, InvalidInput, LimitExceeded

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

PAGING_KEYS = 2500


class ManualClock:
    """Epoch seconds that move only when told to: expiration without sleeping."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Ctx:
    prefix: str
    clock: ManualClock | None = None

    def key(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def now(self) -> float:
        return self.clock() if self.clock is not None else time.time()


@contextmanager
def raises(kind: type[CapabilityError], **attrs: Any) -> Iterator[list[CapabilityError]]:
    """``pytest.raises`` for both worlds; ``attrs`` must match the error's attributes."""
    caught: list[CapabilityError] = []
    try:
        yield caught
    except kind as exc:
        caught.append(exc)
    else:
        raise AssertionError(f"expected {kind.__name__} with {attrs}")
    for name, want in attrs.items():
        got = getattr(caught[0], name, None)
        if got != want:
            raise AssertionError(
                f"{type(caught[0]).__name__}.{name} is {got!r}, expected {want!r}: {caught[0]}"
            )


async def _names(kv: KvNamespace, prefix: str) -> list[str]:
    return [k.name async for k in kv.iter_keys(prefix=prefix)]


def _utf8_sorted(names: list[str]) -> list[str]:
    return sorted(names, key=lambda n: n.encode("utf-8"))


# --- scenarios -----------------------------------------------------------------------------------


async def scenario_put_get_delete(kv: KvNamespace, ctx: Ctx) -> None:
    key = ctx.key("basic")
    assert await kv.get(key) is None
    await kv.put(key, "first")
    assert await kv.get(key) == "first"
    await kv.put(key, "second")
    assert await kv.get(key) == "second"
    await kv.delete(key)
    assert await kv.get(key) is None
    await kv.delete(key)  # deleting a missing key is not an error
    await kv.put(key, "")
    assert await kv.get(key) == "", "an empty value is a value, not a missing key"


async def scenario_every_type(kv: KvNamespace, ctx: Ctx) -> None:
    key = ctx.key("types")
    document = {"n": 1.5, "big": 12345678901234567890, "list": [1, None, "é"], "flag": True}
    import json

    await kv.put(key, json.dumps(document))
    assert await kv.get(key, "json") == document, "JSON parses the same on every backend"
    assert await kv.get(key, "text") == json.dumps(document)
    assert await kv.get(key, "bytes") == json.dumps(document).encode()

    binary = bytes(range(256)) * 300  # 76,800 bytes: several stream chunks on every backend
    await kv.put(key, binary)
    assert await kv.get(key, "bytes") == binary
    stream = await kv.get(key, "stream")
    assert stream is not None
    chunks = [chunk async for chunk in stream]
    assert b"".join(chunks) == binary
    assert all(isinstance(c, bytes) for c in chunks)
    assert await kv.get(ctx.key("types-missing"), "stream") is None

    # invalid UTF-8 reads as text with U+FFFD, as the binding's TextDecoder does
    await kv.put(key, b"ok\xff")
    assert await kv.get(key) == "ok\ufffd"
    with raises(InvalidInput, field="type"):
        await kv.get(key, "json")

    async def parts() -> AsyncIterator[bytes]:
        for part in (b"streamed ", bytearray(b"in "), memoryview(b"parts")):
            yield bytes(part)

    await kv.put(key, parts())
    assert await kv.get(key) == "streamed in parts"
    assert await kv.get(key, cache_ttl=60) == "streamed in parts"


async def scenario_metadata(kv: KvNamespace, ctx: Ctx) -> None:
    key = ctx.key("meta")
    missing = await kv.get_with_metadata(ctx.key("meta-missing"))
    assert (missing.value, missing.metadata) == (None, None)
    await kv.put(key, "v", metadata={"owner": "cap", "n": 3, "tags": ["a", "b"], "none": None})
    got = await kv.get_with_metadata(key)
    assert got.value == "v"
    assert got.metadata == {"owner": "cap", "n": 3, "tags": ["a", "b"], "none": None}
    got_bytes = await kv.get_with_metadata(key, "bytes")
    assert (got_bytes.value, got_bytes.metadata["owner"]) == (b"v", "cap")
    await kv.put(key, "no metadata now")
    plain = await kv.get_with_metadata(key)
    assert (plain.value, plain.metadata) == ("no metadata now", None), "a put replaces the metadata"
    big = {"x": "y" * 1000}  # 1010 bytes as JSON: just under the limit
    await kv.put(key, "v", metadata=big)
    assert (await kv.get_with_metadata(key)).metadata == big
    listed = (await kv.list(prefix=key)).keys
    assert [(k.name, k.metadata) for k in listed] == [(key, big)]


async def scenario_expiration(kv: KvNamespace, ctx: Ctx) -> None:
    key = ctx.key("ttl")
    now = ctx.now()
    for bad in ({"expiration_ttl": 59}, {"expiration_ttl": 0}, {"expiration": now + 30}):
        field = next(iter(bad))
        with raises(InvalidInput, field=field):
            await kv.put(key, "v", **bad)
    assert await kv.get(key) is None, "a refused write stores nothing"

    await kv.put(key, "short", expiration_ttl=60)
    await kv.put(ctx.key("ttl-abs"), "abs", expiration=int(now) + 3600, metadata={"m": 1})
    await kv.put(ctx.key("ttl-none"), "forever")
    listed = {k.name: k for k in (await kv.list(prefix=ctx.key("ttl"))).keys}
    assert set(listed) == {key, ctx.key("ttl-abs"), ctx.key("ttl-none")}
    assert abs(listed[key].expiration - (int(now) + 60)) <= 2  # type: ignore[operator]
    assert listed[ctx.key("ttl-abs")].expiration == int(now) + 3600
    assert listed[ctx.key("ttl-abs")].metadata == {"m": 1}
    assert listed[ctx.key("ttl-none")].expiration is None
    assert await kv.get(key) == "short"
    if ctx.clock is None:
        return  # Workers: the rest needs time to pass
    ctx.clock.advance(59)
    assert await kv.get(key) == "short"
    ctx.clock.advance(2)
    assert await kv.get(key) is None, "expired: invisible to get"
    assert (await kv.get_with_metadata(key)).value is None
    assert key not in await _names(kv, ctx.key("ttl")), "expired: invisible to list"
    ctx.clock.advance(3600)
    assert await _names(kv, ctx.key("ttl")) == [ctx.key("ttl-none")]
    # a new write of an expired key starts afresh
    await kv.put(key, "again", expiration_ttl=120)
    assert await kv.get(key) == "again"


async def scenario_list_order_and_paging(kv: KvNamespace, ctx: Ctx) -> None:
    base = ctx.key("page/")
    names = [f"{base}{i:05d}" for i in range(PAGING_KEYS - 6)]
    # code points whose UTF-8 order is not their UTF-16 order, plus edge characters
    names += [f"{base}{s}" for s in ("é", "\ufffd", "😀", "Z", "a b", "~")]
    await kv.put_many({name: name[-3:] for name in names})
    expected = _utf8_sorted(names)

    pages = []
    cursor = None
    while True:
        page = await kv.list(prefix=base, cursor=cursor)
        pages.append([k.name for k in page.keys])
        if page.list_complete:
            assert page.cursor is None
            break
        assert page.cursor
        cursor = page.cursor
    assert [len(p) for p in pages] == [1000, 1000, PAGING_KEYS - 2000], [len(p) for p in pages]
    assert [n for p in pages for n in p] == expected, "every key once, in UTF-8 byte order"

    small = await kv.list(prefix=base, limit=7)
    assert [k.name for k in small.keys] == expected[:7]
    assert not small.list_complete
    following = await kv.list(prefix=base, limit=5, cursor=small.cursor)
    assert [k.name for k in following.keys] == expected[7:12]
    assert await _names(kv, base) == expected

    # prefix listing: only keys that start with the prefix, complete in one page
    sub = await kv.list(prefix=f"{base}0001")
    assert [k.name for k in sub.keys] == [f"{base}{i:05d}" for i in range(10, 20)]
    assert sub.list_complete
    assert sub.cursor is None
    assert (await kv.list(prefix=f"{base}none-such")).keys == ()

    got = await kv.get_many([names[0], names[-1], f"{base}missing", *names[100:250]])
    assert got[names[0]] == names[0][-3:]
    assert got[f"{base}missing"] is None
    assert len(got) == 153


async def scenario_keys_round_trip(kv: KvNamespace, ctx: Ctx) -> None:
    """Keys that a naive path mapping would break or let escape the root."""
    odd = [
        "a/b/c",
        "/leading",
        "trailing/",
        "../../escape",
        "a/../b",
        "./dot",
        "%2F%00%",
        " leading and trailing ",
        "tab\tnew\nline",
        "ünïcödé/日本/😀",
        "...",
        "back\\slash",
        "CON",
        "x" * 300,
    ]
    keys = [ctx.key(name) for name in odd]
    for key in keys:
        await kv.put(key, key)
    for key in keys:
        assert await kv.get(key) == key, key
    listed = await _names(kv, ctx.key(""))
    assert listed == _utf8_sorted(keys)
    await kv.delete_many(keys)
    assert await _names(kv, ctx.key("")) == []


async def scenario_bulk(kv: KvNamespace, ctx: Ctx) -> None:
    writes = [
        KvWrite(ctx.key(f"bulk/{i}"), f"v{i}", metadata={"i": i}, expiration_ttl=3600 if i % 2 else None)
        for i in range(30)
    ]
    await kv.put_many(writes)
    await kv.put_many([(ctx.key("bulk/bytes"), b"\x00\x01")])
    got = await kv.get_many([w.key for w in writes])
    assert got == {w.key: w.value for w in writes}
    assert await kv.get(ctx.key("bulk/bytes"), "bytes") == b"\x00\x01"
    await kv.put(ctx.key("bulk/json"), '{"a": [1, 2]}')
    assert (await kv.get_many([ctx.key("bulk/json")], "json")) == {ctx.key("bulk/json"): {"a": [1, 2]}}
    listed = {k.name: k for k in (await kv.list(prefix=ctx.key("bulk/"))).keys}
    assert listed[ctx.key("bulk/3")].metadata == {"i": 3}
    assert listed[ctx.key("bulk/3")].expiration is not None
    assert listed[ctx.key("bulk/2")].expiration is None
    await kv.delete_many([w.key for w in writes] + [ctx.key("bulk/never-written")])
    assert await _names(kv, ctx.key("bulk/")) == [ctx.key("bulk/bytes"), ctx.key("bulk/json")]


async def scenario_bad_input(kv: KvNamespace, ctx: Ctx) -> None:
    """Every documented limit, refused the same way on every backend."""
    key = ctx.key("bad")
    for bad_key in ("", ".", ".."):
        with raises(InvalidInput, field="key"):
            await kv.put(bad_key, "v")
    with raises(LimitExceeded, limit="kv.key_bytes", value=513, maximum=512):
        await kv.get("k" * 513)
    with raises(LimitExceeded, limit="kv.key_bytes"):
        await kv.put("é" * 257, "v")  # 514 bytes in 257 characters
    with raises(LimitExceeded, limit="kv.value_bytes", maximum=25 * 1024 * 1024):
        await kv.put(key, b"\x00" * (25 * 1024 * 1024 + 1))

    async def endless() -> AsyncIterator[bytes]:
        chunk = b"\x00" * (1024 * 1024)
        while True:
            yield chunk

    with raises(LimitExceeded, limit="kv.value_bytes"):
        await kv.put(key, endless())
    with raises(LimitExceeded, limit="kv.metadata_bytes", value=1108, maximum=1024):
        await kv.put(key, "v", metadata={"x": "y" * 1100})
    with raises(InvalidInput, field="metadata"):
        await kv.put(key, "v", metadata={"x": object()})
    with raises(InvalidInput, field="metadata"):
        await kv.put(key, "v", metadata={"x": float("nan")})
    for unsafe in (12345678901234567890, 2**53, -(2**53)):  # Cloudflare parses metadata in JS
        with raises(InvalidInput, field="metadata"):
            await kv.put(key, "v", metadata={"ids": [1, {"n": unsafe}]})
    with raises(InvalidInput, field="metadata"):
        await kv.put_many([KvWrite(ctx.key("bad-bulk"), "v", metadata={"n": 2**64})])
    await kv.put(ctx.key("safe"), "v", metadata={"n": 2**53 - 1, "m": -(2**53 - 1), "f": 1e300})
    assert (await kv.get_with_metadata(ctx.key("safe"))).metadata == {
        "n": 2**53 - 1,
        "m": -(2**53 - 1),
        "f": 1e300,
    }
    await kv.delete(ctx.key("safe"))
    with raises(InvalidInput, field="value"):
        await kv.put(key, {"not": "a value"})  # type: ignore[arg-type]
    with raises(InvalidInput, field="cache_ttl"):
        await kv.get(key, cache_ttl=29)
    for limit in (0, 1001, -1):
        with raises(InvalidInput, field="limit"):
            await kv.list(limit=limit)
    with raises(InvalidInput, field="type"):
        await kv.get(key, "arrayBuffer")  # type: ignore[call-overload]
    with raises(InvalidInput, field="type"):
        await kv.get_many([key], "bytes")  # type: ignore[arg-type]
    with raises(InvalidInput, field="keys"):
        await kv.get_many(key)
    assert await kv.get(key) is None, "nothing was stored by any refused write"


async def scenario_bulk_errors_and_odd_keys(kv: KvNamespace, ctx: Ctx) -> None:
    """``get_many`` reports the same error whatever the backend and however its reads interleave
    (the first failing key in input order), and reads keys a JS object treats specially."""
    good, bad1, bad2 = ctx.key("j/good"), ctx.key("j/bad1"), ctx.key("j/bad2")
    await kv.put_many({good: "[1]", bad1: "not json", bad2: "{nor this"})
    for order in ([good, bad1, bad2], [bad2, good, bad1], [good, bad2, bad1]):
        first_bad = next(k for k in order if k != good)
        for _ in range(5):  # a race would show as a different error some of the time
            with raises(InvalidInput, field="type", key=first_bad):
                await kv.get_many(order, "json")
    # bare keys: a bulk read's JS result must not lose "0", "10" or "__proto__"
    odd = ["0", "10", "__proto__", "constructor", "toString"]
    stamp = ctx.prefix
    await kv.put_many({name: f"{stamp}{name}" for name in odd})
    got = await kv.get_many([*odd, ctx.key("j/absent")])
    assert got == {**{name: f"{stamp}{name}" for name in odd}, ctx.key("j/absent"): None}, got
    await kv.delete_many([*odd, good, bad1, bad2])


SCENARIOS: dict[str, Callable[[KvNamespace, Ctx], Awaitable[None]]] = {
    "put_get_delete": scenario_put_get_delete,
    "every_type": scenario_every_type,
    "metadata": scenario_metadata,
    "expiration": scenario_expiration,
    "list_order_and_paging": scenario_list_order_and_paging,
    "keys_round_trip": scenario_keys_round_trip,
    "bulk": scenario_bulk,
    "bad_input": scenario_bad_input,
    "bulk_errors_and_odd_keys": scenario_bulk_errors_and_odd_keys,
}


# --- the differential sequence ---------------------------------------------------------------------

DIFFERENTIAL_SEED = 20260426


def seed_from(value: Any) -> int:
    """The seed to run: ``CAP_DIFF_SEED`` when set (handed to the harness as ``env``), else the default."""
    text = None if value is None else str(value).strip()
    return int(text) if text else DIFFERENTIAL_SEED


DIFFERENTIAL_OPS = 300
_NAMES = ["a", "b", "a/b", "a/c", "é", "😀", "zz", "a b", "%", "ab", "b/a", "~"]
_EXPIRES_AT = 2_000_000_000  # 2033-05-18: ahead of both clocks, within the 32-bit limit


class _Lcg:
    """A tiny deterministic generator, identical on every Python version."""

    def __init__(self, seed: int) -> None:
        self.state = seed & 0xFFFFFFFF

    def below(self, n: int) -> int:
        self.state = (self.state * 1664525 + 1013904223) & 0xFFFFFFFF
        return (self.state >> 8) % n


async def random_ops(kv: KvNamespace, prefix: str, seed: int = DIFFERENTIAL_SEED) -> list[Any]:
    """Apply a seeded sequence of put/get/delete/list; return what each step observed (JSON)."""
    rng = _Lcg(seed)
    observed: list[Any] = []

    def strip(name: str) -> str:
        return name[len(prefix) :]

    for step in range(DIFFERENTIAL_OPS):
        name = _NAMES[rng.below(len(_NAMES))]
        key = prefix + name
        roll = rng.below(100)
        if roll < 35:
            kind = rng.below(4)
            value = f"v{step}-{name}"
            if kind == 0:
                await kv.put(key, value)
            elif kind == 1:
                await kv.put(key, value, metadata={"step": step, "name": name})
            elif kind == 2:
                await kv.put(key, value.encode() + b"\xff")
            else:
                await kv.put(key, value, expiration=_EXPIRES_AT)
            observed.append(["put", name, kind])
        elif roll < 60:
            got = await kv.get_with_metadata(key, "bytes")
            read = None if got.value is None else got.value.decode("utf-8", "replace")
            observed.append(["get", name, read, got.metadata])
        elif roll < 70:
            observed.append(["text", name, await kv.get(key)])
        elif roll < 82:
            await kv.delete(key)
            observed.append(["delete", name])
        else:
            sub = ["", "a", "a/", "b", "é"][rng.below(5)]
            limit = 1 + rng.below(4)
            page = await kv.list(prefix=prefix + sub, limit=limit)
            names = [[strip(k.name), k.expiration, k.metadata] for k in page.keys]
            rest = []
            if page.cursor is not None:
                rest = [strip(k.name) async for k in _follow(kv, prefix + sub, page.cursor)]
            observed.append(["list", sub, limit, names, page.list_complete, rest])
    observed.append(["final", [strip(k.name) async for k in kv.iter_keys(prefix=prefix)]])
    return observed


async def _follow(kv: KvNamespace, prefix: str, cursor: str) -> AsyncIterator[Any]:
    while True:
        page = await kv.list(prefix=prefix, limit=3, cursor=cursor)
        for key in page.keys:
            yield key
        if page.list_complete or page.cursor is None:
            return
        cursor = page.cursor
