"""Workers KV through Cloudflare's REST API, for servers: one pooled ``httpx.AsyncClient``.

Endpoints (``docs/reference/workers-kv.md``) under ``/accounts/{account}/storage/kv/namespaces/{ns}``:
``values/{key}`` (GET raw bytes, PUT raw or multipart with metadata, DELETE), ``metadata/{key}``,
``keys`` (cursor paging), ``bulk`` (PUT, ≤ 10,000 pairs and ≤ 100 MB), ``bulk/delete`` (≤ 10,000 keys)
and ``bulk/get`` (≤ 100 keys, text or json, optionally with metadata). Keys are percent-encoded whole
(``/`` included) so any key reaches its own URL.

A missing key is data, not an error: a 404 whose envelope carries code 10009 ("key not found")
becomes ``None``. Every other failure — including the 404 of a namespace that does not exist (code
10013 → ``Misconfigured``) — goes through :func:`cap_opendal_core.translate.from_http`; transport
failures (a dropped connection) are left to the pipeline, which translates httpx errors and retries
what is retryable, honouring ``Retry-After``.

HTTP goes through core's :class:`~cap_opendal_core.cloudflare_api.ApiClient` (route checks, a pool
per event loop, the token added per request, the envelope unwrapped); ``aclose`` (``async with kv:``)
closes the running loop's pool.
"""

from __future__ import annotations

import base64
import json
import time
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote

from cap_opendal_core.cloudflare_api import ApiClient
from cap_opendal_core.errors import BackendError, CapabilityError, InvalidInput, Unavailable
from cap_opendal_core.translate import from_http

from .. import limits
from ..codec import decode_metadata, decode_text, decode_value
from ..info import descriptor_for
from ..models import KvKey, KvListResult, KvValueWithMetadata, PreparedWrite, ValueType
from ..streams import KvStream
from .base import chunked

if TYPE_CHECKING:
    from collections.abc import Callable

    import httpx

    from cap_opendal_core.layers import LayerSettings

    from ..config import CloudflareKvConfig

__all__ = ["RestBackend"]

KEY_NOT_FOUND: Final = 10009
"""Cloudflare's code for "key not found" on ``values`` and ``metadata`` (a missing key, not a fault)."""

_CURSOR_MARK: Final = "cap~"
"""Prefix of cursors this backend makes itself (see :meth:`RestBackend.list`)."""


class RestBackend:
    """KV over Cloudflare's REST API; see the module docstring."""

    name = "rest"

    def __init__(
        self, config: CloudflareKvConfig, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self._config = config
        self._api = ApiClient.for_config(config, config.namespace_path, capability="kv", transport=transport)
        self.descriptor = descriptor_for("rest")
        self.clock: Callable[[], float] = time.time

    def pipeline_settings(self, settings: LayerSettings) -> LayerSettings:
        return settings  # the pipeline's retry honours Retry-After and knows what is idempotent

    def describe(self) -> str:
        return self._config.describe()

    async def aclose(self) -> None:
        await self._api.aclose()

    async def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return await self._api.send(method, path, **kwargs)

    def _result(self, response: httpx.Response, op: str, key: str | None) -> tuple[Any, dict[str, Any]]:
        """The envelope's ``result`` and ``result_info`` of a successful response, else the error."""
        unwrapped = self._api.unwrap(response, operation=op, key=key)
        return unwrapped.result, unwrapped.info

    # -- reads -----------------------------------------------------------------------------------

    async def get(self, key: str, value_type: ValueType, cache_ttl: int | None) -> Any:
        if value_type == "stream":
            return await self._stream(key)
        response = await self._send("GET", _value_path(key))
        if response.status_code == 200:
            return decode_value(response.content, value_type, operation="get", key=key)
        if _is_missing_key(response):
            return None
        raise _error(response, "get", key)

    async def _stream(self, key: str) -> KvStream | None:
        response = await self._api.send("GET", _value_path(key), stream=True)
        try:
            if response.status_code != 200:
                await response.aread()
                if _is_missing_key(response):
                    await response.aclose()
                    return None
                raise _error(response, "get", key)
        except BaseException:
            await response.aclose()
            raise
        return KvStream(response.aiter_bytes(), key=key, on_close=response.aclose)

    async def get_with_metadata(
        self, key: str, value_type: ValueType, cache_ttl: int | None
    ) -> KvValueWithMetadata:
        if value_type in ("text", "json"):
            # one request answers both, so value and metadata come from the same write
            found = (await self._bulk_get([key], with_metadata=True, op="get_with_metadata")).get(key)
            if not isinstance(found, dict):
                return KvValueWithMetadata(None, None)
            value = found.get("value")
            text = value if isinstance(value, str) else json.dumps(value)
            decoded = decode_text(text, value_type, operation="get_with_metadata", key=key)
            return KvValueWithMetadata(decoded, found.get("metadata"))
        metadata = await self._metadata(key)
        if metadata is _MISSING:
            return KvValueWithMetadata(None, None)
        value = await self.get(key, value_type, cache_ttl)
        if value is None:
            return KvValueWithMetadata(None, None)
        return KvValueWithMetadata(value, metadata)

    async def _metadata(self, key: str) -> Any:
        response = await self._send("GET", f"/metadata/{_quote(key)}")
        if _is_missing_key(response):
            return _MISSING
        result, _ = self._result(response, "get_with_metadata", key)
        return result

    async def get_many(self, keys: list[str], value_type: ValueType) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for chunk in chunked(list(dict.fromkeys(keys)), limits.BULK_GET_MAX_KEYS):
            values = await self._bulk_get(chunk, with_metadata=False, op="get_many")
            for key in chunk:
                value = values.get(key)
                if value is None:
                    out[key] = None
                else:
                    text = value if isinstance(value, str) else json.dumps(value)
                    out[key] = decode_text(text, value_type, operation="get_many", key=key)
        return out

    async def _bulk_get(self, keys: list[str], *, with_metadata: bool, op: str) -> dict[str, Any]:
        # always as text: the value is parsed here, the same way on every backend (see codec)
        body = {"keys": keys, "type": "text", "withMetadata": with_metadata}
        result, _ = self._result(await self._send("POST", "/bulk/get", json_body=body), op, None)
        values = result.get("values") if isinstance(result, dict) else None
        if not isinstance(values, dict):
            raise BackendError("bulk/get answered without a values object", capability="kv", operation=op)
        return values

    # -- writes ----------------------------------------------------------------------------------

    async def put(self, write: PreparedWrite) -> None:
        params: dict[str, Any] = {}
        if write.expiration is not None:
            params["expiration"] = write.expiration
        if write.expiration_ttl is not None:
            params["expiration_ttl"] = write.expiration_ttl
        path = _value_path(write.key)
        if write.metadata_json is None:
            response = await self._send(
                "PUT", path, params=params, content=write.data,
                headers={"Content-Type": "application/octet-stream"},
            )  # fmt: skip
        else:
            response = await self._send(
                "PUT", path, params=params,
                files={"value": ("value", write.data, "application/octet-stream")},
                data={"metadata": write.metadata_json},
            )  # fmt: skip
        self._result(response, "put", write.key)

    async def put_many(self, writes: list[PreparedWrite]) -> None:
        latest = {write.key: write for write in writes}  # the last write of a key wins
        for body in _bulk_bodies([_bulk_item(write) for write in latest.values()]):
            response = await self._send(
                "PUT", "/bulk", content=body, headers={"Content-Type": "application/json"}
            )
            result, _ = self._result(response, "put_many", None)
            _raise_unsuccessful(result, "put_many", "written")

    async def delete(self, key: str) -> None:
        response = await self._send("DELETE", _value_path(key))
        if _is_missing_key(response):
            return
        self._result(response, "delete", key)

    async def delete_many(self, keys: list[str]) -> None:
        for chunk in chunked(list(dict.fromkeys(keys)), limits.BULK_DELETE_MAX_KEYS):
            result, _ = self._result(
                await self._send("POST", "/bulk/delete", json_body=chunk), "delete_many", None
            )
            _raise_unsuccessful(result, "delete_many", "deleted")

    # -- listing ---------------------------------------------------------------------------------

    def check_cursor(self, cursor: str, operation: str) -> None:
        _unwrap_cursor(cursor, operation)

    async def list(self, prefix: str | None, limit: int, cursor: str | None) -> KvListResult:
        """One page. The API takes ``limit`` from 10 up, the binding from 1: below 10 this asks for
        10 (plus what it skips) and remembers, in a cursor of its own, how far into that page it got."""
        server_cursor, skip = _unwrap_cursor(cursor, "list") if cursor is not None else (None, 0)
        # at most 1000 either way: past that the page is just shorter, and continues at the API's cursor
        wanted = min(limits.LIST_LIMIT_MAX, max(limits.REST_LIST_LIMIT_MIN, skip + limit))
        params: dict[str, Any] = {"limit": wanted}
        if prefix is not None:
            params["prefix"] = prefix
        if server_cursor:
            params["cursor"] = server_cursor
        result, info = self._result(await self._send("GET", "/keys", params=params), "list", prefix)
        if not isinstance(result, list):
            raise BackendError("keys answered without a list of keys", capability="kv", operation="list")
        page = [_key_of(item) for item in result[skip : skip + limit]]
        following = info.get("cursor") or None
        if skip + limit < len(result):
            next_cursor: str | None = f"{_CURSOR_MARK}{skip + limit}~{server_cursor or ''}"
        else:
            next_cursor = following if isinstance(following, str) else None
        return KvListResult(tuple(page), next_cursor is None, next_cursor)


# --- helpers -------------------------------------------------------------------------------------

_MISSING: Final = object()


def _quote(key: str) -> str:
    return quote(key, safe="")


def _value_path(key: str) -> str:
    return f"/values/{_quote(key)}"


def _error(response: httpx.Response, op: str, key: str | None) -> CapabilityError:
    return from_http(
        response.status_code, response.content, response.headers, capability="kv", operation=op, key=key
    )


def _is_missing_key(response: httpx.Response) -> bool:
    """A 404 whose envelope says "key not found" (10009); any other 404 is a real error."""
    if response.status_code != 404:
        return False
    try:
        body = response.json()
    except ValueError:
        return False
    errors = body.get("errors") if isinstance(body, dict) else None
    return isinstance(errors, list) and any(
        isinstance(e, dict) and e.get("code") == KEY_NOT_FOUND for e in errors
    )


def _key_of(item: Any) -> KvKey:
    if not isinstance(item, dict) or not isinstance(item.get("name"), str):
        raise BackendError("keys answered with an entry that has no name", capability="kv", operation="list")
    expiration = item.get("expiration")
    return KvKey(
        item["name"],
        int(expiration) if isinstance(expiration, int | float) and not isinstance(expiration, bool) else None,
        item.get("metadata"),
    )


def _unwrap_cursor(cursor: str, operation: str) -> tuple[str | None, int]:
    """``(Cloudflare's cursor, keys to skip)``; Cloudflare's own cursors pass through untouched."""
    if not cursor.startswith(_CURSOR_MARK):
        return cursor, 0
    skip_text, sep, server = cursor[len(_CURSOR_MARK) :].partition("~")
    if not sep or not skip_text.isdigit() or not 0 < int(skip_text) < limits.LIST_LIMIT_MAX:
        raise InvalidInput(
            "cursor is not one list() returned; pass the previous page's cursor unchanged",
            field="cursor",
            capability="kv",
            operation=operation,
        )
    return server or None, int(skip_text)


def _bulk_item(write: PreparedWrite) -> bytes:
    item: dict[str, Any] = {"key": write.key}
    if write.text is not None:
        item["value"] = write.text
    else:
        item["value"] = base64.b64encode(write.data).decode("ascii")
        item["base64"] = True
    if write.expiration is not None:
        item["expiration"] = write.expiration
    if write.expiration_ttl is not None:
        item["expiration_ttl"] = write.expiration_ttl
    if write.metadata_json is not None:
        item["metadata"] = decode_metadata(write.metadata_json)
    return json.dumps(item, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _bulk_bodies(items: list[bytes]) -> list[bytes]:
    """JSON arrays of at most 10,000 items and 100 MB each, in order."""
    bodies: list[bytes] = []
    current: list[bytes] = []
    size = 2  # the brackets
    for item in items:
        grows = len(item) + (1 if current else 0)
        if current and (
            len(current) >= limits.BULK_PUT_MAX_ITEMS or size + grows > limits.BULK_BODY_MAX_BYTES
        ):
            bodies.append(b"[" + b",".join(current) + b"]")
            current, size = [], 2
            grows = len(item)
        current.append(item)
        size += grows
    if current:
        bodies.append(b"[" + b",".join(current) + b"]")
    return bodies


def _raise_unsuccessful(result: Any, op: str, done: str) -> None:
    failed = result.get("unsuccessful_keys") if isinstance(result, dict) else None
    if isinstance(failed, list) and failed:
        shown = ", ".join(repr(k) for k in failed[:5]) + (" …" if len(failed) > 5 else "")
        raise Unavailable(
            f"{len(failed)} key(s) were not {done} ({shown}); Cloudflare asks to retry them",
            capability="kv",
            operation=op,
            retryable=True,
        )
