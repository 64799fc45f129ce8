"""``storage.sql``: the SQL API of a SQLite-backed Durable Object, on the binding and in the local runtime.

``exec(query, *bindings)`` is synchronous, as the runtime's ``ctx.storage.sql.exec`` is, and returns a
:class:`SqlCursor` with the runtime's ``SqlStorageCursor`` semantics: iterate it for row dicts (a
duplicated column name keeps its last value), ``to_array()``, ``one()`` (``InvalidInput`` unless there
is exactly one row), ``raw()`` for rows as lists, ``column_names``, ``rows_read``, ``rows_written``.
Like the runtime's cursor it is single-pass: rows taken by one of these are gone for the others.
Unlike it, the result is read whole when ``exec`` returns (bound big results with ``LIMIT``).

Everything here runs before any I/O and is the same on every home: the statement split (several
statements in one ``exec`` run in order and the cursor is the last one's; only the last may take
bindings), the documented limits (statement length, bound parameters, string/blob size), the value
types a binding may have, and whether the call reads or writes (:func:`is_read_only`), which decides
the hint the call records. Errors are translated by :func:`sql_error` from SQLite's own messages,
which both homes produce.

Values map as the runtime maps them through Pyodide: NULL ↔ ``None``, TEXT ↔ ``str``, BLOB ↔
``bytes``, and numbers as a JS Number arrives in Python — an integer-valued number within
±(2**53 - 1) is an ``int`` (so ``SELECT 2.0`` gives ``2``), any other number a ``float`` (so an
INTEGER beyond 2**53 reads back rounded, as a float). An ``int`` beyond ±(2**53 - 1) cannot be
bound (the runtime refuses a JS BigInt): bind it as text.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Final, NamedTuple

from cap_opendal_core.errors import (
    BackendError,
    CapabilityError,
    Closed,
    InvalidInput,
    LimitExceeded,
    PreconditionFailed,
)
from cap_opendal_core.scope import current_scope

from .limits import MAX_SQL_PARAMS, MAX_SQL_STATEMENT_BYTES, MAX_SQL_VALUE_BYTES
from .operations import STORAGE_SQL_EXEC, STORAGE_SQL_READ, STORAGE_TRANSACTION

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    from cap_opendal_core.layers import Operation, Pipeline

    from .backends.base import SqlBackend

__all__ = [
    "MAX_SAFE_INTEGER",
    "RESERVED_PREFIX",
    "RawRows",
    "SqlCursor",
    "SqlStorage",
    "SqlBinding",
    "SqlValue",
    "Statements",
    "runtime_value",
    "check_exec",
    "is_read_only",
    "prepare",
    "split_statements",
    "sql_error",
]

SqlValue = None | int | float | str | bytes
"""What a column holds."""

SqlBinding = SqlValue | bytearray | memoryview
"""What a binding may be (``bytearray``/``memoryview`` bind as ``bytes``)."""

MAX_SAFE_INTEGER: Final = 2**53 - 1
"""JS ``Number.MAX_SAFE_INTEGER``: the largest integer that crosses to the runtime and back exactly."""

RESERVED_PREFIX: Final = "_cf_"
"""Table and index names the runtime keeps for itself; creating or touching one is refused."""

_NO_STATEMENT: Final = "SQL code did not contain a statement."
_LAST_ONLY: Final = (
    "when executing multiple SQL statements in a single call, only the last statement can have parameters"
)

# -- splitting and classifying -----------------------------------------------------------------------

_TOKEN: Final = re.compile(
    r"""
      (?P<space>\s+)
    | (?P<comment>--[^\n]*(?:\n|$)|/\*.*?(?:\*/|$))
    | (?P<string>'(?:[^']|'')*'?|"(?:[^"]|"")*"?|`(?:[^`]|``)*`?|\[[^\]]*\]?)
    | (?P<semi>;)
    | (?P<word>[A-Za-z_][A-Za-z0-9_$]*)
    | (?P<other>.)
    """,
    re.VERBOSE | re.DOTALL,
)

_WRITE_WORDS: Final = frozenset({"INSERT", "UPDATE", "DELETE", "REPLACE", "CREATE", "DROP", "ALTER"})
READ_PRAGMAS: Final = frozenset(
    {
        "table_info",
        "table_xinfo",
        "table_list",
        "index_list",
        "index_info",
        "index_xinfo",
        "foreign_key_list",
        "foreign_key_check",
        "quick_check",
        "integrity_check",
        "foreign_keys",
        "defer_foreign_keys",
        "case_sensitive_like",
        "legacy_alter_table",
        "recursive_triggers",
        "reverse_unordered_selects",
    }
)
"""Pragmas a query may run: these report (with an argument, the last five also set a flag of this
connection, which :func:`is_read_only` counts as a write). Others are refused as the runtime refuses
them ("not authorized")."""


class Statements(NamedTuple):
    """One ``exec`` query, split: each statement's text, and whether all of them only read."""

    texts: tuple[str, ...]
    read_only: bool


_CACHED_QUERY_CHARS: Final = 4096
"""Queries up to this long have their split cached (an object runs the same few again and again);
longer ones, rarely repeated, are split each time so the cache stays small."""


def split_statements(query: str) -> Statements:
    """The statements of ``query`` in order (empty ones dropped) and whether they only read.

    Splits at top-level semicolons, outside strings, quoted names and comments; a ``CREATE TRIGGER``
    keeps its ``BEGIN … END`` body whole.
    """
    if len(query) <= _CACHED_QUERY_CHARS:
        return _split_cached(query)
    return _split(query)


@lru_cache(maxsize=512)
def _split_cached(query: str) -> Statements:
    return _split(query)


def _split(query: str) -> Statements:
    texts: list[str] = []
    words: list[list[str]] = []
    start = 0
    current: list[str] = []
    in_trigger = False
    cases = 0
    for match in _TOKEN.finditer(query):
        kind = match.lastgroup
        if kind == "word":
            word = match.group().upper()
            current.append(word)
            if word == "TRIGGER" and current[0] == "CREATE":
                in_trigger = True
            elif word == "CASE":
                cases += 1
            elif word == "END":
                if cases:
                    cases -= 1
                else:
                    in_trigger = False
        elif kind == "other":
            current.append(match.group())
        elif kind == "string":
            current.append("'")
        elif kind == "semi":
            if in_trigger:
                current.append(";")
                continue
            if current:
                texts.append(query[start : match.end()].strip())
                words.append(current)
            start = match.end()
            current = []
    if current:
        texts.append(query[start:].strip())
        words.append(current)
    return Statements(tuple(texts), all(_reads_only(w) for w in words))


def _reads_only(words: list[str]) -> bool:
    """Whether one statement (its upper-cased words and punctuation) provably only reads."""
    first = words[0]
    if first == "EXPLAIN":
        return True
    if first in ("SELECT", "VALUES"):
        return True
    if first == "WITH":  # WITH … SELECT reads; WITH … INSERT/UPDATE/DELETE writes
        return not any(w in _WRITE_WORDS for w in words)
    if first == "PRAGMA":
        rest = words[1:]
        if len(rest) > 1 and rest[1] == ".":  # schema.pragma
            rest = rest[2:]
        name = rest[0].lower() if rest else ""
        if name not in READ_PRAGMAS:
            return False
        if name in _SETTABLE_PRAGMAS:
            return len(rest) == 1  # with a value (= x or (x)) it sets the flag
        return "=" not in rest
    return False


_SETTABLE_PRAGMAS: Final = frozenset(
    {"foreign_keys", "defer_foreign_keys", "case_sensitive_like", "legacy_alter_table", "recursive_triggers"}
    | {"reverse_unordered_selects"}
)


def is_read_only(query: str) -> bool:
    """Whether ``query`` provably only reads; decided the same way on every home, before the call.

    Conservative: a ``SELECT``, ``VALUES`` or ``EXPLAIN`` statement reads, so does a ``WITH`` whose
    words include none of ``INSERT``/``UPDATE``/``DELETE``/``REPLACE``/``CREATE``/``DROP``/``ALTER``,
    and a reporting ``PRAGMA`` without a value; anything else counts as a write. A query of several
    statements reads only if every one does.
    """
    return split_statements(query).read_only


# -- values ------------------------------------------------------------------------------------------


def runtime_value(value: Any) -> SqlValue:
    """A column value as the runtime hands it to Python: a number as Pyodide converts a JS Number
    (``int`` when it is a safe integer, else ``float``); text, bytes and ``None`` as they are."""
    kind = type(value)
    if kind is int:
        return value if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER else float(value)
    if kind is float:
        if value.is_integer() and -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            return int(value)
        return value  # type: ignore[no-any-return]
    return value  # type: ignore[no-any-return]


def _check_binding(value: Any, position: int) -> SqlValue:
    field = f"bindings[{position}]"
    if value is None or type(value) is str or type(value) is float:
        if type(value) is str and len(value) * 4 > MAX_SQL_VALUE_BYTES:
            size = len(value.encode("utf-8"))
            if size > MAX_SQL_VALUE_BYTES:
                raise _too_big(size, field)
        return value
    if type(value) is int:
        if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            raise InvalidInput(
                f"{field} is {value}, beyond ±(2**53 - 1): the runtime binds numbers as JS Numbers and "
                "refuses a BigInt; bind it as text (str) instead",
                field=field,
            )
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        data = bytes(value)
        if len(data) > MAX_SQL_VALUE_BYTES:
            raise _too_big(len(data), field)
        return data
    if isinstance(value, bool):
        raise InvalidInput(
            f"{field} is a bool, which SQLite has no type for (the runtime would bind the text 'true'); "
            "bind 1/0",
            field=field,
        )
    if isinstance(value, int | float | str):  # subclasses (IntEnum …): their plain value
        plain: SqlValue = (int if isinstance(value, int) else float if isinstance(value, float) else str)(
            value
        )
        return _check_binding(plain, position)
    raise InvalidInput(
        f"{field} has type {type(value).__name__}; a binding is None, int, float, str or bytes", field=field
    )


def _too_big(size: int, field: str) -> LimitExceeded:
    return LimitExceeded(
        f"{field} is {size} bytes; a SQL string or blob holds at most {MAX_SQL_VALUE_BYTES} bytes",
        limit="do.sql_value_bytes",
        value=size,
        maximum=MAX_SQL_VALUE_BYTES,
    )


def prepare(query: Any, bindings: Sequence[Any]) -> tuple[Statements, tuple[SqlValue, ...]]:
    """Check a query and its bindings against the documented limits and the runtime's rules, before
    any I/O; returns the split statements and the bindings as they will be bound."""
    if not isinstance(query, str):
        raise InvalidInput(f"the query must be a str, got {type(query).__name__}", field="query")
    if len(query) * 4 > MAX_SQL_STATEMENT_BYTES:
        size = len(query.encode("utf-8"))
        if size > MAX_SQL_STATEMENT_BYTES:
            raise LimitExceeded(
                f"the query is {size} bytes; a SQL statement holds at most {MAX_SQL_STATEMENT_BYTES}",
                limit="do.sql_statement_bytes",
                value=size,
                maximum=MAX_SQL_STATEMENT_BYTES,
            )
    if len(bindings) > MAX_SQL_PARAMS:
        raise LimitExceeded(
            f"{len(bindings)} bindings; a SQL query takes at most {MAX_SQL_PARAMS} bound parameters",
            limit="do.sql_params",
            value=len(bindings),
            maximum=MAX_SQL_PARAMS,
        )
    statements = split_statements(query)
    if not statements.texts:
        raise InvalidInput(_NO_STATEMENT, field="query")
    for value in bindings:  # the common case: plain, small values bind as they are
        kind = type(value)
        if not (
            value is None
            or kind is float
            or (kind is int and -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER)
            or (kind is str and len(value) * 4 <= MAX_SQL_VALUE_BYTES)
            or (kind is bytes and len(value) <= MAX_SQL_VALUE_BYTES)
        ):
            return statements, tuple(_check_binding(v, i) for i, v in enumerate(bindings))
    return statements, tuple(bindings)


def check_exec(query: Any, bindings: Sequence[Any]) -> tuple[Statements, tuple[SqlValue, ...]]:
    """Every check ``exec`` makes before the call: :func:`prepare`, and bindings only for a single
    statement (the runtime binds only the last one, so several statements with bindings are refused)."""
    statements, values = prepare(query, bindings)
    if values and len(statements.texts) > 1:
        raise InvalidInput(_LAST_ONLY, field="bindings")
    return statements, values


# -- errors -------------------------------------------------------------------------------------------

_CONSTRAINT: Final = re.compile(r"(\w+(?: KEY)?) constraint failed", re.IGNORECASE)
_INVALID: Final = re.compile(
    r"syntax error|incomplete input|unrecognized token|no such (?:table|column|function|index|collation)"
    r"|already exists|not authorized|SQLITE_AUTH|wrong number of parameter bindings"
    r"|incorrect number of bindings"
    r"|only the last statement can have parameters|did not contain a statement|use the state\.storage\."
    r"transaction|cannot (?:start|commit|rollback)|ambiguous column|misuse of aggregate"
    r"|datatype mismatch|cannot VACUUM|has no column named|values for \d+ columns"
    r"|Expected exactly one result",
    re.IGNORECASE,
)
_LIMIT: Final = re.compile(
    r"too many SQL variables|statement too long|SQLITE_TOOBIG|string or blob too big|database or disk is full"
    r"|SQLITE_FULL|too many terms|too many arguments on function|too many columns|pattern too complex",
    re.IGNORECASE,
)


_SUFFIX: Final = re.compile(r":\s*SQLITE_[A-Z_]+(?: \(extended: SQLITE_[A-Z_]+\))?$")


def sql_error(message: str, query: str, *, cause: BaseException | None = None) -> CapabilityError:
    """The SDK's error for SQLite's (or the runtime's) ``message`` about ``query``.

    A constraint violation (UNIQUE, PRIMARY KEY, NOT NULL, CHECK, FOREIGN KEY) is
    ``PreconditionFailed``; bad SQL (syntax, unknown names, wrong bindings, reserved names, SQL
    transaction statements) is ``InvalidInput`` with ``field="query"``; a size or count limit is
    ``LimitExceeded``; anything else ``BackendError``. The message names the statement.
    """
    text = _SUFFIX.sub("", message.removeprefix("Error: ").strip())
    shown = query if len(query) <= 200 else query[:200] + "…"
    where = f" (in {shown!r})"
    constraint = _CONSTRAINT.search(text)
    if constraint is not None or "SQLITE_CONSTRAINT" in text:
        return PreconditionFailed(f"{text}{where}", cause=cause)
    if _LIMIT.search(text):
        return LimitExceeded(f"{text}{where}", limit="do.sql", cause=cause)
    if _INVALID.search(text):
        return InvalidInput(f"{text}{where}", field="query", cause=cause)
    return BackendError(f"{text}{where}", retryable=False, cause=cause)


# -- the cursor ---------------------------------------------------------------------------------------


class RawRows:
    """``cursor.raw()``: the cursor's remaining rows as lists of values."""

    __slots__ = ("_cursor",)

    def __init__(self, cursor: SqlCursor) -> None:
        self._cursor = cursor

    def __iter__(self) -> RawRows:
        return self

    def __next__(self) -> list[SqlValue]:
        return self._cursor._take()

    def to_array(self) -> list[list[SqlValue]]:
        """Every remaining row, as lists."""
        return self._cursor._take_all()


class SqlCursor:
    """The result of ``storage.sql.exec``: see the module docstring.

    ``rows_read`` and ``rows_written`` are the last statement's: on the binding, as Cloudflare bills
    them (rows scanned; rows and index entries written); in the local runtime, rows returned and
    rows changed (see the docs).
    """

    __slots__ = ("_pos", "_rows", "column_names", "rows_read", "rows_written")

    def __init__(
        self, column_names: list[str], rows: list[list[SqlValue]], rows_read: int, rows_written: int
    ) -> None:
        self.column_names = column_names
        self._rows = rows
        self._pos = 0
        self.rows_read = rows_read
        self.rows_written = rows_written

    def _take(self) -> list[SqlValue]:
        pos = self._pos
        if pos >= len(self._rows):
            raise StopIteration
        self._pos = pos + 1
        return self._rows[pos]

    def _take_all(self) -> list[list[SqlValue]]:
        rest = self._rows[self._pos :]
        self._pos = len(self._rows)
        return rest

    def __iter__(self) -> Iterator[dict[str, SqlValue]]:
        names = self.column_names
        while self._pos < len(self._rows):
            yield dict(zip(names, self._take(), strict=True))

    def to_array(self) -> list[dict[str, SqlValue]]:
        """Every remaining row, as dicts."""
        names = self.column_names
        return [dict(zip(names, row, strict=True)) for row in self._take_all()]

    def one(self) -> dict[str, SqlValue]:
        """The one remaining row; ``InvalidInput`` when there is none or more than one."""
        rows = self._take_all()
        if len(rows) != 1:
            got = "no results" if not rows else "multiple results"
            raise InvalidInput(
                f"expected exactly one result from the SQL query, but got {got}", field="query"
            )
        return dict(zip(self.column_names, rows[0], strict=True))

    def raw(self) -> RawRows:
        """The remaining rows as lists (``for row in cursor.raw()`` or ``cursor.raw().to_array()``)."""
        return RawRows(self)

    def __repr__(self) -> str:
        return (
            f"SqlCursor(columns={self.column_names!r}, rows_left={len(self._rows) - self._pos}, "
            f"rows_read={self.rows_read}, rows_written={self.rows_written})"
        )


# -- the API --------------------------------------------------------------------------------------------


class SqlStorage:
    """``storage.sql``: one object's SQL database (see the module docstring)."""

    __slots__ = ("_backend", "_hints", "_pipeline")

    def __init__(self, backend: SqlBackend, pipeline: Pipeline) -> None:
        self._backend = backend
        self._pipeline = pipeline
        self._hints = pipeline.settings.hints

    def exec(self, query: str, *bindings: SqlBinding) -> SqlCursor:
        """Run ``query`` (one or more statements; ``?`` or ``?N`` bound by position to ``bindings``,
        which only the last statement may use) and return its cursor."""
        statements, values = check_exec(query, bindings)
        if self._hints or self._pipeline.closed:  # (the hot path skips the call when neither applies)
            _record(self._pipeline, STORAGE_SQL_READ if statements.read_only else STORAGE_SQL_EXEC)
        try:
            return self._backend.exec(query, statements.texts, values)
        except CapabilityError as err:
            err.with_context(capability="do", operation="storage.sql.exec")
            raise

    @property
    def database_size(self) -> int:
        """The size of this object's database in bytes (what the 10 GB limit counts)."""
        return self._backend.database_size()

    def __repr__(self) -> str:
        return f"SqlStorage(backend={self._backend.kind!r})"


def _record(pipeline: Pipeline, op: Operation) -> None:
    """What the async pipeline's hints layer does, for a synchronous call: refuse once closed, then
    record the call's hints in the current invocation scope (storage calls cost no sub-request)."""
    if pipeline.closed:
        raise Closed(
            "called after aclose(): this capability is closed; build a new one",
            capability=op.capability,
            operation=op.name,
        )
    if pipeline.settings.hints:
        scope = current_scope()
        if scope is not None:
            scope.record(op.effect_hint, op.determinism_hint, capability=op.capability, operation=op.name)


def run_sync_transaction(pipeline: Pipeline, backend: SqlBackend, fn: Callable[[], Any]) -> Any:
    """``storage.transaction_sync(fn)``: checks ``fn``, records the write, hands it to the backend."""
    import inspect

    if not callable(fn):
        raise InvalidInput(f"transaction_sync takes a function, got {type(fn).__name__}", field="fn")
    if inspect.iscoroutinefunction(fn):
        raise InvalidInput(
            "transaction_sync takes a synchronous function (use transaction() for async code)", field="fn"
        )
    _record(pipeline, STORAGE_TRANSACTION)

    def checked() -> Any:
        result = fn()
        if inspect.isawaitable(result):
            close = getattr(result, "close", None)
            if close is not None:
                close()
            raise InvalidInput(
                "transaction_sync's function returned an awaitable; it must be synchronous (nothing was "
                "written)",
                field="fn",
            )
        return result

    return backend.transaction_sync(checked)
