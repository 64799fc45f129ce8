"""A small HTTP/1.1 client for one origin: keep-alive connections on asyncio, framed by h11.

Why not httpx, which the multipart calls use: a ``get`` is the hot path, and measured against one
moto server (``benchmarks/bench_r2.py``), 2,000 GETs through ``httpx.AsyncClient`` cost about 1.6x
the client CPU of OpenDAL's two requests (``stat`` + read) they were meant to replace, and
``httpcore`` alone 1.2x, while the same GETs on asyncio streams framed by h11 (the sans-IO HTTP/1.1
parser httpx itself is built on) cost about 0.6x. So this module keeps only what a GET needs:

* one origin (scheme, host, port), TLS through the ``ssl`` context its factory builds on first use;
* idle connections kept (LIFO) for reuse for ``keepalive_expiry`` seconds, only when h11 says the
  exchange ended cleanly and the server did not ask to close; a connection that turns out to have
  been closed while idle (nothing of the response arrived) is replaced once, transparently — safe
  for the idempotent requests this client is for;
* ``connect_timeout`` for connecting, ``io_timeout`` for each wait on the network;
* a response's body streams: :meth:`Http1Response.next_chunk` returns what arrived, so memory stays
  at about one read (asyncio's stream reader pauses the socket beyond twice its limit).

No proxies, redirects, compression or HTTP/2: the caller uses OpenDAL instead when a proxy applies.
Connections belong to the event loop that opened them; on another loop idle ones are dropped.
Request headers (signatures) never appear in errors or ``repr``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import TYPE_CHECKING, Final

import h11

if TYPE_CHECKING:
    import ssl
    from collections.abc import Callable

    from cap_opendal_core.redact import SealedHeaders

__all__ = ["Http1Pool", "Http1Response", "ProtocolFailure"]

_READ_SIZE: Final = 256 * 1024
_STREAM_LIMIT: Final = 256 * 1024  # asyncio pauses the socket once 2x this is buffered
_MAX_INCOMPLETE_EVENT: Final = 64 * 1024  # bound on a response head


class ProtocolFailure(Exception):
    """The server broke HTTP/1.1 framing, or closed the connection mid-response."""


class _Connection:
    __slots__ = ("idle_since", "parser", "reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.parser = h11.Connection(h11.CLIENT, max_incomplete_event_size=_MAX_INCOMPLETE_EVENT)
        self.idle_since = 0.0

    def close(self) -> None:
        with contextlib.suppress(RuntimeError):  # its event loop is closed: the socket went with it
            self.writer.close()

    def reusable(self) -> bool:
        return self.parser.our_state is h11.DONE and self.parser.their_state is h11.DONE


class Http1Pool:
    """Connections to one origin, and :meth:`request` to send a request (a GET, HEAD or PUT) on one."""

    __slots__ = (
        "_closed",
        "_connect_timeout",
        "_host",
        "_idle",
        "_io_timeout",
        "_keepalive_expiry",
        "_loop",
        "_max_idle",
        "_port",
        "_server_hostname",
        "_ssl",
        "_ssl_factory",
    )

    def __init__(
        self,
        host: str,
        port: int,
        *,
        ssl_context: Callable[[], ssl.SSLContext] | None = None,
        connect_timeout: float | None = 10.0,
        io_timeout: float | None = 120.0,
        keepalive_expiry: float = 5.0,
        max_idle: int = 64,
    ) -> None:
        self._host = host
        self._port = port
        self._ssl_factory = ssl_context
        self._ssl: ssl.SSLContext | None = None
        self._server_hostname = host if ssl_context is not None else None
        self._connect_timeout = connect_timeout
        self._io_timeout = io_timeout
        self._keepalive_expiry = keepalive_expiry
        self._max_idle = max_idle
        self._idle: list[_Connection] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    async def request(
        self, method: str, target: str, headers: SealedHeaders, body: bytes | None = None
    ) -> Http1Response:
        """Send ``method target`` with ``headers`` (``Host`` included by the caller) and ``body``
        (framed by ``Content-Length``, written as it is: no copy); return once the response's status
        and headers have arrived.

        ``headers`` are sealed (they carry a signature) and stay so: the request head is encoded by
        :func:`_head`, whose frame is gone before any I/O, so no frame that an exception can leave
        holds them in the clear.

        Raises ``OSError`` / ``TimeoutError`` when the server cannot be reached or does not answer
        in time, :class:`ProtocolFailure` when its answer is not HTTP/1.1.
        """
        connection = self._take_idle()
        if connection is not None:
            try:
                return await self._exchange(connection, method, target, headers, body, reused=True)
            except _ClosedWhileIdle:
                pass  # the server dropped it while it waited here: send once more on a new one
        connection = await self._connect()
        return await self._exchange(connection, method, target, headers, body, reused=False)

    # -- connections ------------------------------------------------------------------------------

    def _take_idle(self) -> _Connection | None:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._drop_idle()
            self._loop = loop
            return None
        now = time.monotonic()
        while self._idle:
            connection = self._idle.pop()
            if now - connection.idle_since > self._keepalive_expiry:
                connection.close()
                self._drop_idle()  # the rest have waited even longer
                return None
            if not connection.reader.at_eof() and not connection.writer.is_closing():
                return connection
            connection.close()
        return None

    async def _connect(self) -> _Connection:
        if self._ssl_factory is not None and self._ssl is None:
            self._ssl = self._ssl_factory()  # built on first use: loading trust roots takes a while
        async with asyncio.timeout(self._connect_timeout):
            reader, writer = await asyncio.open_connection(
                self._host,
                self._port,
                ssl=self._ssl,
                server_hostname=self._server_hostname,
                limit=_STREAM_LIMIT,
            )
        return _Connection(reader, writer)

    def _release(self, connection: _Connection) -> None:
        """Keep a connection whose exchange ended cleanly for the next request; close any other."""
        if (
            self._closed
            or not connection.reusable()
            or len(self._idle) >= self._max_idle
            or connection.writer.is_closing()
        ):
            connection.close()
            return
        try:
            connection.parser.start_next_cycle()
        except h11.LocalProtocolError:
            connection.close()
            return
        connection.idle_since = time.monotonic()
        self._idle.append(connection)

    def _drop_idle(self) -> None:
        idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()

    async def aclose(self) -> None:
        """Close idle connections; those still streaming a body close when it ends."""
        self._closed = True
        self._drop_idle()

    # -- one exchange -----------------------------------------------------------------------------

    async def _exchange(
        self,
        connection: _Connection,
        method: str,
        target: str,
        headers: SealedHeaders,
        body: bytes | None,
        *,
        reused: bool,
    ) -> Http1Response:
        parser = connection.parser
        received = False
        try:
            async with asyncio.timeout(self._io_timeout):
                if body is None:
                    connection.writer.write(_head(parser, method, target, headers))
                else:
                    connection.writer.write(_head(parser, method, target, headers, len(body)))
                    for piece in parser.send_with_data_passthrough(h11.Data(data=body)) or ():
                        connection.writer.write(piece)
                    connection.writer.write(parser.send(h11.EndOfMessage()) or b"")
                await connection.writer.drain()
                while True:
                    event = parser.next_event()
                    if event is h11.NEED_DATA:
                        data = await connection.reader.read(_READ_SIZE)
                        received = received or bool(data)
                        parser.receive_data(data)  # b"": the peer closed; h11 then reports an error
                        continue
                    if isinstance(event, h11.Response):
                        return Http1Response(self, connection, event)
                    if not isinstance(event, h11.InformationalResponse):  # pragma: no cover - h11 order
                        raise ProtocolFailure(f"unexpected {type(event).__name__} before the response")
        except (h11.ProtocolError, ConnectionError) as exc:
            connection.close()
            if reused and not received:
                raise _ClosedWhileIdle from exc
            if isinstance(exc, ConnectionError):
                raise
            raise ProtocolFailure(f"the server's response is not valid HTTP/1.1: {exc}") from None
        except BaseException:
            connection.close()
            raise

    def __repr__(self) -> str:
        scheme = "https" if self._ssl_factory is not None else "http"
        return f"Http1Pool({scheme}://{self._host}:{self._port}, idle={len(self._idle)})"


class _ClosedWhileIdle(Exception):
    pass


def _head(
    parser: h11.Connection, method: str, target: str, headers: SealedHeaders, length: int | None = None
) -> bytes:
    """The encoded request head (and its end, for a request without a body: ``length`` None), held in
    no named local: the bytes carry the signature."""
    if length is None:
        return (
            parser.send(h11.Request(method=method, target=target, headers=list(headers.items()))) or b""
        ) + (parser.send(h11.EndOfMessage()) or b"")
    return (
        parser.send(
            h11.Request(
                method=method,
                target=target,
                headers=[*headers.items(), ("content-length", str(length))],
            )
        )
        or b""
    )


class Http1Response:
    """A response whose status and headers have arrived and whose body is read on demand.

    ``headers`` maps lower-case names to values (repeated headers joined by ``", "``). Read the
    body to its end (the connection then goes back to the pool) or :meth:`close` it.
    """

    __slots__ = ("_connection", "_pool", "headers", "status")

    def __init__(self, pool: Http1Pool, connection: _Connection, head: h11.Response) -> None:
        self._pool = pool
        self._connection: _Connection | None = connection
        self.status: int = head.status_code
        headers: dict[str, str] = {}
        for raw_name, raw_value in head.headers:
            name = raw_name.decode("ascii")
            try:
                value = raw_value.decode("utf-8")
            except UnicodeDecodeError:
                value = raw_value.decode("latin-1")
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        self.headers = headers

    async def next_chunk(self) -> bytes:
        """The next piece of the body as it arrives; ``b""`` once it is complete."""
        connection = self._connection
        if connection is None:
            return b""
        parser = connection.parser
        try:
            while True:
                event = parser.next_event()
                if event is h11.NEED_DATA:
                    async with asyncio.timeout(self._pool._io_timeout):
                        data = await connection.reader.read(_READ_SIZE)
                    parser.receive_data(data)
                    continue
                if isinstance(event, h11.Data):
                    if event.data:
                        return bytes(event.data)
                    continue
                if isinstance(event, h11.EndOfMessage):
                    self._connection = None
                    self._pool._release(connection)
                    return b""
                raise ProtocolFailure(
                    f"unexpected {type(event).__name__} in a response body"
                )  # pragma: no cover
        except h11.ProtocolError as exc:
            self.close()
            raise ProtocolFailure(f"the response body broke off: {exc}") from None
        except BaseException:
            self.close()
            raise

    async def read(self, limit: int | None = None) -> bytes:
        """The rest of the body (at most ``limit`` bytes: beyond it the connection is dropped)."""
        parts: list[bytes] = []
        size = 0
        while chunk := await self.next_chunk():
            parts.append(chunk)
            size += len(chunk)
            if limit is not None and size >= limit:
                self.close()
                break
        return b"".join(parts)[:limit] if limit is not None else b"".join(parts)

    def close(self) -> None:
        """Give up on the rest of the body: its connection is closed, not reused."""
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()

    def __repr__(self) -> str:
        return f"Http1Response(status={self.status})"
