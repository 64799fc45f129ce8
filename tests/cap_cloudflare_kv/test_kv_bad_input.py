"""Every documented limit is refused before any I/O, with an error that names it.

Run against the REST backend, whose stand-in records every request it receives: after each refused
call the record is empty — no request was sent. The same calls against the local disk backend leave
no object behind. (``check_kv_scenarios.scenario_bad_input`` runs the same checks on Miniflare.)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

import pytest

from cap_cloudflare_kv import KvNamespace, KvWrite
from cap_opendal_core import CapabilityError, InvalidInput, LimitExceeded

from .conftest import QUIET

if TYPE_CHECKING:
    from pathlib import Path

    from tests.support.cf_kv_api import KvApi

pytestmark = pytest.mark.anyio

MiB = 1024 * 1024
Call = Callable[[Any], Awaitable[Any]]
"""Takes the namespace as Any: most cases pass what the type hints forbid, on purpose."""


async def _endless() -> AsyncIterator[bytes]:
    chunk = b"\x00" * MiB
    while True:
        yield chunk


async def _yields_text() -> AsyncIterator[Any]:
    yield "not bytes"


def _soon(seconds: float) -> float:
    import time

    return time.time() + seconds


# (id, call, error class, attributes the error must have)
CASES: list[tuple[str, Call, type[CapabilityError], dict[str, Any]]] = [
    ("empty key", lambda kv: kv.put("", "v"), InvalidInput, {"field": "key"}),
    ("dot key", lambda kv: kv.get("."), InvalidInput, {"field": "key"}),
    ("dotdot key", lambda kv: kv.delete(".."), InvalidInput, {"field": "key"}),
    ("key not str", lambda kv: kv.get(b"k"), InvalidInput, {"field": "key"}),
    ("lone surrogate key", lambda kv: kv.get("\ud800"), InvalidInput, {"field": "key"}),
    (
        "key over 512 bytes",
        lambda kv: kv.put("k" * 513, "v"),
        LimitExceeded,
        {"limit": "kv.key_bytes", "value": 513, "maximum": 512},
    ),
    (
        "multibyte key over 512 bytes",
        lambda kv: kv.get_with_metadata("日" * 171),
        LimitExceeded,
        {"limit": "kv.key_bytes", "value": 513},
    ),
    (
        "value over 25 MiB",
        lambda kv: kv.put("k", b"\x00" * (25 * MiB + 1)),
        LimitExceeded,
        {"limit": "kv.value_bytes", "value": 25 * MiB + 1, "maximum": 25 * MiB},
    ),
    ("stream past 25 MiB", lambda kv: kv.put("k", _endless()), LimitExceeded, {"limit": "kv.value_bytes"}),
    ("stream of str", lambda kv: kv.put("k", _yields_text()), InvalidInput, {"field": "value"}),
    ("value of wrong type", lambda kv: kv.put("k", 42), InvalidInput, {"field": "value"}),
    (
        "metadata over 1024 bytes",
        lambda kv: kv.put("k", "v", metadata={"x": "é" * 600}),
        LimitExceeded,
        {"limit": "kv.metadata_bytes", "value": 1208, "maximum": 1024},
    ),
    ("metadata not JSON", lambda kv: kv.put("k", "v", metadata={1, 2}), InvalidInput, {"field": "metadata"}),
    (
        "metadata NaN",
        lambda kv: kv.put("k", "v", metadata=[float("inf")]),
        InvalidInput,
        {"field": "metadata"},
    ),
    (
        "ttl under 60",
        lambda kv: kv.put("k", "v", expiration_ttl=59),
        InvalidInput,
        {"field": "expiration_ttl", "says": "at least 60 seconds"},
    ),
    (
        "ttl under 60 beside a valid expiration",
        lambda kv: kv.put("k", "v", expiration=_soon(7200), expiration_ttl=30),
        InvalidInput,
        {"field": "expiration_ttl"},
    ),
    (
        "expiration under 60 s ahead beside a valid ttl",
        lambda kv: kv.put("k", "v", expiration=_soon(30), expiration_ttl=300),
        InvalidInput,
        {"field": "expiration", "says": "expiration must be"},
    ),
    (
        "ttl timedelta under 60",
        lambda kv: kv.put("k", "v", expiration_ttl=dt.timedelta(seconds=59.9)),
        InvalidInput,
        {"field": "expiration_ttl"},
    ),
    (
        "ttl not a number",
        lambda kv: kv.put("k", "v", expiration_ttl="60"),
        InvalidInput,
        {"field": "expiration_ttl"},
    ),
    (
        "expiration under 60 s ahead",
        lambda kv: kv.put("k", "v", expiration=_soon(59)),
        InvalidInput,
        {"field": "expiration"},
    ),
    (
        "expiration in the past",
        lambda kv: kv.put("k", "v", expiration=dt.datetime(2020, 1, 1, tzinfo=dt.UTC)),
        InvalidInput,
        {"field": "expiration"},
    ),
    (
        "naive datetime",
        lambda kv: kv.put("k", "v", expiration=dt.datetime(2031, 1, 1)),
        InvalidInput,
        {"field": "expiration"},
    ),
    (
        "expiration past 2038",
        lambda kv: kv.put("k", "v", expiration=2**31),
        InvalidInput,
        {"field": "expiration"},
    ),
    (
        "ttl past 2038",
        lambda kv: kv.put("k", "v", expiration_ttl=2**31),
        InvalidInput,
        {"field": "expiration_ttl"},
    ),
    ("cache_ttl under 30", lambda kv: kv.get("k", cache_ttl=29), InvalidInput, {"field": "cache_ttl"}),
    ("limit 0", lambda kv: kv.list(limit=0), InvalidInput, {"field": "limit"}),
    ("limit 1001", lambda kv: kv.list(limit=1001), InvalidInput, {"field": "limit"}),
    ("limit not int", lambda kv: kv.list(limit=10.0), InvalidInput, {"field": "limit"}),
    ("prefix over 512 bytes", lambda kv: kv.list(prefix="p" * 513), LimitExceeded, {"limit": "kv.key_bytes"}),
    ("cursor not str", lambda kv: kv.list(cursor=5), InvalidInput, {"field": "cursor"}),
    ("wrong type", lambda kv: kv.get("k", "arrayBuffer"), InvalidInput, {"field": "type"}),
    ("get_many bytes", lambda kv: kv.get_many(["k"], "bytes"), InvalidInput, {"field": "type"}),
    ("get_many of a str", lambda kv: kv.get_many("k"), InvalidInput, {"field": "keys"}),
    ("get_many bad key", lambda kv: kv.get_many(["ok", ""]), InvalidInput, {"field": "keys[1]"}),
    ("delete_many bad key", lambda kv: kv.delete_many(["k" * 600]), LimitExceeded, {"limit": "kv.key_bytes"}),
    (
        "put_many: one bad item refuses all",
        lambda kv: kv.put_many([KvWrite("good", "v"), KvWrite("bad", "v", expiration_ttl=1)]),
        InvalidInput,
        {"field": "expiration_ttl"},
    ),
    (
        "put_many: item not a pair",
        lambda kv: kv.put_many([("k", "v", "extra")]),
        InvalidInput,
        {"field": "items[0]"},
    ),
    ("put_many of a str", lambda kv: kv.put_many("kv"), InvalidInput, {"field": "items"}),
    (
        "iter_keys page size",
        lambda kv: _first(kv.iter_keys(page_size=5000)),
        InvalidInput,
        {"field": "limit"},
    ),
]


async def _first(keys: AsyncIterator[Any]) -> Any:
    return await keys.__anext__()


def _check(err: CapabilityError, attrs: dict[str, Any]) -> None:
    """The error's attributes are ``attrs``; ``says`` is text its message must contain."""
    assert err.capability == "kv"
    for name, want in attrs.items():
        if name == "says":
            assert want in err.message, (want, err.message)
        else:
            assert getattr(err, name) == want, (name, getattr(err, name), str(err))


@pytest.mark.parametrize(("call", "kind", "attrs"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
async def test_refused_before_any_request(
    rest_kv: KvNamespace, kv_api: KvApi, call: Call, kind: type[CapabilityError], attrs: dict[str, Any]
) -> None:
    with pytest.raises(kind) as caught:
        await call(rest_kv)
    _check(caught.value, attrs)
    assert kv_api.api.requests == [], "a refused call sends no request"


@pytest.mark.parametrize(("call", "kind", "attrs"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
async def test_refused_before_anything_is_stored_locally(
    tmp_path: Path, call: Call, kind: type[CapabilityError], attrs: dict[str, Any]
) -> None:
    root = tmp_path / "kv"
    async with KvNamespace.local(root, settings=QUIET) as kv:
        with pytest.raises(kind) as caught:
            await call(kv)
        _check(caught.value, attrs)
    assert not (root / "k").exists(), "a refused call writes nothing"


async def test_error_messages_name_the_limit_not_the_value(rest_kv: KvNamespace) -> None:
    secretish = "value-that-must-not-be-echoed-" + "x" * 30
    with pytest.raises(LimitExceeded) as caught:
        await rest_kv.put(secretish * 10, "v")
    assert "512" in caught.value.message
    assert secretish not in str(caught.value)
