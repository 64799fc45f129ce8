"""The workers backend: a Durable Object namespace binding in a Python Worker, through Pyodide's FFI.

Ids, stubs, RPC and ``fetch`` go straight to the JS binding; every value crosses through
:mod:`cap_opendal_core.ffi` (dicts as plain objects, bytes as ``Uint8Array``, ``None`` as ``null``,
results — including Miniflare's null-prototype proxies — back to plain Python), and JS failures
become :class:`~cap_opendal_core.errors.CapabilityError`. Works with a raw JsProxy ``env`` and with
the ``workers`` SDK's wrapped one. Pyodide only: imported by ``from_env``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cap_opendal_core import ffi
from cap_opendal_core.errors import CapabilityError, InvalidInput, Misconfigured

from .. import codec
from ..ids import DurableObjectId
from ..models import Request, Response
from .base import RemoteNamespace

if TYPE_CHECKING:
    from collections.abc import Callable


__all__ = ["WorkersNamespace", "WorkersStub"]


def _sync(call: Callable[[], Any], operation: str, key: str | None = None) -> Any:
    """A synchronous JS call (ids, stubs), its JS errors translated."""
    try:
        return call()
    except ffi.JsException as exc:
        raise _translate(exc, operation, key) from exc


def _translate(exc: BaseException, operation: str, key: str | None) -> CapabilityError:
    from cap_opendal_core.translate import from_js

    return from_js(exc, capability="do", operation=operation, key=key)


class WorkersNamespace(RemoteNamespace):
    kind = "workers"

    def __init__(self, binding: Any) -> None:
        self._ns = binding

    @classmethod
    def from_env(cls, env: Any, name: str) -> WorkersNamespace:
        binding = ffi.get_binding(env, name, capability="do")
        if not hasattr(binding, "idFromName"):
            raise Misconfigured(
                f"binding {name!r} is not a Durable Object namespace (it has no idFromName)",
                capability="do",
                operation="from_env",
            )
        return cls(binding)

    def _wrap(self, js_id: Any, name: str | None) -> DurableObjectId:
        return DurableObjectId(str(js_id.toString()).lower(), name, raw=js_id)

    def id_from_name(self, name: str) -> DurableObjectId:
        return self._wrap(_sync(lambda: self._ns.idFromName(name), "id_from_name", name), name)

    def new_unique_id(self, jurisdiction: str | None) -> DurableObjectId:
        if jurisdiction is None:
            js_id = _sync(lambda: self._ns.newUniqueId(), "new_unique_id")
        else:
            options = ffi.to_js_options({"jurisdiction": jurisdiction})
            js_id = _sync(lambda: self._ns.newUniqueId(options), "new_unique_id")
        return self._wrap(js_id, None)

    def id_from_string(self, hex_id: str) -> DurableObjectId:
        try:
            js_id = self._ns.idFromString(hex_id)
        except ffi.JsException as exc:
            reason = _translate(exc, "id_from_string", None).message
            raise InvalidInput(f"{hex_id!r} is not an id of this namespace ({reason})", field="id") from exc
        return self._wrap(js_id, None)

    async def resolve_id(self, oid: DurableObjectId | None, jurisdiction: str | None) -> DurableObjectId:
        return self.new_unique_id(jurisdiction) if oid is None else oid

    def _raw_id(self, oid: DurableObjectId) -> Any:
        raw = oid._raw
        if raw is not None:
            return raw
        if oid.hex is not None:
            return self.id_from_string(oid.hex)._raw
        return self.id_from_name(oid.name or "")._raw

    def stub(self, oid: DurableObjectId) -> WorkersStub:
        raw = self._raw_id(oid)
        return WorkersStub(_sync(lambda: self._ns.get(raw), "get"))

    def stub_by_name(self, name: str) -> tuple[DurableObjectId, WorkersStub]:
        oid = self.id_from_name(name)
        raw = oid._raw
        return oid, WorkersStub(_sync(lambda: self._ns.get(raw), "get", name))

    async def start(self) -> None:
        return None

    async def aclose(self) -> None:
        return None


class WorkersStub:
    __slots__ = ("_stub",)

    def __init__(self, stub: Any) -> None:
        self._stub = stub

    async def call(self, method: str, args: list[Any]) -> Any:
        js_args = [ffi.to_js_value(codec.from_tagged(arg)) for arg in args]
        stub = self._stub
        result = await ffi.call_binding(
            lambda: getattr(stub, method)(*js_args), capability="do", operation="rpc", key=method
        )
        return ffi.js_to_py(result)

    async def fetch(self, request: Request) -> Response:
        import js

        init: dict[str, Any] = {"method": request.method, "headers": request.headers}
        if request.body:
            init["body"] = ffi.to_uint8array(request.body)
        options = ffi.to_js_options(init)
        stub = self._stub
        response = await ffi.call_binding(
            lambda: stub.fetch(request.url, options), capability="do", operation="fetch", key=request.url
        )
        buffer = await ffi.call_binding(
            lambda: response.arrayBuffer(), capability="do", operation="fetch", key=request.url
        )
        headers = ffi.js_to_py(js.Object.fromEntries(response.headers)) or {}
        return Response(ffi.to_bytes(buffer), status=int(response.status), headers=headers)
