"""DurableObjectStorage on the local runtime: the Workers API, its limits, ordering and transactions."""

from __future__ import annotations

import datetime as dt
import math
from typing import TYPE_CHECKING, Any

import pytest

from cap_cloudflare_do import DurableObjectNamespace, DurableObjectStorage
from cap_cloudflare_do.limits import MAX_BATCH_KEYS, MAX_ENTRY_BYTES
from cap_opendal_core import InvalidInput, LimitExceeded
from tests.cap_cloudflare_do.objects import Alarmed, Counter

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from tests.support.workers_harness import HarnessRun

pytestmark = pytest.mark.anyio


@pytest.fixture
async def storage(tmp_path: Path) -> AsyncIterator[DurableObjectStorage]:
    async with DurableObjectNamespace.local(tmp_path, Alarmed) as ns:
        assert ns.runtime is not None
        yield ns.runtime.storage(ns.id_from_name("storage"))


async def test_values_round_trip(storage: DurableObjectStorage) -> None:
    values: dict[str, Any] = {
        "str": "héllo 😀",
        "int": 7,
        "big": 2**70,
        "float": 1.5,
        "bool": False,
        "none": None,
        "bytes": b"\x00\xff",
        "when": dt.datetime(2024, 2, 29, 23, 59, 59, 123000, tzinfo=dt.UTC),
        "nested": {"list": [1, {"$b": "looks like a tag"}, [b"x"]], "$o": 1},
    }
    for key, value in values.items():
        await storage.put(key, value)
        assert await storage.get(key) == value, key
    # a JS Date holds milliseconds: microseconds are floored away here as on Workers
    await storage.put("micro", dt.datetime(2024, 2, 29, 23, 59, 59, 123999, tzinfo=dt.UTC))
    assert await storage.get("micro") == dt.datetime(2024, 2, 29, 23, 59, 59, 123000, tzinfo=dt.UTC)
    async with storage.transaction() as txn:
        await txn.put("micro-txn", dt.datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=dt.UTC))
        assert await txn.get("micro-txn") == dt.datetime(1969, 12, 31, 23, 59, 59, 999000, tzinfo=dt.UTC)
    await storage.put("nan", math.nan)
    assert math.isnan(await storage.get("nan"))
    await storage.put("naive", dt.datetime(2024, 1, 1, 12))  # naive means UTC
    assert await storage.get("naive") == dt.datetime(2024, 1, 1, 12, tzinfo=dt.UTC)
    await storage.put("bytearray", bytearray(b"ab"))
    assert await storage.get("bytearray") == b"ab"
    got = await storage.get("nested")
    got["list"].append("mutated")
    assert (await storage.get("nested"))["list"] == [1, {"$b": "looks like a tag"}, [b"x"]]  # a copy


async def test_unsupported_values_are_refused_naming_the_type(storage: DurableObjectStorage) -> None:
    for value, name in (
        (object(), "object"),
        ({1, 2}, "set"),
        (dt.date(2024, 1, 1), "date"),
        ({1: "x"}, "int"),
    ):
        with pytest.raises(InvalidInput, match=name):
            await storage.put("k", value)  # type: ignore[call-overload]
    cyclic: list[Any] = []
    cyclic.append(cyclic)
    with pytest.raises(InvalidInput, match="deeper"):
        await storage.put("k", cyclic)
    with pytest.raises(InvalidInput, match="lone surrogate"):
        await storage.put("\ud800", 1)
    with pytest.raises(InvalidInput, match="needs a value"):
        await storage.put("k")  # type: ignore[call-overload]
    with pytest.raises(InvalidInput, match="must be a str"):
        await storage.get(1)  # type: ignore[call-overload]
    assert await storage.list() == {}


async def test_batches(storage: DurableObjectStorage) -> None:
    await storage.put({"c": 3, "a": 1, "b": 2})
    assert await storage.get(["c", "zz", "a"]) == {"a": 1, "c": 3}
    assert list(await storage.get(["c", "b", "a"])) == ["a", "b", "c"]
    assert await storage.delete(["a", "zz"]) == 1
    assert await storage.delete("b") is True
    assert await storage.delete("b") is False
    await storage.delete_all()
    assert await storage.list() == {}


async def test_limits_are_checked_before_any_io(storage: DurableObjectStorage) -> None:
    too_many = [f"k{i}" for i in range(MAX_BATCH_KEYS + 1)]
    for call in (
        lambda: storage.get(too_many),
        lambda: storage.delete(too_many),
        lambda: storage.put(dict.fromkeys(too_many, 1)),
    ):
        with pytest.raises(LimitExceeded, match="at most 128") as caught:
            await call()
        assert caught.value.limit == "do.batch_keys"
    # key + value over 2 MB, counting the value as encoded (a JSON string adds its two quotes)
    fits = "x" * (MAX_ENTRY_BYTES - 1 - 2)
    await storage.put("k", fits)
    with pytest.raises(LimitExceeded) as caught:
        await storage.put("kk", fits)
    assert (caught.value.limit, caught.value.maximum) == ("do.entry_bytes", MAX_ENTRY_BYTES)
    with pytest.raises(LimitExceeded):
        await storage.put("k" * (MAX_ENTRY_BYTES + 1), 1)
    await storage.put("raw", b"\x00" * (MAX_ENTRY_BYTES - 3))
    with pytest.raises(LimitExceeded):
        await storage.put("raw", b"\x00" * (MAX_ENTRY_BYTES - 2))
    assert await storage.get(too_many[:MAX_BATCH_KEYS]) == {}


async def test_list_options_follow_workers(storage: DurableObjectStorage) -> None:
    keys = ["a", "a/1", "a/10", "a/2", "ab", "b", "c"]
    await storage.put(dict.fromkeys(keys, 0))

    async def listed(**options: Any) -> list[str]:
        return list(await storage.list(**options))

    assert await listed() == keys
    assert await listed(prefix="a/") == ["a/1", "a/10", "a/2"]
    assert await listed(start="a/10") == ["a/10", "a/2", "ab", "b", "c"]  # start is inclusive
    assert await listed(start_after="a/10") == ["a/2", "ab", "b", "c"]  # start_after is exclusive
    assert await listed(end="ab") == ["a", "a/1", "a/10", "a/2"]  # end is exclusive
    assert await listed(reverse=True, limit=2) == ["c", "b"]
    # reverse does not change what start and end mean
    assert await listed(start="a/2", end="b", reverse=True) == ["ab", "a/2"]
    assert await listed(prefix="a", start="a/2", limit=2) == ["a/2", "ab"]
    with pytest.raises(InvalidInput, match="not both"):
        await storage.list(start="a", start_after="a")
    for bad in (0, -1, 1.5, True):
        with pytest.raises(InvalidInput, match="limit"):
            await storage.list(limit=bad)  # type: ignore[arg-type]


async def test_keys_order_by_utf8_bytes(storage: DurableObjectStorage) -> None:
    # U+FF61 sorts before U+1F600 in UTF-8 but after it in UTF-16 (JavaScript string order)
    keys = ["\U0001f600", "\uff61", "é", "z", "Z"]
    await storage.put(dict.fromkeys(keys, 1))
    assert list(await storage.list()) == ["Z", "z", "é", "\uff61", "\U0001f600"]


async def test_a_transaction_that_raises_leaves_storage_untouched(storage: DurableObjectStorage) -> None:
    await storage.put({"keep": 1, "gone": 2})
    before = await storage.list()

    async def fail_halfway() -> None:
        async with storage.transaction() as txn:
            await txn.put("keep", 100)
            await txn.put({"new": 3})
            assert await txn.delete("gone") is True
            assert await txn.get("keep") == 100
            assert await txn.get("gone") is None
            raise RuntimeError("halfway")

    with pytest.raises(RuntimeError, match="halfway"):
        await fail_halfway()
    assert await storage.list() == before


async def test_a_transaction_commits_all_its_writes_together(storage: DurableObjectStorage) -> None:
    await storage.put({"a": 1, "b": 2, "c": 3})
    async with storage.transaction() as txn:
        await txn.put("b", 20)
        await txn.put({"d": 4})
        assert await txn.delete(["a", "zz"]) == 1
        assert await txn.get(["a", "b", "d"]) == {"b": 20, "d": 4}
        assert await txn.list() == {"b": 20, "c": 3, "d": 4}
        assert await txn.list(limit=2, reverse=True) == {"d": 4, "c": 3}
        assert await txn.list(prefix="b") == {"b": 20}
        # as on a SQLite-backed object, storage's own calls join the open transaction (nothing committed)
        assert await storage.get("b") == 20
    assert await storage.list() == {"b": 20, "c": 3, "d": 4}

    async with storage.transaction() as txn:
        await txn.put("b", 0)
        txn.rollback()
        with pytest.raises(InvalidInput, match="finished"):
            await txn.get("b")
        await storage.put("after", 1)  # after the rollback, on its own (as workerd does in the closure)
    assert await storage.get("b") == 20
    assert await storage.get("after") == 1


async def test_a_transaction_is_used_only_as_a_block(storage: DurableObjectStorage) -> None:
    """Every backend opens a real transaction on entering, so ``txn`` has nothing to act on outside
    ``async with`` (and cannot be entered twice)."""
    txn = storage.transaction()
    with pytest.raises(InvalidInput, match="used as `async with"):
        await txn.put("k", 1)
    async with txn:
        with pytest.raises(InvalidInput, match="entered once"):
            await txn.__aenter__()
    assert await storage.get("k") is None


async def test_alarm_api(storage: DurableObjectStorage) -> None:
    assert await storage.get_alarm() is None
    when = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    await storage.set_alarm(when)
    assert await storage.get_alarm() == int(when.timestamp() * 1000)
    await storage.set_alarm(1_900_000_000_000)
    assert await storage.get_alarm() == 1_900_000_000_000
    await storage.delete_alarm()
    assert await storage.get_alarm() is None
    await storage.set_alarm(1_900_000_000_000)
    await storage.put("k", 1)
    await storage.delete_all()  # like Workers (compatibility date 2026-02-24+): the alarm goes too
    assert await storage.get_alarm() is None
    assert await storage.list() == {}
    # the runtime keeps alarm times as int64 nanoseconds: 2262-04-11T23:47:16.854Z is the latest
    latest = dt.datetime(2262, 4, 11, 23, 47, 16, 854999, tzinfo=dt.UTC)
    await storage.set_alarm(latest)
    assert await storage.get_alarm() == 9_223_372_036_854
    for too_late in (latest + dt.timedelta(milliseconds=1), 9_223_372_036_855, dt.datetime(2300, 1, 1)):
        with pytest.raises(InvalidInput, match="2262-04-11") as caught:
            await storage.set_alarm(too_late)
        assert caught.value.field == "scheduled_time"
    assert await storage.get_alarm() == 9_223_372_036_854
    await storage.delete_alarm()
    for bad in ("soon", -1, math.inf, True):
        with pytest.raises(InvalidInput, match="alarm time"):
            await storage.set_alarm(bad)  # type: ignore[arg-type]


async def test_storage_is_private_to_each_object(tmp_path: Path) -> None:
    async with DurableObjectNamespace.local(tmp_path, Counter) as ns:
        await ns.get_by_name("one").increment(1)
        assert ns.runtime is not None
        assert await ns.runtime.storage(ns.id_from_name("two")).list() == {}
        assert await ns.runtime.storage(ns.id_from_name("one")).list() == {"count": 1}


@pytest.mark.workers
async def test_list_matches_workers_storage_in_miniflare(harness_run: HarnessRun, tmp_path: Path) -> None:
    """Differential: every list case Miniflare's SQLite-backed storage answered, replayed locally."""
    cases = harness_run.result("check_do::check_list_ordering_cases")
    assert len(cases) >= 15
    async with DurableObjectNamespace.local(tmp_path, Counter) as ns:
        assert ns.runtime is not None
        storage = ns.runtime.storage(ns.id_from_name("differential"))
        await storage.put(dict.fromkeys(cases[0]["keys"], 1))
        for case in cases:
            options = case["options"]
            listed = await storage.list(
                prefix=options.get("prefix"),
                start=options.get("start"),
                start_after=options.get("startAfter"),
                end=options.get("end"),
                limit=options.get("limit"),
                reverse=options.get("reverse", False),
            )
            assert list(listed) == case["result"], options
