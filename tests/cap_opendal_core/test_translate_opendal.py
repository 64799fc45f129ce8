"""OpenDAL errors → CapabilityError: every class of ``opendal.exceptions``, and real operator failures.

The real failures come from real operators: ``memory`` and ``fs`` for local errors, and ``s3`` pointed
at a closed port (transport failure) or at a tiny HTTP server on 127.0.0.1 that answers every request
with a chosen S3 error response — the same bytes R2's S3 API would send.
"""

from __future__ import annotations

import asyncio
import socket
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import opendal
import opendal.exceptions
import pytest

from cap_opendal_core import errors
from cap_opendal_core.translate import from_exception, from_opendal

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable
    from pathlib import Path

CTX: dict[str, Any] = {"capability": "r2", "operation": "get", "key": "k"}

# class name -> {status word: (expected error class, expected retryable)}
_P, _T, _S = "permanent", "temporary", "persistent"


def _same(kind: type[errors.CapabilityError]) -> dict[str, tuple[type[errors.CapabilityError], bool]]:
    return {_P: (kind, False), _T: (kind, False), _S: (kind, False)}


EXPECTED: dict[str, dict[str, tuple[type[errors.CapabilityError], bool]]] = {
    "AlreadyExists": _same(errors.AlreadyExists),
    "ConditionNotMatch": _same(errors.PreconditionFailed),
    "ConfigInvalid": _same(errors.Misconfigured),
    "Conflict": {
        _P: (errors.PreconditionFailed, False),
        _T: (errors.PreconditionFailed, True),
        _S: (errors.PreconditionFailed, True),
    },
    "Error": {
        _P: (errors.BackendError, False),
        _T: (errors.Unavailable, True),
        _S: (errors.Unavailable, True),
    },
    "IsADirectory": _same(errors.InvalidInput),
    "IsSameFile": _same(errors.InvalidInput),
    "NotADirectory": _same(errors.InvalidInput),
    "NotFound": _same(errors.NotFound),
    "PermissionDenied": _same(errors.Forbidden),
    "RangeNotSatisfied": _same(errors.InvalidInput),
    "RateLimited": {
        _P: (errors.RateLimited, True),
        _T: (errors.RateLimited, True),
        _S: (errors.RateLimited, True),
    },
    "Unexpected": {
        _P: (errors.BackendError, False),
        _T: (errors.Unavailable, True),
        _S: (errors.Unavailable, True),
    },
    "Unsupported": _same(errors.Unsupported),
}


def _opendal_exception_classes() -> set[str]:
    return {
        name
        for name in dir(opendal.exceptions)
        if isinstance(getattr(opendal.exceptions, name), type)
        and issubclass(getattr(opendal.exceptions, name), BaseException)
    }


def test_table_covers_every_installed_opendal_exception_class() -> None:
    assert _opendal_exception_classes() == set(EXPECTED), "a new opendal exception class needs a mapping"


@pytest.mark.parametrize(
    ("name", "status"), [(name, status) for name in sorted(EXPECTED) for status in (_P, _T, _S)]
)
def test_every_class_and_status(name: str, status: str) -> None:
    cls = getattr(opendal.exceptions, name)
    original = cls(
        f"{name} ({status}) at read => something happened\n\nContext:\n   service: s3\n   path: k\n"
    )
    err = from_opendal(original, **CTX)
    kind, retryable = EXPECTED[name][status]
    assert type(err) is kind
    assert err.retryable is retryable
    assert (err.capability, err.operation, err.key) == ("r2", "get", "k")
    assert err.__cause__ is original
    assert err.message.startswith(f"{name} ({status}) at read => something happened")
    assert "service: s3" in err.message
    # from_exception dispatches to the same translator
    assert original is not None
    again = from_exception(original, **CTX)
    assert (type(again), again.retryable) == (kind, retryable)


def test_backtrace_is_dropped_and_message_clipped() -> None:
    text = "Unexpected (temporary) at stat => boom\n\nBacktrace:\n" + "   0: <unknown>\n" * 5000
    err = from_opendal(opendal.exceptions.Unexpected(text), **CTX)
    assert "Backtrace" not in err.message
    assert "<unknown>" not in err.message
    assert len(err.message) < 200


def test_unparsable_message_still_translates() -> None:
    err = from_opendal(opendal.exceptions.Unexpected("completely free-form text"), **CTX)
    assert type(err) is errors.BackendError
    assert err.retryable is False
    assert "completely free-form text" in err.message


def test_non_opendal_exception_goes_through_from_exception() -> None:
    err = from_opendal(ValueError("bad"), **CTX)
    assert type(err) is errors.InvalidInput


# --- real operators -----------------------------------------------------------------------------


async def _fail(awaitable: Any) -> BaseException:
    with pytest.raises(Exception) as info:  # noqa: PT011 - the point is to catch whatever OpenDAL raises
        await awaitable
    return info.value


@pytest.mark.anyio
async def test_memory_operator_failures() -> None:
    op = opendal.AsyncOperator("memory")
    missing = await _fail(op.stat("nope"))
    err = from_exception(missing, capability="kv", operation="get", key="nope")
    assert type(err) is errors.NotFound
    assert err.retryable is False
    assert err.__cause__ is missing
    assert "path: nope" in err.message

    await op.write("a", b"x")
    err = from_exception(await _fail(op.write("a", b"y", if_not_exists=True)), **CTX)
    assert type(err) is errors.PreconditionFailed

    err = from_exception(await _fail(op.presign_read("a", 10)), **CTX)
    assert type(err) is errors.Unsupported

    err = from_exception(await _fail(op.read("a/")), **CTX)
    assert type(err) is errors.InvalidInput


@pytest.mark.anyio
async def test_fs_operator_failures(tmp_path: Path) -> None:
    op = opendal.AsyncOperator("fs", root=str(tmp_path))
    await op.write("file", b"x")
    await op.create_dir("dir/")

    # OpenDAL reports ENOTDIR / EISDIR as "Unexpected (temporary)"; retrying cannot help.
    raw = await _fail(op.stat("file/child"))
    assert type(raw).__name__ == "Unexpected"
    assert "(temporary)" in str(raw)
    err = from_exception(raw, **CTX)
    assert type(err) is errors.InvalidInput
    assert err.retryable is False

    err = from_exception(await _fail(op.read("dir")), **CTX)
    assert (type(err), err.retryable) == (errors.InvalidInput, False)

    err = from_exception(await _fail(op.copy("file", "file")), **CTX)
    assert type(err) is errors.InvalidInput

    err = from_exception(await _fail(op.read("file", offset=100, size=10)), **CTX)
    assert type(err) is errors.InvalidInput
    assert isinstance(err, errors.InvalidInput)
    assert err.field == "range"

    err = from_exception(await _fail(op.write("file", b"y", if_not_exists=True)), **CTX)
    assert type(err) is errors.PreconditionFailed


def test_operator_construction_failures() -> None:
    with pytest.raises(Exception) as info:  # noqa: PT011
        opendal.AsyncOperator("no-such-scheme")
    assert type(from_exception(info.value, **CTX)) is errors.Misconfigured

    with pytest.raises(Exception) as info:  # noqa: PT011
        opendal.AsyncOperator("s3")  # no bucket
    assert type(from_exception(info.value, **CTX)) is errors.Misconfigured


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _s3(port: int) -> opendal.AsyncOperator:
    return opendal.AsyncOperator(
        "s3",
        bucket="bucket",
        endpoint=f"http://127.0.0.1:{port}",
        region="auto",
        access_key_id="AKIAIOSFODNN7EXAMPLE",
        secret_access_key="translate-test-secret-key-0123456789",
        disable_config_load="true",
    )


@pytest.mark.anyio
async def test_closed_port_is_unavailable_and_retryable() -> None:
    op = _s3(_free_port())
    for attempt in (op.stat("k"), op.write("k", b"x")):
        err = from_exception(await _fail(attempt), **CTX)
        assert type(err) is errors.Unavailable
        assert err.retryable is True
        assert "Connection refused" in err.message or "connect" in err.message.lower()


@asynccontextmanager
async def s3_error_server(state: dict[str, Any]) -> AsyncIterator[int]:
    """An HTTP server on 127.0.0.1 answering every request with ``state``'s S3 error response."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = await reader.read(65536)
            if not chunk:
                break
            data += chunk
        status, code = state["status"], state["code"]
        body = (
            f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
            f"<Message>message for {code}</Message></Error>"
        ).encode()
        extra = "".join(f"{k}: {v}\r\n" for k, v in state.get("headers", {}).items())
        writer.write(
            f"HTTP/1.1 {status} Error\r\nContent-Type: application/xml\r\nContent-Length: {len(body)}\r\n"
            f"{extra}Connection: close\r\n\r\n".encode()
            + body
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        server.close()
        await server.wait_closed()


def _read(op: opendal.AsyncOperator) -> Any:
    return op.read("k")


def _conditional_write(op: opendal.AsyncOperator) -> Any:
    return op.write("k", b"x", if_not_exists=True)


S3_CASES = [
    (400, "InvalidArgument", errors.InvalidInput, False),
    (400, "EntityTooLarge", errors.LimitExceeded, False),
    (401, "Unauthorized", errors.Unauthorized, False),
    (403, "AccessDenied", errors.Forbidden, False),
    (403, "SignatureDoesNotMatch", errors.Unauthorized, False),
    (404, "NoSuchKey", errors.NotFound, False),
    (404, "NoSuchBucket", errors.Misconfigured, False),
    (409, "ConditionalRequestConflict", errors.PreconditionFailed, True),
    (412, "PreconditionFailed", errors.PreconditionFailed, False),
    (416, "InvalidRange", errors.InvalidInput, False),
    (429, "SlowDown", errors.RateLimited, True),
    (500, "InternalError", errors.Unavailable, True),
    (501, "NotImplemented", errors.Unsupported, False),
    (503, "ServiceUnavailable", errors.Unavailable, True),
    (418, "SomethingNew", errors.BackendError, False),
]


@pytest.mark.anyio
@pytest.mark.parametrize("call", [_read, _conditional_write], ids=["read", "conditional-write"])
async def test_s3_error_responses(call: Callable[[opendal.AsyncOperator], Any]) -> None:
    state: dict[str, Any] = {}
    async with s3_error_server(state) as port:
        op = _s3(port)
        for status, code, kind, retryable in S3_CASES:
            state.update(status=status, code=code, headers={"Retry-After": "7"} if status == 429 else {})
            raw = await _fail(call(op))
            err = from_exception(raw, capability="r2", operation="put", key="k")
            assert (status, code, type(err), err.retryable) == (status, code, kind, retryable)
            assert code in err.message
            assert err.__cause__ is raw
            if kind is errors.RateLimited:
                assert isinstance(err, errors.RateLimited)
                assert err.retry_after == 7.0
            if kind is errors.LimitExceeded:
                assert isinstance(err, errors.LimitExceeded)
                assert err.limit == "r2.object_bytes"
