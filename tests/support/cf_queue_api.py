"""Cloudflare Queues routes for the REST stand-in (:mod:`tests.support.cf_api`).

Follows Cloudflare's API reference and guides for the four message endpoints under
``/accounts/{account_id}/queues/{queue_id}/messages``:

* ``POST …/messages`` — ``{body, content_type: "json" | "text", delay_seconds}`` (the API documents only
  these two body types; the default is ``json``);
* ``POST …/messages/batch`` — ``{messages: [...], delay_seconds}``, at most 100 messages and 256 KB;
* ``POST …/messages/pull`` — ``{batch_size (default 5, max 100), visibility_timeout_ms (default 30 s,
  max 12 h)}`` → ``{message_backlog_count, messages: [{id, body, attempts, lease_id, timestamp_ms,
  metadata: {"CF-Content-Type", "CF-sourceMessageSource"}}]}``, ``json`` bodies base64-encoded, ``text``
  plain (the pull-consumer guide, "Content types");
* ``POST …/messages/ack`` — ``{acks: [{lease_id}], retries: [{lease_id, delay_seconds}]}`` →
  ``{ackCount, retryCount, warnings}``; acks are accepted after the lease ran out (the guide says
  Queues is "permissive" about lease ids).

Errors use the Queues error codes (reference/error-codes): 10104 QueueNotFound (404), 10202
BatchDelayInvalid, 10203 MessageMetadataInvalid (bad content type or delay), 10204/10205/10206 message
size, batch size and batch count out of bounds (413 for sizes, 400 for the count), 10207/10208 request
body not matching the schema / not JSON. 429 and 5xx come from :class:`~tests.support.cf_api.Fault`
injection. Time comes from ``clock`` so tests can expire leases without sleeping.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tests.support.cf_api import ApiRequest, ApiResponse, CloudflareApi, error_response, json_response

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from cap_cloudflare_queue import CloudflareQueueConfig

__all__ = ["QueueApi", "StoredMessage"]

MAX_MESSAGE_BYTES = 128_000
METADATA_BYTES = 100
MAX_BATCH_MESSAGES = 100
MAX_BATCH_BYTES = 256_000
MAX_DELAY_S = 43_200
MAX_VISIBILITY_MS = 43_200_000


@dataclass
class StoredMessage:
    id: str
    body: Any
    content_type: str
    timestamp_ms: int
    visible_at_ms: int
    attempts: int = 0
    lease_id: str | None = None


@dataclass
class QueueApi:
    """The Queues routes, installed on ``api``; ``queues`` maps queue id to its messages."""

    api: CloudflareApi
    queue_ids: Iterable[str] = ("0123456789abcdef0123456789abcdef",)
    max_retries: int = 3
    clock: Callable[[], float] = time.time
    queues: dict[str, list[StoredMessage]] = field(default_factory=dict)
    leases: dict[str, str] = field(default_factory=dict)
    """Every lease id ever issued → its message id (acks are accepted after a lease ran out)."""
    dropped: list[str] = field(default_factory=list)
    batch_outcomes: list[ApiResponse | None] = field(default_factory=list)
    """Scripted answers for the next ``messages/batch`` requests, in order (``None``: answer normally),
    so a test can fail the second half of a split batch after the first half was accepted."""

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        for queue_id in self.queue_ids:
            self.queues.setdefault(queue_id, [])
        base = "/accounts/{account}/queues/{queue_id}/messages"
        self.api.route("POST", base, self._push)
        self.api.route("POST", base + "/batch", self._push_batch)
        self.api.route("POST", base + "/pull", self._pull)
        self.api.route("POST", base + "/ack", self._ack)

    def config(self, *, base_url: str | None = None, timeout: float = 10.0) -> CloudflareQueueConfig:
        """A ``CloudflareQueueConfig`` for the first queue on this stand-in (or on ``base_url``, a proxy
        in front of it), with its token."""
        from cap_cloudflare_queue import CloudflareQueueConfig

        return CloudflareQueueConfig(
            account_id=self.api.account_id,
            queue_id=next(iter(self.queues)),
            api_token=self.api.token,
            base_url=self.api.base_url if base_url is None else base_url,
            timeout=timeout,
        )

    # -- helpers ---------------------------------------------------------------------------------

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    def _queue(self, req: ApiRequest) -> tuple[list[StoredMessage] | None, ApiResponse | None]:
        if req.params["account"] != self.api.account_id:
            return None, error_response(404, 7003, "Could not route to the requested path")
        queue = self.queues.get(req.params["queue_id"])
        if queue is None:
            return None, error_response(404, 10104, "QueueNotFound: queue does not exist")
        return queue, None

    @staticmethod
    def _json(req: ApiRequest) -> tuple[Any, ApiResponse | None]:
        try:
            return json.loads(req.body or b"{}"), None
        except ValueError:
            return None, error_response(
                400, 10208, "JSONRequestBodyMalformed: request body is not valid JSON"
            )

    def _queue_and_json(self, req: ApiRequest) -> tuple[list[StoredMessage], Any] | ApiResponse:
        """The addressed queue and the request's JSON body, or the error the API answers first."""
        queue, bad = self._queue(req)
        if bad is not None:
            return bad
        assert queue is not None
        doc, bad = self._json(req)
        return bad if bad is not None else (queue, doc)

    @staticmethod
    def _delay(value: Any, code: int) -> tuple[int, ApiResponse | None]:
        if value is None:
            return 0, None
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_DELAY_S:
            return 0, error_response(400, code, f"invalid delay: {value!r}")
        return value, None

    @staticmethod
    def _size(body: Any, content_type: str) -> int:
        if content_type == "text":
            return len(str(body).encode())
        return len(json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode())

    def _message(
        self, entry: Any, default_delay: int
    ) -> tuple[StoredMessage | None, int, ApiResponse | None]:
        if not isinstance(entry, dict) or "body" not in entry:
            return None, 0, error_response(400, 10207, "JSONRequestBodyInvalid: a message needs a body")
        content_type = entry.get("content_type", "json")
        if content_type not in ("json", "text"):
            return (
                None,
                0,
                error_response(400, 10203, f"MessageMetadataInvalid: content type {content_type!r}"),
            )
        body = entry["body"]
        if content_type == "text" and not isinstance(body, str):
            return None, 0, error_response(400, 10203, "MessageMetadataInvalid: a text body must be a string")
        delay, bad = self._delay(entry.get("delay_seconds", default_delay), 10203)
        if bad is not None:
            return None, 0, bad
        size = self._size(body, content_type) + METADATA_BYTES
        if size > MAX_MESSAGE_BYTES:
            return None, 0, error_response(413, 10204, f"MessageSizeOutOfBounds: {size} bytes")
        now = self._now_ms()
        stored = StoredMessage(secrets.token_hex(16), body, content_type, now, now + delay * 1000)
        return stored, size, None

    # -- routes ------------------------------------------------------------------------------------

    def _push(self, req: ApiRequest) -> ApiResponse:
        found = self._queue_and_json(req)
        if isinstance(found, ApiResponse):
            return found
        queue, doc = found
        message, _, bad = self._message(doc, 0)
        if bad is not None:
            return bad
        assert message is not None
        with self._lock:
            queue.append(message)
        return json_response(None)

    def _push_batch(self, req: ApiRequest) -> ApiResponse:
        queue, bad = self._queue(req)
        if bad is not None:
            return bad
        assert queue is not None
        with self._lock:
            scripted = self.batch_outcomes.pop(0) if self.batch_outcomes else None
        if scripted is not None:
            return scripted
        doc, bad = self._json(req)
        if bad is not None:
            return bad
        if not isinstance(doc, dict) or not isinstance(doc.get("messages"), list):
            return error_response(400, 10207, "JSONRequestBodyInvalid: expected {messages: [...]}")
        batch_delay, bad = self._delay(doc.get("delay_seconds"), 10202)
        if bad is not None:
            return bad
        entries = doc["messages"]
        if len(entries) > MAX_BATCH_MESSAGES:
            return error_response(400, 10206, f"BatchCountOutOfBounds: {len(entries)} messages")
        stored, total = [], 0
        for entry in entries:
            message, size, bad = self._message(entry, batch_delay)
            if bad is not None:
                return bad
            assert message is not None
            stored.append(message)
            total += size
        if total > MAX_BATCH_BYTES:
            return error_response(413, 10205, f"BatchSizeOutOfBounds: {total} bytes")
        with self._lock:
            queue.extend(stored)
        return json_response(None)

    def _pull(self, req: ApiRequest) -> ApiResponse:
        found = self._queue_and_json(req)
        if isinstance(found, ApiResponse):
            return found
        queue, doc = found
        batch_size = doc.get("batch_size", 5)
        visibility = doc.get("visibility_timeout_ms", doc.get("visibility_timeout", 30_000))
        if not isinstance(batch_size, int) or not 1 <= batch_size <= 100:
            return error_response(400, 10207, f"JSONRequestBodyInvalid: batch_size {batch_size!r}")
        if not isinstance(visibility, int) or not 1 <= visibility <= MAX_VISIBILITY_MS:
            return error_response(400, 10207, f"JSONRequestBodyInvalid: visibility_timeout_ms {visibility!r}")
        now = self._now_ms()
        out: list[dict[str, Any]] = []
        with self._lock:
            for message in list(queue):
                if len(out) == batch_size:
                    break
                if message.visible_at_ms > now:
                    continue
                if message.attempts > self.max_retries:  # its last delivery's lease ran out
                    queue.remove(message)
                    self.dropped.append(message.id)
                    continue
                message.attempts += 1
                message.lease_id = secrets.token_urlsafe(24)
                message.visible_at_ms = now + visibility
                self.leases[message.lease_id] = message.id
                if message.content_type == "json":
                    body: Any = base64.b64encode(json.dumps(message.body).encode()).decode()
                else:
                    body = message.body
                out.append(
                    {
                        "id": message.id,
                        "body": body,
                        "attempts": message.attempts,
                        "lease_id": message.lease_id,
                        "timestamp_ms": message.timestamp_ms,
                        "metadata": {
                            "CF-Content-Type": message.content_type,
                            "CF-sourceMessageSource": "api",
                        },
                    }
                )
            backlog = len(queue)
        return json_response({"message_backlog_count": backlog, "messages": out})

    def _ack(self, req: ApiRequest) -> ApiResponse:
        found = self._queue_and_json(req)
        if isinstance(found, ApiResponse):
            return found
        queue, doc = found
        acks, retries = doc.get("acks", []), doc.get("retries", [])
        if not isinstance(acks, list) or not isinstance(retries, list):
            return error_response(400, 10207, "JSONRequestBodyInvalid: acks and retries must be lists")
        now = self._now_ms()
        acked = retried = 0
        warnings: list[str] = []
        with self._lock:
            by_id = {m.id: m for m in queue}
            for ack in acks:
                message = by_id.get(self.leases.get(str(ack.get("lease_id")), ""))
                if message is None:
                    warnings.append(f"{ack.get('lease_id')}: unknown or already acknowledged lease")
                    continue
                queue.remove(message)
                by_id.pop(message.id)
                acked += 1
            for retry in retries:
                message = by_id.get(self.leases.get(str(retry.get("lease_id")), ""))
                if message is None:
                    warnings.append(f"{retry.get('lease_id')}: unknown or already acknowledged lease")
                    continue
                delay, bad = self._delay(retry.get("delay_seconds"), 10203)
                if bad is not None:
                    return bad
                if message.attempts > self.max_retries:
                    queue.remove(message)
                    self.dropped.append(message.id)
                else:
                    message.lease_id = None
                    message.visible_at_ms = now + delay * 1000
                retried += 1
        return json_response({"ackCount": acked, "retryCount": retried, "warnings": warnings})
