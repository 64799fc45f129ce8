"""Workers KV routes for the local Cloudflare REST stand-in (:mod:`tests.support.cf_api`).

They follow Cloudflare's documented KV endpoints under
``/accounts/{account_id}/storage/kv/namespaces/{namespace_id}/`` — ``values/{key}`` (GET raw bytes,
PUT raw or multipart with a ``metadata`` part, DELETE), ``metadata/{key}``, ``keys`` (``prefix``,
``limit`` 10 to 1000, ``cursor`` in ``result_info.cursor``), ``bulk`` (PUT), ``bulk/delete`` and
``bulk/get`` — with the envelope and KV's error codes: 10009 key not found, 10013 namespace not
found, 10028 invalid limit, 10030 key too long, 10033/10034 invalid expiration, 10041 invalid cursor,
10042 illegal key name, 10024 payload too large, 10047 invalid metadata. Expired keys are invisible.

``KvApi.fail_keys`` makes bulk writes report those keys in ``unsuccessful_keys`` (as Cloudflare does
when it asks the client to retry some keys).
"""

from __future__ import annotations

import base64
import binascii
import email.parser
import email.policy
import json
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tests.support.cf_api import ApiRequest, ApiResponse, CloudflareApi, error_response, json_response

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from cap_cloudflare_kv import CloudflareKvConfig

__all__ = ["ACCOUNT_ID", "NAMESPACE_ID", "KvApi", "KvEntry", "kv_api_server"]

ACCOUNT_ID = "0123456789abcdef0123456789abcdef"
NAMESPACE_ID = "fedcba9876543210fedcba9876543210"
_BASE = "/accounts/{account}/storage/kv/namespaces/{namespace}"

KEY_MAX_BYTES = 512
VALUE_MAX_BYTES = 25 * 1024 * 1024
METADATA_MAX_BYTES = 1024
BULK_MAX = 10_000
BULK_GET_MAX = 100
BODY_MAX_BYTES = 100 * 1000 * 1000


@dataclass
class KvEntry:
    value: bytes
    expiration: int | None = None
    metadata: Any = None


class _Reject(Exception):
    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.response = error_response(status, code, message)


@dataclass
class KvApi:
    """The KV state behind the routes: namespaces of entries, and knobs for tests."""

    api: CloudflareApi
    namespaces: dict[str, dict[str, KvEntry]] = field(default_factory=lambda: {NAMESPACE_ID: {}})
    clock: Callable[[], float] = time.time
    fail_keys: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        routes: list[tuple[str, str, Callable[[ApiRequest], ApiResponse]]] = [
            ("GET", "/values/{key:path}", self._get_value),
            ("PUT", "/values/{key:path}", self._put_value),
            ("DELETE", "/values/{key:path}", self._delete_value),
            ("GET", "/metadata/{key:path}", self._get_metadata),
            ("GET", "/keys", self._list_keys),
            ("PUT", "/bulk", self._bulk_put),
            ("POST", "/bulk/delete", self._bulk_delete),
            ("POST", "/bulk/get", self._bulk_get),
        ]
        for method, tail, handler in routes:
            self.api.route(method, _BASE + tail, self._guarded(handler))

    def reset(self) -> None:
        """Back to an empty namespace: no entries, faults, failing keys or recorded requests."""
        with self.lock:
            self.namespaces = {NAMESPACE_ID: {}}
            self.fail_keys = set()
            self.clock = time.time
        self.api.clear()

    # -- helpers --------------------------------------------------------------------------------
    def config(self, *, base_url: str | None = None, timeout: float = 10.0) -> CloudflareKvConfig:
        """A ``CloudflareKvConfig`` for the default namespace on this stand-in (or on ``base_url``, a
        proxy in front of it), with its token."""
        from cap_cloudflare_kv import CloudflareKvConfig

        return CloudflareKvConfig(
            account_id=ACCOUNT_ID,
            namespace_id=NAMESPACE_ID,
            api_token=self.api.token,
            base_url=self.api.base_url if base_url is None else base_url,
            timeout=timeout,
        )

    @property
    def entries(self) -> dict[str, KvEntry]:
        """The default namespace's live entries (expired ones hidden)."""
        now = self.clock()
        return {
            k: e
            for k, e in self.namespaces[NAMESPACE_ID].items()
            if e.expiration is None or e.expiration > now
        }

    def _guarded(self, handler: Callable[[ApiRequest], ApiResponse]) -> Callable[[ApiRequest], ApiResponse]:
        def run(req: ApiRequest) -> ApiResponse:
            if req.params["account"] != self.api.account_id:
                return error_response(404, 7003, "Could not route to the requested path")
            if req.params["namespace"] not in self.namespaces:
                return error_response(404, 10013, "namespace not found")
            try:
                with self.lock:
                    return handler(req)
            except _Reject as reject:
                return reject.response

        return run

    def _store(self, req: ApiRequest) -> dict[str, KvEntry]:
        return self.namespaces[req.params["namespace"]]

    def _live(self, store: dict[str, KvEntry], key: str) -> KvEntry | None:
        entry = store.get(key)
        if entry is None:
            return None
        if entry.expiration is not None and entry.expiration <= self.clock():
            del store[key]
            return None
        return entry

    def _check_key(self, key: str) -> None:
        if key in ("", ".", ".."):
            raise _Reject(400, 10042, f"illegal key name {key!r}")
        if len(key.encode()) > KEY_MAX_BYTES:
            raise _Reject(414, 10030, f"key length {len(key.encode())} exceeds the limit of {KEY_MAX_BYTES}")

    def _expiration(self, expiration: Any, ttl: Any) -> int | None:
        now = int(self.clock())
        result = None
        if expiration not in (None, ""):
            try:
                result = int(float(expiration))
            except (TypeError, ValueError):
                raise _Reject(400, 10033, "Invalid expiration") from None
            if result < now + 60:
                raise _Reject(400, 10033, f"Invalid expiration of {result}: must be 60 s in the future")
        if ttl not in (None, ""):
            try:
                seconds = int(float(ttl))
            except (TypeError, ValueError):
                raise _Reject(400, 10034, "Invalid expiration_ttl") from None
            if seconds < 60:
                raise _Reject(400, 10034, f"Invalid expiration_ttl of {seconds}: must be at least 60")
            result = now + seconds  # the TTL wins when both are set
        return result

    def _check_metadata(self, metadata: Any) -> Any:
        if metadata is None:
            return None
        if len(json.dumps(metadata, separators=(",", ":"), ensure_ascii=False).encode()) > METADATA_MAX_BYTES:
            raise _Reject(413, 10047, "metadata exceeds 1024 bytes")
        return metadata

    # -- single keys ----------------------------------------------------------------------------
    def _get_value(self, req: ApiRequest) -> ApiResponse:
        key = req.params["key"]
        self._check_key(key)
        entry = self._live(self._store(req), key)
        if entry is None:
            return error_response(404, 10009, "get: 'key not found'")
        headers = {"Content-Type": "application/octet-stream"}
        if entry.expiration is not None:
            headers["expiration"] = str(entry.expiration)
        return ApiResponse(200, entry.value, headers)

    def _put_value(self, req: ApiRequest) -> ApiResponse:
        key = req.params["key"]
        self._check_key(key)
        content_type = req.headers.get("content-type", "")
        metadata = None
        if content_type.startswith("multipart/form-data"):
            parts = _multipart(content_type, req.body)
            if "value" not in parts:
                raise _Reject(400, 10029, "multipart body has no value part")
            value = parts["value"]
            if "metadata" in parts:
                try:
                    metadata = json.loads(parts["metadata"])
                except ValueError:
                    raise _Reject(400, 10047, "metadata is not valid JSON") from None
        else:
            value = req.body
        if len(value) > VALUE_MAX_BYTES:
            raise _Reject(413, 10024, f"value length {len(value)} exceeds limit of {VALUE_MAX_BYTES}")
        expiration = self._expiration(req.arg("expiration"), req.arg("expiration_ttl"))
        self._store(req)[key] = KvEntry(value, expiration, self._check_metadata(metadata))
        return json_response(None)

    def _delete_value(self, req: ApiRequest) -> ApiResponse:
        key = req.params["key"]
        self._check_key(key)
        self._store(req).pop(key, None)
        return json_response(None)

    def _get_metadata(self, req: ApiRequest) -> ApiResponse:
        key = req.params["key"]
        self._check_key(key)
        entry = self._live(self._store(req), key)
        if entry is None:
            return error_response(404, 10009, "get: 'key not found'")
        return json_response(entry.metadata)

    # -- listing --------------------------------------------------------------------------------
    def _list_keys(self, req: ApiRequest) -> ApiResponse:
        try:
            limit = int(req.arg("limit", "1000") or "1000")
        except ValueError:
            raise _Reject(400, 10028, "invalid limit argument") from None
        if not 10 <= limit <= 1000:
            raise _Reject(400, 10028, f"invalid limit argument {limit}: must be between 10 and 1000")
        prefix = req.arg("prefix") or ""
        after = None
        cursor = req.arg("cursor")
        if cursor:
            try:
                after = base64.urlsafe_b64decode(cursor.encode()).decode()
            except (binascii.Error, ValueError):
                raise _Reject(400, 10041, "invalid list cursor") from None
        store = self._store(req)
        names = sorted(
            (k for k in list(store) if k.startswith(prefix) and self._live(store, k) is not None),
            key=lambda k: k.encode(),
        )
        if after is not None:
            names = [k for k in names if k.encode() > after.encode()]
        page, more = names[:limit], len(names) > limit
        result = []
        for name in page:
            entry = store[name]
            item: dict[str, Any] = {"name": name}
            if entry.expiration is not None:
                item["expiration"] = entry.expiration
            if entry.metadata is not None:
                item["metadata"] = entry.metadata
            result.append(item)
        next_cursor = base64.urlsafe_b64encode(page[-1].encode()).decode() if more else ""
        return json_response(result, result_info={"count": len(result), "cursor": next_cursor})

    # -- bulk -----------------------------------------------------------------------------------
    def _json_body(self, req: ApiRequest) -> Any:
        if len(req.body) > BODY_MAX_BYTES:
            raise _Reject(413, 10024, "request body exceeds 100 MB")
        try:
            return json.loads(req.body)
        except ValueError:
            raise _Reject(400, 10029, "request body is not valid JSON") from None

    def _bulk_put(self, req: ApiRequest) -> ApiResponse:
        items = self._json_body(req)
        if not isinstance(items, list):
            raise _Reject(400, 10029, "bulk write takes a JSON array")
        if len(items) > BULK_MAX:
            raise _Reject(400, 10029, f"bulk write takes at most {BULK_MAX} pairs, got {len(items)}")
        staged: list[tuple[str, KvEntry]] = []
        for item in items:
            key, value = item.get("key"), item.get("value")
            if not isinstance(key, str) or not isinstance(value, str):
                raise _Reject(400, 10029, "each pair needs a string key and a string value")
            self._check_key(key)
            data = base64.b64decode(value) if item.get("base64") else value.encode()
            if len(data) > VALUE_MAX_BYTES:
                raise _Reject(413, 10024, f"value of {key!r} exceeds {VALUE_MAX_BYTES} bytes")
            expiration = self._expiration(item.get("expiration"), item.get("expiration_ttl"))
            staged.append((key, KvEntry(data, expiration, self._check_metadata(item.get("metadata")))))
        store = self._store(req)
        failed = [key for key, _ in staged if key in self.fail_keys]
        for key, entry in staged:
            if key not in self.fail_keys:
                store[key] = entry
        return json_response({"successful_key_count": len(staged) - len(failed), "unsuccessful_keys": failed})

    def _bulk_delete(self, req: ApiRequest) -> ApiResponse:
        keys = self._json_body(req)
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            raise _Reject(400, 10029, "bulk delete takes a JSON array of key names")
        if len(keys) > BULK_MAX:
            raise _Reject(400, 10029, f"bulk delete takes at most {BULK_MAX} keys, got {len(keys)}")
        store = self._store(req)
        for key in keys:
            self._check_key(key)
            store.pop(key, None)
        return json_response({"successful_key_count": len(keys), "unsuccessful_keys": []})

    def _bulk_get(self, req: ApiRequest) -> ApiResponse:
        body = self._json_body(req)
        keys = body.get("keys") if isinstance(body, dict) else None
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            raise _Reject(400, 10029, "bulk get takes {keys: [...]}")
        if len(keys) > BULK_GET_MAX:
            raise _Reject(400, 10029, f"You can request a maximum of {BULK_GET_MAX} keys")
        value_type = body.get("type", "text")
        if value_type not in ("text", "json"):
            raise _Reject(400, 10029, f'"{value_type}" is not a valid type. Use "json" or "text"')
        with_metadata = bool(body.get("withMetadata"))
        store = self._store(req)
        values: dict[str, Any] = {}
        for key in keys:
            self._check_key(key)
            entry = self._live(store, key)
            if entry is None:
                values[key] = None
                continue
            text = entry.value.decode("utf-8", errors="replace")
            value: Any = json.loads(text) if value_type == "json" else text
            if with_metadata:
                found: dict[str, Any] = {"value": value, "metadata": entry.metadata}
                if entry.expiration is not None:
                    found["expiration"] = entry.expiration
                values[key] = found
            else:
                values[key] = value
        return json_response({"values": values})


def _multipart(content_type: str, body: bytes) -> dict[str, bytes]:
    """The named parts of a multipart/form-data body (the standard library's MIME parser)."""
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    parts: dict[str, bytes] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str):
            parts[name] = payload if isinstance(payload, bytes) else b""
    return parts


@contextmanager
def kv_api_server(*, token: str = "kv-test-token-0123456789abcdef") -> Iterator[KvApi]:
    """A running stand-in with the KV routes, on 127.0.0.1; stopped when the block ends."""
    with CloudflareApi(token=token, account_id=ACCOUNT_ID) as api:
        yield KvApi(api)
