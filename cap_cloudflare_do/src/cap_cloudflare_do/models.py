"""The small HTTP shapes a stub's ``fetch`` sends and gets back, the same on every backend.

A Durable Object's ``fetch(request)`` handler receives a :class:`Request` (in the local runtime) and
returns a :class:`Response`; a caller's ``await stub.fetch(...)`` returns a :class:`Response`. Bodies
are buffered bytes: the objects this package talks to answer with small control messages, and a
buffered body reads the same way on Workers, through the gateway and locally. ``read``/``text``/
``json`` are coroutines, like their JS namesakes, so code does not change between backends.
"""

from __future__ import annotations

import json as _json
from collections.abc import Iterable, Mapping
from typing import Any, TypedDict

__all__ = ["AlarmInfo", "HeadersInit", "Request", "RequestInit", "Response", "normalise_headers"]

HeadersInit = Mapping[str, str] | Iterable[tuple[str, str]]


def normalise_headers(headers: HeadersInit | None) -> dict[str, str]:
    """Header names lower-cased (HTTP names are case-insensitive); repeated names joined with ", "."""
    out: dict[str, str] = {}
    if headers is None:
        return out
    items = headers.items() if isinstance(headers, Mapping) else headers
    for name, value in items:
        key = name.lower()
        out[key] = f"{out[key]}, {value}" if key in out else value
    return out


class _Body:
    __slots__ = ()
    body: bytes

    async def read(self) -> bytes:
        """The body as bytes (``arrayBuffer()`` in JS)."""
        return self.body

    async def text(self) -> str:
        """The body decoded as UTF-8 (invalid bytes replaced, as ``text()`` does in JS)."""
        return self.body.decode("utf-8", errors="replace")

    async def json(self) -> Any:
        """The body parsed as JSON."""
        return _json.loads(self.body)


class RequestInit(TypedDict, total=False):
    """A stub ``fetch``'s options, JS's ``RequestInit`` as keywords: ``stub.fetch(url, method="POST")``."""

    method: str
    """The HTTP method (default ``GET``)."""
    headers: HeadersInit | None
    """Header pairs or a mapping (names are compared lower-cased)."""
    body: bytes | str | None
    """The body (a ``str`` is sent as UTF-8); a ``GET`` or ``HEAD`` has none."""


class Request(_Body):
    """What a Durable Object's ``fetch`` handler receives."""

    __slots__ = ("body", "headers", "method", "url")

    def __init__(
        self,
        url: str,
        *,
        method: str = "GET",
        headers: HeadersInit | None = None,
        body: bytes | str | None = None,
    ) -> None:
        self.url = url
        self.method = method.upper()
        self.headers = normalise_headers(headers)
        self.body = body.encode("utf-8") if isinstance(body, str) else (body or b"")

    def __repr__(self) -> str:
        return f"Request({self.method} {self.url!r}, {len(self.body)} bytes)"


class Response(_Body):
    """An HTTP response: ``status``, ``headers`` (lower-case names) and a buffered ``body``.

    Build one in a ``fetch`` handler like JS's ``new Response(body, {status, headers})``, or with
    :meth:`from_json` (JS ``Response.json``).
    """

    __slots__ = ("body", "headers", "status")

    def __init__(
        self,
        body: bytes | str | None = None,
        *,
        status: int = 200,
        headers: HeadersInit | None = None,
    ) -> None:
        if isinstance(status, bool) or not isinstance(status, int) or not 200 <= status <= 599:
            raise ValueError(f"Response status must be an int from 200 to 599, got {status!r}")
        self.status = status
        self.headers = normalise_headers(headers)
        self.body = body.encode("utf-8") if isinstance(body, str) else bytes(body or b"")

    @classmethod
    def from_json(cls, data: Any, *, status: int = 200, headers: HeadersInit | None = None) -> Response:
        """A JSON response (``Response.json(data)`` in JS)."""
        merged = {"content-type": "application/json", **normalise_headers(headers)}
        return cls(_json.dumps(data, separators=(",", ":")), status=status, headers=merged)

    @property
    def ok(self) -> bool:
        """True for a 2xx status."""
        return 200 <= self.status < 300

    def __repr__(self) -> str:
        return f"Response(status={self.status}, {len(self.body)} bytes)"


class AlarmInfo:
    """Handed to an ``alarm(info)`` handler that takes an argument: is this a retry, and which."""

    __slots__ = ("is_retry", "retry_count")

    def __init__(self, retry_count: int) -> None:
        self.retry_count = retry_count
        self.is_retry = retry_count > 0

    def __repr__(self) -> str:
        return f"AlarmInfo(retry_count={self.retry_count})"
