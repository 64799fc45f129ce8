"""The gateway backend: a server reaching Durable Objects through the shipped gateway Worker.

Durable Objects have no REST API, so a server talks to them through a Worker that fronts the
namespace (``cap_cloudflare_do/gateway/worker.js``; see :mod:`cap_cloudflare_do.gateway`). This module
is its httpx client: ``POST {url}/{BINDING}/rpc``, ``…/fetch`` and ``…/id`` with a bearer token, values
in tagged JSON (:mod:`cap_cloudflare_do.codec`). Gateway errors come back as ``{"error": {code,
message}}`` marked ``x-caps-gateway-origin: gateway``; the object's own HTTP responses are marked
``object`` and returned as they are, whatever their status.

The token is held as a :class:`~cap_opendal_core.redact.Secret` (registered for scrubbing, never in a
repr or an error), and is only ever sent over HTTPS — or plain HTTP to a loopback address, for a
gateway running locally.

Ids: the gateway cannot share the namespace's private key, so :meth:`id_from_name` returns an id that
carries the name (the gateway derives the real id on each call) and :meth:`resolve_id` asks for the hex
form or a new unique id. This module imports httpx; it is loaded only by ``from_gateway``.
"""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

import httpx

from cap_opendal_core.errors import (
    BackendError,
    CapabilityError,
    Forbidden,
    InvalidInput,
    Misconfigured,
    NotFound,
    RateLimited,
    Unauthorized,
    Unavailable,
    Unsupported,
)
from cap_opendal_core.http_client import HttpClient
from cap_opendal_core.plugins import BINDING_NAME
from cap_opendal_core.redact import Secret, scrub
from cap_opendal_core.translate import from_http, from_httpx

from .. import codec
from ..ids import DurableObjectId
from ..models import Request, Response
from .base import RemoteNamespace

if TYPE_CHECKING:
    from collections.abc import Mapping


__all__ = ["ORIGIN_HEADER", "GatewayNamespace", "GatewayStub"]

ORIGIN_HEADER: Final = "x-caps-gateway-origin"


def _check_url(url: object) -> str:
    if not isinstance(url, str) or not url:
        raise Misconfigured(f"the gateway url must be a non-empty str, got {url!r}", capability="do")
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise Misconfigured(
            f"the gateway url must be an absolute https URL, got {scrub(url)!r}", capability="do"
        )
    if parts.username or parts.password or parts.query or parts.fragment:
        raise Misconfigured(
            "the gateway url must not carry credentials, a query or a fragment (the token goes in token=)",
            capability="do",
        )
    return url.rstrip("/")


class GatewayNamespace(RemoteNamespace):
    kind = "gateway"

    def __init__(
        self,
        url: str,
        *,
        binding: str,
        token: str | Secret,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
        proxy: str | None = None,
        trust_env: bool = False,
    ) -> None:
        base = _check_url(url)
        if proxy is not None and not isinstance(proxy, str):
            raise Misconfigured(f"proxy must be a str or None, got {type(proxy).__name__}", capability="do")
        if not isinstance(trust_env, bool):
            raise Misconfigured(f"trust_env must be a bool, got {type(trust_env).__name__}", capability="do")
        if not isinstance(binding, str) or BINDING_NAME.match(binding) is None:
            raise Misconfigured(
                f"binding must be an identifier (the Worker's binding name), got {binding!r}", capability="do"
            )
        raw = token.reveal() if isinstance(token, Secret) else token
        if not isinstance(raw, str) or not raw.strip():
            raise Misconfigured("the gateway token must be a non-empty str or Secret", capability="do")
        if any(ch in raw for ch in "\r\n"):
            raise Misconfigured("the gateway token must be one line", capability="do")
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
            raise Misconfigured(
                f"timeout must be a positive number of seconds, got {timeout!r}", capability="do"
            )
        self.binding = binding
        self.url = base
        self._token = Secret(raw)
        self._base = f"{base}/{binding}"
        self._http = HttpClient(
            base,
            token=self._token,
            credential="the gateway's bearer token",
            capability="do",
            timeout=float(timeout),
            proxy=proxy,
            trust_env=trust_env,
            transport=transport,
        )

    def __repr__(self) -> str:
        return f"GatewayNamespace(url={self.url!r}, binding={self.binding!r}, token={self._token!r})"

    # -- ids --------------------------------------------------------------------------------------------

    def id_from_name(self, name: str) -> DurableObjectId:
        return DurableObjectId(None, name)

    def new_unique_id(self, jurisdiction: str | None) -> DurableObjectId:
        raise Unsupported(
            "the gateway mints unique ids inside Cloudflare: use `await namespace.resolve_id()`",
            capability="do",
            operation="new_unique_id",
        )

    def id_from_string(self, hex_id: str) -> DurableObjectId:
        return DurableObjectId(hex_id)

    async def resolve_id(self, oid: DurableObjectId | None, jurisdiction: str | None) -> DurableObjectId:
        payload: dict[str, Any]
        if oid is None:
            payload = {"unique": True}
            if jurisdiction is not None:
                payload["jurisdiction"] = jurisdiction
        else:
            payload = {"name": oid.name}
        response = await self._post("id", payload, key=None if oid is None else oid.name)
        hex_id = _json(response).get("id")
        if not isinstance(hex_id, str):
            raise BackendError("the gateway answered /id without an id", retryable=False)
        return DurableObjectId(hex_id.lower(), None if oid is None else oid.name)

    def stub(self, oid: DurableObjectId) -> GatewayStub:
        target = {"id": oid.hex} if oid.hex is not None else {"name": oid.name}
        return GatewayStub(self, target)

    def stub_by_name(self, name: str) -> tuple[DurableObjectId, GatewayStub]:
        return DurableObjectId(None, name), GatewayStub(self, {"name": name})

    # -- lifecycle ----------------------------------------------------------------------------------

    async def start(self) -> None:
        """Nothing to open: the running loop's connection pool is made by the first request."""

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- transport --------------------------------------------------------------------------------------

    async def _post(self, action: str, payload: Mapping[str, Any], *, key: str | None) -> httpx.Response:
        try:
            response = await self._http.request(
                "POST",
                f"{self._base}/{action}",
                content=json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8"),
                headers={"content-type": "application/json"},
            )
        except httpx.HTTPError as exc:
            raise from_httpx(exc, capability="do", operation=action, key=key) from exc
        if response.headers.get(ORIGIN_HEADER) == "object":
            return response
        if response.is_success:
            return response
        raise _gateway_error(response, action, key)


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError as exc:
        raise BackendError(f"the gateway sent a response that is not JSON ({response.status_code})") from exc
    if not isinstance(data, dict):
        raise BackendError("the gateway sent a JSON response that is not an object")
    return data


def _gateway_error(response: httpx.Response, action: str, key: str | None) -> CapabilityError:
    status = response.status_code
    context: dict[str, Any] = {"capability": "do", "operation": action, "key": key}
    if response.headers.get(ORIGIN_HEADER) != "gateway":
        # not the gateway talking (a proxy, Cloudflare's edge, a wrong URL): judge by status
        return from_http(
            status, response.content, dict(response.headers), capability="do", operation=action, key=key
        )
    try:
        error = response.json().get("error", {})
    except (ValueError, AttributeError):
        error = {}
    message = scrub(str(error.get("message") or f"HTTP {status}"))
    if status == 401:
        return Unauthorized("the gateway refused the bearer token", **context)
    if error.get("code") == "gateway_misconfigured":
        # the gateway's own secret is unusable: no token can succeed, so nothing is retried
        return Misconfigured(f"the gateway is misconfigured: {message}", **context)
    if status == 403:
        return Forbidden(message, **context)
    if status == 404:
        return NotFound(message, **context)
    if status == 400:
        return InvalidInput(message, **context)
    if error.get("code") == "object_error":
        text = f"{message} (raised inside the Durable Object)"
        if error.get("overloaded") is True:
            return RateLimited(text, retryable=False, **context)
        if error.get("retryable") is True:
            return Unavailable(text, **context)
        return BackendError(text, retryable=False, **context)
    if status >= 500 or status == 405:
        return BackendError(f"gateway: {message}", retryable=False, **context)
    return from_http(
        status, response.content, dict(response.headers), capability="do", operation=action, key=key
    )


class GatewayStub:
    __slots__ = ("_namespace", "_target")

    def __init__(self, namespace: GatewayNamespace, target: dict[str, Any]) -> None:
        self._namespace = namespace
        self._target = target

    async def call(self, method: str, args: list[Any]) -> Any:
        payload = {"target": self._target, "method": method, "args": args}
        response = await self._namespace._post("rpc", payload, key=method)
        data = _json(response)
        if "result" not in data:
            raise BackendError("the gateway answered an RPC without a result", retryable=False)
        return codec.from_tagged(data["result"])

    async def fetch(self, request: Request) -> Response:
        payload = {
            "target": self._target,
            "url": request.url,
            "method": request.method,
            "headers": list(request.headers.items()),
            "body": base64.b64encode(request.body).decode("ascii") if request.body else None,
        }
        response = await self._namespace._post("fetch", payload, key=request.url)
        if response.headers.get(ORIGIN_HEADER) != "object":
            raise BackendError("the gateway answered a fetch without the object's response", retryable=False)
        headers = {k: v for k, v in response.headers.items() if k.lower() != ORIGIN_HEADER}
        return Response(response.content, status=response.status_code, headers=headers)
