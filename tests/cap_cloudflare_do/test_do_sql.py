"""storage.sql in the local runtime: one real SQLite database per object, held to the runtime's rules."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from cap_cloudflare_do import DurableObject, DurableObjectNamespace
from cap_cloudflare_do.sql import is_read_only, split_statements
from cap_opendal_core.errors import InvalidInput, LimitExceeded, PreconditionFailed, Unsupported
from cap_opendal_core.scope import InvocationScope

if TYPE_CHECKING:
    from pathlib import Path

    from cap_cloudflare_do import DurableObjectStorage

pytestmark = pytest.mark.anyio


class Notes(DurableObject):
    """Object code that uses SQL only: what runs unchanged on the binding."""

    def __init__(self, ctx: Any, env: Any) -> None:
        super().__init__(ctx, env)
        self.sql = ctx.storage.sql
        self.sql.exec("CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")

    async def add(self, body: str) -> int:
        return int(self.sql.exec("INSERT INTO notes (body) VALUES (?) RETURNING id", body).one()["id"] or 0)

    async def bodies(self) -> list[Any]:
        return [row["body"] for row in self.sql.exec("SELECT body FROM notes ORDER BY id")]


async def test_each_object_has_its_own_database_and_it_persists(tmp_path: Path) -> None:
    async with DurableObjectNamespace.local(path=tmp_path, object_class=Notes) as ns:
        a, b = ns.get_by_name("a"), ns.get_by_name("b")
        assert await a.add("first") == 1
        assert await a.add("second") == 2
        assert await b.add("other") == 1
        assert await a.bodies() == ["first", "second"]
        assert await b.bodies() == ["other"]
    assert len(list((tmp_path / "sql").glob("*.sqlite3"))) == 2
    async with DurableObjectNamespace.local(path=tmp_path, object_class=Notes) as ns:
        assert await ns.get_by_name("a").bodies() == ["first", "second"]


@pytest.fixture
async def storage(tmp_path: Path) -> Any:
    async with DurableObjectNamespace.local(path=tmp_path, object_class=Notes) as ns:
        assert ns.runtime is not None
        st = ns.runtime.storage(ns.id_from_name("t"))
        st.sql.exec(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT UNIQUE, v REAL, b BLOB, n INTEGER NOT NULL)"
        )
        yield st


async def test_cursor_semantics(storage: DurableObjectStorage) -> None:
    sql = storage.sql
    written = sql.exec("INSERT INTO t (name, v, n) VALUES ('a', 1.5, 1), ('b', 2.5, 2), ('c', NULL, 3)")
    assert written.rows_written == 3
    assert written.column_names == []
    assert written.to_array() == []
    cursor = sql.exec("SELECT name, n FROM t ORDER BY id")
    assert cursor.column_names == ["name", "n"]
    assert next(iter(cursor)) == {"name": "a", "n": 1}
    assert cursor.raw().to_array() == [["b", 2], ["c", 3]]  # single-pass: the first row is gone
    assert cursor.to_array() == []
    assert cursor.rows_read == 3
    assert sql.exec("SELECT n FROM t WHERE name = ?", "b").one() == {"n": 2}
    with pytest.raises(InvalidInput, match="no results"):
        sql.exec("SELECT n FROM t WHERE name = 'zz'").one()
    with pytest.raises(InvalidInput, match="multiple results"):
        sql.exec("SELECT n FROM t").one()
    assert sql.exec("SELECT 1 AS a, 2 AS a").to_array() == [{"a": 2}]  # the last of a repeated name
    assert list(sql.exec("SELECT 1 AS a, 2 AS a").raw()) == [[1, 2]]


async def test_values_map_as_the_runtime_maps_them(storage: DurableObjectStorage) -> None:
    sql = storage.sql
    row = sql.exec(
        "SELECT ? AS i, ? AS f, 2.0 AS whole, 9007199254740993 AS big, -9223372036854775808 AS low, "
        "NULL AS z, x'00ff' AS blob, ? AS text, ? AS bound_blob, 1e300 AS huge",
        42,
        0.25,
        "é😀",
        bytearray(b"\x01\x02"),
    ).one()
    assert row == {
        "i": 42,
        "f": 0.25,
        "whole": 2,  # a JS Number: integral values arrive as int
        "big": 9007199254740992.0,  # beyond 2**53: rounded, a float, as on the binding
        "low": -9.223372036854775808e18,
        "z": None,
        "blob": b"\x00\xff",
        "text": "é😀",
        "bound_blob": b"\x01\x02",
        "huge": 1e300,
    }
    assert type(row["whole"]) is int
    assert type(row["big"]) is float
    assert sql.exec("SELECT ?2 AS b, ?1 AS a", "x", "y").one() == {"b": "y", "a": "x"}


@pytest.mark.parametrize(
    ("bindings", "error", "field"),
    [
        ((True,), InvalidInput, "bindings[0]"),
        ((2**53,), InvalidInput, "bindings[0]"),
        (({"a": 1},), InvalidInput, "bindings[0]"),
        ((1, [1]), InvalidInput, "bindings[1]"),
        ((b"x" * 2_000_001,), LimitExceeded, None),
        (("x" * 2_000_001,), LimitExceeded, None),
        (tuple(range(101)), LimitExceeded, None),
    ],
)
async def test_bad_bindings_are_refused_before_io(
    storage: DurableObjectStorage, bindings: tuple[Any, ...], error: type[Exception], field: str | None
) -> None:
    with InvocationScope("node") as scope, pytest.raises(error) as info:
        storage.sql.exec("SELECT ?", *bindings)
    if field is not None:
        assert getattr(info.value, "field", None) == field
    assert scope.effect_hints == ()  # refused before anything was recorded or run


async def test_query_limits_and_shape(storage: DurableObjectStorage) -> None:
    sql = storage.sql
    with pytest.raises(LimitExceeded, match="100000"):
        sql.exec("SELECT '" + "x" * 100_000 + "'")
    assert sql.exec("SELECT '" + "x" * 99_980 + "' AS s").one()["s"] == "x" * 99_980
    with pytest.raises(InvalidInput, match="did not contain a statement"):
        sql.exec(" -- only a comment\n ;; ")
    with pytest.raises(InvalidInput, match="only the last statement"):
        sql.exec("SELECT ?; SELECT ?", 1, 2)
    with pytest.raises(LimitExceeded):  # a row grown past 2 MB inside SQL fails in SQLite too
        sql.exec("INSERT INTO t (name, b, n) VALUES ('big', zeroblob(2000001), 1)")
    with pytest.raises(LimitExceeded, match="too many arguments"):
        sql.exec("SELECT " + ", ".join(["1"] * 33) + " WHERE max(" + ", ".join(["1"] * 33) + ")")
    with pytest.raises(TypeError):
        sql.exec()  # type: ignore[call-arg]


async def test_several_statements_run_in_order_and_keep_their_effects(storage: DurableObjectStorage) -> None:
    sql = storage.sql
    cursor = sql.exec(
        "INSERT INTO t (name, n) VALUES ('m1', 1); INSERT INTO t (name, n) VALUES ('m2', 2);\n"
        "SELECT count(*) AS c FROM t"
    )
    assert cursor.one() == {"c": 2}
    with pytest.raises(InvalidInput, match="syntax error"):
        sql.exec("INSERT INTO t (name, n) VALUES ('m3', 3); SELEC 1")
    assert sql.exec("SELECT count(*) AS c FROM t").one() == {
        "c": 3
    }  # the first statement stayed, as on Workers
    sql.exec(
        "CREATE TRIGGER tr AFTER INSERT ON t BEGIN UPDATE t "
        "SET v = CASE WHEN new.v IS NULL THEN 0 ELSE new.v END WHERE id = new.id; END; "
        "INSERT INTO t (name, n) VALUES ('m4', 4)"
    )
    assert sql.exec("SELECT v FROM t WHERE name = 'm4'").one() == {"v": 0}


@pytest.mark.parametrize(
    ("query", "error", "match"),
    [
        ("SELEC 1", InvalidInput, "syntax error.*SELEC 1"),
        ("SELECT * FROM nope", InvalidInput, "no such table"),
        ("INSERT INTO t (name, n) VALUES ('a', 1), ('a', 2)", PreconditionFailed, "UNIQUE constraint failed"),
        ("INSERT INTO t (name) VALUES ('q')", PreconditionFailed, "NOT NULL constraint failed"),
        ("CREATE TABLE _cf_mine (a)", InvalidInput, "not authorized.*_cf_"),
        ("CREATE INDEX _cf_i ON t (n)", InvalidInput, "not authorized"),
        ("BEGIN", InvalidInput, "transaction_sync"),
        ("SAVEPOINT s", InvalidInput, "transaction_sync"),
        ("ATTACH DATABASE 'x' AS y", InvalidInput, "not authorized"),
        ("CREATE TEMP TABLE x (a)", InvalidInput, "not authorized"),
        ("PRAGMA journal_mode", InvalidInput, "not authorized"),
        ("VACUUM", InvalidInput, "VACUUM"),
        ("SELECT ?", InvalidInput, "number of parameter bindings"),
    ],
)
async def test_errors_are_translated(
    storage: DurableObjectStorage, query: str, error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        storage.sql.exec(query)


async def test_what_the_runtime_allows(storage: DurableObjectStorage) -> None:
    sql = storage.sql
    sql.exec("CREATE TABLE _CF_upper (a)")  # the runtime refuses the lower-case prefix only (and warns)
    assert [r["name"] for r in sql.exec("PRAGMA table_info(t)")] == ["id", "name", "v", "b", "n"]
    assert sql.exec("PRAGMA foreign_keys").raw().to_array() == [[1]]
    sql.exec("CREATE TABLE child (id INTEGER PRIMARY KEY, parent INTEGER REFERENCES t (id))")
    with pytest.raises(PreconditionFailed, match="FOREIGN KEY"):
        sql.exec("INSERT INTO child VALUES (1, 999)")
    assert sql.exec("SELECT 1 AS _cf_alias").one() == {"_cf_alias": 1}


async def test_transaction_sync(storage: DurableObjectStorage) -> None:
    sql = storage.sql

    def two_rows() -> int:
        sql.exec("INSERT INTO t (name, n) VALUES ('x', 1)")
        sql.exec("INSERT INTO t (name, n) VALUES ('y', 2)")
        return 7

    assert storage.transaction_sync(two_rows) == 7

    def fails() -> None:
        sql.exec("INSERT INTO t (name, n) VALUES ('z', 3)")
        sql.exec("INSERT INTO t (name, n) VALUES ('x', 4)")  # UNIQUE: the whole block rolls back

    with pytest.raises(PreconditionFailed):
        storage.transaction_sync(fails)

    def nested() -> None:
        sql.exec("INSERT INTO t (name, n) VALUES ('outer', 5)")
        with pytest.raises(ZeroDivisionError):
            storage.transaction_sync(lambda: (sql.exec("INSERT INTO t (name, n) VALUES ('inner', 6)"), 1 / 0))

    storage.transaction_sync(nested)
    assert [r[0] for r in sql.exec("SELECT name FROM t ORDER BY id").raw()] == ["x", "y", "outer"]

    async def async_fn() -> None: ...

    coroutine: Any = async_fn

    with pytest.raises(InvalidInput, match="synchronous"):
        storage.transaction_sync(coroutine)
    with pytest.raises(InvalidInput, match="synchronous"):
        storage.transaction_sync(lambda: coroutine())
    with pytest.raises(InvalidInput, match="function"):
        storage.transaction_sync(3)  # type: ignore[arg-type]


async def test_delete_all_drops_the_tables_and_sizes_are_reported(storage: DurableObjectStorage) -> None:
    sql = storage.sql
    empty = sql.database_size
    sql.exec("INSERT INTO t (name, b, n) VALUES ('blob', zeroblob(100000), 1)")
    assert sql.database_size > empty > 0
    await storage.put("k", 1)
    await storage.delete_all()
    assert await storage.get("k") is None
    assert sql.exec("SELECT name FROM sqlite_master").to_array() == []


async def test_point_in_time_recovery_is_unsupported_locally(storage: DurableObjectStorage) -> None:
    with pytest.raises(Unsupported, match="point-in-time recovery"):
        await storage.get_current_bookmark()
    with pytest.raises(Unsupported):
        await storage.get_bookmark_for_time(0)
    with pytest.raises(Unsupported):
        await storage.on_next_session_restore_bookmark("x")
    with pytest.raises(InvalidInput):
        await storage.get_bookmark_for_time(-1)
    with pytest.raises(InvalidInput):
        await storage.on_next_session_restore_bookmark("")


async def test_hints_follow_read_or_write(storage: DurableObjectStorage) -> None:
    sql = storage.sql
    with InvocationScope("node") as scope:
        sql.exec("SELECT * FROM t")
        sql.exec("WITH x AS (SELECT 1) SELECT * FROM x")
        sql.exec("PRAGMA table_info(t)")
        assert scope.observed_determinism.json == "stable"
        assert scope.effect_hints == ("resource::state::read",)
        sql.exec("INSERT INTO t (name, n) VALUES ('h', 1)")
        assert scope.observed_determinism.json == "best_effort"
    assert list(scope.effect_hints) == ["resource::state::read", "resource::state::write"]


@pytest.mark.parametrize(
    ("query", "read_only"),
    [
        ("SELECT 1", True),
        ("  select * from t where a = ';'", True),
        ("VALUES (1), (2)", True),
        ("EXPLAIN QUERY PLAN DELETE FROM t", True),
        ("WITH x AS (SELECT 1) SELECT * FROM x", True),
        ("WITH x AS (SELECT 1) DELETE FROM t WHERE id IN x", False),
        ("PRAGMA table_info(t)", True),
        ("PRAGMA foreign_keys", True),
        ("PRAGMA foreign_keys = OFF", False),
        ("PRAGMA journal_mode", False),
        ("SELECT 1; DELETE FROM t", False),
        ("INSERT INTO t VALUES (1)", False),
        ("/* c */ SELECT 1 -- d", True),
        ("CREATE TABLE x (a)", False),
    ],
)
def test_read_only_classification(query: str, read_only: bool) -> None:
    assert is_read_only(query) is read_only


def test_statement_split() -> None:
    assert split_statements("SELECT ';'; SELECT \"a;b\" ; -- x;\n").texts == ("SELECT ';';", 'SELECT "a;b" ;')
    trigger = "CREATE TRIGGER r AFTER INSERT ON t BEGIN SELECT CASE WHEN 1 THEN 2 END; SELECT 3; END"
    assert split_statements(trigger + "; SELECT 4").texts == (trigger + ";", "SELECT 4")
    assert split_statements(" ; -- nothing").texts == ()


class JsException(Exception):
    """Stands in for Pyodide's class of that name (matched by name), carrying the runtime's real text."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name
        self.message = message


@pytest.mark.parametrize(
    ("message", "error"),
    [  # the runtime's messages, as Miniflare's workerd produced them
        (
            "UNIQUE constraint failed: t.name: SQLITE_CONSTRAINT (extended: SQLITE_CONSTRAINT_UNIQUE)",
            PreconditionFailed,
        ),
        (
            "FOREIGN KEY constraint failed: SQLITE_CONSTRAINT (extended: SQLITE_CONSTRAINT_FOREIGNKEY)",
            PreconditionFailed,
        ),
        ('near "SELEC": syntax error at offset 0: SQLITE_ERROR', InvalidInput),
        ("not authorized: SQLITE_AUTH", InvalidInput),
        ("Wrong number of parameter bindings for SQL query.", InvalidInput),
        ("statement too long: SQLITE_TOOBIG", LimitExceeded),
        ("This Durable Object's storage back-end does not implement point-in-time recovery.", Unsupported),
    ],
)
def test_the_runtimes_messages_translate_through_the_js_rules(message: str, error: type[Exception]) -> None:
    from cap_cloudflare_do import error_codes  # registers the package's rules
    from cap_cloudflare_do.sql import sql_error
    from cap_opendal_core.translate import from_js

    assert error_codes.ERRORS.service == "do"
    assert (
        type(from_js(JsException("Error", message), capability="do", operation="storage.sql.exec")) is error
    )
    if error is not Unsupported:
        assert type(sql_error(f"Error: {message}", "q")) is error
