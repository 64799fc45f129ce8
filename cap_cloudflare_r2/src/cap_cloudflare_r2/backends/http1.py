"""A small HTTP/1.1 client for one origin: keep-alive connections on an asyncio ``BufferedProtocol``.

Why not httpx, which the multipart calls use: a ``get`` is the hot path, and measured against one
moto server (``benchmarks/bench_r2.py``), 2,000 GETs through ``httpx.AsyncClient`` cost about 1.6x
the client CPU of OpenDAL's two requests (``stat`` + read) they were meant to replace. This module
first framed requests with h11 on asyncio streams; profiling a PUT + GET (issue 18, see
``benchmarks/README.md``) then found most of the client's remaining CPU in that stack: h11's
per-event state machine and header validation (about 100 µs a request), the stream reader's copies
(each 8 MiB body was copied five times between the socket and the caller) and the stream objects
built for every connection. So the protocol here keeps only what S3's answers need, and reads the
socket straight into one reusable buffer (``recv_into``, through the transport, TLS included):

* one origin (scheme, host, port), TLS through the ``ssl`` context its factory builds on first use;
* opening a connection is cheap, for a server that closes every one (moto's own; issue 18 measured
  a connection costing this client several times what it costs a Rust one): an IP literal is never
  resolved and a host name once per 10 s (not in a worker thread per connection), a plain-TCP
  connection on a selector event loop runs on :class:`_PlainTransport` (the socket, ``add_reader``
  / ``add_writer`` and nothing else) instead of asyncio's general transport, and the 64 KiB buffer
  of a closed connection goes to the next one (allocating and first touching it cost as much as the
  rest of the set-up). TLS, and other event loops (uvloop, Windows' proactor), use asyncio's transports;
* a request is a method, target, headers and an optional body framed by ``Content-Length``; header
  names and values are checked (tokens; printable ASCII, no CR/LF) before anything is sent; on a
  plain connection the head and the whole body go to one ``sendmsg`` (as hyper's ``writev``) and
  what the socket does not take at once waits as a view of the caller's body, never a copy, until
  the socket drains (an 8 MiB body used to be copied, and the copy shifted on every partial send);
  the request returns only once the whole body has left, so no view of it outlives the call — or once
  a final answer arrives first (a server refusing the request may stop reading it): the rest is
  dropped, the answer returned, and the connection not reused;
* a response is framed by ``Content-Length``, ``Transfer-Encoding: chunked`` or the end of the
  connection (and has no body for ``HEAD``, 1xx, 204 and 304); a head is at most 64 KiB;
* idle connections kept (LIFO) for reuse for ``keepalive_expiry`` seconds, only when the exchange
  ended cleanly and the server did not ask to close; a connection that turns out to have been closed
  while idle (nothing of the response arrived) is replaced once, transparently — safe for the
  idempotent requests this client is for;
* ``connect_timeout`` for connecting, ``io_timeout`` for each wait on the network (sending a body: each
  wait in which no byte left, so a large body on a slow link is not cut off for its size);
* a response's body streams: :meth:`Http1Response.next_chunk` returns what arrived, and the socket is
  paused once 256 KiB wait unread, so memory stays at about that per connection.

No proxies, redirects, compression or HTTP/2: the caller uses OpenDAL instead when a proxy applies.
Connections belong to the event loop that opened them; on another loop idle ones are dropped.
Request headers (signatures) never appear in errors or ``repr``.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import ipaddress
import itertools
import re
import socket
import time
from collections import deque
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    import ssl
    from collections.abc import Callable

    from cap_opendal_core.redact import SealedHeaders

__all__ = ["Http1Pool", "Http1Response", "ProtocolFailure"]

_FIRST_BUFFER: Final = 64 * 1024
_HIGH_WATER: Final = 256 * 1024  # unread bytes beyond which the socket is paused
_WRITE_SLICE: Final = 256 * 1024
_MAX_HEAD: Final = 64 * 1024  # bound on a response head, a chunk-size line, the trailers
_MAX_SPARE: Final = 64  # first buffers of closed connections kept for new ones, per pool
_ADDRESS_TTL: Final = 10.0  # seconds a host name's resolved addresses are reused for new connections
_MAX_PARTS: Final = 64  # views handed to one sendmsg (Linux takes up to 1,024)
_SENDMSG: Final = hasattr(socket.socket, "sendmsg")  # not on Windows
_NAME: Final = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_VALUE: Final = re.compile(r"[\x21-\x7e]([\x20-\x7e\t]*[\x21-\x7e])?|")
_NO_BODY: Final = 0
_LENGTH: Final = 1
_CHUNKED: Final = 2
_TO_CLOSE: Final = 3


class ProtocolFailure(Exception):
    """The server broke HTTP/1.1 framing, or closed the connection mid-response."""


class _ClosedWhileIdle(Exception):
    pass


class _Head:
    """An encoded request head: it carries the signature, so no ``repr`` (a traceback rendered with
    locals) shows it, and it is never pickled."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __repr__(self) -> str:
        return "<request head, not shown>"

    def __reduce__(self) -> Any:
        raise TypeError("a request head cannot be pickled: it carries a signature")


class _Connection(asyncio.BufferedProtocol):
    """One connection: the transport's bytes land in ``buffer[start:end]`` (the unread window)."""

    __slots__ = (
        "buffer",
        "drained",
        "end",
        "eof",
        "error",
        "grow",
        "idle_since",
        "into_sink",
        "loop",
        "lost",
        "paused",
        "reading_paused",
        "received",
        "retired",
        "sink",
        "sink_filled",
        "spares",
        "start",
        "transport",
        "waiter",
    )

    def __init__(self, loop: asyncio.AbstractEventLoop, spares: list[bytearray]) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.spares = spares
        """The pool's spare first buffers: allocating (and first touching) 64 KiB costs a new
        connection more CPU than the rest of its setup, so a closed connection's buffer is reused."""
        self.buffer = spares.pop() if spares else bytearray(_FIRST_BUFFER)
        self.retired = False
        """The client is done with it (closed it): nothing of ours reads ``buffer`` any more."""
        self.lost = False
        """asyncio reported the connection lost: its transport writes to ``buffer`` no more."""
        self.start = 0
        self.end = 0
        self.grow = False
        self.waiter: asyncio.Future[None] | None = None
        self.drained: asyncio.Future[None] | None = None
        self.paused = False
        self.reading_paused = False
        self.eof = False
        self.error: BaseException | None = None
        self.received = 0
        self.idle_since = 0.0
        self.sink: memoryview | None = None
        """Where the socket's bytes go instead of the window while a whole body is read into place."""
        self.sink_filled = 0
        self.into_sink = False

    # -- asyncio's side ---------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def get_buffer(self, sizehint: int) -> memoryview:
        sink = self.sink
        self.into_sink = sink is not None and self.sink_filled < len(sink)
        if self.into_sink:
            assert sink is not None
            return sink[self.sink_filled :]
        buffer = self.buffer
        if self.end == len(buffer) or self.grow:
            if self.start:  # move the unread window to the front (a same-size slice: no resize)
                size = self.end - self.start
                buffer[:size] = buffer[self.start : self.end]
                self.start, self.end = 0, size
            if self.end == len(buffer) or self.grow:
                buffer.extend(bytes(len(buffer)))  # no view of it is alive between calls
            self.grow = False
        return memoryview(buffer)[self.end :]

    def buffer_updated(self, nbytes: int) -> None:
        if self.into_sink:
            self.sink_filled += nbytes
            self.received += nbytes
            self._wake()  # each wait is bounded by io_timeout, not the whole body
            return
        if self.end + nbytes == len(self.buffer) and len(self.buffer) < _HIGH_WATER:
            self.grow = True  # the socket filled what was offered: offer more next time
        self.end += nbytes
        self.received += nbytes
        if self.end - self.start >= _HIGH_WATER and not self.reading_paused and self.transport is not None:
            self.reading_paused = True
            self.transport.pause_reading()
        self._wake()
        drained = self.drained
        if drained is not None:  # the answer began while the body was still going out: see drain
            self.drained = None
            if not drained.done():
                drained.set_result(None)

    def eof_received(self) -> bool:
        self.eof = True
        self._wake()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        self.error = exc
        self.lost = True
        self._recycle()
        self._wake()
        drained, self.drained = self.drained, None
        if drained is not None and not drained.done():
            drained.set_result(None)

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        drained, self.drained = self.drained, None
        if drained is not None and not drained.done():
            drained.set_result(None)

    def _wake(self) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- the client's side ------------------------------------------------------------------------

    def close(self) -> None:
        self.retired = True
        transport = self.transport
        if transport is not None and not transport.is_closing():
            with contextlib.suppress(RuntimeError):  # its event loop is closed: the socket went with it
                transport.close()
        self._recycle()

    def _recycle(self) -> None:
        """Hand the buffer to the pool's spares once neither side can touch it: the client closed
        the connection and asyncio reported it lost (a TLS transport may still deliver data while it
        shuts down, so closing alone is not enough)."""
        buffer = self.buffer
        if self.retired and self.lost and len(buffer) == _FIRST_BUFFER and len(self.spares) < _MAX_SPARE:
            self.buffer = bytearray()
            self.start = self.end = 0
            self.spares.append(buffer)

    def usable(self) -> bool:
        transport = self.transport
        return not self.eof and transport is not None and not transport.is_closing()

    def take(self, limit: int) -> bytes:
        """Up to ``limit`` of the bytes received and not yet read, consumed."""
        start = self.start
        count = min(limit, self.end - start)
        data = bytes(self.buffer[start : start + count])
        self.consumed(count)
        return data

    def consumed(self, count: int) -> None:
        self.start += count
        if self.start == self.end:
            self.start = self.end = 0
        if self.reading_paused and self.end - self.start < _HIGH_WATER and self.transport is not None:
            self.reading_paused = False
            self.transport.resume_reading()

    async def wait(self, wait_s: float | None) -> None:
        """Until more bytes (or the end of the connection) arrive; ``TimeoutError`` after ``wait_s``."""
        if self.eof:
            if self.error is not None:
                raise ConnectionError(f"the connection was lost: {self.error}")
            raise ProtocolFailure("the server closed the connection mid-response")
        waiter = self.waiter = self.loop.create_future()
        try:
            await self._within(waiter, wait_s)
        finally:
            self.waiter = None

    async def _within(self, future: asyncio.Future[None], wait_s: float | None) -> None:
        """Await ``future``; ``TimeoutError`` after ``wait_s`` (None: no limit)."""
        timer = self.loop.call_later(wait_s, _time_out, future) if wait_s is not None else None
        try:
            await future
        finally:
            if timer is not None:
                timer.cancel()

    async def drain(self, wait_s: float | None) -> None:
        """Until the transport resumes writing (a plain one: until every queued byte has left), or
        the server's answer begins: a server may answer a request it refuses (a 403, a 400) before
        its body has arrived and stop reading it, and that answer is what the caller should see.
        ``wait_s`` bounds each wait without progress, not the whole body: a large body on a slow
        link times out only when the socket stops taking bytes."""
        while True:
            if self.end > self.start:
                return  # the answer began (the caller sees whether the body left whole)
            if self.eof:
                raise ConnectionError("the connection was closed while the request was sent")
            transport = self.transport
            if not self.paused or transport is None:
                return
            left = transport.get_write_buffer_size()
            drained = self.drained = self.loop.create_future()
            try:
                await self._within(drained, wait_s)
            except TimeoutError:
                if self.eof or transport.get_write_buffer_size() >= left:
                    raise
                # bytes left meanwhile: it is silence that times out, not the size of the body

    async def line(self, wait_s: float | None, what: str) -> bytes:
        """The next CRLF-terminated line (without its CRLF)."""
        while True:
            found = self.buffer.find(b"\r\n", self.start, self.end)
            if found >= 0:
                line = bytes(self.buffer[self.start : found])
                self.consumed(found + 2 - self.start)
                return line
            if self.end - self.start > _MAX_HEAD:
                raise ProtocolFailure(f"the {what} is longer than {_MAX_HEAD} bytes")
            await self.wait(wait_s)


def _time_out(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_exception(TimeoutError())


def _byte_view(data: bytes | bytearray | memoryview) -> memoryview:
    """``data`` as a flat view of bytes, whatever its item format (``nbytes`` is its length)."""
    view = memoryview(data)
    return view if view.format == "B" and view.ndim == 1 else view.cast("B")


def _set_done(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class _PlainTransport(asyncio.Transport):
    """A plain-TCP transport for one :class:`_Connection` on a selector event loop: just what the
    connection uses (write, pause and resume reading, close) on the socket, watched with
    ``add_reader`` / ``add_writer``.

    Why: asyncio's own transport is built for any protocol, and opening and closing one costs a
    connection about 50 µs more CPU (three scheduled callbacks to start, one to end, repeated
    selector look-ups, the general ``create_connection`` path); a client whose server closes every
    connection (moto's own server) pays that on every request. TLS, and other event loops (uvloop's
    transports are fast already; Windows' proactor has no ``add_reader``), keep asyncio's.

    The protocol's callbacks come as from asyncio's transport, except that ``connection_lost`` is
    called by :meth:`close` itself (the connection only records it and wakes its waiter). Bytes the
    socket does not take at once are not copied (asyncio's transport copies them into a bytearray,
    an 8 MiB body most of it, then shifts that buffer on every partial send): a view of each part is
    queued and sent from, in one ``sendmsg`` of several views, when the socket is writable. So a
    buffer handed to :meth:`write` must not change until it has left: ``bytes`` cannot; for a
    ``bytearray`` or ``memoryview`` it is the caller's promise (this module's caller waits for the
    whole body to leave before it returns, and a ``bytearray`` cannot be resized while a view of it
    is queued). ``pause_writing`` is called while anything waits to be sent and ``resume_writing``
    once all of it has left — so the client's ``drain`` ends when the body is out, and no view of the
    caller's buffer outlives the request. A close drops what waits (the client closes a connection
    only once it has no more use for it).
    """

    __slots__ = (
        "_closing",
        "_fd",
        "_loop",
        "_protocol",
        "_queue",
        "_queued",
        "_reading",
        "_sock",
        "_write_paused",
    )

    def __init__(self, loop: asyncio.AbstractEventLoop, sock: socket.socket, protocol: _Connection) -> None:
        super().__init__({"socket": sock})
        self._loop = loop
        self._sock = sock
        self._fd = sock.fileno()
        self._protocol = protocol
        self._queue: deque[memoryview] = deque()
        """Views of what is still to be sent, in order: of the caller's own buffers, never copies."""
        self._queued = 0
        """Bytes in ``_queue``."""
        self._closing = False
        self._reading = True
        self._write_paused = False
        protocol.connection_made(self)
        loop.add_reader(self._fd, self._read_ready)

    def _read_ready(self) -> None:
        if self._closing:
            return
        protocol = self._protocol
        try:
            into = protocol.get_buffer(-1)
            try:
                count = self._sock.recv_into(into)
            finally:
                del into  # no view of the buffer outlives the read (the buffer may grow next time)
        except (BlockingIOError, InterruptedError):
            return
        except Exception as exc:  # the peer reset the connection, or the protocol failed
            self._shut(exc)
            return
        if count == 0:
            protocol.eof_received()  # the connection never half-closes: it ends here
            self._shut(None)
            return
        try:
            protocol.buffer_updated(count)
        except Exception as exc:
            self._shut(exc)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Send ``data``; what the socket does not take now is queued as a view (not copied) and
        sent as it drains — so ``data`` must not change until then (see the class docstring)."""
        if self._closing or self._queue or not isinstance(data, bytes) or not data:
            self.write_parts(data)
            return
        try:  # a request head, as a rule: it leaves whole, with no view made
            sent = self._sock.send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError as exc:
            self._shut(exc)
            return
        if sent < len(data):
            self.write_parts(memoryview(data)[sent:])

    def write_parts(self, *parts: bytes | bytearray | memoryview) -> None:
        """Send ``parts`` in order, in one ``sendmsg`` where nothing waits to be sent: a request's
        head and its whole body leave in one call (the kernel takes what fits in the socket's
        buffer, megabytes on a fast link), as other clients send them (hyper's ``writev``)."""
        if self._closing:
            return
        views = [view for view in map(_byte_view, parts) if view.nbytes]
        if not views:
            return
        sent = 0
        if not self._queue:
            try:
                sent = self._sock.sendmsg(views) if _SENDMSG and len(views) > 1 else self._sock.send(views[0])
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError as exc:
                self._shut(exc)
                return
            if sent == sum(view.nbytes for view in views):
                return
            self._loop.add_writer(self._fd, self._write_ready)
        queue = self._queue
        for view in views:
            size = view.nbytes
            if sent >= size:
                sent -= size
                continue
            rest = view[sent:] if sent else view
            sent = 0
            queue.append(rest)
            self._queued += rest.nbytes
        if not self._write_paused:
            self._write_paused = True
            self._protocol.pause_writing()

    def drop_unsent(self) -> None:
        """Forget what waits to be sent (the server answered before the body had left: the
        connection is not reused), so no view of the caller's buffer is kept; reading goes on."""
        if self._queue and not self._closing:
            self._loop.remove_writer(self._fd)
        self._queue.clear()
        self._queued = 0

    def _write_ready(self) -> None:
        if self._closing:
            return
        queue = self._queue
        try:
            if _SENDMSG and len(queue) > 1:
                sent = self._sock.sendmsg(list(itertools.islice(queue, _MAX_PARTS)))
            else:
                sent = self._sock.send(queue[0])
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._shut(exc)
            return
        self._queued -= sent
        while sent:
            first = queue[0]
            if first.nbytes > sent:
                queue[0] = first[sent:]
                break
            sent -= first.nbytes
            queue.popleft()
        if not queue:
            self._loop.remove_writer(self._fd)
        if self._write_paused and not queue:
            self._write_paused = False
            self._protocol.resume_writing()

    def get_write_buffer_size(self) -> int:
        return self._queued

    def pause_reading(self) -> None:
        if self._reading and not self._closing:
            self._reading = False
            self._loop.remove_reader(self._fd)

    def resume_reading(self) -> None:
        if not self._reading and not self._closing:
            self._reading = True
            self._loop.add_reader(self._fd, self._read_ready)

    def is_reading(self) -> bool:
        return self._reading and not self._closing

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        self._shut(None)

    def abort(self) -> None:
        self._shut(None)

    def _shut(self, exc: Exception | None) -> None:
        if self._closing:
            return
        self._closing = True
        loop = self._loop
        if not loop.is_closed():  # a closed loop's selector is gone, and the socket's key with it
            loop.remove_reader(self._fd)
            if self._queue:
                loop.remove_writer(self._fd)
        self._queue.clear()  # the caller's buffers are let go (a bytearray may be resized again)
        self._queued = 0
        self._sock.close()
        self._protocol.connection_lost(exc)

    def __repr__(self) -> str:
        return f"<plain HTTP/1.1 transport fd={self._fd}{' closing' if self._closing else ''}>"


async def _open_plain(
    loop: asyncio.AbstractEventLoop, family: int, address: Any, spares: list[bytearray]
) -> _Connection:
    """A connected :class:`_Connection` on a :class:`_PlainTransport` (what ``sock_connect`` and
    ``create_connection(sock=…)`` would do, without their general machinery)."""
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            sock.connect(address)
            connecting = False
        except (BlockingIOError, InterruptedError):
            connecting = True  # as a rule, even on loopback
        if connecting:
            fd = sock.fileno()
            writable = loop.create_future()
            loop.add_writer(fd, _set_done, writable)
            try:
                await writable
            finally:
                loop.remove_writer(fd)
            error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if error:
                raise OSError(error, f"Connect call failed {address}")
        connection = _Connection(loop, spares)
        _PlainTransport(loop, sock, connection)
    except BaseException:
        sock.close()
        raise
    return connection


class Http1Pool:
    """Connections to one origin, and :meth:`request` to send a request (a GET, HEAD or PUT) on one."""

    __slots__ = (
        "_addresses",
        "_closed",
        "_connect_timeout",
        "_host",
        "_idle",
        "_io_timeout",
        "_keepalive_expiry",
        "_loop",
        "_max_idle",
        "_port",
        "_resolved_at",
        "_server_hostname",
        "_spares",
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
        self._spares: list[bytearray] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self._addresses = _literal_address(host, port)
        """Where to connect: (family, socket address) pairs, fixed for an IP literal, else what the
        host name resolved to at ``_resolved_at`` (reused for ``_ADDRESS_TTL`` seconds)."""
        self._resolved_at = 0.0

    async def request(
        self, method: str, target: str, headers: SealedHeaders, body: bytes | bytearray | None = None
    ) -> Http1Response:
        """Send ``method target`` with ``headers`` (``Host`` included by the caller) and ``body``
        (framed by ``Content-Length``; it must not change until this returns: on a plain connection the
        unsent rest is a view of it, not a copy); return
        once the response's status and headers have arrived.

        ``headers`` are sealed (they carry a signature) and stay so: the request head is encoded by
        :func:`_head`, whose frame is gone before any I/O, into a :class:`_Head` whose ``repr``
        hides it, so no frame that an exception can leave shows them.

        Raises ``OSError`` / ``TimeoutError`` when the server cannot be reached or does not answer
        in time, :class:`ProtocolFailure` when its answer is not HTTP/1.1 (or a header to send is not).
        """
        head = _Head(_head(method, target, headers, None if body is None else len(body)))
        connection = self._take_idle()
        if connection is not None:
            try:
                return await self._exchange(connection, method, head, body, reused=True)
            except _ClosedWhileIdle:
                pass  # the server dropped it while it waited here: send once more on a new one
        connection = await self._connect()
        return await self._exchange(connection, method, head, body, reused=False)

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
            if connection.usable():
                return connection
            connection.close()
        return None

    async def _connect(self) -> _Connection:
        """A new connection: to each address in turn until one answers (as ``create_connection``
        does without happy eyeballs), TLS on top where the origin is ``https``.

        Cheaper than ``loop.create_connection(host, port)`` for a client that connects often (a
        server that closes every connection): an IP literal is never resolved, a host name only
        once per ``_ADDRESS_TTL`` seconds (not in a worker thread per connection), and the buffer
        of a closed connection is reused. An address that fails to connect drops the cached ones."""
        if self._ssl_factory is not None and self._ssl is None:
            self._ssl = self._ssl_factory()  # built on first use: loading trust roots takes a while
        loop = asyncio.get_running_loop()
        plain = self._ssl is None and isinstance(loop, asyncio.SelectorEventLoop)
        async with asyncio.timeout(self._connect_timeout):
            addresses = self._addresses
            resolved_at = self._resolved_at  # 0.0: an IP literal, never resolved
            if addresses is None or (resolved_at and time.monotonic() - resolved_at > _ADDRESS_TTL):
                addresses = await self._resolve(loop)
            failures: list[OSError] = []
            for family, address in addresses:
                if plain:
                    try:
                        return await _open_plain(loop, family, address, self._spares)
                    except OSError as exc:
                        failures.append(exc)
                        continue
                sock = socket.socket(family, socket.SOCK_STREAM)
                try:
                    sock.setblocking(False)
                    await loop.sock_connect(sock, address)
                except OSError as exc:
                    sock.close()
                    failures.append(exc)
                    continue
                except BaseException:
                    sock.close()
                    raise
                try:  # the TLS handshake: its failure (a certificate refused …) is raised as it is
                    _, connection = await loop.create_connection(
                        lambda: _Connection(loop, self._spares),
                        sock=sock,
                        ssl=self._ssl,
                        server_hostname=self._server_hostname,
                    )
                except BaseException:
                    sock.close()
                    raise
                return connection
            if self._resolved_at:
                self._addresses = None  # resolve again next time: the name may point elsewhere now
        if len(failures) == 1:
            raise failures[0]
        raise OSError(f"could not connect to any address of the endpoint: {failures[0]}")

    async def _resolve(self, loop: asyncio.AbstractEventLoop) -> list[tuple[int, Any]]:
        """The host name's addresses (``OSError`` when it has none), kept for the next connections."""
        found = await loop.getaddrinfo(self._host, self._port, type=socket.SOCK_STREAM)
        addresses: list[tuple[int, Any]] = [(family, address) for family, _, _, _, address in found]
        if not addresses:
            raise OSError(f"getaddrinfo({self._host!r}) returned no addresses")
        self._addresses, self._resolved_at = addresses, time.monotonic()
        return addresses

    def _release(self, connection: _Connection) -> None:
        """Keep a connection whose exchange ended cleanly for the next request; close any other."""
        if (
            self._closed
            or len(self._idle) >= self._max_idle
            or not connection.usable()
            or connection.end != connection.start  # the server sent more than its answer
        ):
            connection.close()
            return
        connection.idle_since = time.monotonic()
        connection.received = 0
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
        head: _Head,
        body: bytes | bytearray | None,
        *,
        reused: bool,
    ) -> Http1Response:
        wait_s = self._io_timeout
        try:
            transport = connection.transport
            assert transport is not None
            if not body:
                transport.write(head.data)
            elif isinstance(transport, _PlainTransport):
                # the head and the whole body in one sendmsg (the kernel takes what fits in the
                # socket's buffer, megabytes on a fast link); the rest is queued as a view, not a
                # copy, and the drain below waits until it has all left
                transport.write_parts(head.data, memoryview(body))
            else:
                # asyncio's transports copy what the socket does not take at once: in slices, each
                # handed over once the last has mostly left, that copy stays about a slice
                view = memoryview(body)
                transport.write(head.data)
                transport.write(view[:_WRITE_SLICE])
                for start in range(_WRITE_SLICE, len(view), _WRITE_SLICE):
                    if connection.paused:
                        await connection.drain(wait_s)
                    transport.write(view[start : start + _WRITE_SLICE])
            await connection.drain(wait_s)
            while True:
                status, keep_alive, headers = await _response_head(connection, wait_s)
                if 100 <= status < 200:
                    if status == 101:
                        raise ProtocolFailure("the server switched protocols")
                    await connection.drain(wait_s)  # an interim answer (100 Continue …): the body goes on
                    continue
                break
            # a final answer before the whole body left (the server refused the request): what
            # waits is dropped, and the connection, whose request was cut short, is not reused
            cut_short = connection.paused or transport.get_write_buffer_size() > 0
            if cut_short and isinstance(transport, _PlainTransport):
                transport.drop_unsent()
            if "connection" in headers and "close" in _tokens(headers["connection"]):
                keep_alive = False
            framing, length = _framing(method, status, headers)
            if framing == _TO_CLOSE or cut_short:
                keep_alive = False
            return Http1Response(self, connection, status, headers, framing, length, keep_alive)
        except (ProtocolFailure, ConnectionError) as exc:
            connection.close()
            if reused and connection.received == 0:
                raise _ClosedWhileIdle from exc
            raise
        except BaseException:
            connection.close()
            raise

    def __repr__(self) -> str:
        scheme = "https" if self._ssl_factory is not None else "http"
        return f"Http1Pool({scheme}://{self._host}:{self._port}, idle={len(self._idle)})"


def _literal_address(host: str, port: int) -> list[tuple[int, Any]] | None:
    """The socket address of an IP literal (no resolution needed), or None for a host name (and
    for an IPv6 address with a zone, which ``getaddrinfo`` turns into a scope id)."""
    bare = host.strip("[]")
    try:
        ip = ipaddress.ip_address(bare)
    except ValueError:
        return None
    if ip.version == 4:
        return [(socket.AF_INET, (bare, port))]
    return None if "%" in bare else [(socket.AF_INET6, (bare, port, 0, 0))]


def _head(method: str, target: str, headers: SealedHeaders, length: int | None) -> bytes:
    """The encoded request head, held in no named local once built: the bytes carry the signature.
    A name or value that is not a valid header (a CR or LF, non-ASCII …) is refused before I/O."""
    for name, value in headers.items():
        if not _NAME.fullmatch(name) or not _VALUE.fullmatch(value):
            raise ProtocolFailure(f"the request header {name!r} is not a valid HTTP/1.1 header")
    if not _NAME.fullmatch(method) or any(c in target for c in " \r\n\t"):
        raise ProtocolFailure("the request line is not valid HTTP/1.1")
    return (
        f"{method} {target} HTTP/1.1\r\n"
        + "".join([f"{name}: {value}\r\n" for name, value in headers.items()])
        + (f"content-length: {length}\r\n\r\n" if length is not None else "\r\n")
    ).encode("ascii")


def _status(line: bytes) -> tuple[int, bool]:
    """The status code, and whether the connection may be kept (HTTP/1.1; 1.0 closes)."""
    version, _, rest = line.partition(b" ")
    code = rest[:3]
    if not version.startswith(b"HTTP/1.") or not code.isdigit() or len(code) != 3 or rest[3:4].strip():
        raise ProtocolFailure("the server's response is not valid HTTP/1.1: bad status line")
    return int(code), version == b"HTTP/1.1"


async def _response_head(connection: _Connection, wait_s: float | None) -> tuple[int, bool, dict[str, str]]:
    """Status, whether the connection may be kept, and the headers (lower-case names, repeated ones
    joined by ``", "``) of the response head that arrives next."""
    while True:
        buffer, start, end = connection.buffer, connection.start, connection.end
        found = buffer.find(b"\r\n\r\n", start, end)
        if found >= 0:
            block = bytes(buffer[start:found])
            connection.consumed(found + 4 - start)
            break
        if end - start > _MAX_HEAD:
            raise ProtocolFailure(f"the response head is longer than {_MAX_HEAD} bytes")
        await connection.wait(wait_s)
    status_line, _, block = block.partition(b"\r\n")
    status, keep_alive = _status(status_line)
    if not block:
        return status, keep_alive, {}
    try:
        lines = block.decode("utf-8").split("\r\n")  # one decode for the head, as a rule
    except UnicodeDecodeError:  # a value that is not UTF-8: each line on its own, latin-1 where needed
        lines = [_text(raw) for raw in block.split(b"\r\n")]
    headers: dict[str, str] = {}
    for line in lines:
        name, colon, value = line.partition(":")
        if not colon or not name or name[0] in " \t" or name[-1] in " \t":
            raise ProtocolFailure("the server's response is not valid HTTP/1.1: bad header line")
        name = name.lower()
        value = value.strip(" \t")
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return status, keep_alive, headers


def _text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _tokens(value: str) -> list[str]:
    return [token.strip().lower() for token in value.split(",")]


def _framing(method: str, status: int, headers: dict[str, str]) -> tuple[int, int]:
    """How the body is delimited (and its length, for ``Content-Length``)."""
    if method == "HEAD" or status in (204, 304):
        return _NO_BODY, 0
    coding = headers.get("transfer-encoding")
    if coding is not None:
        return (_CHUNKED, 0) if _tokens(coding)[-1] == "chunked" else (_TO_CLOSE, 0)
    length = headers.get("content-length")
    if length is None:
        return _TO_CLOSE, 0
    values = set(_tokens(length))
    if len(values) != 1 or not (value := values.pop()).isdigit():
        raise ProtocolFailure("the server's response is not valid HTTP/1.1: bad Content-Length")
    size = int(value)
    return (_LENGTH, size) if size else (_NO_BODY, 0)


class Http1Response:
    """A response whose status and headers have arrived and whose body is read on demand.

    ``headers`` maps lower-case names to values (repeated headers joined by ``", "``). Read the
    body to its end (the connection then goes back to the pool) or :meth:`close` it.
    """

    __slots__ = (
        "_chunk_left",
        "_connection",
        "_framing",
        "_keep_alive",
        "_left",
        "_pool",
        "headers",
        "status",
    )

    def __init__(
        self,
        pool: Http1Pool,
        connection: _Connection,
        status: int,
        headers: dict[str, str],
        framing: int,
        length: int,
        keep_alive: bool,
    ) -> None:
        self._pool = pool
        self._connection: _Connection | None = connection
        self.status = status
        self.headers = headers
        self._framing = framing
        self._left = length
        self._chunk_left = -1  # chunked: bytes left in the current chunk, -1 before its size line
        self._keep_alive = keep_alive
        if framing == _NO_BODY:
            self._finish()

    def _finish(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        if self._keep_alive:
            self._pool._release(connection)
        else:
            connection.close()

    async def next_chunk(self) -> bytes:
        """The next piece of the body as it arrives; ``b""`` once it is complete."""
        connection = self._connection
        if connection is None:
            return b""
        wait_s = self._pool._io_timeout
        try:
            framing = self._framing
            if framing == _LENGTH:
                while connection.start == connection.end:
                    await connection.wait(wait_s)
                data = connection.take(self._left)
                self._left -= len(data)
                if not self._left:
                    self._finish()
                return data
            if framing == _CHUNKED:
                return await self._next_of_chunked(connection, wait_s)
            # to the end of the connection
            while connection.start == connection.end:
                if connection.eof:
                    if connection.error is not None:
                        raise ConnectionError(f"the connection was lost: {connection.error}")
                    self._finish()
                    return b""
                await connection.wait(wait_s)
            return connection.take(connection.end - connection.start)
        except (ProtocolFailure, ConnectionError) as exc:
            self.close()
            raise ProtocolFailure(f"the response body broke off: {exc}") from None
        except BaseException:
            self.close()
            raise

    async def _next_of_chunked(self, connection: _Connection, wait_s: float | None) -> bytes:
        while True:
            if self._chunk_left < 0:
                size_line = await connection.line(wait_s, "chunk size line")
                digits = size_line.split(b";", 1)[0].strip()
                try:
                    size = int(digits, 16)
                except ValueError:
                    raise ProtocolFailure("bad chunk size") from None
                if size == 0:
                    while await connection.line(wait_s, "trailer"):
                        pass  # trailers are dropped, as before
                    self._finish()
                    return b""
                self._chunk_left = size
            if self._chunk_left == 0:
                if await connection.line(wait_s, "chunk end"):
                    raise ProtocolFailure("a chunk is longer than its size line says")
                self._chunk_left = -1
                continue
            while connection.start == connection.end:
                await connection.wait(wait_s)
            data = connection.take(self._chunk_left)
            self._chunk_left -= len(data)
            return data

    async def read_whole(self, prefix: bytes = b"") -> bytes:
        """``prefix`` and the rest of the body, as one ``bytes``. With ``Content-Length`` framing the
        socket's bytes land straight in the result's buffer (one copy of the body in all, to make it
        ``bytes``, where collecting pieces and joining them takes two)."""
        connection = self._connection
        if connection is None or self._framing != _LENGTH:
            return prefix + await self.read() if prefix else await self.read()
        size = len(prefix) + self._left
        # the body lands in a BytesIO's own bytes object through its writable view; getvalue() then
        # hands that very object over once the view is released (CPython does not copy it then), so
        # the body is written once, by the socket, where bytes(bytearray) would copy it once more.
        # The BytesIO adopts a ``bytes(size)`` (its only reference, so not copied on write): that
        # comes from calloc, which leaves fresh pages untouched, where seeking past the end and
        # writing made BytesIO zero the whole body first (8 MiB written twice, page faults and all)
        whole = io.BytesIO(bytes(size))
        with whole.getbuffer() as out:
            out[: len(prefix)] = prefix
            filled = len(prefix)
            take = min(self._left, connection.end - connection.start)
            out[filled : filled + take] = connection.buffer[connection.start : connection.start + take]
            connection.consumed(take)
            filled += take
            if filled < size:
                await self._fill(connection, out, filled)
        self._left = 0
        self._finish()
        return whole.getvalue()

    async def _fill(self, connection: _Connection, out: memoryview, filled: int) -> None:
        """Have the socket write the rest of the body into ``out[filled:]``."""
        connection.sink, connection.sink_filled = out[filled:], 0
        try:
            wait_s = self._pool._io_timeout
            while connection.sink_filled < len(out) - filled:
                await connection.wait(wait_s)
        except (ProtocolFailure, ConnectionError) as exc:
            self.close()
            raise ProtocolFailure(f"the response body broke off: {exc}") from None
        except BaseException:
            self.close()
            raise
        finally:
            sink, connection.sink = connection.sink, None
            if sink is not None:
                sink.release()

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
