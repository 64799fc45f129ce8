"""Cloudflare's REST API for Queues: push (``messages``, ``messages/batch``) and pull consumers
(``messages/pull``, ``messages/ack``) under ``/accounts/{account_id}/queues/{queue_id}/``.

HTTP goes through core's :class:`~cap_opendal_core.cloudflare_api.ApiClient`: a pool per event
loop, the API token added to each request's ``Authorization`` header as it is sent. Failures become
``CapabilityError`` through core's HTTP translator, which knows the Queues error codes (10104 queue
not found, 10204 message too large, 10250 overloaded …). Retrying is the pipeline's business: this
module never repeats a request.

Wire formats, from Cloudflare's API reference and the pull-consumer guide:

* push: ``{"body": …, "content_type": "json" | "text", "delay_seconds": n}`` — the API takes ``json``
  and ``text`` bodies (there is no bytes or v8 variant), so the REST producer refuses the others;
* batch: ``{"messages": [{body, content_type, delay_seconds}, …]}``;
* pull: ``{"batch_size": n, "visibility_timeout_ms": ms}`` → ``result.messages`` of ``{id, body,
  attempts, lease_id, timestamp_ms, metadata: {"CF-Content-Type": …}}``, where ``json`` and ``bytes``
  bodies arrive base64-encoded and ``text`` as plain UTF-8 (``v8`` cannot be decoded outside a Worker:
  such a message keeps its base64 body and ``content_type="v8"``);
* ack: ``{"acks": [{"lease_id"}], "retries": [{"lease_id", "delay_seconds"}]}`` → ``{ackCount,
  retryCount, warnings}``.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import TYPE_CHECKING, Any, Final

from cap_opendal_core.errors import BackendError

from ..limits import CONTENT_TYPES
from ..models import Lease, PreparedMessage, ReceivedMessage, RetryRequest, SettleResult
from ..spec import SPEC

if TYPE_CHECKING:
    from collections.abc import Sequence

    import httpx

    from ..config import CloudflareQueueConfig
    from ..limits import ContentType

__all__ = ["RestClient", "RestConsumer", "RestProducer", "decode_pulled_body"]

_CONTENT_TYPE_KEY: Final = "CF-Content-Type"
_JSON_HEADERS: Final = {"Content-Type": "application/json", "Accept": "application/json"}


class RestClient:
    """The HTTP side: core's :class:`~cap_opendal_core.cloudflare_api.ApiClient` on the queue's
    ``messages`` endpoint, JSON in and out, Cloudflare's envelope unwrapped."""

    def __init__(
        self, config: CloudflareQueueConfig, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        import httpx

        from cap_opendal_core.cloudflare_api import ApiClient

        self.config = config
        self._api = ApiClient.for_config(
            config,
            config.messages_path,
            capability="queue",
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=16),
            transport=transport,
        )

    async def post(self, action: str, payload: bytes, *, operation: str) -> Any:
        """POST ``payload`` to ``…/messages[/action]``; return the envelope's ``result``."""
        unwrapped = await self._api.call(
            "POST",
            f"/{action}" if action else "",
            operation=operation,
            key=self.config.display_name,
            content=payload,
            headers=_JSON_HEADERS,
        )
        return unwrapped.result

    async def aclose(self) -> None:
        await self._api.aclose()


def _message_json(message: PreparedMessage) -> str:
    """One message as the push API takes it. The JSON body is spliced in exactly as it was encoded
    (and measured) during validation; nothing is serialised twice."""
    assert message.data is not None
    body = message.data.decode("utf-8") if message.content_type == "json" else json.dumps(message.body)
    parts = [f'"body":{body}', f'"content_type":"{message.content_type}"']
    if message.delay_seconds is not None:
        parts.append(f'"delay_seconds":{message.delay_seconds}')
    return "{" + ",".join(parts) + "}"


class RestProducer:
    """:class:`~cap_cloudflare_queue.backends.base.ProducerBackend` over the push endpoints."""

    name = "rest"
    content_types: tuple[ContentType, ...] = ("json", "text")

    def __init__(self, client: RestClient) -> None:
        self.client = client
        self.descriptor = SPEC.descriptor_for("rest")

    async def send(self, message: PreparedMessage) -> None:
        await self.client.post("", _message_json(message).encode(), operation="send")

    async def send_batch(self, messages: Sequence[PreparedMessage]) -> None:
        payload = '{"messages":[' + ",".join(_message_json(m) for m in messages) + "]}"
        await self.client.post("batch", payload.encode(), operation="send_batch")

    async def aclose(self) -> None:
        await self.client.aclose()


def decode_pulled_body(body: Any, content_type: str) -> Any:
    """A pulled body in Python form: ``json`` and ``bytes`` are base64 on the wire, ``text`` is not."""
    if content_type == "text":
        return body
    if content_type == "bytes":
        return base64.b64decode(body, validate=True) if isinstance(body, str) else body
    if content_type == "json":
        if not isinstance(body, str):
            return body  # already a JSON value (not what the docs describe, but harmless)
        try:
            return json.loads(base64.b64decode(body, validate=True))
        except (binascii.Error, ValueError):
            return json.loads(body)
    return body  # v8: only the Workers runtime can decode it


class RestConsumer:
    """:class:`~cap_cloudflare_queue.backends.base.ConsumerBackend` over the pull and ack endpoints.

    ``max_retries``, the dead-letter queue and the default retry delay are the HTTP consumer's settings
    on Cloudflare's side (``wrangler queues consumer http add …``), not this client's.
    """

    name = "rest"

    def __init__(self, client: RestClient) -> None:
        self.client = client
        self.queue = client.config.display_name
        self.descriptor = SPEC.descriptor_for("rest")

    async def pull(self, batch_size: int, visibility_timeout: float) -> list[ReceivedMessage]:
        payload = {
            "batch_size": batch_size,
            "visibility_timeout_ms": max(1, round(visibility_timeout * 1000)),
        }
        result = await self.client.post("pull", json.dumps(payload).encode(), operation="pull")
        items = result.get("messages") if isinstance(result, dict) else None
        out = []
        for item in items or ():
            metadata = item.get("metadata") or {}
            content_type = metadata.get(_CONTENT_TYPE_KEY, "json") if isinstance(metadata, dict) else "json"
            try:
                body = decode_pulled_body(item.get("body"), content_type)
            except (binascii.Error, ValueError, TypeError) as exc:
                raise BackendError(
                    f"message {item.get('id')!r}: its {content_type} body does not decode ({exc})",
                    capability="queue",
                    operation="pull",
                    key=self.queue,
                    retryable=False,
                ) from exc
            out.append(
                ReceivedMessage(
                    id=str(item["id"]),
                    timestamp_ms=int(item.get("timestamp_ms") or 0),
                    attempts=int(item.get("attempts") or 1),
                    body=body,
                    content_type=content_type if content_type in CONTENT_TYPES else "json",
                    lease_id=str(item["lease_id"]),
                )
            )
        return out

    async def settle(self, acks: Sequence[Lease], retries: Sequence[RetryRequest]) -> SettleResult:
        payload: dict[str, Any] = {
            "acks": [{"lease_id": a.lease_id} for a in acks],
            "retries": [
                {"lease_id": r.lease_id}
                if r.delay_seconds is None
                else {"lease_id": r.lease_id, "delay_seconds": r.delay_seconds}
                for r in retries
            ],
        }
        result = await self.client.post("ack", json.dumps(payload).encode(), operation="settle")
        result = result if isinstance(result, dict) else {}
        raw = result.get("warnings") or ()
        if isinstance(raw, dict):
            warnings = tuple(f"{lease}: {text}" for lease, text in raw.items())
        else:
            warnings = tuple(str(w) for w in raw)
        return SettleResult(
            acked=int(result.get("ackCount", len(acks))),
            retried=int(result.get("retryCount", len(retries))),
            warnings=warnings,
        )

    async def aclose(self) -> None:
        await self.client.aclose()
