"""cap_opendal_core.ffi against real local bindings (Miniflare's KV, R2, Durable Objects, Queues).

Each check drives a binding the way a ``workers`` backend will, and would fail if the conversion it
relies on were wrong (a Map instead of a plain object, a lost null, a buffered stream …).
"""

from __future__ import annotations

import json
import os
from typing import Any

import anyio
import js
from _support import raises, unique_key
from pyodide.ffi import JsProxy, jsnull, to_js

from cap_opendal_core import Misconfigured, ffi


def _key(name: str) -> str:
    return unique_key(f"ffi/{name}")


async def check_dict_becomes_plain_object_so_kv_keeps_metadata(env: Any) -> None:
    key = _key("metadata")
    metadata = {"owner": "cap", "n": 3, "tags": ["a", "b"], "dropped": None}
    options = ffi.to_js_options({"metadata": metadata, "expirationTtl": None})
    assert js.Object.prototype.toString.call(options) == "[object Object]"
    assert js.Object.keys(options).to_py() == ["metadata"], "None-valued options must be left out"
    await env.KV.put(key, "value", options)

    result = ffi.js_to_py(await env.KV.getWithMetadata(key))
    assert result["value"] == "value"
    assert result["metadata"] == {"owner": "cap", "n": 3, "tags": ["a", "b"]}, result

    # the failure this conversion exists for: a dict converted the default way is a Map, and KV
    # silently stores no metadata at all
    as_map = to_js({"metadata": metadata})
    assert js.Object.prototype.toString.call(as_map) == "[object Map]"
    await env.KV.put(key + "/map", "value", as_map)
    assert ffi.js_to_py(await env.KV.getWithMetadata(key + "/map"))["metadata"] is None


async def check_options_keep_none_as_null_when_asked(env: Any) -> None:
    options = ffi.to_js_options({"a": None, "b": {"c": None, "d": 1}}, keep_none=True)
    assert js.JSON.stringify(options) == '{"a":null,"b":{"c":null,"d":1}}'
    dropped = ffi.to_js_options({"a": None, "b": {"c": None, "d": 1}})
    assert js.JSON.stringify(dropped) == '{"b":{"d":1}}'
    assert ffi.to_js_options(None) is None


async def check_bad_options_are_rejected_before_any_call(env: Any) -> None:
    cases = (
        ([("a", 1)], "options must be a mapping"),
        ({1: "x"}, "key 1 of type int"),
        ({"a": {"b": object()}}, "options['a']['b'] has type object"),
    )
    for bad, needle in cases:
        with raises(TypeError, match=needle):
            ffi.to_js_options(bad)
    with raises(TypeError, match="bytes"):
        ffi.to_uint8array("text")  # type: ignore[arg-type]


async def check_bytes_round_trip_through_kv(env: Any) -> None:
    data = bytes(range(256)) * 16
    for kind, value in (("bytes", data), ("bytearray", bytearray(data)), ("memoryview", memoryview(data))):
        key = _key(kind)
        array = ffi.to_uint8array(value)
        assert js.Object.prototype.toString.call(array) == "[object Uint8Array]"
        await env.KV.put(key, array)
        back = await env.KV.get(key, ffi.to_js_options({"type": "arrayBuffer"}))
        assert js.Object.prototype.toString.call(back) == "[object ArrayBuffer]"
        assert ffi.to_bytes(back) == data, kind
        assert ffi.js_to_py(back) == data, kind
    # the copy is independent of the Python buffer it came from
    source = bytearray(b"abc")
    array = ffi.to_uint8array(source)
    source[0] = ord("z")
    assert ffi.to_bytes(array) == b"abc"


async def check_bytes_round_trip_through_r2(env: Any) -> None:
    key = _key("r2")
    data = os.urandom(70_000)
    options = ffi.to_js_options(
        {
            "httpMetadata": {"contentType": "application/octet-stream", "cacheControl": None},
            "customMetadata": {"origin": "check_ffi"},
        }
    )
    # R2 objects are class instances in workerd (Miniflare hands back copies): read named properties
    put = await env.BUCKET.put(key, ffi.to_uint8array(data), options)
    assert put.size == len(data)
    assert ffi.js_to_py(put.customMetadata) == {"origin": "check_ffi"}

    obj = await env.BUCKET.get(key)
    assert ffi.to_bytes(await obj.arrayBuffer()) == data
    assert ffi.js_to_py(obj.httpMetadata)["contentType"] == "application/octet-stream"
    assert ffi.js_to_py(obj.customMetadata) == {"origin": "check_ffi"}
    assert ffi.js_to_py(await env.BUCKET.get(key + "/absent")) is None


async def check_r2_body_streams_chunk_by_chunk(env: Any) -> None:
    key = _key("stream")
    data = os.urandom(3 * 1024 * 1024 + 17)
    await env.BUCKET.put(key, ffi.to_uint8array(data))

    obj = await env.BUCKET.get(key)
    sizes: list[int] = []
    parts: list[bytes] = []
    async for chunk in ffi.iter_stream(obj.body):
        assert type(chunk) is bytes
        sizes.append(len(chunk))
        parts.append(chunk)
    assert b"".join(parts) == data
    assert len(sizes) > 1, f"the body came as one chunk of {sizes}: it was buffered, not streamed"
    assert max(sizes) < len(data)

    # stopping early releases the stream; the bucket keeps working
    obj = await env.BUCKET.get(key)
    chunks = ffi.iter_stream(obj.body)
    first = await chunks.__anext__()
    assert first == data[: len(first)]
    await chunks.aclose()
    assert ffi.to_bytes(await (await env.BUCKET.get(key)).arrayBuffer()) == data

    assert [c async for c in ffi.iter_stream(None)] == []
    assert [c async for c in ffi.iter_stream(jsnull)] == []


async def check_read_fields_reads_a_result_in_one_go(env: Any) -> None:
    import datetime as dt
    import hashlib

    key = _key("fields")
    expiry = dt.datetime(2030, 1, 2, 3, 4, 5, 678000, tzinfo=dt.UTC)
    options = ffi.to_js_options({"httpMetadata": {"cacheExpiry": expiry}, "customMetadata": {"a": "b"}})
    await env.BUCKET.put(key, ffi.to_uint8array(b"abc"), options)
    result = await env.BUCKET.head(key)
    names = ("key", "size", "uploaded", "httpMetadata", "customMetadata", "checksums", "absent")
    fields = ffi.read_fields(result, names)
    assert fields["key"] == key
    assert fields["size"] == 3
    assert "absent" not in fields  # undefined: left out
    assert fields["customMetadata"] == {"a": "b"}
    assert ffi.parse_js_date(fields["httpMetadata"]["cacheExpiry"]) == expiry
    # the checksums went through their toJSON: hex strings
    assert fields["checksums"]["md5"] == hashlib.md5(b"abc", usedforsecurity=False).hexdigest()
    assert ffi.parse_js_date(fields["uploaded"]) == ffi.js_to_py(result.uploaded)

    assert ffi.read_fields(js.JSON.parse('{"a": null, "b": [1, null]}'), ("a", "b")) == {
        "a": None,
        "b": [1, None],
    }
    before_1970 = js.Date.new(-1)  # to the millisecond, floored as js_to_py does
    assert ffi.parse_js_date(json.loads(str(js.JSON.stringify(before_1970)))) == ffi.js_to_py(before_1970)
    with raises(TypeError):
        ffi.parse_js_date(1700000000000)


async def check_read_stream_reads_a_body_whole(env: Any) -> None:
    key = _key("whole")
    data = os.urandom(300_000)
    await env.BUCKET.put(key, ffi.to_uint8array(data))
    assert await ffi.read_stream((await env.BUCKET.get(key)).body) == data
    assert await ffi.read_stream(None) == b""
    assert await ffi.read_stream(jsnull) == b""


async def check_deep_js_nulls_become_none(env: Any) -> None:
    parsed = js.JSON.parse('{"a": null, "b": [null, {"c": null, "d": [1, null]}], "e": "x"}')
    raw = parsed.to_py()
    # what to_py() alone leaves behind
    assert raw["a"] is jsnull
    assert raw["b"][1]["c"] is jsnull
    expected = {"a": None, "b": [None, {"c": None, "d": [1, None]}], "e": "x"}
    assert ffi.clean_nulls(raw) == expected
    assert ffi.js_to_py(parsed) == expected

    missing = await env.KV.get(_key("missing"))
    assert missing is jsnull
    assert ffi.js_to_py(missing) is None
    assert ffi.is_js_null(missing)
    assert ffi.is_js_null(None)
    assert not ffi.is_js_null(0)


async def check_none_stays_null_in_json(env: Any) -> None:
    document = {"a": None, "b": [None, {"c": None}], "d": "x"}
    converted = ffi.to_js_value(document)
    assert js.JSON.stringify(converted) == '{"a":null,"b":[null,{"c":null}],"d":"x"}'
    assert js.JSON.stringify(to_js(document, dict_converter=js.Object.fromEntries)) != js.JSON.stringify(
        converted
    ), "plain to_js should lose the null keys; if it no longer does, ffi.to_js_value can be simplified"

    key = _key("json")
    await env.KV.put(key, js.JSON.stringify(converted))
    back = ffi.js_to_py(await env.KV.get(key, ffi.to_js_options({"type": "json"})))
    assert back == document
    assert json.loads(await env.KV.get(key)) == document


async def check_datetime_becomes_js_date_and_back(env: Any) -> None:
    import datetime as dt

    moment = dt.datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=dt.UTC)
    value = ffi.to_js_value({"when": moment})
    assert js.Object.prototype.toString.call(value.when) == "[object Date]"
    assert ffi.js_to_py(value) == {"when": moment}

    key = _key("uploaded")
    await env.BUCKET.put(key, ffi.to_uint8array(b"x"))
    uploaded = ffi.js_to_py((await env.BUCKET.head(key)).uploaded)
    assert isinstance(uploaded, dt.datetime), uploaded
    assert uploaded.tzinfo is not None
    assert abs((dt.datetime.now(dt.UTC) - uploaded).total_seconds()) < 300


async def check_durable_object_rpc_result_is_converted(env: Any) -> None:
    stub = env.COUNTER.get(env.COUNTER.idFromName(_key("do")))
    assert await ffi.await_js(stub.increment(2)) == 2
    assert await ffi.await_js(stub.increment(3)) == 5
    result = await ffi.await_js(stub.describe("hello"))
    assert isinstance(result, JsProxy)
    converted = ffi.js_to_py(result)
    assert converted == {
        "label": "hello",
        "count": 5,
        "missing": None,
        "nested": {"empty": None, "list": [1, None, {"deep": None}]},
    }, converted
    assert await ffi.await_js(7) == 7


async def check_queue_send_reaches_the_js_consumer(env: Any) -> None:
    marker = os.urandom(6).hex()
    body = {"marker": marker, "n": 3, "nothing": None, "list": [1, None]}
    await ffi.call_binding(
        lambda: env.QUEUE.send(ffi.to_js_value(body), ffi.to_js_options({"contentType": "json"})),
        capability="queue",
        operation="send",
    )
    with anyio.fail_after(45):
        while True:
            listed = ffi.js_to_py(await env.QUEUE_LOG.list(ffi.to_js_options({"prefix": "cap-queue/"})))
            records = [json.loads(await env.QUEUE_LOG.get(k["name"])) for k in listed["keys"]]
            mine = [r for r in records if r["body"].get("marker") == marker]
            if mine:
                break
            await anyio.sleep(0.05)
    assert mine[0]["body"] == body, mine  # None reached the consumer as null, the key kept
    assert mine[0]["attempts"] == 1


async def check_get_binding_and_unwrap_raw_proxies(env: Any) -> None:
    kv = ffi.get_binding(env, "KV", capability="kv")
    assert isinstance(kv, JsProxy)
    key = _key("get-binding")
    await kv.put(key, "v")
    assert await env.KV.get(key) == "v"
    assert ffi.unwrap_binding(kv) is kv
    assert isinstance(ffi.get_binding({"KV": env.KV}, "KV"), JsProxy)

    for missing_env, name in ((env, "NO_SUCH_BINDING"), ({}, "NO_SUCH_BINDING"), (None, "KV")):
        with raises(Misconfigured, match=repr(name)) as caught:
            ffi.get_binding(missing_env, name, capability="kv")
        assert isinstance(caught.value, Misconfigured)
        assert caught.value.capability == "kv"
    with raises(Misconfigured, match="got object"):
        ffi.unwrap_binding(object())


async def check_unwrap_bindings_wrapped_by_the_workers_sdk(env: Any) -> None:
    from workers.rpc import _BindingWrapper, _DurableObjectNamespaceWrapper, _EnvWrapper

    wrapped_env = _EnvWrapper(env)
    kv = ffi.get_binding(wrapped_env, "KV")
    assert isinstance(kv, JsProxy)
    assert not isinstance(wrapped_env, JsProxy)
    assert getattr(js.Object, "is")(kv, env.KV), "get_binding must return the very binding the wrapper holds"

    wrapped_kv = _BindingWrapper(env.KV)
    raw = ffi.unwrap_binding(wrapped_kv)
    assert isinstance(raw, JsProxy)
    key = _key("sdk")
    await raw.put(key, "v", ffi.to_js_options({"metadata": {"via": "sdk"}}))
    assert ffi.js_to_py(await env.KV.getWithMetadata(key))["metadata"] == {"via": "sdk"}
    # a wrapper that caches attribute lookups still unwraps to the binding, not to a cached method
    _ = wrapped_kv.get
    assert isinstance(ffi.unwrap_binding(wrapped_kv), JsProxy)

    namespace = ffi.get_binding({"COUNTER": _DurableObjectNamespaceWrapper(env.COUNTER)}, "COUNTER")
    assert isinstance(namespace, JsProxy)
    stub = namespace.get(namespace.idFromName(_key("sdk-do")))
    assert await stub.increment(4) == 4
    assert isinstance(ffi.get_binding(_EnvWrapper(_EnvWrapper(env)), "BUCKET"), JsProxy)

    with raises(Misconfigured, match="NO_SUCH_BINDING"):
        ffi.get_binding(wrapped_env, "NO_SUCH_BINDING")
