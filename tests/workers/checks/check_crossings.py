"""How often each capability call crosses between Python and its binding: a guard against regressions.

Each check builds a capability on bindings wrapped by the harness's crossing counter
(``env.CAPS_CROSSINGS``, ``crossingCounter`` in ``harness.mjs``), makes one call, and asserts the
exact number of operations the call made on the binding and on what the binding handed back:
property reads, calls, key listings, plus one "enter" per JS object that became a Python proxy and
one "convert" per object ``to_py()`` copied. Under Miniflare each operation on a remote object is a
round trip to workerd (about a millisecond), in a deployed Worker each read from Python is a trip
through Pyodide's FFI — so a backend that starts reading a result field by field, or converting a
value twice, fails here with the full log.

The floor for each call: the method read and the call (2), plus the result entering Python (1) when
the binding returns an object. An R2 ``get``/``head``/``put`` result stops there (``get`` reads
``body`` too, and a small body is read in one call; streams are not counted): its fields are read
when first used, one ``ffi.read_fields`` per group (one read per field, two more for the
checksums' ``toJSON``), and never again. A listing reads each of its objects whole.
"""

from __future__ import annotations

from typing import Any

from _support import unique_key

from cap_cloudflare_do import DurableObjectNamespace, DurableObjectStorage
from cap_cloudflare_kv import KvNamespace
from cap_cloudflare_queue import Queue
from cap_cloudflare_r2 import R2Bucket


def _r2_object(http_fields: int, custom_fields: int, *, with_key: bool = False) -> int:
    """What reading a listed R2Object costs (a listing's objects are read whole): version, size,
    etag, uploaded, httpMetadata, customMetadata, checksums, storageClass (8 reads, and the key),
    checksums.toJSON read and call (2), and JSON.stringify's own look at each nested plain object
    (its toJSON, its keys, then each key's descriptor and value; the checksums hold md5 only)."""
    fields = 8 + with_key + 2
    return fields + (2 + 2 * http_fields) + (2 + 2 * custom_fields) + (1 + 2 * 1)


def _r2_groups(http_fields: int, custom_fields: int) -> dict[str, int]:
    """What reading each field group of a ``get``/``head``/``put`` result costs, on first use (the
    object holds the binding's result and reads a group in one ``ffi.read_fields``): the group's
    property reads, plus JSON.stringify's look at a nested plain object (its toJSON, its keys, each
    key's descriptor and value) and, for the checksums, their own toJSON (read and called)."""
    return {
        "size": 1,
        "etag": 4,  # with version, uploaded and storageClass
        "http_metadata": 1 + 2 + 2 * http_fields,
        "custom_metadata": 1 + 2 + 2 * custom_fields,
        "checksums": 1 + 2 + 1 + 2 * 1,  # md5 only
    }


async def _read(obj: Any, name: str) -> None:
    """Read one field of an R2 result (``repr``: all of them, as equality and pickling do)."""
    if name == "repr":
        repr(obj)
    else:
        getattr(obj, name)


async def _count(counter: Any, call: Any) -> tuple[int, list[str]]:
    counter.take()
    await call()
    ops = [str(op) for op in counter.take()]
    return len(ops), ops


def _expect(name: str, expected: int, measured: tuple[int, list[str]]) -> None:
    count, ops = measured
    assert count == expected, f"{name}: {count} crossings, expected {expected}:\n  " + "\n  ".join(ops)


async def check_kv_crossings(env: Any) -> None:
    counter = env.CAPS_CROSSINGS.counter()
    kv = KvNamespace.from_env({"KV": counter.wrap(env.KV, "KV")}, "KV")
    key = unique_key("crossings/kv")
    _expect("kv.put", 2, await _count(counter, lambda: kv.put(key, "v" * 1024)))  # put, call
    _expect("kv.get", 2, await _count(counter, lambda: kv.get(key)))  # get, call: a string comes back
    # list, call, the page enters and is converted, and so is its one key entry
    _expect("kv.list", 5, await _count(counter, lambda: kv.list(prefix=key)))
    _expect("kv.delete", 2, await _count(counter, lambda: kv.delete(key)))


async def check_r2_crossings(env: Any) -> None:
    counter = env.CAPS_CROSSINGS.counter()
    bucket = R2Bucket.from_env({"BUCKET": counter.wrap(env.BUCKET, "BUCKET")}, "BUCKET")
    key = unique_key("crossings/r2")
    data = bytes(range(256)) * 4

    async def put() -> None:
        await bucket.put(
            key,
            data,
            http_metadata={"content_type": "application/octet-stream"},
            custom_metadata={"owner": "cap"},
        )

    async def get() -> None:
        body = await bucket.get(key)
        assert body is not None
        assert await body.read() == data

    # put, call, the result enters: its fields are read only when used
    _expect("r2.put", 3, await _count(counter, put))
    stored = await bucket.put(key, data, custom_metadata={"owner": "cap"})
    assert stored is not None
    for name, cost in _r2_groups(http_fields=0, custom_fields=1).items():
        _expect(f"r2.put result .{name}", cost, await _count(counter, lambda n=name: _read(stored, n)))
    # then every field is held: equality, repr and a second read cross nothing
    _expect("r2.put result, read again", 0, await _count(counter, lambda: _read(stored, "repr")))

    async def get_custom() -> None:
        body = await bucket.get(key)
        assert body is not None
        assert await body.read() == data
        assert body.custom_metadata == {"owner": "cap"}

    async def get_chunks() -> None:
        body = await bucket.get(key)
        assert body is not None
        assert b"".join([chunk async for chunk in body]) == data

    # get, call, the result enters, its body is read (the key is the one asked for); the 1 KiB body
    # is read in one call on the stream (streams are not counted)
    _expect("r2.get", 4, await _count(counter, get))
    # reading one field group: one read_fields
    custom = _r2_groups(http_fields=0, custom_fields=1)["custom_metadata"]
    _expect("r2.get + custom_metadata", 4 + custom, await _count(counter, get_custom))
    # iterated: the size decides between one read and chunk by chunk
    _expect("r2.get iterated", 4 + 1, await _count(counter, get_chunks))
    _expect("r2.head", 3, await _count(counter, lambda: bucket.head(key)))
    # list, call, the page enters; truncated, cursor, delimitedPrefixes in one read_fields (3 reads,
    # and the empty prefixes array's toJSON and length); objects read and entered, then iterated
    # (its length read before each step and once at the end); each object read and entered, then
    # its fields with its key (a listing leaves both metadata out unless asked to include them)
    listed = _r2_object(http_fields=0, custom_fields=0, with_key=True)
    page, n = 3 + 3 + 2, 1
    objects = 2 + (n + 1) + n * (2 + listed)
    _expect("r2.list", page + objects, await _count(counter, lambda: bucket.list(prefix=key)))
    _expect("r2.delete", 2, await _count(counter, lambda: bucket.delete(key)))


async def check_queue_crossings(env: Any) -> None:
    counter = env.CAPS_CROSSINGS.counter()
    queue = Queue.from_env({"QUEUE": counter.wrap(env.QUEUE, "QUEUE")}, "QUEUE")
    # send, call, and what the promise resolves to enters Python
    _expect("queue.send", 3, await _count(counter, lambda: queue.send({"crossings": 1})))
    batch = [{"body": {"crossings": 2}}, {"body": {"crossings": 3}, "delay_seconds": 0}]
    _expect("queue.send_batch", 3, await _count(counter, lambda: queue.send_batch(batch)))


async def check_do_crossings(env: Any) -> None:
    counter = env.CAPS_CROSSINGS.counter()
    namespace = DurableObjectNamespace.from_env({"COUNTER": counter.wrap(env.COUNTER, "COUNTER")}, "COUNTER")
    stub = namespace.get_by_name(unique_key("crossings/do"))
    # the method read (it enters Python as a function) and the call; the number comes back as is
    _expect("do.rpc", 3, await _count(counter, lambda: stub.increment(1)))

    probe = env.DO_PROBE
    handle = await probe.get(probe.idFromName(unique_key("crossings/storage"))).storage()
    storage = DurableObjectStorage.from_js(counter.wrap(handle, "storage"))
    _expect("do.storage.put", 2, await _count(counter, lambda: storage.put("k", {"a": 1})))
    # get, call, the value enters; Miniflare's RPC result has a null prototype, so its own
    # properties are copied (keys, then each key's descriptor and value) before to_py
    _expect("do.storage.get", 6, await _count(counter, lambda: storage.get("k")))
