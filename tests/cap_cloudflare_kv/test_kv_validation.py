"""Edges of argument checking and conversion that the end-to-end tests do not pin down."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import pytest

from cap_cloudflare_kv import validation
from cap_cloudflare_kv.codec import decode_value
from cap_cloudflare_kv.streams import KvStream
from cap_opendal_core import InvalidInput, LimitExceeded, Unavailable
from tests.workers.checks.check_kv_scenarios import ManualClock

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

NOW = 1_800_000_000.5


def clock() -> float:
    return NOW


def test_expiration_accepts_epoch_seconds_aware_datetimes_and_timedeltas() -> None:
    moment = dt.datetime.fromtimestamp(NOW + 3600, tz=dt.timezone(dt.timedelta(hours=-5)))
    assert validation.check_expiration(moment, None, clock, "put", "k") == (
        int(NOW) + 3600,
        None,
        int(NOW) + 3600,
    )
    assert validation.check_expiration(None, dt.timedelta(minutes=2), clock, "put", "k") == (
        None,
        120,
        int(NOW) + 120,
    )
    assert validation.check_expiration(NOW + 60.4, None, clock, "put", "k")[0] == int(NOW) + 60  # floored
    # both given: the TTL decides (Cloudflare's documented precedence); that both are checked, and the
    # rest of the refusals, are pinned in test_kv_bad_input.py's table (one home per refusal)
    assert validation.check_expiration(NOW + 7200, 300, clock, "put", "k") == (
        int(NOW) + 7200,
        300,
        int(NOW) + 300,
    )
    for bad in (True, "soon", float("nan"), float("inf")):
        with pytest.raises(InvalidInput):
            validation.check_expiration(bad, None, clock, "put", "k")


def test_cache_ttl_accepts_numbers_and_timedeltas() -> None:
    assert validation.check_cache_ttl(30, "get") == 30
    assert validation.check_cache_ttl(dt.timedelta(minutes=1), "get") == 60
    assert validation.check_cache_ttl(45.7, "get") == 45
    for bad in (29.9, True, "60", 2**31):
        with pytest.raises(InvalidInput) as caught:
            validation.check_cache_ttl(bad, "get", "k")
        assert caught.value.field == "cache_ttl"
        assert caught.value.key == "k"


def test_metadata_is_measured_as_compact_utf8_json() -> None:
    assert validation.check_metadata({"a": [1, 2], "é": None}, "put", "k") == '{"a":[1,2],"é":null}'
    exactly = {"x": "y" * 1016}  # {"x":"…"} is 8 + 1016 = 1024 bytes
    assert validation.check_metadata(exactly, "put", "k") is not None
    with pytest.raises(LimitExceeded) as caught:
        validation.check_metadata({"x": "y" * 1017}, "put", "k")
    assert (caught.value.value, caught.value.maximum) == (1025, 1024)


def test_values_of_every_accepted_kind() -> None:
    assert validation.check_value("é", "put", "k") == ("é".encode(), "é")
    assert validation.check_value(bytearray(b"ab"), "put", "k") == (b"ab", None)
    assert validation.check_value(memoryview(b"abcd")[1:3], "put", "k") == (b"bc", None)
    with pytest.raises(InvalidInput):
        validation.check_value("\udcff", "put", "k")


@pytest.mark.anyio
async def test_a_stream_over_the_limit_is_closed_and_stores_nothing() -> None:
    closed: list[bool] = []

    async def chunks() -> AsyncIterator[bytes]:
        try:
            while True:
                yield b"\x00" * (4 * 1024 * 1024)
        finally:
            closed.append(True)

    with pytest.raises(LimitExceeded, match="nothing was stored"):
        await validation.collect_stream(chunks(), "put", "k")
    assert closed == [True], "the caller's generator was closed, not left suspended"


def test_json_that_is_not_json_names_the_type_argument() -> None:
    with pytest.raises(InvalidInput) as caught:
        decode_value(b"{broken", "json", operation="get", key="k")
    assert caught.value.field == "type"
    assert "not valid JSON" in caught.value.message
    assert decode_value(b"\xff", "text", operation="get", key="k") == "\ufffd"


@pytest.mark.anyio
async def test_stream_failures_leave_as_capability_errors_and_close_the_stream() -> None:
    closed: list[bool] = []

    async def failing() -> AsyncIterator[bytes]:
        yield b"first"
        raise ConnectionResetError("peer went away")

    async def on_close() -> None:
        closed.append(True)

    stream = KvStream(failing(), key="k", on_close=on_close)
    assert await stream.__anext__() == b"first"
    with pytest.raises(Unavailable) as caught:
        await stream.__anext__()
    assert (caught.value.capability, caught.value.operation, caught.value.key) == ("kv", "get", "k")
    assert closed == [True]
    assert [chunk async for chunk in stream] == [], "a closed stream yields nothing more"


def test_manual_clock_only_moves_when_told() -> None:
    c = ManualClock(100.0)
    assert c() == 100.0
    c.advance(61)
    assert c() == 161.0
