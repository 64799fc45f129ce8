"""A local stand-in for Cloudflare's REST API (``/client/v4``), for the REST backends' tests.

Nothing else reaches Cloudflare's API offline, so tests run the REST backends against this server on
127.0.0.1. It follows the documented shape: bearer-token auth, the ``{success, errors, messages,
result, result_info}`` envelope, Cloudflare's error codes, and 429 with ``Retry-After``. Each service
adds its routes (see ``tests/support/cf_kv_api.py`` and friends) with :meth:`CloudflareApi.route`.

Tests can queue faults that the next matching requests get instead of the real answer —
an HTTP error with an envelope, a 429, or a connection dropped mid-response — and read back every
request the server received (``api.requests``), which is how "no request was sent" is proven.
"""

from __future__ import annotations

import json
import re
import socket
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

__all__ = ["ApiRequest", "ApiResponse", "CloudflareApi", "Fault", "envelope", "error_response"]

API_PREFIX = "/client/v4"


@dataclass
class ApiRequest:
    """One request as the server received it (path is percent-decoded per segment by the router)."""

    method: str
    path: str
    raw_path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    params: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        return json.loads(self.body)

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default


@dataclass
class ApiResponse:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Fault:
    """What to do instead of answering: an HTTP error, or ``drop=True`` to reset mid-response."""

    status: int = 500
    errors: list[dict[str, Any]] = field(
        default_factory=lambda: [{"code": 10001, "message": "service error"}]
    )
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False
    match: str | None = None
    """Regex on ``METHOD path``; None matches every request."""


def envelope(
    result: Any = None,
    *,
    success: bool = True,
    errors: list[dict[str, Any]] | None = None,
    result_info: Mapping[str, Any] | None = None,
) -> bytes:
    body: dict[str, Any] = {"success": success, "errors": errors or [], "messages": [], "result": result}
    if result_info is not None:
        body["result_info"] = dict(result_info)
    return json.dumps(body).encode()


def json_response(
    result: Any = None, *, status: int = 200, result_info: Mapping[str, Any] | None = None
) -> ApiResponse:
    return ApiResponse(
        status, envelope(result, result_info=result_info), {"Content-Type": "application/json"}
    )


def error_response(
    status: int, code: int, message: str, headers: Mapping[str, str] | None = None
) -> ApiResponse:
    hdrs = {"Content-Type": "application/json", **(headers or {})}
    return ApiResponse(
        status, envelope(None, success=False, errors=[{"code": code, "message": message}]), hdrs
    )


Handler = Callable[[ApiRequest], ApiResponse]


class CloudflareApi:
    """The server. Use as a context manager; ``base_url`` ends with ``/client/v4``."""

    def __init__(
        self,
        *,
        token: str = "test-api-token-0123456789abcdef",
        account_id: str = "0123456789abcdef0123456789abcdef",
    ) -> None:
        self.token = token
        self.account_id = account_id
        self.requests: list[ApiRequest] = []
        self.faults: list[Fault] = []
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- configuration ----------------------------------------------------------------------
    def route(self, method: str, pattern: str, handler: Handler) -> None:
        """Register ``handler`` for ``method`` and a path pattern under ``/client/v4``.

        ``{name}`` in the pattern captures one path segment, ``{name:path}`` the rest of the path.
        """
        regex = re.sub(r"\{(\w+):path\}", r"(?P<\1>.+)", pattern)
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", regex)
        self._routes.append((method.upper(), re.compile(f"^{API_PREFIX}{regex}$"), handler))

    def inject(self, *faults: Fault) -> None:
        """Queue faults; each is used once, by the next request it matches."""
        with self._lock:
            self.faults.extend(faults)

    def count(self, method: str | None = None, contains: str = "") -> int:
        with self._lock:
            return sum(
                1 for r in self.requests if (method is None or r.method == method) and contains in r.path
            )

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()
            self.faults.clear()

    @property
    def base_url(self) -> str:
        assert self._server is not None, "server not started"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}{API_PREFIX}"

    # -- lifecycle ----------------------------------------------------------------------------
    def __enter__(self) -> CloudflareApi:
        api = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # head and body go out in two writes; don't wait ~40 ms for an ACK

            def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
                return

            def _handle(self) -> None:
                api._dispatch(self)

            do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = _handle

        ThreadingHTTPServer.request_queue_size = 128
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="cf-api", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # -- request handling --------------------------------------------------------------------
    def _dispatch(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        parts = urlsplit(h.path)
        req = ApiRequest(
            method=h.command,
            path=unquote(parts.path),
            raw_path=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in h.headers.items()},
            body=body,
        )
        with self._lock:
            self.requests.append(req)
            fault = self._take_fault(req)
        if fault is not None and fault.drop:
            self._drop(h)
            return
        if fault is not None:
            resp = ApiResponse(
                fault.status,
                envelope(None, success=False, errors=fault.errors),
                {"Content-Type": "application/json", **fault.headers},
            )
        elif h.headers.get("Authorization") != f"Bearer {self.token}":
            resp = error_response(401, 10000, "Authentication error")
        else:
            resp = self._route(req)
        self._send(h, resp)

    def _take_fault(self, req: ApiRequest) -> Fault | None:
        for i, fault in enumerate(self.faults):
            if fault.match is None or re.search(fault.match, f"{req.method} {req.raw_path}"):
                return self.faults.pop(i)
        return None

    def _route(self, req: ApiRequest) -> ApiResponse:
        for method, regex, handler in self._routes:
            m = regex.match(req.raw_path)
            if m and method == req.method:
                req.params = {k: unquote(v) for k, v in m.groupdict().items()}
                try:
                    return handler(req)
                except Exception as exc:  # a bug in a test route: answer like Cloudflare's 500
                    return error_response(500, 10001, f"internal error: {type(exc).__name__}: {exc}")
        return error_response(404, 7003, "Could not route to the requested path")

    @staticmethod
    def _send(h: BaseHTTPRequestHandler, resp: ApiResponse) -> None:
        h.send_response(resp.status)
        headers = {"Content-Length": str(len(resp.body)), **resp.headers}
        for k, v in headers.items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(resp.body)

    @staticmethod
    def _drop(h: BaseHTTPRequestHandler) -> None:
        """Start a response, then reset the connection before the body is complete."""
        h.wfile.write(
            b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"su'
        )
        h.wfile.flush()
        sock = h.connection
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        sock.close()
        h.close_connection = True


def iter_pages(items: list[Any], cursor: str | None, limit: int) -> Iterator[tuple[list[Any], str]]:
    """Cursor paging helper for routes: the cursor is the decimal offset (opaque to clients)."""
    start = int(cursor) if cursor else 0
    page = items[start : start + limit]
    nxt = str(start + limit) if start + limit < len(items) else ""
    yield page, nxt
