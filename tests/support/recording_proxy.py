"""A forwarding HTTP proxy on 127.0.0.1 that records the head of every request it receives.

Issue 13 (credentials in transit): tests set ``HTTP_PROXY``/``HTTPS_PROXY`` to this proxy, or pass it
as an explicit ``proxy=``, and then look at what it saw — a request line and headers (an
``Authorization: Bearer …`` in clear text, or an S3 signature) for plain-HTTP requests, only
``CONNECT host:port`` for a tunnel. It forwards plain requests (absolute-form targets) to their
origin with ``Connection: close`` and tunnels ``CONNECT``, so a client going through it works.
Threads, not asyncio: it serves OpenDAL's Rust client and subprocesses alike.
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import threading
from typing import TYPE_CHECKING, Self
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from types import TracebackType

__all__ = ["ErrorServer", "RecordingProxy"]


def _read_head(conn: socket.socket) -> tuple[bytes, bytes]:
    """The request head (up to the blank line) and whatever body bytes arrived with it."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return data, b""
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


def _pipe(src: socket.socket, dst: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while chunk := src.recv(65536):
            dst.sendall(chunk)
    with contextlib.suppress(OSError):
        dst.shutdown(socket.SHUT_WR)


class _Served:
    """A socketserver served from a daemon thread while the ``with`` block runs."""

    _server: socketserver.BaseServer
    _thread: threading.Thread

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)


class RecordingProxy(_Served):
    """``with RecordingProxy() as proxy:`` — ``proxy.url`` to use it, ``proxy.heads`` for what it saw."""

    def __init__(self) -> None:
        self.heads: list[str] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                proxy._serve(self.request)

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self._server = Server(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def seen(self) -> str:
        """Every recorded head, joined: what a secret must not appear in."""
        with self._lock:
            return "\n\n".join(self.heads)

    def _serve(self, conn: socket.socket) -> None:
        head, rest = _read_head(conn)
        if not head:
            return
        text = head.decode("latin-1")
        with self._lock:
            self.heads.append(text)
        method, target, _ = text.split("\r\n", 1)[0].split(" ", 2)
        if method == "CONNECT":
            host, _, port = target.rpartition(":")
            try:
                upstream = socket.create_connection((host.strip("[]"), int(port)), timeout=30)
            except OSError:
                conn.sendall(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n")
                return
            with upstream:
                conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                if rest:
                    upstream.sendall(rest)
                back = threading.Thread(target=_pipe, args=(upstream, conn), daemon=True)
                back.start()
                _pipe(conn, upstream)
                back.join(30)
            return
        parts = urlsplit(target)
        lines = [f"{method} {parts.path or '/'}{'?' + parts.query if parts.query else ''} HTTP/1.1"]
        for line in text.split("\r\n")[1:]:
            name = line.partition(":")[0].strip().lower()
            if name not in ("connection", "proxy-connection", "keep-alive"):
                lines.append(line)
        lines.append("Connection: close")
        try:
            upstream = socket.create_connection((parts.hostname or "", parts.port or 80), timeout=30)
        except OSError:
            conn.sendall(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
            return
        with upstream:
            upstream.sendall("\r\n".join(lines).encode("latin-1") + b"\r\n\r\n" + rest)
            back = threading.Thread(target=_pipe, args=(conn, upstream), daemon=True)
            back.start()
            _pipe(upstream, conn)
        with contextlib.suppress(OSError):
            conn.shutdown(socket.SHUT_RDWR)


class ErrorServer(_Served):
    """An HTTP server on 127.0.0.1 that answers every request with ``500`` and a short text body —
    an endpoint that is reachable but failing (what error paths, not connection paths, exercise)."""

    def __init__(self) -> None:
        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                conn: socket.socket = self.request
                with contextlib.suppress(OSError):
                    conn.settimeout(30)
                    head, body = _read_head(conn)
                    length = 0
                    for line in head.decode("latin-1").split("\r\n")[1:]:
                        name, _, value = line.partition(":")
                        if name.strip().lower() == "content-length" and value.strip().isdigit():
                            length = int(value.strip())
                    while len(body) < length:
                        chunk = conn.recv(65536)
                        if not chunk:
                            break
                        body += chunk
                    conn.sendall(
                        b"HTTP/1.1 500 Internal Server Error\r\ncontent-type: text/plain\r\n"
                        b"content-length: 6\r\nconnection: close\r\n\r\nbroken"
                    )

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self._server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
