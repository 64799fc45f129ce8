"""How the R2-on-S3 HTTP/1.1 client's plain transport sends a body (issue 18).

A body the socket does not take at once waits as views of the caller's own buffer — never a copy —
and leaves in order as the socket drains; the connection is paused while anything waits and resumed
once all of it has left, so a request's drain ends when its body is out. Real TCP sockets on
127.0.0.1 with small buffers (so the socket fills), read by a thread: no mocks, no timing asserts.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import hashlib
import os
import socket
import time
from typing import TYPE_CHECKING

import pytest

from cap_cloudflare_r2.backends.http1 import Http1Pool, _Connection, _PlainTransport
from cap_opendal_core.redact import SealedHeaders

if TYPE_CHECKING:
    from collections.abc import Iterator

MiB = 1024 * 1024
SMALL = 16 * 1024
HEAD = b"PUT /bucket/key HTTP/1.1\r\nhost: x\r\n\r\n"

pytestmark = pytest.mark.anyio


class Recorded(_Connection):
    """A connection that counts the transport's flow-control calls."""

    __slots__ = ("pauses", "resumes")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop, [])
        self.pauses = 0
        self.resumes = 0

    def pause_writing(self) -> None:
        self.pauses += 1
        super().pause_writing()

    def resume_writing(self) -> None:
        self.resumes += 1
        super().resume_writing()


@contextlib.contextmanager
def tcp_pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    """A connected (client, server) pair on 127.0.0.1 with small buffers: the client's socket fills
    after a few KiB, so every large write is sent in parts."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SMALL)  # inherited by the accepted one
        client = socket.socket()
        client.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SMALL)
        client.connect(listener.getsockname())
        server, _ = listener.accept()
    client.setblocking(False)
    try:
        yield client, server
    finally:
        client.close()
        server.close()


def _receive(sock: socket.socket, count: int, *, pace: float = 0.0) -> bytes:
    """Exactly ``count`` bytes (fewer if the peer closes), ``pace`` seconds between reads."""
    got = bytearray()
    while len(got) < count:
        piece = sock.recv(min(SMALL, count - len(got)))
        if not piece:
            break
        got += piece
        if pace:
            time.sleep(pace)
    return bytes(got)


def _open(loop: asyncio.AbstractEventLoop, client: socket.socket) -> tuple[_PlainTransport, Recorded]:
    connection = Recorded(loop)
    transport = _PlainTransport(loop, client, connection)
    return transport, connection


async def test_a_body_larger_than_the_socket_buffer_waits_as_views_and_leaves_whole_in_order() -> None:
    loop = asyncio.get_running_loop()
    body = os.urandom(4 * MiB + 7)
    with tcp_pair() as (client, server):
        transport, connection = _open(loop, client)
        transport.write_parts(HEAD, body)
        waiting = transport.get_write_buffer_size()
        assert 0 < waiting <= len(body), "the socket took only part of it"
        assert connection.pauses == 1
        assert connection.paused
        assert [view.obj for view in transport._queue] == [body], "a view of the caller's bytes, no copy"
        more = b"and then this"
        transport.write(more)  # queued behind the body, not sent ahead of it
        assert transport.get_write_buffer_size() == waiting + len(more)
        reader = asyncio.ensure_future(asyncio.to_thread(_receive, server, len(HEAD) + len(body) + len(more)))
        await connection.drain(30.0)
        assert transport.get_write_buffer_size() == 0
        assert not transport._queue
        assert (connection.pauses, connection.resumes) == (1, 1), "one pause, one resume once all left"
        assert await reader == HEAD + body + more
        transport.close()


async def test_one_write_of_bytes_larger_than_the_socket_buffer_queues_a_view_of_them() -> None:
    loop = asyncio.get_running_loop()
    data = os.urandom(MiB)
    with tcp_pair() as (client, server):
        transport, connection = _open(loop, client)
        transport.write(data)
        assert [view.obj for view in transport._queue] == [data]
        assert connection.paused
        reader = asyncio.ensure_future(asyncio.to_thread(_receive, server, len(data)))
        await connection.drain(30.0)
        assert await reader == data
        assert not connection.paused
        transport.close()


async def test_a_bytearray_is_held_only_while_it_is_sent_and_any_buffer_goes_out_as_bytes() -> None:
    """A ``bytearray`` cannot be resized while a view of it waits (so it cannot change length under
    the transport) and can be once it has left; a buffer of another item format goes out as its
    bytes; empty parts are skipped."""
    loop = asyncio.get_running_loop()
    body = bytearray(os.urandom(2 * MiB))
    numbers = array.array("I", range(100_000))
    expected = HEAD + bytes(body) + numbers.tobytes()
    with tcp_pair() as (client, server):
        transport, connection = _open(loop, client)
        transport.write_parts(HEAD, b"", body, memoryview(numbers))
        assert transport.get_write_buffer_size() > 0
        with pytest.raises(BufferError):
            body.extend(b"!")
        reader = asyncio.ensure_future(asyncio.to_thread(_receive, server, len(expected)))
        await connection.drain(30.0)
        assert await reader == expected
        body.extend(b"!")  # nothing of it is held any more
        transport.close()


async def test_a_connection_the_peer_drops_mid_body_fails_the_drain_and_lets_the_body_go() -> None:
    loop = asyncio.get_running_loop()
    body = bytearray(os.urandom(4 * MiB))
    with tcp_pair() as (client, server):
        transport, connection = _open(loop, client)
        transport.write_parts(HEAD, body)
        assert transport.get_write_buffer_size() > 0
        await asyncio.to_thread(_receive, server, 1024)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        server.close()  # a reset, unread bytes and all
        with pytest.raises(ConnectionError):
            await connection.drain(30.0)
        assert connection.lost
        assert transport.is_closing()
        assert transport.get_write_buffer_size() == 0
        assert not transport._queue
        body.extend(b"!")  # the queued views went with the connection


async def test_closing_mid_body_drops_what_waits_and_wakes_the_drain() -> None:
    loop = asyncio.get_running_loop()
    body = bytearray(os.urandom(2 * MiB))
    with tcp_pair() as (client, _server):
        transport, connection = _open(loop, client)
        transport.write_parts(HEAD, body)
        draining = asyncio.ensure_future(connection.drain(30.0))
        await asyncio.sleep(0)
        connection.close()
        with pytest.raises(ConnectionError):
            await draining
        assert transport.get_write_buffer_size() == 0
        body.extend(b"!")
        transport.write(b"after the close")  # ignored, as asyncio's transport does
        assert transport.get_write_buffer_size() == 0


async def test_the_io_timeout_bounds_a_stall_not_a_body_that_keeps_moving() -> None:
    """The peer takes the body slowly but steadily, for longer in all than ``io_timeout``: the drain
    waits as long as bytes keep leaving. (A peer that stops reading times out: the next test.)"""
    loop = asyncio.get_running_loop()
    body = os.urandom(2 * MiB)
    with tcp_pair() as (client, server):
        transport, connection = _open(loop, client)
        transport.write_parts(HEAD, body)
        started = time.monotonic()
        reader = asyncio.ensure_future(asyncio.to_thread(_receive, server, len(HEAD) + len(body), pace=0.01))
        await connection.drain(0.5)
        assert await reader == HEAD + body
        if time.monotonic() - started < 0.5:
            pytest.skip("the body left within one io_timeout: nothing was shown")  # pragma: no cover
        transport.close()


async def test_a_peer_that_stops_reading_times_the_drain_out() -> None:
    loop = asyncio.get_running_loop()
    with tcp_pair() as (client, _server):
        transport, connection = _open(loop, client)
        transport.write_parts(HEAD, os.urandom(MiB))
        with pytest.raises(TimeoutError):
            await connection.drain(0.2)
        transport.close()


async def test_a_put_through_the_pool_arrives_byte_for_byte_from_bytes_and_bytearray() -> None:
    """End to end: a server that reads each request whole echoes back what it got."""
    received: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":")[1])
                    for line in head.lower().split(b"\r\n")
                    if line.startswith(b"content-length")
                )
                received.append(await reader.readexactly(length))
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    pool = Http1Pool("127.0.0.1", port)
    bodies: list[bytes | bytearray] = [os.urandom(9 * MiB + 1), bytearray(os.urandom(3 * MiB)), b"x"]
    try:
        for body in bodies:
            response = await pool.request("PUT", "/bucket/k", SealedHeaders({"host": "x"}), body)
            assert response.status == 200
            await response.read()
        assert received == [bytes(body) for body in bodies]
        bodies[1].extend(b"!")  # type: ignore[union-attr]  # not held after the request returned
    finally:
        await pool.aclose()
        server.close()
        await server.wait_closed()


class EarlyAnswer:
    """A server that answers a PUT after its head, before reading its body (``mode``): ``"refuse"``
    answers 403 and reads no more, keeping the connection open; ``"close"`` answers 400, ends its
    side and discards what still comes (a lingering close); ``"continue"`` sends an unasked-for
    ``100 Continue``, then reads the body and answers 200 with the body's MD5."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.connections = 0
        self.port = 0
        self._server: asyncio.Server | None = None
        self._done = asyncio.Event()

    async def __aenter__(self) -> EarlyAnswer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._done.set()
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            head = await reader.readuntil(b"\r\n\r\n")
            if self.mode == "refuse":
                writer.write(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 6\r\n\r\nrefuse")
                await writer.drain()
                await self._done.wait()
            elif self.mode == "close":
                writer.write(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 3\r\n\r\nbad")
                await writer.drain()
                writer.write_eof()
                while await reader.read(1 << 20):
                    pass
            else:
                writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                length = next(
                    int(line.split(b":")[1])
                    for line in head.lower().split(b"\r\n")
                    if line.startswith(b"content-length")
                )
                digest = hashlib.md5(await reader.readexactly(length)).hexdigest().encode()
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(digest), digest))
                await writer.drain()
                await reader.read(1)
        writer.close()


@pytest.mark.parametrize(("mode", "status", "answer"), [("refuse", 403, b"refuse"), ("close", 400, b"bad")])
async def test_an_answer_before_the_body_has_left_is_what_the_caller_gets(
    mode: str, status: int, answer: bytes
) -> None:
    """A server may refuse a request (a bad signature, a body too large) before reading its body:
    the caller gets that answer, not a timeout or a broken connection; the rest of the body is
    dropped (no view of it kept) and the connection, its request cut short, is not reused."""
    body = bytearray(os.urandom(16 * MiB))
    async with EarlyAnswer(mode) as server:
        pool = Http1Pool("127.0.0.1", server.port, io_timeout=30.0)
        try:
            response = await pool.request("PUT", "/bucket/k", SealedHeaders({"host": "x"}), body)
            assert response.status == status
            assert await response.read() == answer
            body.extend(b"!")  # nothing of it is held any more
            again = await pool.request("PUT", "/bucket/k", SealedHeaders({"host": "x"}), b"small")
            assert again.status == status
            again.close()
            assert server.connections == 2, "the cut-short connection was not reused"
        finally:
            await pool.aclose()


async def test_an_interim_answer_while_the_body_goes_out_does_not_cut_it_short() -> None:
    body = os.urandom(16 * MiB + 5)
    async with EarlyAnswer("continue") as server:
        pool = Http1Pool("127.0.0.1", server.port, io_timeout=30.0)
        try:
            response = await pool.request("PUT", "/bucket/k", SealedHeaders({"host": "x"}), body)
            assert response.status == 200
            assert await response.read() == hashlib.md5(body).hexdigest().encode()
        finally:
            await pool.aclose()
