"""The one place the SDK builds httpx clients: a route checked by :mod:`.transit`, a pool per event
loop, and a bearer token added to each request as it is sent.

Why each part:

* **route** — :func:`~cap_opendal_core.transit.route` decides direct or through a proxy and refuses a
  clear-text route for the credential before any client exists; the pool gets that decision as an
  explicit transport and ``trust_env=False``, so what it does is what was checked.
* **a pool per event loop** — an ``httpx.AsyncClient`` belongs to the loop that opened its
  connections. Code that calls ``asyncio.run(kv.get(…))`` per request (a Flask view, a Celery task)
  runs each call on a fresh loop; one shared pool then fails with "Event loop is closed". So each
  running loop gets its own pool, and the pool is closed *on that loop* when it shuts down: a tiny
  async generator is started on the loop and kept alive here; asyncio closes every unfinished async
  generator in ``shutdown_asyncgens()`` — which ``asyncio.run`` and ``asyncio.Runner`` call before
  closing the loop — and the generator's ``finally`` closes the pool while the loop still runs.
  :meth:`HttpClient.aclose` closes the current loop's pool at once. Under trio the "loop" is the
  ``trio.run`` (its token), and trio finalises async generators when the run ends, so the same guard
  closes the pool there too.
* **fork** — a forked child (gunicorn ``--preload``) must not use the parent's connections: the
  first request in a child forgets the parent's pools without closing them (closing a TLS
  connection would send bytes on a socket the parent still uses) — :mod:`.forks`.
* **token per request** — the ``Authorization`` header is built inside the call that sends it, never
  stored in a client's default headers, a local variable or a ``repr``: a traceback rendered with
  locals shows no frame holding it (``tests/reliability/test_traceback_locals.py``).
* **injectable transport** — tests pass an ``httpx.MockTransport`` (or any transport) to reach a
  stand-in without a socket; the transit check still runs on the URL.

This client never retries and never translates: the pipeline's retry layer decides what may be
repeated, and :mod:`cap_opendal_core.translate` turns failures into ``CapabilityError``.
"""

from __future__ import annotations

import asyncio
import threading
from typing import TYPE_CHECKING, Any

from . import forks
from .errors import Misconfigured
from .loops import current_loop_key
from .transit import Route, httpx_transport, route

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Mapping

    import httpx

    from .redact import Secret

__all__ = ["HttpClient"]


class HttpClient:
    """Requests to one origin: route checked once, one pool per running event loop, the bearer
    ``token`` (if any) added per request. ``headers`` are default headers that are *not* secret."""

    __slots__ = (
        "_capability",
        "_generation",
        "_headers",
        "_limits",
        "_lock",
        "_pools",
        "_route",
        "_timeout",
        "_token",
        "_transport",
        "_transport_retries",
    )

    def __init__(
        self,
        url: str,
        *,
        token: Secret | None,
        credential: str | None,
        capability: str,
        timeout: float | httpx.Timeout,
        proxy: str | None = None,
        trust_env: bool = False,
        headers: Mapping[str, str] | None = None,
        limits: httpx.Limits | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        transport_retries: int = 0,
    ) -> None:
        """``url`` is the origin requests go to (checked by :func:`~cap_opendal_core.transit.route`
        for ``credential``, what travels: "the API token", "the S3 signature"; None when nothing
        secret does). Raises :class:`~cap_opendal_core.errors.Misconfigured` before any I/O."""
        if headers and any(name.lower() == "authorization" for name in headers):
            raise Misconfigured(
                "default headers must not carry Authorization: pass the token as token=",
                capability=capability,
            )
        self._route: Route = route(
            url, proxy=proxy, trust_env=trust_env, credential=credential, capability=capability
        )
        self._token = token
        self._capability = capability
        self._timeout = timeout
        self._headers = dict(headers or {})
        self._limits = limits
        self._transport = transport
        self._transport_retries = transport_retries
        self._pools: dict[object, _Pool] = {}
        self._lock = threading.Lock()
        self._generation = forks.generation()

    def __repr__(self) -> str:
        return f"HttpClient({self._route!r}, token={self._token!r})"

    def __reduce__(self) -> Any:
        raise TypeError("HttpClient cannot be pickled: it holds a credential and open connections")

    @property
    def route(self) -> Route:
        """How requests travel (direct or through a proxy), as decided at construction."""
        return self._route

    async def request(
        self,
        method: str,
        url: str | httpx.URL,
        *,
        params: Mapping[str, Any] | None = None,
        content: Any = None,
        json: Any = None,
        files: Any = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        stream: bool = False,
    ) -> httpx.Response:
        """Send one request on this loop's pool. ``content`` is bytes or an async iterator of bytes;
        ``headers`` that hold a credential of the caller's own (an S3 signature) should be a
        :class:`~cap_opendal_core.redact.SealedHeaders`, whose ``repr`` hides them. With
        ``stream=True`` the body is not read: the caller must ``aread()`` or ``aclose()`` the response."""
        client = await self._client()
        request = client.build_request(
            method,
            url,
            params=params,
            content=content,
            json=json,
            files=files,
            data=data,
            headers=self._with_token(headers),
        )
        return await client.send(request, stream=stream)

    def _with_token(self, headers: Mapping[str, str] | None) -> Mapping[str, str] | None:
        if self._token is None:
            return headers
        return {"Authorization": "Bearer " + self._token.reveal(), **(headers or {})}

    def current_pool(self) -> httpx.AsyncClient | None:
        """The running loop's open client, or None before its first request (for diagnostics)."""
        pool = self._pools.get(current_loop_key())
        return None if pool is None or pool.client.is_closed else pool.client

    async def aclose(self) -> None:
        """Close the running loop's pool, and forget pools of loops that are closed."""
        loop = current_loop_key()
        with self._lock:
            pool = self._pools.pop(loop, None)
            self._forget_closed_loops()
        if pool is not None:
            await pool.aclose()

    # -- pools ----------------------------------------------------------------------------------

    async def _client(self) -> httpx.AsyncClient:
        if self._generation != forks.generation():
            self._after_fork()
        loop = current_loop_key()
        pool = self._pools.get(loop)
        if pool is not None and not pool.client.is_closed:
            return pool.client
        import httpx

        client = httpx.AsyncClient(
            transport=self._transport
            if self._transport is not None
            else httpx_transport(self._route, retries=self._transport_retries, limits=self._limits),
            trust_env=False,
            timeout=self._timeout,
            headers=self._headers,
            follow_redirects=False,
        )
        pool = _Pool(client)
        await pool.close_with_loop()
        with self._lock:
            self._forget_closed_loops()
            self._pools[loop] = pool
        return client

    def _forget_closed_loops(self) -> None:
        for old in [old for old, pool in self._pools.items() if _ended(old, pool)]:
            del self._pools[old]

    def _after_fork(self) -> None:
        """In a forked child: drop the parent's pools unclosed (their sockets are the parent's)."""
        self._pools = {}
        self._lock = threading.Lock()
        self._generation = forks.generation()


def _ended(key: object, pool: _Pool) -> bool:
    if isinstance(key, asyncio.AbstractEventLoop):
        return key.is_closed()
    return pool.client.is_closed


class _Pool:
    """One loop's client and the async generator whose finalisation closes it on that loop."""

    __slots__ = ("client", "guard")

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.guard: AsyncGenerator[None, None] | None = None

    async def close_with_loop(self) -> None:
        """Start the guard: asyncio now tracks it and closes it in ``shutdown_asyncgens()``."""
        guard = _close_at_shutdown(self.client)
        await guard.asend(None)
        self.guard = guard

    async def aclose(self) -> None:
        guard, self.guard = self.guard, None
        if guard is not None:
            await guard.aclose()  # its finally closes the client
        else:
            await self.client.aclose()


async def _close_at_shutdown(client: httpx.AsyncClient) -> AsyncGenerator[None, None]:
    try:
        yield
    finally:
        await client.aclose()
