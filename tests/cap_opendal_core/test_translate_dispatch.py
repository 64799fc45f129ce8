"""``from_exception``: the dispatcher every backend calls, fed with real failures of real things —
files, sockets, SQLite, asyncio timeouts, task groups."""

from __future__ import annotations

import asyncio
import socket
import sqlite3
import subprocess
import sys
from typing import TYPE_CHECKING, Any

import anyio
import pytest

from cap_opendal_core import errors
from cap_opendal_core.translate import from_exception

if TYPE_CHECKING:
    from pathlib import Path

CTX: dict[str, Any] = {"capability": "kv", "operation": "put", "key": "k"}


def _raised(fn: Any, *args: Any) -> BaseException:
    try:
        fn(*args)
    except BaseException as exc:
        return exc
    raise AssertionError("expected an exception")


def test_file_errors(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    cases = [
        (_raised(open, tmp_path / "missing"), errors.NotFound),
        (_raised((tmp_path / "dir").mkdir), errors.AlreadyExists),
        (_raised(open, tmp_path / "dir"), errors.InvalidInput),
        (_raised(open, tmp_path / ("x" * 300)), errors.LimitExceeded),  # ENAMETOOLONG
    ]
    for exc, kind in cases:
        err = from_exception(exc, **CTX)
        assert type(err) is kind, exc
        assert err.retryable is False
        assert err.__cause__ is exc
    too_long = from_exception(cases[3][0], **CTX)
    assert isinstance(too_long, errors.LimitExceeded)
    assert too_long.limit == "kv.key_bytes"


def test_connection_refused_is_unavailable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with socket.socket() as client:
        exc = _raised(client.connect, ("127.0.0.1", port))
    assert isinstance(exc, ConnectionRefusedError)
    err = from_exception(exc, **CTX)
    assert (type(err), err.retryable) == (errors.Unavailable, True)


@pytest.mark.anyio
async def test_timeout_is_deadline_exceeded() -> None:
    with pytest.raises(TimeoutError) as info:
        async with asyncio.timeout(0.01):
            await asyncio.sleep(1)
    err = from_exception(info.value, **CTX)
    assert (type(err), err.retryable) == (errors.DeadlineExceeded, True)


def test_sqlite_errors(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (k TEXT PRIMARY KEY)")
    holder.execute("INSERT INTO t VALUES ('a')")
    duplicate = _raised(holder.execute, "INSERT INTO t VALUES ('a')")
    assert type(from_exception(duplicate, **CTX)) is errors.AlreadyExists

    holder.execute("BEGIN EXCLUSIVE")
    other = sqlite3.connect(path, timeout=0)
    locked = _raised(other.execute, "SELECT * FROM t")
    err = from_exception(locked, **CTX)
    assert (type(err), err.retryable) == (errors.Unavailable, True)
    holder.execute("ROLLBACK")
    other.close()
    holder.close()

    bad_sql = _raised(sqlite3.connect(":memory:").execute, "SELEKT 1")
    assert (type(from_exception(bad_sql, **CTX)), from_exception(bad_sql, **CTX).retryable) == (
        errors.BackendError,
        False,
    )


def test_validation_and_other_python_errors() -> None:
    assert type(from_exception(ValueError("bad"), **CTX)) is errors.InvalidInput
    assert type(from_exception(TypeError("bad"), **CTX)) is errors.InvalidInput
    assert type(from_exception(NotImplementedError(), **CTX)) is errors.Unsupported
    err = from_exception(KeyError("x"), **CTX)
    assert (type(err), err.retryable) == (errors.BackendError, False)
    assert err.message == "KeyError: 'x'"


def test_unprintable_exception() -> None:
    class Weird(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no")

    err = from_exception(Weird(), **CTX)
    assert err.message == "Weird: <unprintable>"


async def _run_group(*failures: Exception) -> None:
    async def fail(exc: Exception) -> None:
        raise exc

    async with anyio.create_task_group() as tg:
        for exc in failures:
            tg.start_soon(fail, exc)


@pytest.mark.anyio
async def test_task_group_failures() -> None:
    with pytest.raises(BaseExceptionGroup) as one:
        await _run_group(FileNotFoundError("gone"))
    assert type(from_exception(one.value, **CTX)) is errors.NotFound

    with pytest.raises(BaseExceptionGroup) as several:
        await _run_group(ConnectionResetError("reset"), ValueError("bad"))
    err = from_exception(several.value, **CTX)
    assert type(err) is errors.BackendError
    assert err.retryable is False  # one of them would not help to retry
    assert "2 concurrent operations failed" in err.message
    assert "unavailable" in err.message
    assert "invalid_input" in err.message


def test_cancellation_and_exits_are_never_translated() -> None:
    for exc in (asyncio.CancelledError(), KeyboardInterrupt(), SystemExit(1)):
        with pytest.raises(type(exc)):
            from_exception(exc, **CTX)


def test_capability_error_keeps_its_own_context() -> None:
    err = errors.RateLimited("slow down", retry_after=3.0, capability="r2")
    assert from_exception(err, **CTX) is err
    assert (err.capability, err.operation, err.key) == ("r2", "put", "k")
    assert err.retry_after == 3.0


def test_translation_does_not_import_heavy_libraries() -> None:
    code = (
        "import sys\n"
        "from cap_opendal_core.translate import from_exception\n"
        "from cap_opendal_core import scrub\n"
        "for e in (ValueError('x'), OSError('y'), TimeoutError()):\n"
        "    from_exception(e, capability='kv', operation='get')\n"
        "scrub('Authorization: Bearer abcdef')\n"
        "heavy = ('opendal', 'httpx', 'pydantic', 'pyodide', 'structlog')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
