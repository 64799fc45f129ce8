"""A seeded fault-injecting HTTP/1.1 proxy on 127.0.0.1, between an SDK client and a local server.

Issue 9's soak tests put it between the capabilities and moto's S3 server, the Cloudflare REST
stand-in and the Durable Object gateway (Miniflare). It forwards each request to the upstream (over
kept-alive connections of its own) and, for a seeded share of requests, does something else instead:

==================  ==========================================================  ==================
fault               what the client sees                                        upstream saw it?
==================  ==========================================================  ==================
``error_before``    a 500/502/503/504 error response                            no
``error_after``     a 500/502/503/504 error response (the real answer is lost)  yes
``unavailable``     a 503 with ``Retry-After``                                  no
``throttle``        a 429 with ``Retry-After``                                  no
``reset_request``   the connection reset before any answer                      no
``reset_body``      the status line and half the body, then a reset             yes
``stall_before``    nothing, for ``stall_seconds``; then the connection closes  no
``stall_body``      the status line and half the body, then nothing for         yes
                    ``stall_seconds``; then the connection closes
``delay_request``   nothing, for ``stall_seconds``; then the connection closes  yes, **late**: after
                                                                                the stall, when the
                                                                                client has given up
==================  ==========================================================  ==================

The "after" faults are the ones that matter for non-idempotent operations: the service did the work
and the client cannot know. ``delay_request`` is a request held up on the way (a congested link, a
slow middlebox, a retransmission) that reaches the service after its client gave up — possibly after
that client's later requests: real HTTP, which is why a soak's model of a key cannot assume that a
failed write is either done or dead once its call returned. Error bodies follow the upstream's
``flavor`` (a Cloudflare API envelope, an S3 XML error, or plain text as a load balancer would send).

Reproducible: whether a request is faulted, and how, is a pure function of the seed, the request
(method, path, query, and the body unless it is multipart — whose boundary is random) and how many
times that same request was seen before, so a run's faults do not depend on timing or on the order in
which concurrent clients' requests arrive (except between identical requests racing each other).

Every request is recorded (:attr:`FaultProxy.records`): what it was, which fault it got, whether the
upstream received it and answered what, and *when* (``time.monotonic()``: when the proxy started
sending it upstream and when the answer was back) — which is how a test counts the requests the
service saw per operation, and places each write the service applied in time.
:meth:`FaultProxy.wait_quiet` waits, once the clients are closed, until nothing they sent can still
reach the upstream. The proxy runs its own event loop in a thread, so it serves asyncio, threads and OpenDAL's
Rust clients alike, and :meth:`FaultProxy.close` (or leaving the ``with`` block) stops it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import random
import select
import socket
import struct
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, Literal, get_args
from urllib.parse import parse_qsl, urlencode, urlsplit

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from types import TracebackType

__all__ = [
    "FAULT_KINDS",
    "error_response",
    "FaultKind",
    "FaultPlan",
    "FaultProxy",
    "ProxyRecord",
    "ProxyRequest",
]

FaultKind = Literal[
    "error_before",
    "error_after",
    "unavailable",
    "throttle",
    "reset_request",
    "reset_body",
    "stall_before",
    "stall_body",
    "delay_request",
]
FAULT_KINDS: Final[tuple[FaultKind, ...]] = get_args(FaultKind)
AFTER_FORWARDING: Final = frozenset({"error_after", "reset_body", "stall_body", "delay_request"})
"""Faults that let the upstream receive (and answer) the request: after it, or late."""

Flavor = Literal["cloudflare", "s3", "plain"]

_MAX_HEAD: Final = 64 * 1024
_UPSTREAM_TIMEOUT: Final = 30.0
_KEEP_BODY: Final = 256 * 1024
_HOP_BY_HOP: Final = frozenset(
    {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "upgrade", "expect"}
)
_ERROR_STATUSES: Final = (500, 502, 503, 504)
_REASONS: Final = {
    429: "Too Many Requests",
    401: "Unauthorized",
    403: "Forbidden",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


@dataclass(frozen=True)
class ProxyRequest:
    """A request as the client sent it (headers with lower-case names)."""

    method: str
    target: str
    headers: Mapping[str, str]
    body: bytes

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    @property
    def query(self) -> str:
        return urlsplit(self.target).query


@dataclass
class ProxyRecord:
    """One request the proxy received, and what became of it."""

    seq: int
    method: str
    target: str
    body: bytes
    """The request body (empty when it was over 256 KiB)."""
    fault: FaultKind | None
    forwarded: bool = False
    """The upstream received the whole request (and answered it)."""
    upstream_status: int | None = None
    repeat_after_fault: bool = False
    """The same request was seen before and that earlier one was faulted: a retry."""
    received_at: float = 0.0
    """``time.monotonic()`` when the proxy had read the whole request."""
    sent_at: float | None = None
    """When the proxy started sending it upstream (None: never sent — the upstream cannot have it)."""
    answered_at: float | None = None
    """When the upstream's whole answer was back (None after ``sent_at``: the exchange failed, so the
    upstream may have acted on it at any time since)."""
    headers: Mapping[str, str] = field(default_factory=dict)
    """The request's headers (lower-case names)."""

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    @property
    def query(self) -> dict[str, str]:
        return dict(parse_qsl(urlsplit(self.target).query, keep_blank_values=True))


@dataclass(frozen=True)
class FaultPlan:
    """How often each fault happens (probability per request), and the knobs of the faults.

    ``stall_seconds`` must be longer than the client's deadline; ``retry_after`` is the header
    value sent with 429 and 503 (delta-seconds; fractions keep the soak fast); ``eligible`` limits
    faults to some requests.
    """

    seed: int = 0
    rates: Mapping[FaultKind, float] = field(default_factory=dict)
    stall_seconds: float = 3.0
    retry_after: str = "0.02"
    flavor: Flavor = "plain"
    eligible: Callable[[ProxyRequest], bool] | None = None

    def __post_init__(self) -> None:
        unknown = set(self.rates) - set(FAULT_KINDS)
        if unknown:
            raise ValueError(f"FaultPlan: unknown fault kinds {sorted(unknown)}")
        if any(r < 0 for r in self.rates.values()) or sum(self.rates.values()) > 1:
            raise ValueError("FaultPlan: rates must be >= 0 and sum to at most 1")

    @classmethod
    def mixed(
        cls,
        seed: int,
        *,
        total: float = 0.12,
        stall_share: float = 0.1,
        flavor: Flavor = "plain",
        stall_seconds: float = 3.0,
        late_share: float = 0.0,
        eligible: Callable[[ProxyRequest], bool] | None = None,
    ) -> FaultPlan:
        """Every fault kind, ``total`` of all requests; stalls (slow: they last ``stall_seconds``)
        take ``stall_share`` of that, ``delay_request`` (as slow) ``late_share``, the other kinds
        share the rest equally. With ``late_share=0`` no request arrives late."""
        stalls: tuple[FaultKind, ...] = ("stall_before", "stall_body")
        others = [k for k in FAULT_KINDS if k not in (*stalls, "delay_request")]
        rates: dict[FaultKind, float] = {k: total * stall_share / len(stalls) for k in stalls}
        rates["delay_request"] = total * late_share
        rates.update({k: total * (1 - stall_share - late_share) / len(others) for k in others})
        return cls(seed, rates, stall_seconds=stall_seconds, flavor=flavor, eligible=eligible)


class _Reset(Exception):
    """The client connection must be dropped (after a reset/stall fault or a protocol error)."""


class FaultProxy:
    """The proxy; see the module docstring. ``upstream`` is ``http://host:port`` (a path is ignored)."""

    def __init__(
        self,
        upstream: str,
        plan: FaultPlan | None = None,
        *,
        respond: Callable[[ProxyRequest], bytes | None] | None = None,
    ) -> None:
        parts = urlsplit(upstream)
        if parts.scheme != "http" or not parts.hostname or parts.port is None:
            raise ValueError(f"FaultProxy: upstream must be http://host:port, got {upstream!r}")
        self.upstream_host = parts.hostname
        self.upstream_port = parts.port
        self.plan = plan or FaultPlan()
        self.respond = respond
        """Answers a request itself when it returns a raw HTTP response (e.g. to reject credentials the
        way the real service would); None forwards it. Consulted before any fault."""
        self.enabled = True
        """False: forward everything untouched (faults off)."""
        self.gate: threading.Event | None = None
        """If set, a ``delay_request`` is held until the gate opens (instead of ``stall_seconds``), so
        a test can choose exactly when the late request lands."""
        self.records: list[ProxyRecord] = []
        self._lock = threading.Lock()
        self._seen: Counter[str] = Counter()
        self._last_faulted: dict[str, bool] = {}
        self._inflight = 0
        self._connections: dict[asyncio.Task[None], tuple[asyncio.StreamReader, asyncio.StreamWriter]] = {}
        self._busy: set[asyncio.Task[None]] = set()
        """Connections between reading a request's head and finishing its answer (or fault)."""
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.base_events.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> FaultProxy:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name="fault-proxy", daemon=True)
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._listen(), loop)
        self.port = future.result(timeout=10)
        return self

    async def _listen(self) -> int:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0, limit=_MAX_HEAD)
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    def close(self) -> None:
        loop = self._loop
        if loop is None:
            return
        self._loop = None

        async def shutdown() -> None:
            if self._server is not None:
                self._server.close()
            for _, writer in self._idle:
                writer.close()
            self._idle.clear()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(shutdown(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=10)
        loop.close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- what tests use ---------------------------------------------------------------------------

    @property
    def origin(self) -> str:
        """``http://127.0.0.1:PORT``: where clients should connect instead of the upstream."""
        return f"http://127.0.0.1:{self.port}"

    def rewrite(self, url: str) -> str:
        """``url`` (pointing at the upstream) with its origin replaced by the proxy's."""
        parts = urlsplit(url)
        if (parts.hostname, parts.port) != (self.upstream_host, self.upstream_port):
            raise ValueError(f"{url!r} does not point at this proxy's upstream")
        return self.origin + url[len(f"{parts.scheme}://{parts.netloc}") :]

    def snapshot(self) -> list[ProxyRecord]:
        with self._lock:
            return list(self.records)

    def fault_counts(self) -> Counter[str]:
        return Counter(r.fault for r in self.snapshot() if r.fault is not None)

    @property
    def faults_injected(self) -> int:
        return sum(1 for r in self.snapshot() if r.fault is not None)

    @property
    def repeats_after_fault(self) -> int:
        """Requests that repeated a faulted one: the retries the clients made, whoever made them."""
        return sum(1 for r in self.snapshot() if r.repeat_after_fault)

    def clear(self) -> None:
        with self._lock:
            self.records.clear()
            self._seen.clear()
            self._last_faulted.clear()

    async def wait_idle(self, limit_s: float = 15.0) -> None:
        """Wait until no request is being forwarded (the upstream has finished what it received)."""
        import anyio

        with anyio.fail_after(limit_s):
            while self._inflight:  # noqa: ASYNC110 - the counter lives in the proxy's thread
                await anyio.sleep(0.01)

    async def wait_quiet(self, limit_s: float = 120.0) -> None:
        """Once the clients are closed: wait until nothing they sent can still reach the upstream.

        Quiet means no connection waiting to be accepted, none in the middle of a request (being
        read, stalled, delayed, forwarded or answered), and no unread byte on an idle one — checked
        on the proxy's own loop, three times in a row, so a connection accepted in between is seen.
        After it, :meth:`snapshot` holds every request the upstream will ever get. ``limit_s`` only
        guards against a client left open; it is not a timing assumption (a stall ends on its own).
        """
        import anyio

        loop = self._loop
        assert loop is not None, "the proxy is not running"
        with anyio.fail_after(limit_s):
            streak = 0
            while streak < 3:
                quiet = await anyio.to_thread.run_sync(
                    lambda: asyncio.run_coroutine_threadsafe(self._quiet_now(), loop).result()
                )
                streak = streak + 1 if quiet else 0
                await anyio.sleep(0.05)

    async def _quiet_now(self) -> bool:
        await asyncio.sleep(0.02)  # let connections accepted just now reach _accept
        if self._busy or self._inflight:
            return False
        if self._server is not None:
            for listening in self._server.sockets:
                if select.select([listening.fileno()], [], [], 0)[0]:
                    return False  # a connection waits in the accept queue
        for reader, writer in list(self._connections.values()):
            if getattr(reader, "_buffer", b""):
                return False
            if _unread(writer):
                return False
        return True

    # -- deciding -----------------------------------------------------------------------------------

    def _identity(self, req: ProxyRequest) -> str:
        parts = urlsplit(req.target)
        query = sorted(
            (k, v)
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
            if not k.lower().startswith("x-amz-")
        )
        content_type = req.headers.get("content-type", "")
        body = b"" if content_type.startswith("multipart/") else req.body
        digest = hashlib.sha256(body).hexdigest()
        return f"{req.method} {parts.path}?{urlencode(query)} {digest}"

    def _decide(self, req: ProxyRequest) -> tuple[ProxyRecord, random.Random]:
        identity = self._identity(req)
        with self._lock:
            seen = self._seen[identity]
            self._seen[identity] = seen + 1
            repeat = self._last_faulted.get(identity, False)
            rng = random.Random(f"{self.plan.seed}|{identity}|{seen}")
            kind: FaultKind | None = None
            if self.enabled and (self.plan.eligible is None or self.plan.eligible(req)):
                draw = rng.random()
                for candidate in FAULT_KINDS:
                    rate = self.plan.rates.get(candidate, 0.0)
                    if draw < rate:
                        kind = candidate
                        break
                    draw -= rate
            self._last_faulted[identity] = kind is not None
            record = ProxyRecord(
                len(self.records),
                req.method,
                req.target,
                req.body if len(req.body) <= _KEEP_BODY else b"",
                kind,
                repeat_after_fault=repeat,
                received_at=time.monotonic(),
                headers=req.headers,
            )
            self.records.append(record)
        return record, rng

    # -- serving ------------------------------------------------------------------------------------

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._connections[task] = (reader, writer)
        try:
            while True:
                req = await _read_request(reader, writer, lambda: self._busy.add(task))
                if req is None:
                    break
                await self._handle(req, writer)
                self._busy.discard(task)
        except (_Reset, ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            _abort(writer)
        except asyncio.CancelledError:  # the proxy is closing; end quietly (a cancelled
            _abort(writer)  # connection task would make asyncio log a spurious error)
        finally:
            self._tasks.discard(task)
            self._connections.pop(task, None)
            self._busy.discard(task)
            with contextlib.suppress(Exception):
                writer.close()

    async def _handle(self, req: ProxyRequest, writer: asyncio.StreamWriter) -> None:
        if self.respond is not None:
            answer = self.respond(req)
            if answer is not None:
                with self._lock:
                    self.records.append(
                        ProxyRecord(
                            len(self.records),
                            req.method,
                            req.target,
                            b"",
                            None,
                            received_at=time.monotonic(),
                            headers=req.headers,
                        )
                    )
                await _send(writer, answer)
                return
        record, rng = self._decide(req)
        kind = record.fault
        plan = self.plan
        if kind == "error_before":
            await _send(writer, _error_response(rng.choice(_ERROR_STATUSES), plan, retry_after=None))
            return
        if kind == "unavailable":
            await _send(writer, _error_response(503, plan, retry_after=plan.retry_after))
            return
        if kind == "throttle":
            await _send(writer, _error_response(429, plan, retry_after=plan.retry_after))
            return
        if kind == "reset_request":
            raise _Reset
        if kind == "stall_before":
            await asyncio.sleep(plan.stall_seconds)
            raise _Reset
        if kind == "delay_request":  # held up on the way: it arrives after the client gave up
            gate = self.gate
            if gate is None:
                await asyncio.sleep(plan.stall_seconds)
            while gate is not None and not gate.is_set():  # noqa: ASYNC110 - a thread's Event
                await asyncio.sleep(0.01)
            with contextlib.suppress(TimeoutError, OSError, asyncio.IncompleteReadError, ValueError):
                await self._forward(req, record)
            raise _Reset
        try:
            head, body = await self._forward(req, record)
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as exc:
            await _send(writer, _plain(502, f"fault proxy: upstream failed: {type(exc).__name__}"))
            return
        if kind == "error_after":
            await _send(writer, _error_response(rng.choice(_ERROR_STATUSES), plan, retry_after=None))
            return
        response = head + body
        if kind in ("reset_body", "stall_body"):
            cut = len(head) + len(body) // 2 if len(body) >= 2 else len(head) // 2
            writer.write(response[:cut])
            await writer.drain()
            if kind == "stall_body":
                await asyncio.sleep(plan.stall_seconds)
            raise _Reset
        await _send(writer, response)

    async def _forward(self, req: ProxyRequest, record: ProxyRecord) -> tuple[bytes, bytes]:
        """Send ``req`` upstream (on a kept-alive connection); the response re-framed for the client."""
        self._inflight += 1
        try:
            return await asyncio.wait_for(self._exchange(req, record), _UPSTREAM_TIMEOUT)
        finally:
            self._inflight -= 1

    async def _connection(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """An idle kept-alive upstream connection the server has not closed, or a new one.

        Reusing connections matters: a fresh one per request overflows a small listen backlog (the
        standard library's HTTP server queues 5), and a dropped SYN costs a second before the retry.
        """
        while self._idle:
            reader, writer = self._idle.pop()
            if not reader.at_eof() and not writer.is_closing():
                return reader, writer
            writer.close()
        return await asyncio.open_connection(self.upstream_host, self.upstream_port, limit=_MAX_HEAD)

    async def _exchange(self, req: ProxyRequest, record: ProxyRecord) -> tuple[bytes, bytes]:
        reader, writer = await self._connection()
        reusable = False
        try:
            lines = [f"{req.method} {req.target} HTTP/1.1"]
            for name, value in req.headers.items():
                if name not in _HOP_BY_HOP and name != "content-length":
                    lines.append(f"{name}: {value}")
            if req.body or req.method in ("POST", "PUT", "PATCH"):
                lines.append(f"content-length: {len(req.body)}")
            record.sent_at = time.monotonic()
            writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + req.body)
            await writer.drain()
            status, reason, headers = _parse_head(await reader.readuntil(b"\r\n\r\n"), response=True)
            while 100 <= status < 200:  # interim answers are not the response
                status, reason, headers = _parse_head(await reader.readuntil(b"\r\n\r\n"), response=True)
            no_body = req.method == "HEAD" or status in (204, 304)
            body = await _read_body(reader, headers, no_body=no_body)
            framed = (
                no_body
                or _header(headers, "content-length") is not None
                or "chunked" in (_header(headers, "transfer-encoding") or "").lower()
            )
            reusable = framed and "close" not in (_header(headers, "connection") or "").lower()
        finally:
            if reusable:
                self._idle.append((reader, writer))
            else:
                with contextlib.suppress(Exception):
                    writer.close()
        record.answered_at = time.monotonic()
        record.forwarded = True
        record.upstream_status = status
        out = [f"HTTP/1.1 {status} {reason}"]
        for name, value in headers:
            lower = name.lower()
            if lower in _HOP_BY_HOP or (lower == "content-length" and req.method != "HEAD"):
                continue
            out.append(f"{name}: {value}")
        if req.method != "HEAD":
            out.append(f"Content-Length: {len(body)}")
        return ("\r\n".join(out) + "\r\n\r\n").encode("latin-1"), body


# --- HTTP/1.1 plumbing -------------------------------------------------------------------------------


def _parse_head(raw: bytes, *, response: bool) -> tuple[int, str, list[tuple[str, str]]]:
    text = raw.decode("latin-1")
    first, _, rest = text.partition("\r\n")
    headers = []
    for line in rest.split("\r\n"):
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise ValueError(f"malformed header line {line!r}")
        headers.append((name.strip(), value.strip()))
    if response:
        _version, code, reason = [*first.split(" ", 2), ""][:3]
        return int(code), reason, headers
    return 0, first, headers


def _header(headers: list[tuple[str, str]], name: str) -> str | None:
    for key, value in headers:
        if key.lower() == name:
            return value
    return None


async def _read_body(reader: asyncio.StreamReader, headers: list[tuple[str, str]], *, no_body: bool) -> bytes:
    if no_body:
        return b""
    encoding = (_header(headers, "transfer-encoding") or "").lower()
    if "chunked" in encoding:
        chunks: list[bytes] = []
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers
                    pass
                return b"".join(chunks)
            chunks.append(await reader.readexactly(size))
            await reader.readexactly(2)
    length = _header(headers, "content-length")
    if length is not None:
        return await reader.readexactly(int(length))
    return await reader.read()  # close-delimited


async def _read_request(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, started: Callable[[], None]
) -> ProxyRequest | None:
    try:
        raw = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial.strip():
            raise
        return None  # the client closed a kept-alive connection
    started()
    _, request_line, header_list = _parse_head(raw, response=False)
    method, target, _version = request_line.split(" ", 2)
    headers = {name.lower(): value for name, value in header_list}
    if headers.get("expect", "").lower() == "100-continue":
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        await writer.drain()
    chunked = "chunked" in headers.get("transfer-encoding", "").lower()
    body = await _read_body(reader, header_list, no_body="content-length" not in headers and not chunked)
    return ProxyRequest(method.upper(), target, headers, body)


async def _send(writer: asyncio.StreamWriter, response: bytes) -> None:
    writer.write(response)
    await writer.drain()


def _unread(writer: asyncio.StreamWriter) -> bool:
    """Whether the kernel holds bytes from the client that the proxy has not read yet."""
    sock = writer.get_extra_info("socket")
    if sock is None:
        return False
    try:
        with socket.socket(fileno=os.dup(sock.fileno())) as peek:
            return bool(peek.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT))
    except (BlockingIOError, InterruptedError):
        return False  # nothing waiting
    except OSError:
        return False  # reset or closed: nothing more can come from it


def _abort(writer: asyncio.StreamWriter) -> None:
    """Reset the connection (RST, not FIN): what a crashed peer or a middlebox looks like."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


def error_response(status: int, content_type: str, body: bytes) -> bytes:
    """A complete raw HTTP response, for :attr:`FaultProxy.respond`."""
    head = f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\nContent-Type: {content_type}\r\n"
    return f"{head}Content-Length: {len(body)}\r\n\r\n".encode("latin-1") + body


def _plain(status: int, text: str, extra: Mapping[str, str] | None = None) -> bytes:
    body = text.encode()
    headers = {"Content-Type": "text/plain", **(extra or {}), "Content-Length": str(len(body))}
    head = f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in headers.items()
    )
    return (head + "\r\n").encode("latin-1") + body


def _error_response(status: int, plan: FaultPlan, *, retry_after: str | None) -> bytes:
    """An error the way the upstream (or something in front of it) would send it."""
    extra = {} if retry_after is None else {"Retry-After": retry_after}
    if plan.flavor == "cloudflare":
        # 971: Cloudflare API's own "please wait and consider throttling your request speed"
        code, message = (
            (971, "Please wait and consider throttling your request speed")
            if status == 429
            else (
                10001,
                "service temporarily unavailable",
            )
        )
        envelope = {
            "success": False,
            "errors": [{"code": code, "message": message}],
            "messages": [],
            "result": None,
        }
        body = json.dumps(envelope).encode()
        headers = {"Content-Type": "application/json", **extra, "Content-Length": str(len(body))}
    elif plan.flavor == "s3":
        s3_code = {429: "TooManyRequests", 503: "ServiceUnavailable"}.get(status, "InternalError")
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{s3_code}</Code><Message>injected {status}</Message>"
            f"<RequestId>fault-proxy</RequestId></Error>"
        ).encode()
        headers = {"Content-Type": "application/xml", **extra, "Content-Length": str(len(body))}
    else:
        return _plain(status, f"upstream unavailable ({status}, injected)", extra)
    head = f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in headers.items()
    )
    return (head + "\r\n").encode("latin-1") + body
