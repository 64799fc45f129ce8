"""httpx errors → CapabilityError, provoked for real: a closed port, and a tiny TCP server on
127.0.0.1 that resets the connection mid-body, stalls past the client's timeout, redirects forever
or answers with a Cloudflare error envelope."""

from __future__ import annotations

import asyncio
import json
import socket
import struct
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from cap_opendal_core import errors
from cap_opendal_core.translate import from_exception, from_httpx

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

CTX: dict[str, Any] = {"capability": "kv", "operation": "put", "key": "k"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@asynccontextmanager
async def misbehaving_server() -> AsyncIterator[str]:
    """Serve on 127.0.0.1; the request path picks the misbehaviour. Yields the base URL."""
    handlers: set[asyncio.Task[Any]] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        handlers.add(task)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            path = head.split(b" ", 2)[1].decode()
            if path.startswith("/reset"):
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"x" * 10)
                await writer.drain()
                sock = writer.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                writer.transport.abort()  # RST, mid-body
                return
            if path.startswith("/stall"):
                await asyncio.sleep(30)
                return
            if path.startswith("/redirect"):
                response = b"HTTP/1.1 302 Found\r\nLocation: /redirect\r\nContent-Length: 0\r\n\r\n"
            elif path.startswith("/limited"):
                body = json.dumps(
                    {"success": False, "errors": [{"code": 10022, "message": "too many requests"}]}
                ).encode()
                response = (
                    b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 4\r\nContent-Type: application/json\r\n"
                    + f"Content-Length: {len(body)}\r\n\r\n".encode()
                    + body
                )
            else:
                response = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
            writer.write(response)
            await writer.drain()
            writer.close()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            handlers.discard(task)

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()
        for task in list(handlers):
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)
        await server.wait_closed()


async def _fail(awaitable: Any) -> BaseException:
    with pytest.raises(httpx.HTTPError) as info:
        await awaitable
    return info.value


@pytest.mark.anyio
async def test_connect_to_closed_port() -> None:
    url = f"http://127.0.0.1:{_free_port()}/values/k"
    async with httpx.AsyncClient() as client:
        raw = await _fail(client.put(url, content=b"v"))
    assert isinstance(raw, httpx.ConnectError)
    err = from_httpx(raw, **CTX)
    assert type(err) is errors.Unavailable
    assert err.retryable is True
    assert err.__cause__ is raw
    assert (err.capability, err.operation, err.key) == ("kv", "put", "k")
    assert f"PUT {url}" in err.message
    assert type(from_exception(raw, **CTX)) is errors.Unavailable


@pytest.mark.anyio
async def test_reset_mid_body() -> None:
    async with misbehaving_server() as base, httpx.AsyncClient() as client:
        raw = await _fail(client.get(f"{base}/reset"))
    assert isinstance(raw, httpx.RemoteProtocolError | httpx.ReadError)
    err = from_httpx(raw, **CTX)
    assert (type(err), err.retryable) == (errors.Unavailable, True)


@pytest.mark.anyio
async def test_read_timeout_on_a_write_is_still_retryable() -> None:
    # Whether a timed-out POST may be repeated is the retry layer's call (idempotency), not ours.
    async with misbehaving_server() as base, httpx.AsyncClient(timeout=0.2) as client:
        raw = await _fail(client.post(f"{base}/stall", content=b"payload"))
    assert isinstance(raw, httpx.ReadTimeout)
    err = from_httpx(raw, capability="queue", operation="send")
    assert (type(err), err.retryable) == (errors.Unavailable, True)
    assert "ReadTimeout" in err.message


@pytest.mark.anyio
async def test_pool_timeout() -> None:
    limits = httpx.Limits(max_connections=1)
    timeout = httpx.Timeout(5.0, pool=0.1)
    async with misbehaving_server() as base, httpx.AsyncClient(limits=limits, timeout=timeout) as client:
        holder = asyncio.ensure_future(client.get(f"{base}/stall"))
        await asyncio.sleep(0.1)  # let it take the only connection
        raw = await _fail(client.get(f"{base}/ok"))
        holder.cancel()
        await asyncio.gather(holder, return_exceptions=True)
    assert isinstance(raw, httpx.PoolTimeout)
    assert (type(from_httpx(raw, **CTX)), from_httpx(raw, **CTX).retryable) == (errors.Unavailable, True)


@pytest.mark.anyio
async def test_status_error_goes_through_from_http() -> None:
    async with misbehaving_server() as base, httpx.AsyncClient() as client:
        response = await client.put(f"{base}/limited", content=b"v")
        raw = await _fail(_raise_for_status(response))
    err = from_httpx(raw, **CTX)
    assert isinstance(err, errors.RateLimited)
    assert err.retry_after == 4.0
    assert err.retryable is True
    assert "[10022] too many requests" in err.message
    assert err.__cause__ is raw


async def _raise_for_status(response: httpx.Response) -> None:
    response.raise_for_status()


@pytest.mark.anyio
async def test_misconfiguration_errors() -> None:
    async with (
        misbehaving_server() as base,
        httpx.AsyncClient(follow_redirects=True, max_redirects=2) as client,
    ):
        redirects = await _fail(client.get(f"{base}/redirect"))
        unsupported = await _fail(client.get("ftp://127.0.0.1/x"))
        local = await _fail(client.get(f"{base}/ok", headers={"x-bad": "a\r\nb"}))
    assert isinstance(redirects, httpx.TooManyRedirects)
    assert type(from_httpx(redirects, **CTX)) is errors.Misconfigured
    assert isinstance(unsupported, httpx.UnsupportedProtocol)
    assert type(from_httpx(unsupported, **CTX)) is errors.Misconfigured
    assert isinstance(local, httpx.LocalProtocolError)
    assert type(from_httpx(local, **CTX)) is errors.InvalidInput


def test_exception_without_request_and_without_message() -> None:
    err = from_httpx(httpx.ReadError(""), **CTX)
    assert (type(err), err.retryable) == (errors.Unavailable, True)
    assert err.message == "ReadError (no detail from httpx)"
    err = from_httpx(httpx.DecodingError("bad gzip"), **CTX)
    assert (type(err), err.retryable) == (errors.BackendError, False)


def test_non_httpx_exception_goes_through_from_exception() -> None:
    err = from_httpx(ConnectionResetError("reset by peer"), **CTX)
    assert (type(err), err.retryable) == (errors.Unavailable, True)
