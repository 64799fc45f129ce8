"""``ApiClient``: Cloudflare's REST API for one account, shared by every capability that uses it.

It is :class:`~cap_opendal_core.http_client.HttpClient` (route checked, a pool per event loop, the
token added per request) plus the API's envelope: ``{success, errors, messages, result,
result_info}``. :meth:`ApiClient.call` returns ``result`` and ``result_info`` of a successful
response; any other response becomes the capability's error through ``translate`` — by default
:func:`cap_opendal_core.translate.from_http`, which reads the status and the envelope's error codes.
A capability passes its own translator (same signature) to own its error-code table.

Transport failures (a refused connection, a timeout) are not caught here: the pipeline translates
httpx errors and retries what is retryable, honouring ``Retry-After``. Standard library only at
import; httpx loads with the first request.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypedDict, Unpack

from .errors import BackendError, CapabilityError
from .http_client import HttpClient
from .redact import Secret

if TYPE_CHECKING:
    from collections.abc import Mapping

    import httpx

    from .cloudflare_config import CloudflareApiConfig

__all__ = ["ApiClient", "ApiResult", "HttpTranslator", "RequestBody"]


class HttpTranslator(Protocol):
    """Turns an error response into the capability's error: :func:`~cap_opendal_core.translate.from_http`'s
    signature."""

    def __call__(
        self,
        status: int,
        body: bytes | str | Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        *,
        capability: str | None,
        operation: str | None,
        key: str | None = None,
        cause: BaseException | None = None,
    ) -> CapabilityError: ...


def _default_translator() -> HttpTranslator:
    from .translate import from_http

    return from_http


class RequestBody(TypedDict, total=False):
    """What a request to the API may carry (``json_body`` is sent as JSON); all optional."""

    params: Mapping[str, Any] | None
    content: bytes | None
    json_body: Any
    files: Any
    data: Any
    headers: Mapping[str, str] | None


@dataclass(frozen=True, slots=True)
class ApiResult:
    """A successful envelope's ``result`` and ``result_info`` (``{}`` when absent)."""

    result: Any
    info: dict[str, Any] = field(default_factory=dict)


class ApiClient(HttpClient):
    """One account's REST API (see the module docstring). ``base`` is the URL paths are joined to."""

    __slots__ = ("base", "translate")

    def __init__(
        self,
        base: str,
        *,
        token: Secret,
        capability: str,
        timeout: float,
        proxy: str | None = None,
        trust_env: bool = False,
        limits: httpx.Limits | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        translate: HttpTranslator | None = None,
    ) -> None:
        super().__init__(
            base,
            token=token,
            credential="the API token",
            capability=capability,
            timeout=timeout,
            proxy=proxy,
            trust_env=trust_env,
            limits=limits,
            transport=transport,
        )
        self.base = base
        self.translate = translate if translate is not None else _default_translator()

    @classmethod
    def for_config(
        cls,
        config: CloudflareApiConfig,
        path: str = "",
        *,
        capability: str,
        limits: httpx.Limits | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        translate: HttpTranslator | None = None,
    ) -> ApiClient:
        """A client for ``config``'s account; ``path`` (``/storage/kv/namespaces/…``) is appended
        to ``{base_url}/accounts/{account_id}``."""
        return cls(
            config.account_url + path,
            token=Secret(config.api_token.get_secret_value()),
            capability=capability,
            timeout=config.timeout,
            proxy=config.proxy,
            trust_env=config.trust_env,
            limits=limits,
            transport=transport,
            translate=translate,
        )

    async def send(
        self, method: str, path: str, *, stream: bool = False, **body: Unpack[RequestBody]
    ) -> httpx.Response:
        """The raw response to ``method`` on ``base + path``, whatever its status (for callers that
        read a status themselves, like KV's "key not found" 404)."""
        return await self.request(
            method,
            self.base + path,
            params=body.get("params"),
            content=body.get("content"),
            json=body.get("json_body"),
            files=body.get("files"),
            data=body.get("data"),
            headers=body.get("headers"),
            stream=stream,
        )

    async def call(
        self, method: str, path: str, *, operation: str, key: str | None = None, **body: Unpack[RequestBody]
    ) -> ApiResult:
        """Send and unwrap: the envelope's result, or the translated error."""
        response = await self.send(method, path, **body)
        return self.unwrap(response, operation=operation, key=key)

    def error(self, response: httpx.Response, *, operation: str, key: str | None) -> CapabilityError:
        """The capability's error for an unsuccessful (read) response."""
        return self.translate(
            response.status_code,
            response.content,
            response.headers,
            capability=self._capability,
            operation=operation,
            key=key,
        )

    def unwrap(self, response: httpx.Response, *, operation: str, key: str | None) -> ApiResult:
        """``result`` and ``result_info`` of a successful envelope; else the translated error (a
        status of 300 or more, or ``success`` not true), or ``BackendError`` for a body that is not
        the envelope."""
        status = response.status_code
        if status >= 300:
            raise self.error(response, operation=operation, key=key)
        try:
            body = json.loads(response.content)
        except ValueError:
            raise BackendError(
                f"HTTP {status} with a body that is not JSON ({len(response.content)} bytes), where "
                "the Cloudflare API sends its envelope",
                capability=self._capability,
                operation=operation,
                key=key,
                retryable=False,
            ) from None
        if not isinstance(body, dict) or body.get("success") is not True:
            raise self.translate(
                status,
                body if isinstance(body, dict) else None,
                response.headers,
                capability=self._capability,
                operation=operation,
                key=key,
            )
        info = body.get("result_info")
        return ApiResult(body.get("result"), info if isinstance(info, dict) else {})
