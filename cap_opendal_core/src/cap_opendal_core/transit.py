"""Where a credential may travel: the one decision every HTTP client the SDK builds goes through.

Why: an HTTP library left to itself reads ``HTTP_PROXY``/``HTTPS_PROXY``/``ALL_PROXY`` and
``SSL_CERT_FILE`` from the environment, so a variable set for something else can route a request
to ``http://localhost:8787`` — bearer token and all — in clear text through a proxy on another host.
Here the route is decided from configuration only:

* ``proxy`` (an explicit ``http://`` or ``https://`` proxy URL) is used when given;
* otherwise the environment's proxies apply only with ``trust_env=True`` (``NO_PROXY`` honoured, as
  :mod:`urllib.request` reads them); with ``trust_env=False`` (the default) requests go direct;
* certificates: certifi's roots, plus ``SSL_CERT_FILE``/``SSL_CERT_DIR`` only with ``trust_env=True``.

Then :func:`route` refuses — :class:`~cap_opendal_core.errors.Misconfigured`, before any I/O — a
route on which a credential (a bearer token, an S3 signature) would travel in clear text to
anything but loopback: a plain ``http://`` target on another host, or a plain ``http://`` target
(even loopback: "localhost" means the proxy's own host to a proxy) reached through a proxy that is
not itself on loopback. HTTPS through any proxy is a ``CONNECT`` tunnel, so the proxy sees only
the host name.

httpx clients take the decided route as an explicit transport (:func:`httpx_transport`) and
``trust_env=False``, so what they do is what was checked. OpenDAL's HTTP client (reqwest) always
honours the environment's proxies and cannot be told otherwise from Python, so
:func:`check_opendal_route` refuses an OpenDAL endpoint an environment proxy would capture unless
the configuration opted in with ``trust_env=True``. Standard library only at import.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final
from urllib.parse import SplitResult, urlsplit

from .errors import Misconfigured
from .redact import scrub

if TYPE_CHECKING:
    import ssl

    import httpx

__all__ = [
    "Route",
    "check_opendal_route",
    "check_proxy_url",
    "environment_proxy",
    "httpx_transport",
    "is_loopback_host",
    "route",
    "split_http_url",
    "ssl_context",
]

_LOOPBACK_NAMES: Final = frozenset({"localhost", "localhost.", "ip6-localhost"})


def is_loopback_host(host: str | None) -> bool:
    """Whether ``host`` (a name or an IP literal, brackets allowed) is this machine's loopback."""
    if not host:
        return False
    name = host.strip("[]").lower()
    if name in _LOOPBACK_NAMES or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def split_http_url(value: str, what: str = "URL") -> SplitResult:
    """``value``'s parts when it is an ``http://``/``https://`` URL with a host (and a valid port);
    else ``ValueError`` saying it must be an http(s) ``what``, which never echoes the value."""
    try:
        parts = urlsplit(value)
        _ = parts.port
    except ValueError:
        raise ValueError("is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"must be an http:// or https:// {what} with a host")
    return parts


def check_proxy_url(proxy: str, *, allow_credentials: bool = False) -> str:
    """``proxy`` if it is an ``http://``/``https://`` URL with a host (and, unless
    ``allow_credentials`` — the environment's proxy —, no ``user:password@``); else ``ValueError``,
    which never echoes the URL."""
    parts = split_http_url(proxy, "proxy URL")
    if not allow_credentials and (parts.username is not None or parts.password is not None):
        # it would sit in the configuration's repr; an authenticating proxy is reached with
        # trust_env=True and the credentials in HTTPS_PROXY, where no repr shows them
        raise ValueError(
            "must not carry credentials (user:password@): put an authenticating proxy in "
            "HTTPS_PROXY/HTTP_PROXY and set trust_env=True"
        )
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError("must be a proxy origin (scheme://host:port), without a path or query")
    return proxy


def environment_proxy(url: str) -> str | None:
    """The proxy the environment (``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY``, ``NO_PROXY``, any
    case) names for ``url``, or None. What reqwest and httpx honour when left to themselves."""
    import urllib.request

    parts = urlsplit(url)
    proxies = urllib.request.getproxies_environment()
    found = proxies.get(parts.scheme) or proxies.get("all")
    bypass = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]  # not in typeshed
    if not found or bypass(parts.netloc.rpartition("@")[2], proxies):
        return None
    return found if "://" in found else f"http://{found}"


@dataclass(frozen=True, slots=True)
class Route:
    """How requests to one origin travel: direct (``proxy=None``) or through ``proxy``; whether the
    environment's certificate settings count (``trust_env``). Its ``repr`` hides proxy credentials."""

    url: str
    proxy: str | None
    trust_env: bool

    def __repr__(self) -> str:
        proxy = scrub(self.proxy) if self.proxy is not None else None
        return f"Route(url={scrub(self.url)!r}, proxy={proxy!r}, trust_env={self.trust_env})"


def route(
    url: str,
    *,
    proxy: str | None = None,
    trust_env: bool = False,
    credential: str | None,
    capability: str | None = None,
) -> Route:
    """Decide how requests to ``url`` travel and refuse a route that shows ``credential`` (what is
    sent: "the API token", "the S3 signature") in clear text to anything but loopback. With
    ``credential=None`` (an anonymous bucket) nothing secret travels and plain http is allowed."""
    chosen = proxy if proxy is not None else (environment_proxy(url) if trust_env else None)
    target = urlsplit(url)
    if credential is not None and target.scheme == "http" and not is_loopback_host(target.hostname):
        raise Misconfigured(
            f"{scrub(url)!r} is plain http to a host other than loopback: {credential} would travel in "
            "clear text — use https (plain http is accepted only for loopback addresses)",
            capability=capability,
        )
    if chosen is not None:
        try:
            check_proxy_url(chosen, allow_credentials=proxy is None)
        except ValueError as exc:
            where = "proxy" if proxy is not None else "the environment's proxy for it"
            raise Misconfigured(f"{where} {exc}", capability=capability) from None
        via = urlsplit(chosen)
        if credential is not None and target.scheme == "http" and not is_loopback_host(via.hostname):
            source = "proxy=" if proxy is not None else "the environment (trust_env=True)"
            raise Misconfigured(
                f"a plain-http request to {scrub(url)!r} would go through the proxy {via.hostname!r} "
                f"(from {source}), which is not loopback: {credential} would reach it in clear text — "
                "use https, or no proxy for a local endpoint",
                capability=capability,
            )
    return Route(url, chosen, trust_env)


def check_opendal_route(url: str, *, trust_env: bool, credential: str | None, capability: str | None) -> None:
    """Refuse an endpoint that OpenDAL would reach through an environment proxy the configuration did
    not opt into (reqwest honours ``HTTP(S)_PROXY`` and cannot be told not to from Python), and any
    route :func:`route` refuses."""
    found = environment_proxy(url)
    if found is not None and not trust_env:
        raise Misconfigured(
            f"the environment names a proxy for {scrub(url)!r} (HTTP_PROXY/HTTPS_PROXY/ALL_PROXY), and "
            "OpenDAL's HTTP client always honours it: set trust_env=True to send through it, or exclude "
            "the endpoint with NO_PROXY",
            capability=capability,
        )
    route(url, trust_env=trust_env, credential=credential, capability=capability)


def ssl_context(trust_env: bool) -> ssl.SSLContext:
    """Certificate trust for one route: certifi's roots; ``SSL_CERT_FILE``/``_DIR`` only if opted in."""
    import httpx

    return httpx.create_ssl_context(trust_env=trust_env)


def httpx_transport(
    chosen: Route, *, retries: int = 0, limits: httpx.Limits | None = None
) -> httpx.AsyncHTTPTransport:
    """An httpx transport that goes exactly the way ``chosen`` says (give the client ``trust_env=False``
    too, so it mounts no environment proxy of its own)."""
    import httpx

    return httpx.AsyncHTTPTransport(
        verify=ssl_context(chosen.trust_env),
        trust_env=False,
        proxy=chosen.proxy,
        retries=retries,
        # httpx's own default when none is given
        limits=limits
        if limits is not None
        else httpx.Limits(max_connections=100, max_keepalive_connections=20),
    )
