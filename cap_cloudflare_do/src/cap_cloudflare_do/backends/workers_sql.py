"""The workers SQL backend: a Python Durable Object's ``ctx.storage.sql``, via Pyodide's FFI.

``exec`` calls the runtime's synchronous ``sql.exec(query, ...bindings)`` and reads its cursor whole
(``raw().toArray()``, then ``columnNames``, ``rowsRead``, ``rowsWritten``): values cross through
:mod:`cap_opendal_core.ffi` (bindings: ``None`` → ``null``, ``bytes`` → ``Uint8Array``; results: buffers
→ ``bytes``, numbers as Pyodide converts a JS Number). ``transaction_sync`` hands the function to the
runtime's ``transactionSync`` behind a proxy destroyed afterwards; an exception the function raises is
re-raised as itself after the runtime rolled back. Pyodide only; kept apart from
:mod:`.workers_storage` so the key-value path imports none of it.

:func:`cursor_from_js` and :func:`error_from_js` are the whole JS→Python step, so a harness that reaches
``ctx.storage.sql`` over RPC (which makes every call async) runs the same conversions. A JS error named
``NotSupportedError`` (what a host that cannot run the call throws, e.g. cap-testing's ``workers_env``
for SQL inside an open ``transaction()``) becomes :class:`~cap_opendal_core.errors.Unsupported` with
its message, not a SQL error.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from cap_opendal_core import ffi
from cap_opendal_core.errors import Unsupported

from ..sql import SqlCursor, SqlValue, sql_error

if TYPE_CHECKING:
    from collections.abc import Callable

    from cap_opendal_core.errors import CapabilityError

__all__ = ["WorkersSql", "cursor_from_js", "error_from_js", "to_js_bindings"]

T = TypeVar("T")


def to_js_bindings(bindings: tuple[SqlValue, ...]) -> list[Any]:
    """Checked bindings as the runtime takes them."""
    return [ffi.to_js_value(value) for value in bindings]


def cursor_from_js(column_names: Any, raw_rows: Any, rows_read: Any, rows_written: Any) -> SqlCursor:
    """A :class:`SqlCursor` from what the runtime's cursor holds (its rows already read as arrays)."""
    names = [str(name) for name in ffi.js_to_py(column_names)]
    rows: list[list[SqlValue]] = [list(row) for row in ffi.js_to_py(raw_rows)]
    return SqlCursor(names, rows, int(rows_read), int(rows_written))


def error_from_js(
    message: str, query: str, cause: BaseException | None = None, *, name: str | None = None
) -> CapabilityError:
    """The SDK's error for the runtime's error ``message`` (of JS class ``name``) about ``query``."""
    if name == "NotSupportedError":
        return Unsupported(message.removeprefix("NotSupportedError: "), cause=cause)
    return sql_error(message, query, cause=cause)


def _message(exc: BaseException) -> str:
    return str(getattr(exc, "message", None) or exc)


def _name(exc: BaseException) -> str | None:
    name = getattr(exc, "name", None)
    return name if isinstance(name, str) else None


class WorkersSql:
    __slots__ = ("_storage",)
    kind = "workers"

    def __init__(self, storage: Any) -> None:
        self._storage = storage

    def exec(self, query: str, statements: tuple[str, ...], bindings: tuple[SqlValue, ...]) -> SqlCursor:
        from pyodide.ffi import JsException

        args = to_js_bindings(bindings)
        try:
            cursor = self._storage.sql.exec(query, *args)
            raw = cursor.raw().toArray()
            return cursor_from_js(cursor.columnNames, raw, cursor.rowsRead, cursor.rowsWritten)
        except JsException as exc:
            raise error_from_js(_message(exc), query, exc, name=_name(exc)) from exc

    def database_size(self) -> int:
        from pyodide.ffi import JsException

        try:
            return int(self._storage.sql.databaseSize)
        except JsException as exc:
            raise error_from_js(_message(exc), "database_size", exc, name=_name(exc)) from exc

    def transaction_sync(self, fn: Callable[[], T]) -> T:
        from pyodide.ffi import JsException, create_proxy

        results: list[T] = []
        failures: list[BaseException] = []

        def run() -> None:
            try:
                results.append(fn())
            except BaseException as exc:
                failures.append(exc)
                raise

        proxy = create_proxy(run)
        try:
            self._storage.transactionSync(proxy)
        except JsException as exc:
            if failures:
                raise failures[0] from None
            raise error_from_js(_message(exc), "transaction_sync", exc, name=_name(exc)) from exc
        except BaseException:
            if failures:
                raise failures[0] from None
            raise
        finally:
            proxy.destroy()
        return results[0]
