"""Pyodide FFI helpers: the one place where values cross between Python and a Worker's JS bindings.

Only the ``workers`` backends import this module, and only under Pyodide (a Python Worker, or the
``tests/workers`` harness); nothing else in ``cap_opendal_core`` imports it. Every conversion the
bindings need lives here, so the differences between Pyodide releases, the ``workers`` SDK's wrapped
``env`` and Miniflare's remote proxies have one home:

* Python dicts become plain JS objects (``Object.fromEntries``), never ``Map`` objects: KV silently
  drops ``metadata`` handed over in a ``Map``.
* bytes-like values become ``Uint8Array`` copies (raw ``bytes`` proxies are rejected by Miniflare);
  ``ArrayBuffer``, typed arrays and ``DataView`` come back as ``bytes``.
* JS ``null`` arrives as ``pyodide.ffi.jsnull``, and ``to_py()`` keeps it at every depth: results
  are cleaned to ``None``. Python ``None`` becomes ``undefined``, which JSON drops, unless it is
  converted with ``keep_none`` (then it is JS ``null``).
* A binding failure arrives as ``JsException``; :func:`call_binding` and :func:`translate_js_errors`
  turn it into a :class:`~cap_opendal_core.errors.CapabilityError` whose ``__cause__`` is the original.
* Every read of a JS object's property from Python is a trip through the FFI (under Miniflare, a
  round trip to workerd), and every JS object that reaches Python is probed for its type first. So a
  result with many fields is read in one go (:func:`read_fields`), and a small body in one call
  (:func:`read_stream`) rather than a reader loop.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import functools
import inspect
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping, Sequence
from typing import Any, Final, ParamSpec, TypeVar

try:
    import js
    from pyodide.ffi import JsBuffer, JsException, JsProxy, to_js
except ImportError as exc:
    raise ImportError(
        "cap_opendal_core.ffi works only under Pyodide (a Cloudflare Python Worker, or the "
        "tests/workers harness): it converts values for the Workers JS bindings. On CPython use the "
        "opendal, rest or local backends instead."
    ) from exc

try:
    from pyodide.ffi import jsnull as _jsnull
except ImportError:  # Pyodide before jsnull existed converted JS null straight to None
    _jsnull = None

from .errors import CapabilityError, Misconfigured

__all__ = [
    "JS_NULL",
    "JsException",
    "JsProxy",
    "await_js",
    "call_binding",
    "clean_nulls",
    "get_binding",
    "is_js_null",
    "iter_stream",
    "js_to_py",
    "parse_js_date",
    "read_fields",
    "read_stream",
    "to_bytes",
    "to_js_options",
    "to_js_value",
    "to_uint8array",
    "translate_js_errors",
    "unwrap_binding",
]

P = ParamSpec("P")
T = TypeVar("T")

#: JS ``null`` as Python holds it. Put it where a JSON document must keep a key whose value is null.
JS_NULL: Final[Any] = _jsnull

_BYTES_LIKE = (bytes, bytearray, memoryview)
_EPOCH: Final = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)
_ONE_MS: Final = _dt.timedelta(milliseconds=1)


# --------------------------------------------------------------------------------------------------
# Python -> JS


def to_js_options(options: Mapping[str, Any] | None, *, keep_none: bool = False) -> Any:
    """Convert an options dict into a plain JS object, recursively, for a binding call.

    Keys whose value is ``None`` are dropped (the binding then applies its default) unless
    ``keep_none`` is true, in which case they become JS ``null``. ``None`` for the whole options
    gives ``undefined`` (the argument is left out).
    """
    if options is None:
        return None
    if not isinstance(options, Mapping):
        raise TypeError(f"options must be a mapping of option names to values, not {type(options).__name__}")
    return _convert(options, keep_none=keep_none, path="options")


def to_js_value(value: Any, *, keep_none: bool = True) -> Any:
    """Convert a Python value into the JS value a binding or a JSON document expects.

    Dicts become plain objects (string keys only), lists and tuples become arrays, bytes-like
    values become ``Uint8Array`` copies, ``datetime`` becomes a JS ``Date`` (naive means UTC), JS
    proxies pass through; anything else is a ``TypeError`` naming where it sits. ``None`` becomes
    JS ``null`` at every depth so JSON keeps the key; with ``keep_none=False`` dict entries whose
    value is ``None`` are dropped instead.
    """
    return _convert(value, keep_none=keep_none, path="value")


def _convert(value: Any, *, keep_none: bool, path: str) -> Any:
    prepared = _prepare(value, keep_none=keep_none, path=path)
    if prepared is None:
        return None
    return to_js(prepared, dict_converter=js.Object.fromEntries, create_pyproxies=False)


def to_uint8array(data: bytes | bytearray | memoryview) -> Any:
    """Copy bytes-like ``data`` into a new JS ``Uint8Array`` (the form every binding accepts)."""
    if not isinstance(data, _BYTES_LIKE):
        raise TypeError(f"expected bytes, bytearray or memoryview, not {type(data).__name__}")
    if isinstance(data, memoryview) and not data.contiguous:
        data = data.tobytes()
    return to_js(data)


def _prepare(value: Any, *, keep_none: bool, path: str) -> Any:
    """Walk the value once: ``None`` -> JS null (or dropped), bytes -> Uint8Array, datetime -> Date.

    Anything without a faithful JS form is rejected here, naming where it sits, before any call.
    """
    if value is None:
        return JS_NULL
    if isinstance(value, str | bool | int | float | JsProxy):
        return value
    if isinstance(value, _BYTES_LIKE):
        return to_uint8array(value)
    if isinstance(value, _dt.datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=_dt.UTC)
        # whole milliseconds, floored as every other home floors them (a JS Date holds no more; a
        # float product would truncate toward zero before 1970 and can round a .999 ms up)
        return js.Date.new((moment - _EPOCH) // _ONE_MS)
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"{path} has a key {key!r} of type {type(key).__name__}; JS keys must be str")
            if item is None and not keep_none:
                continue
            out[key] = _prepare(item, keep_none=keep_none, path=f"{path}[{key!r}]")
        return out
    if isinstance(value, list | tuple):
        # inside arrays a position cannot be dropped: None is always null there
        return [_prepare(item, keep_none=keep_none, path=f"{path}[{i}]") for i, item in enumerate(value)]
    raise TypeError(f"{path} has type {type(value).__name__}, which has no JS form for a binding")


# --------------------------------------------------------------------------------------------------
# JS -> Python


def is_js_null(value: Any) -> bool:
    """True for JS ``null`` (``jsnull``) and for ``None`` (which is how ``undefined`` arrives)."""
    return value is None or (JS_NULL is not None and value is JS_NULL)


def clean_nulls(value: Any) -> Any:
    """Replace ``jsnull`` with ``None`` at every depth of dicts, lists, tuples and sets.

    ``to_py()`` leaves nested JS nulls as ``jsnull``; Python code compares with ``None``.
    """
    if is_js_null(value):
        return None
    if isinstance(value, dict):
        return {key: clean_nulls(item) for key, item in value.items()}
    if isinstance(value, list):
        return [clean_nulls(item) for item in value]
    if isinstance(value, tuple):
        return tuple(clean_nulls(item) for item in value)
    if isinstance(value, set):
        return {clean_nulls(item) for item in value}
    return value


def to_bytes(value: Any) -> bytes:
    """Return the bytes of a JS ``ArrayBuffer``/typed array/``DataView`` or of a Python bytes-like."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    if isinstance(value, JsBuffer):
        data: bytes = value.to_bytes()
        return data
    if isinstance(value, JsProxy):
        raise TypeError(f"expected a JS ArrayBuffer or typed array, got a JS {_js_type_name(value)}")
    raise TypeError(f"expected bytes or a JS buffer, not {type(value).__name__}")


def js_to_py(value: Any) -> Any:
    """Convert a binding's result into plain Python: dicts, lists, ``bytes``, ``datetime``, ``None``.

    Plain JS objects become dicts; objects with a null prototype (Miniflare's remote proxies, which
    ``to_py()`` leaves alone) are copied property by property first; buffers become ``bytes``; a JS
    ``Date`` becomes an aware ``datetime``; ``null`` becomes ``None`` at every depth. Instances of
    other JS classes (streams, R2 objects, stubs) stay JS proxies.
    """
    if is_js_null(value):
        return None
    if isinstance(value, JsBuffer):
        return to_bytes(value)
    if isinstance(value, JsProxy):
        if _has_null_prototype(value):
            value = _copy_own_properties(value)
        elif _js_type_name(value) == "Date":
            return _date_to_py(value)
        value = value.to_py(default_converter=_default_to_py)
    return _clean_converted(value)


def _default_to_py(value: Any, convert: Any, cache: Any) -> Any:
    if _js_type_name(value) == "Date":
        return _date_to_py(value)
    if _has_null_prototype(value):
        copy = _copy_own_properties(value)
        result = convert(copy)
        cache(value, result)
        return result
    return value


def _clean_converted(value: Any) -> Any:
    """After ``to_py``: ``jsnull`` -> ``None`` and buffer views -> ``bytes``, at every depth."""
    if is_js_null(value):
        return None
    if isinstance(value, memoryview):
        return value.tobytes()
    if isinstance(value, dict):
        return {key: _clean_converted(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_clean_converted(item) for item in value]
    return value


_REFLECT_GET: Final = js.Reflect.get
_JSON_STRINGIFY: Final = js.JSON.stringify
_DEFINE_PROPERTIES: Final = js.Object.defineProperties


def read_fields(obj: Any, names: Sequence[str]) -> dict[str, Any]:
    """Read the properties ``names`` of a binding's result in one go, as JSON-decoded Python values.

    One ``JSON.stringify`` runs on the JS side over a plain holder whose getters are ``Reflect.get``
    bound to ``obj`` and each name: JS reads every property exactly once (getters on the prototype
    included, as workerd's result classes define them), calls ``toJSON`` where a value has one (R2's
    checksums), serialises nested plain objects whole, and Python parses one string — no nested JS
    object ever becomes a proxy in Python. Missing, ``undefined`` and ``null`` properties are left
    out or ``None``; a ``Date`` arrives as its ISO 8601 string (see :func:`parse_js_date`).
    """
    bind = _REFLECT_GET.bind
    descriptors = {name: {"get": bind(None, obj, name), "enumerable": True} for name in names}
    holder = _DEFINE_PROPERTIES(
        js.Object.new(), to_js(descriptors, dict_converter=js.Object.fromEntries, create_pyproxies=False)
    )
    decoded = json.loads(str(_JSON_STRINGIFY(holder)))
    return decoded if isinstance(decoded, dict) else {}


def parse_js_date(value: Any) -> _dt.datetime:
    """A JS ``Date`` as ``JSON.stringify`` writes it (``2024-05-01T12:00:00.000Z``) as an aware
    ``datetime`` in UTC, to the millisecond, as :func:`js_to_py` gives a ``Date``."""
    if not isinstance(value, str):
        raise TypeError(f"expected a JSON date string, not {type(value).__name__}")
    return _dt.datetime.fromisoformat(value).astimezone(_dt.UTC)


def _has_null_prototype(value: Any) -> bool:
    try:
        return bool(js.Object.getPrototypeOf(value) is JS_NULL) and _js_typeof(value) == "object"
    except JsException:
        return False


def _copy_own_properties(value: Any) -> Any:
    return js.Object.fromEntries(js.Object.entries(value))


def _date_to_py(value: Any) -> _dt.datetime:
    return _EPOCH + int(value.getTime()) * _ONE_MS  # exact: no float division


def _js_typeof(value: Any) -> str:
    return str(getattr(value, "typeof", "object"))


def _js_type_name(value: Any) -> str:
    """The JS class name behind a proxy (``Uint8Array``, ``Date`` …), via Object.prototype.toString."""
    try:
        tag = str(js.Object.prototype.toString.call(value))
    except JsException:
        return "object"
    return tag[8:-1] if tag.startswith("[object ") else tag


# --------------------------------------------------------------------------------------------------
# promises and streams


async def await_js(value: Any) -> Any:
    """Await ``value`` if it is a JS promise (or any awaitable); return it unchanged otherwise."""
    if inspect.isawaitable(value):
        return await value
    return value


async def read_stream(stream: Any) -> bytes:
    """Read a JS ``ReadableStream`` whole, in one call (``new Response(stream).arrayBuffer()``).

    For bodies known to be small: a few FFI calls in all, where a reader loop makes several per
    chunk. A ``None``/``null`` stream (an empty body) gives ``b""``.
    """
    if is_js_null(stream):
        return b""
    return to_bytes(await js.Response.new(stream).arrayBuffer())


async def iter_stream(stream: Any) -> AsyncIterator[bytes]:
    """Yield a JS ``ReadableStream``'s chunks as ``bytes``, one read at a time (never the whole body).

    A ``None``/``null`` stream (an empty body) yields nothing. Stopping early cancels the stream so
    the binding can release it.
    """
    if is_js_null(stream):
        return
    if not isinstance(stream, JsProxy) or not hasattr(stream, "getReader"):
        raise TypeError(f"expected a JS ReadableStream, not {type(stream).__name__}")
    reader = stream.getReader()
    finished = False
    try:
        while True:
            chunk = await reader.read()
            if chunk.done:
                finished = True
                return
            data = chunk.value
            yield data.encode() if isinstance(data, str) else to_bytes(data)
    finally:
        if not finished:
            with contextlib.suppress(JsException):
                await reader.cancel()
        with contextlib.suppress(JsException):
            reader.releaseLock()


# --------------------------------------------------------------------------------------------------
# errors


def _translate(exc: BaseException, *, capability: str, operation: str, key: str | None) -> CapabilityError:
    from .translate.js import from_js

    error: CapabilityError = from_js(exc, capability=capability, operation=operation, key=key)
    return error


async def call_binding(
    factory: Callable[[], Any],
    *,
    capability: str,
    operation: str,
    key: str | None = None,
) -> Any:
    """Call a binding through ``factory`` and await its promise; JS failures become ``CapabilityError``.

    ``factory`` is a zero-argument callable (usually a lambda) so that an exception thrown
    synchronously by the JS call is translated too. Errors other than ``JsException`` pass through.
    """
    try:
        result = factory()
        if inspect.isawaitable(result):
            result = await result
        return result
    except JsException as exc:
        raise _translate(exc, capability=capability, operation=operation, key=key) from exc


def translate_js_errors(
    capability: str, *, operation: str | None = None, key_param: str | None = "key"
) -> Callable[[Callable[P, Awaitable[T]]], Callable[P, Coroutine[Any, Any, T]]]:
    """Decorate an async backend method so that a ``JsException`` leaves it as a ``CapabilityError``.

    ``operation`` defaults to the function's name; the error's ``key`` is the call's ``key_param``
    argument when that is a string. The signature is only consulted on the error path.
    """

    def decorate(func: Callable[P, Awaitable[T]]) -> Callable[P, Coroutine[Any, Any, T]]:
        op = operation or func.__name__
        signature = inspect.signature(func) if key_param is not None else None

        @functools.wraps(func)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
            try:
                return await func(*args, **kwargs)
            except JsException as exc:
                key = _key_argument(signature, key_param, args, kwargs)
                raise _translate(exc, capability=capability, operation=op, key=key) from exc

        return wrapper

    return decorate


def _key_argument(
    signature: inspect.Signature | None, name: str | None, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> str | None:
    if signature is None or name is None or name not in signature.parameters:
        return None
    try:
        value = signature.bind_partial(*args, **kwargs).arguments.get(name)
    except TypeError:
        return None
    return value if isinstance(value, str) else None


# --------------------------------------------------------------------------------------------------
# bindings

# attributes under which the ``workers`` SDK keeps the raw JS object of what it wraps: ``_binding``
# (binding, fetcher, Durable Object namespace and RPC stub wrappers), ``_env`` (the wrapped ``env``)
_WRAPPED_ATTRIBUTES: Final = ("_binding", "_env")


def unwrap_binding(obj: Any) -> Any:
    """Return the raw JS binding behind ``obj``: a JS proxy as is, or the one a ``workers`` wrapper holds.

    The ``workers`` SDK wraps ``env`` and its bindings in Python objects that convert arguments and
    results on every call. The backends convert explicitly (with this module), so they talk to the
    raw proxy and each value is converted exactly once. The raw object is read from the wrapper's
    instance dict, because the wrappers forward unknown attribute reads to the binding.
    """
    for _ in range(8):  # wrappers nest at most a few levels; bound the walk anyway
        if isinstance(obj, JsProxy):
            return obj
        state = getattr(obj, "__dict__", None)
        inner = None
        if isinstance(state, dict):
            inner = next((state[a] for a in _WRAPPED_ATTRIBUTES if state.get(a) is not None), None)
        if inner is None and isinstance(getattr(type(obj), "js_object", None), property):
            inner = obj.js_object  # the SDK's Request/Response/Blob/FormData wrappers
        if inner is None:
            break
        obj = inner
    raise Misconfigured(
        f"expected a Workers binding (a JS object from env, or a workers SDK wrapper of one), "
        f"got {type(obj).__name__}"
    )


def get_binding(env: Any, name: str, *, capability: str | None = None) -> Any:
    """Look up binding ``name`` in a Worker's ``env`` (raw, SDK-wrapped or a mapping) and unwrap it.

    Raises :class:`Misconfigured` naming the binding when it is missing, so a Worker deployed
    without it fails at construction with a message that says what to add to ``wrangler.toml``.
    """
    if not isinstance(name, str) or not name:
        raise Misconfigured(
            f"binding name must be a non-empty string, got {name!r}",
            capability=capability,
            operation="from_env",
        )
    if is_js_null(env):
        raise Misconfigured(
            f"no env given: pass the Worker's env, which must hold the binding {name!r}",
            capability=capability,
            operation="from_env",
        )
    if isinstance(env, Mapping):
        value = env.get(name)
    else:
        try:
            value = getattr(env, name)
        except AttributeError:
            value = None
    if is_js_null(value):
        raise Misconfigured(
            f"binding {name!r} is missing from env; declare it in wrangler.toml (or pass the right name)",
            capability=capability,
            operation="from_env",
        )
    return unwrap_binding(value)
