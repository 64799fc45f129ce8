"""The Python half of cap-testing's Workers host; runs inside Pyodide, driven by ``host.mjs``.

It imports the user's Worker module (``main`` in wrangler.toml), constructs its entrypoint and
Durable Object classes as workerd would (``cls(ctx, env)``), and runs what the host asks: a function
``fn(env, *args)``, the entrypoint's ``fetch``, its ``queue`` handler on a batch, a Durable Object's RPC
method, ``fetch`` or ``alarm``. Every answer is JSON text; an exception becomes
``{"error": {"type", "message", "traceback"}}`` so the test sees it as a ``WorkerError``.
"""

from __future__ import annotations

import importlib
import inspect
import json
import sys
import traceback
from typing import Any

_state: dict[str, Any] = {"main": None, "entrypoint": None, "objects": {}, "instances": {}}


def prepare(config_json: str) -> str:
    """Put the stubs and the user's folders on ``sys.path``, import the main module, describe the
    Durable Object classes (``[{binding, className, methods}]``) for the generated JS classes."""
    config = json.loads(config_json)
    sys.dont_write_bytecode = True
    for path in reversed(["/cap_testing/harness/stubs", *config["paths"]]):
        if path not in sys.path:
            sys.path.insert(0, path)
    importlib.invalidate_caches()
    main = importlib.import_module(config["main"])
    _state["main"] = main
    _state["entrypoint"] = config.get("entrypoint") or "Default"
    described = []
    for spec in config["objects"]:
        cls = getattr(main, spec["class_name"], None)
        if not isinstance(cls, type):
            raise RuntimeError(
                f"wrangler.toml binds {spec['name']} to class {spec['class_name']!r}, which the Worker's "
                f"main "
                f"module {config['main']!r} does not define or export"
            )
        _state["objects"][spec["class_name"]] = cls
        described.append({"binding": spec["name"], "className": spec["class_name"], "methods": _methods(cls)})
    return json.dumps(described)


def _methods(cls: type) -> list[str]:
    declared = getattr(cls, "__rpc_methods__", None)  # cap_cloudflare_do.DurableObject computes these
    if declared:
        return sorted(declared)
    return sorted(
        name
        for name, value in inspect.getmembers(cls, inspect.iscoroutinefunction)
        if not name.startswith("_") and name not in ("fetch", "alarm")
    )


def reset() -> None:
    """Forget every Durable Object instance (their storage was cleared by the host)."""
    _state["instances"].clear()


def _error(exc: BaseException) -> dict[str, Any]:
    kind = type(exc)
    name = (
        kind.__qualname__
        if kind.__module__ in ("builtins", "__main__")
        else f"{kind.__module__}.{kind.__qualname__}"
    )
    return {"type": name, "message": str(exc), "traceback": traceback.format_exc()}


def _result(value: Any) -> str:
    try:
        return json.dumps({"result": value})
    except (TypeError, ValueError) as exc:
        return json.dumps(
            {
                "error": {
                    "type": "TypeError",
                    "message": f"the result is not JSON-serialisable: {exc}",
                    "traceback": "",
                }
            }
        )


def _resolve(target: str) -> Any:
    module_name, _, attr = target.partition(":")
    module = importlib.import_module(module_name) if module_name else _state["main"]
    value: Any = module
    for part in attr.split(".") if attr else ():
        value = getattr(value, part)
    return value


class _ExecutionContext:
    """What ``ctx`` is for an entrypoint here: ``waitUntil`` promises are awaited before answering."""

    def __init__(self) -> None:
        self.pending: list[Any] = []

    def waitUntil(self, awaitable: Any) -> None:
        self.pending.append(awaitable)

    wait_until = waitUntil

    def passThroughOnException(self) -> None:
        pass

    async def settle(self) -> None:
        while self.pending:
            await self.pending.pop(0)


async def _maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


async def run(env: Any, request_json: str) -> str:
    """``await fn(env, *args)`` for the ``module:function`` target; its JSON result or the error."""
    request = json.loads(request_json)
    try:
        fn = _resolve(request["target"])
        value = await _maybe_await(fn(env, *request.get("args", [])))
    except BaseException as exc:
        return json.dumps({"error": _error(exc)})
    return _result(value)


def _entrypoint(env: Any, ctx: Any, target: str | None) -> Any:
    """An instance of the entrypoint class, or the main module (module-level ``on_fetch``/``on_queue``)."""
    name = target or _state["entrypoint"]
    cls = _resolve(name if ":" in name else f":{name}")
    return cls(ctx, env) if isinstance(cls, type) else cls


def _js_request(spec: dict[str, Any]) -> Any:
    import js
    from pyodide.ffi import to_js

    init = {"method": spec.get("method", "GET"), "headers": to_js(spec.get("headers") or [])}
    if spec.get("body") is not None:
        init["body"] = spec["body"]
    request = js.Request.new(spec["url"], to_js(init, dict_converter=js.Object.fromEntries))
    try:
        from workers import Request

        return Request(request)
    except ImportError:
        return request


async def _response_doc(response: Any) -> dict[str, Any]:
    raw = getattr(response, "js_object", response)
    headers = [list(pair) for pair in raw.headers.entries()]
    return {"status": int(raw.status), "headers": headers, "body": await raw.text()}


async def fetch(env: Any, request_json: str) -> str:
    """The entrypoint's ``fetch`` on the request described; ``{status, headers, body}`` or the error."""
    spec = json.loads(request_json)
    ctx = _ExecutionContext()
    try:
        target = _entrypoint(env, ctx, spec.get("entrypoint"))
        handler = getattr(target, "fetch", None) or getattr(target, "on_fetch", None)
        if handler is None:
            raise RuntimeError(
                "the Worker has no fetch handler (a Default(WorkerEntrypoint).fetch or on_fetch)"
            )
        request = _js_request(spec)
        response = await _maybe_await(handler(request, env) if inspect.ismodule(target) else handler(request))
        await ctx.settle()
        return _result(await _response_doc(response))
    except BaseException as exc:
        return json.dumps({"error": _error(exc)})


async def queue(env: Any, batch: Any) -> str:
    """The entrypoint's ``queue`` handler on ``batch``: ``{"raised": class name or null, "error": …}``."""
    ctx = _ExecutionContext()
    try:
        target = _entrypoint(env, ctx, None)
        handler = getattr(target, "queue", None) or getattr(target, "on_queue", None)
        if handler is None:
            raise RuntimeError(
                "the Worker consumes a queue but has no queue handler (Default.queue or on_queue)"
            )
        await _maybe_await(handler(batch, env) if inspect.ismodule(target) else handler(batch))
        await ctx.settle()
    except BaseException as exc:
        error = _error(exc)
        print(error["traceback"], file=sys.stderr)
        return json.dumps({"raised": error["type"], "error": error})
    return json.dumps({"raised": None, "error": None})


class _ObjectId:
    """The id a Durable Object sees as ``ctx.id``."""

    def __init__(self, hex_id: str) -> None:
        self._hex = hex_id
        self.name = None

    def toString(self) -> str:
        return self._hex

    def __str__(self) -> str:
        return self._hex

    def equals(self, other: Any) -> bool:
        return str(other) == self._hex


class _ObjectState(_ExecutionContext):
    """What ``ctx`` is for a Durable Object here: its id and its real storage (behind an RpcTarget;
    its ``sql`` answers synchronously, through the host's ``sync_sql.mjs``)."""

    def __init__(self, hex_id: str, storage: Any) -> None:
        super().__init__()
        self.id = _ObjectId(hex_id)
        self.storage = storage

    async def blockConcurrencyWhile(self, callback: Any) -> Any:
        return await _maybe_await(callback())


def has_object(class_name: str, hex_id: str) -> bool:
    return (class_name, hex_id) in _state["instances"]


async def durable_object(env: Any, storage: Any, payload_json: str) -> str:
    """Run an RPC method, ``fetch`` or ``alarm`` of the Python object ``(className, id)``."""
    payload = json.loads(payload_json)
    key = (payload["className"], payload["id"])
    try:
        instance = _state["instances"].get(key)
        if instance is None:
            instance = _state["objects"][payload["className"]](_ObjectState(payload["id"], storage), env)
            _state["instances"][key] = instance
        if payload["kind"] == "do_fetch":
            response = await _maybe_await(instance.fetch(_js_request(payload["request"])))
            return _result(await _response_doc(response))
        method = payload["method"]
        if method == "alarm":
            handler = getattr(instance, "alarm", None)
            if handler is None:
                return _result(None)
            from cap_cloudflare_do.object import alarm_takes_info

            if alarm_takes_info(type(instance)):
                from cap_cloudflare_do.models import AlarmInfo

                return _result(await _maybe_await(handler(AlarmInfo(0))))
            return _result(await _maybe_await(handler()))
        return _result(await _maybe_await(getattr(instance, method)(*payload["args"])))
    except BaseException as exc:
        error = _error(exc)
        return json.dumps({"error": f"{error['type']}: {error['message']}"})
