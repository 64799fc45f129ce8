"""A real ``JsException`` from a binding leaves ``ffi.call_binding`` / ``translate_js_errors`` as a
``CapabilityError`` (through ``cap_opendal_core.translate.from_js``), with the JS error as its cause.
"""

from __future__ import annotations

from typing import Any

import js
from _support import raises, unique_key
from pyodide.ffi import JsException

from cap_opendal_core import BackendError, CapabilityError, InvalidInput, NotFound, ffi


async def check_kv_bad_expiration_ttl_becomes_invalid_input(env: Any) -> None:
    key = unique_key("errors/ttl")
    with raises(InvalidInput, match="Invalid expiration_ttl of 1") as caught:
        await ffi.call_binding(
            lambda: env.KV.put(key, "v", ffi.to_js_options({"expirationTtl": 1})),
            capability="kv",
            operation="put",
            key=key,
        )
    err = caught.value
    assert isinstance(err, InvalidInput)
    assert isinstance(err.__cause__, JsException), repr(err.__cause__)
    assert "KV PUT failed: 400" in str(err.__cause__)
    assert err.retryable is False
    assert (err.capability, err.operation, err.key) == ("kv", "put", key)
    assert err.code == "invalid_input"
    # nothing was written
    assert ffi.js_to_py(await env.KV.get(key)) is None


class _Backend:
    """The shape a workers backend will have: methods decorated once, keys read from arguments."""

    def __init__(self, kv: Any) -> None:
        self.kv = kv

    @ffi.translate_js_errors("kv")
    async def put(self, key: str, value: str, ttl: int) -> None:
        await self.kv.put(key, value, ffi.to_js_options({"expirationTtl": ttl}))

    @ffi.translate_js_errors("kv", operation="get_many", key_param=None)
    async def broken(self, keys: list[str]) -> None:
        await self.kv.get(ffi.to_js_value(keys), ffi.to_js_options({"type": "no-such-type"}))


async def check_decorator_translates_and_names_the_call(env: Any) -> None:
    backend = _Backend(ffi.get_binding(env, "KV"))
    key = unique_key("errors/decorated")
    await backend.put(key, "fine", 3600)  # a good call passes straight through
    assert await env.KV.get(key) == "fine"

    with raises(InvalidInput) as caught:
        await backend.put(key, "v", ttl=1)
    err = caught.value
    assert isinstance(err, CapabilityError)
    assert (err.capability, err.operation, err.key) == ("kv", "put", key)
    assert isinstance(err.__cause__, JsException)
    assert _Backend.put.__name__ == "put"

    with raises(InvalidInput, match="not a valid type") as caught:
        await backend.broken(["a", "b"])
    err = caught.value
    assert isinstance(err, InvalidInput)
    assert (err.operation, err.key) == ("get_many", None)
    assert isinstance(err.__cause__, JsException)


async def check_only_js_exceptions_are_translated(env: Any) -> None:
    def python_bug() -> Any:
        raise ValueError("a bug in our own code stays a bug")

    with raises(ValueError, match="stays a bug"):
        await ffi.call_binding(python_bug, capability="kv", operation="get")

    already = NotFound("gone", capability="kv", operation="get", key="k")

    async def raises_capability_error() -> None:
        raise already

    with raises(NotFound) as caught:
        await ffi.call_binding(raises_capability_error, capability="kv", operation="get")
    assert caught.value is already

    # a synchronous throw from the JS call itself is translated too
    with raises(InvalidInput, match="SyntaxError") as caught:
        await ffi.call_binding(lambda: js.JSON.parse("{"), capability="kv", operation="get")
    assert isinstance(caught.value.__cause__, JsException)


async def check_durable_object_failure_is_translated(env: Any) -> None:
    stub = env.COUNTER.get(env.COUNTER.idFromName(unique_key("errors/do")))
    with raises(CapabilityError) as caught:
        await ffi.call_binding(lambda: stub.fail("boom"), capability="do", operation="rpc", key="fail")
    err = caught.value
    assert isinstance(err, CapabilityError)
    assert isinstance(err.__cause__, JsException)
    assert (err.capability, err.operation) == ("do", "rpc")
    # Miniflare's proxy reports the object's error as an opaque assertion ("false == true"), which
    # says nothing about the cause: a BackendError that is not retried blindly
    assert isinstance(err, BackendError), repr(err)
    assert err.retryable is False
