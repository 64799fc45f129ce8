"""cap_cloudflare_do's workers backend against Miniflare's real Durable Objects.

The namespace and stubs drive the JS classes in ``worker.js`` (``Counter``, ``StorageProbe``,
``DedupeLedger``) through the FFI exactly as a Python Worker would; ``DurableObjectStorage`` wraps the
real SQLite-backed ``ctx.storage`` of a ``StorageProbe``, handed out behind an ``RpcTarget``. Some
checks return what Workers did, so CPython tests can compare the local runtime with it.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import anyio
from _support import probe_storage, raises, unique_key

from cap_cloudflare_do import Dedupe, DurableObjectNamespace, DurableObjectStorage
from cap_opendal_core import BackendError, InvalidInput, LimitExceeded
from cap_opendal_core.scope import InvocationScope

# Keys whose UTF-8 order differs from UTF-16 order (U+FF61 vs U+1F600), plus prefix edge cases.
LIST_KEYS = [
    "a",
    "a/1",
    "a/10",
    "a/2",
    "aa",
    "ab",
    "a\u00e9",
    "B",
    "b",
    "z",
    "\u00e9",
    "\uff61",
    "\U0001f600",
]
LIST_CASES: list[dict[str, Any]] = [
    {},
    {"prefix": "a"},
    {"prefix": "a/"},
    {"start": "a/1"},
    {"startAfter": "a/1"},
    {"end": "b"},
    {"start": "a", "end": "b"},
    {"reverse": True},
    {"reverse": True, "limit": 3},
    {"startAfter": "a/10", "end": "z", "reverse": True, "limit": 2},
    {"prefix": "a", "start": "a/2"},
    {"prefix": "a", "reverse": True, "limit": 2},
    {"prefix": "a/", "end": "a/2"},
    {"start": "\u00e9"},
    {"start": "\uff61"},
    {"end": "\U0001f600"},
    {"prefix": "b", "start": "a"},
    {"limit": 1},
]


def _counter(env: Any, **kwargs: Any) -> DurableObjectNamespace:
    return DurableObjectNamespace.from_env(env, "COUNTER", **kwargs)


async def check_ids(env: Any) -> None:
    ns = _counter(env)
    name = unique_key("do/ids")
    a, b = ns.id_from_name(name), ns.id_from_name(name)
    assert a == b
    assert a.hex == b.hex
    assert a.name == name
    assert a.hex is not None
    assert len(a.hex) == 64
    assert a.hex == a.hex.lower()
    assert ns.id_from_string(a.hex) == a
    assert ns.id_from_string(a.hex.upper()) == a
    unique = ns.new_unique_id()
    assert unique != a
    assert unique.hex is not None
    assert len(unique.hex) == 64
    assert await ns.resolve_id(a) is a
    with raises(InvalidInput, match="64 hex"):
        ns.id_from_string("abc")
    with raises(InvalidInput, match="not an id of this namespace"):
        ns.id_from_string("0" * 64)  # well-formed hex, but no id Cloudflare minted
    # the same object whether reached by id or by name
    assert await ns.get(a).increment(5) == 5
    assert await ns.get_by_name(name).increment(1) == 6
    assert ns.get_by_name(name).id == a


async def check_rpc_and_fetch(env: Any) -> None:
    ns = _counter(env)
    stub = ns.get_by_name(unique_key("do/rpc"))
    assert await stub.call("increment", 2) == 2
    assert await stub.increment(3) == 5
    described = await stub.describe({"blob": b"\x00\x01", "when": dt.datetime(2024, 1, 2, tzinfo=dt.UTC)})
    assert described["count"] == 5
    assert described["label"] == {"blob": b"\x00\x01", "when": dt.datetime(2024, 1, 2, tzinfo=dt.UTC)}
    assert described["nested"] == {"empty": None, "list": [1, None, {"deep": None}]}

    response = await stub.fetch(
        "https://do.example/some/path?q=1", method="PUT", headers={"X-A": "b"}, body=b"hi"
    )
    assert response.status == 200
    assert response.ok
    assert await response.json() == {"path": "/some/path", "method": "PUT"}
    assert response.headers["content-type"].startswith("application/json")

    with raises(InvalidInput, match="private"):
        await stub.call("_secret")
    with raises(InvalidInput, match="fetch"):
        await stub.call("fetch")
    with raises(InvalidInput, match="args[0]"):
        await stub.increment(object())
    with raises(InvalidInput, match="GET request cannot have a body"):
        await stub.fetch("https://do.example/", body=b"x")
    with raises(BackendError) as caught:
        await stub.fail("boom")
    assert caught.value is not None
    assert caught.value.operation == "rpc"


async def check_200_concurrent_increments_end_at_200(env: Any) -> int:
    stub = _counter(env).get_by_name(unique_key("do/concurrent"))
    async with anyio.create_task_group() as group:
        for _ in range(200):
            group.start_soon(stub.increment, 1)
    count = await stub.describe("done")
    assert count["count"] == 200, count
    return int(count["count"])


async def check_rpc_hints_follow_read_only(env: Any) -> dict[str, str]:
    ns = _counter(env, read_only={"describe"})
    stub = ns.get_by_name(unique_key("do/hints"))
    with InvocationScope("reader") as scope:
        await stub.describe("x")
        after_read = scope.observed_determinism.json
        await stub.increment(1)
        after_write = scope.observed_determinism.json
    assert (after_read, after_write) == ("stable", "best_effort"), (after_read, after_write)
    assert scope.effect_hints == ("resource::state::read", "resource::state::write")
    return {"after_read": after_read, "after_write": after_write}


async def _probe_storage(env: Any) -> DurableObjectStorage:
    return DurableObjectStorage.from_js(await probe_storage(env, unique_key("do/storage")))


async def check_storage_api_on_real_ctx_storage(env: Any) -> None:
    storage = await _probe_storage(env)
    value = {
        "n": 1,
        "blob": b"\xff\x00",
        "when": dt.datetime(2025, 5, 6, 7, 8, 9, tzinfo=dt.UTC),
        "none": None,
    }
    await storage.put("one", value)
    assert await storage.get("one") == value
    assert await storage.get("absent") is None
    await storage.put({"b": 2, "a": 1, "c": [1, "x", None]})
    assert await storage.get(["c", "absent", "a"]) == {"a": 1, "c": [1, "x", None]}
    assert list(await storage.get(["c", "a"])) == ["a", "c"]  # UTF-8 key order, as Workers sorts
    assert await storage.list(prefix="", limit=2) == {"a": 1, "b": 2}
    assert list(await storage.list(reverse=True)) == ["one", "c", "b", "a"]
    assert await storage.delete("a") is True
    assert await storage.delete("a") is False
    assert await storage.delete(["b", "c", "zz"]) == 2

    async with storage.transaction() as txn:
        await txn.put("t1", 1)
        await txn.put({"t2": 2})
        assert await txn.get("t1") == 1
        assert await txn.delete("one") is True
        assert await txn.list() == {"t1": 1, "t2": 2}
    assert await storage.list() == {"t1": 1, "t2": 2}

    with raises(RuntimeError, match="abandon"):
        async with storage.transaction() as txn:
            await txn.put("t3", 3)
            await txn.delete("t1")
            raise RuntimeError("abandon")
    assert await storage.list() == {"t1": 1, "t2": 2}

    with raises(LimitExceeded, match="at most 128"):
        await storage.get([f"k{i}" for i in range(129)])
    with raises(LimitExceeded, match="2000000"):
        await storage.put("big", "x" * 2_000_000)
    with raises(InvalidInput, match="set"):
        await storage.put("bad", {1, 2})

    assert await storage.get_alarm() is None
    at = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    await storage.set_alarm(at)
    assert await storage.get_alarm() == int(at.timestamp() * 1000)
    await storage.delete_alarm()
    assert await storage.get_alarm() is None
    await storage.delete_all()
    assert await storage.list() == {}


async def check_a_python_object_runs_on_real_ctx_storage(env: Any) -> None:
    """A Python DurableObject class, handed a ctx whose storage is the Worker's (raw, then wrapped by
    the workers SDK as a Python Worker's DurableObjectContext does), uses it as self.storage."""
    from types import SimpleNamespace

    from workers.rpc import _BindingWrapper

    from cap_cloudflare_do import DurableObject

    class Tally(DurableObject):
        async def add(self, n: int) -> int:
            async with self.storage.transaction() as txn:
                total = ((await txn.get("total")) or 0) + n
                await txn.put({"total": total, f"entry/{total:04d}": n})
            return int(total)

    handle = await probe_storage(env, unique_key("do/python-object"))
    raw = Tally(SimpleNamespace(storage=handle), env)
    wrapped = Tally(SimpleNamespace(storage=_BindingWrapper(handle)), env)
    assert await raw.add(2) == 2
    assert await wrapped.add(3) == 5
    assert raw.storage.backend_kind == wrapped.storage.backend_kind == "workers"
    assert await raw.storage.list(prefix="entry/") == {"entry/0002": 2, "entry/0005": 3}
    assert Tally.__rpc_methods__ == frozenset({"add"})


async def check_storage_alarm_fires(env: Any) -> None:
    storage = await _probe_storage(env)
    await storage.set_alarm(dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))  # due now
    with anyio.fail_after(45):
        while await storage.get("alarm-fired") is None:  # noqa: ASYNC110  workerd fires it, not us
            await anyio.sleep(0.05)
    assert await storage.get_alarm() is None


async def check_list_ordering_cases(env: Any) -> list[dict[str, Any]]:
    """What Workers' own storage.list returns for each case; test_storage.py replays them locally."""
    ns = env.DO_PROBE
    stub = ns.get(ns.idFromName(unique_key("do/list")))
    from cap_opendal_core import ffi

    out = []
    for options in LIST_CASES:
        keys = ffi.js_to_py(await stub.listKeys(ffi.to_js_value(LIST_KEYS), ffi.to_js_options(options)))
        out.append({"keys": LIST_KEYS, "options": options, "result": keys})
    # the same through the Python storage wrapper
    storage = await _probe_storage(env)
    await storage.put(dict.fromkeys(LIST_KEYS, 1))
    for case in out:
        options = case["options"]
        listed = await storage.list(
            prefix=options.get("prefix"),
            start=options.get("start"),
            start_after=options.get("startAfter"),
            end=options.get("end"),
            limit=options.get("limit"),
            reverse=options.get("reverse", False),
        )
        assert list(listed) == case["result"], (options, list(listed), case["result"])
    return json.loads(json.dumps(out))


async def check_dedupe_over_a_js_ledger(env: Any) -> None:
    ns = DurableObjectNamespace.from_env(env, "DEDUPE")
    dedupe = Dedupe(ns, shards=4)
    key = unique_key("do/dedupe")
    results: list[bool] = []

    async def claim() -> None:
        results.append(await dedupe.put_if_absent(key, ttl=3600))

    with InvocationScope("dedupe") as scope:
        async with anyio.create_task_group() as group:
            for _ in range(50):
                group.start_soon(claim)
    assert results.count(True) == 1, results
    assert scope.effect_hints == ("resource::dedupe::write",)
    assert await dedupe.forget(key) is True
    assert await dedupe.put_if_absent(key) is True


async def check_gateway_through_dispatch_fetch(env: Any) -> None:
    """The shipped gateway Worker, reached with Miniflare's dispatchFetch (the HTTP path is in CPython)."""
    from cap_opendal_core import ffi

    url = f"{env.CAPS_GATEWAY_URL}/COUNTER/rpc"
    body = json.dumps({"target": {"name": unique_key("do/gw")}, "method": "increment", "args": [4]})

    async def post(headers: dict[str, str]) -> tuple[int, str]:
        init = ffi.to_js_options({"method": "POST", "headers": headers, "body": body})
        response = await env.CAPS_GATEWAY_FETCH(url, init)
        return int(response.status), str(await response.text())

    status, text = await post({"authorization": f"Bearer {env.CAPS_GATEWAY_TOKEN}"})
    assert (status, json.loads(text)) == (200, {"result": 4}), (status, text)
    refused = [await post(h) for h in ({}, {"authorization": "Bearer wrong"})]
    assert refused[0] == refused[1], refused
    assert refused[0][0] == 401, refused
