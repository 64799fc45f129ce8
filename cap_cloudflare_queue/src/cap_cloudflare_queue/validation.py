"""Input checks against :mod:`cap_cloudflare_queue.limits`, run before any I/O.

Each check raises :class:`~cap_opendal_core.errors.InvalidInput` (naming the argument, and for batches
the message's position) or :class:`~cap_opendal_core.errors.LimitExceeded` (naming the limit, the value
and the maximum). Nothing here touches a backend, so a bad call never sends half a batch.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Final

from cap_opendal_core.checks import check_at_most, check_int_range, check_name, check_number_range
from cap_opendal_core.errors import InvalidInput, LimitExceeded, Unsupported
from cap_opendal_core.show import show

from .encoding import encode_body, estimate_v8_size
from .limits import (
    CONTENT_TYPES,
    MAX_BATCH_BYTES,
    MAX_BATCH_MESSAGES,
    MAX_BATCH_TIMEOUT_S,
    MAX_BODY_BYTES,
    MAX_CONCURRENCY,
    MAX_CONSUMER_BATCH_MESSAGES,
    MAX_DELAY_S,
    MAX_MESSAGE_BYTES,
    MAX_RETRIES,
    MAX_VISIBILITY_TIMEOUT_S,
    ContentType,
)
from .models import MessageSendRequest, PreparedMessage

__all__ = [
    "QUEUE_NAME",
    "check_batch_size",
    "check_batch_timeout",
    "check_concurrency",
    "check_content_type",
    "check_delay",
    "check_max_retries",
    "check_message_size",
    "check_queue_name",
    "check_visibility_timeout",
    "check_wait_time",
    "plan_batches",
    "prepare_message",
    "send_requests",
]

QUEUE_NAME: Final = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
"""Queue names as Cloudflare (and core's manifest) accept them: lower-case letters, digits, ``-``."""

_OPERATION_KEYS: Final = frozenset({"body", "content_type", "delay_seconds"})


def check_queue_name(name: object, *, field: str = "name") -> str:
    return check_name(
        name,
        field=field,
        pattern=QUEUE_NAME,
        what="queue name",
        rule="1-63 lower-case letters, digits and '-', starting with a letter or digit",
    )


_UNSUPPORTED_WHY: Final = {
    "v8": "'v8' (structured clone) is encoded by the Workers runtime; use 'json', or 'bytes' for binary data",
    "bytes": "Cloudflare's REST push API takes json and text bodies only; send binary data as base64 text, "
    "or from a Worker",
}


def check_content_type(
    value: object, *, allowed: tuple[ContentType, ...], backend: str, field: str = "content_type"
) -> ContentType:
    """One of ``json``/``text``/``bytes``/``v8`` that the ``backend`` can send (``allowed``)."""
    if value not in CONTENT_TYPES:
        raise InvalidInput(
            f"{field}: {show(value)} is not a queue content type; expected one of {', '.join(CONTENT_TYPES)}",
            field=field,
        )
    content_type: ContentType = value  # narrowed by the membership test above
    if content_type not in allowed:
        why = _UNSUPPORTED_WHY.get(content_type, f"it takes {', '.join(allowed)}")
        raise Unsupported(f"{field}: the {backend} backend cannot send {content_type!r}: {why}")
    return content_type


def check_delay(value: object, *, field: str = "delay_seconds") -> int | None:
    """``None`` or an integer number of seconds, 0 to 43,200 (12 h)."""
    if value is None:
        return None
    return check_int_range(
        value,
        field=field,
        low=0,
        high=MAX_DELAY_S,
        limit="queue.delay_seconds",
        unit="s",
        why="(12 h) a message can be delayed",
    )


def check_batch_size(value: object, *, field: str = "batch_size") -> int:
    return check_int_range(
        value,
        field=field,
        low=1,
        high=MAX_CONSUMER_BATCH_MESSAGES,
        limit="queue.consumer_batch_messages",
        why="messages a consumer batch holds",
    )


def check_visibility_timeout(value: object, *, field: str = "visibility_timeout") -> float:
    """Seconds (> 0, at most 12 h); fractions allowed (the pull API counts milliseconds)."""
    return check_number_range(
        value,
        field=field,
        low=0,
        low_inclusive=False,
        high=MAX_VISIBILITY_TIMEOUT_S,
        limit="queue.visibility_timeout",
        unit="s",
        why="(12 h) a lease may last",
    )


def check_wait_time(value: object, *, field: str = "wait_time") -> float:
    """How long a pull may wait to fill its batch: 0 to 60 s (``max_batch_timeout``)."""
    return check_number_range(
        value,
        field=field,
        low=0,
        high=MAX_BATCH_TIMEOUT_S,
        limit="queue.batch_timeout",
        unit="s",
        why="a batch may wait to fill",
    )


def check_batch_timeout(value: object, *, field: str = "max_batch_timeout") -> int:
    """``max_batch_timeout`` as wrangler takes it: whole seconds, 0 to 60."""
    return check_int_range(value, field=field, low=0, high=MAX_BATCH_TIMEOUT_S, unit="s")


def check_max_retries(value: object, *, field: str = "max_retries") -> int:
    return check_int_range(value, field=field, low=0, high=MAX_RETRIES)


def check_concurrency(
    value: object, *, field: str = "max_concurrency", maximum: int = MAX_CONCURRENCY
) -> int:
    return check_int_range(value, field=field, low=1, high=maximum)


# --- messages -------------------------------------------------------------------------------------


def prepare_message(
    index: int | None,
    body: Any,
    content_type: ContentType,
    delay_seconds: int | None,
) -> PreparedMessage:
    """Encode one (already type-checked) message; its size is checked separately (claim-check may
    move an oversized body out of the message first)."""
    field = "body" if index is None else f"messages[{index}].body"
    if content_type == "v8":
        return PreparedMessage(index or 0, body, content_type, None, estimate_v8_size(body), delay_seconds)
    data = encode_body(body, content_type, field=field)
    return PreparedMessage(index or 0, body, content_type, data, len(data), delay_seconds)


def check_message_size(message: PreparedMessage, *, batch: bool) -> None:
    """``LimitExceeded`` when one message's body is over what a message may carry."""
    if message.encoded_size <= MAX_BODY_BYTES:
        return
    where = f"messages[{message.index}]" if batch else "body"
    raise LimitExceeded(
        f"{where}: the {message.content_type} body is {message.encoded_size} bytes; a message may carry "
        f"{MAX_BODY_BYTES} (the {MAX_MESSAGE_BYTES}-byte message limit less ~100 bytes of metadata). "
        "Give the Queue a claim_check to send larger bodies",
        limit="queue.message_bytes",
        value=message.encoded_size,
        maximum=MAX_BODY_BYTES,
    )


def send_requests(messages: object) -> list[MessageSendRequest]:
    """The ``messages`` argument of ``send_batch``: :class:`MessageSendRequest` objects or mappings
    with ``body`` (and optionally ``content_type``, ``delay_seconds``)."""
    if isinstance(messages, str | bytes | bytearray | Mapping) or not isinstance(messages, Iterable):
        raise InvalidInput(
            "messages: expected a list of MessageSendRequest (or of {'body': …} mappings), "
            f"got {type(messages).__name__}",
            field="messages",
        )
    out: list[MessageSendRequest] = []
    for i, item in enumerate(messages):
        if isinstance(item, MessageSendRequest):
            out.append(item)
            continue
        if isinstance(item, Mapping):
            unknown = set(item) - _OPERATION_KEYS
            if "body" not in item or unknown:
                what = f"unknown keys {sorted(map(str, unknown))}" if unknown else "no 'body'"
                raise InvalidInput(
                    f"messages[{i}]: a message mapping takes body, content_type and delay_seconds; it has "
                    f"{what}",
                    field=f"messages[{i}]",
                )
            out.append(MessageSendRequest(item["body"], item.get("content_type"), item.get("delay_seconds")))
            continue
        raise InvalidInput(
            f"messages[{i}]: expected a MessageSendRequest or a mapping with 'body', got "
            f"{type(item).__name__} (wrap plain bodies: MessageSendRequest(body))",
            field=f"messages[{i}]",
        )
    if not out:
        raise InvalidInput("messages: send_batch needs at least one message", field="messages")
    return out


def plan_batches(messages: list[PreparedMessage], *, split: bool) -> list[list[PreparedMessage]]:
    """Group messages, in order, into batches of at most 100 messages and 256 KB.

    With ``split=False`` a list that does not fit in one batch is refused (``LimitExceeded``) instead.
    Every message already fits in a message, so splitting can always succeed.
    """
    total = sum(m.size for m in messages)
    if not split:
        check_at_most(
            len(messages),
            MAX_BATCH_MESSAGES,
            limit="queue.batch_messages",
            message=(
                f"messages: {len(messages)} messages is over the {MAX_BATCH_MESSAGES} a batch may hold "
                "(pass split=True to send it as several batches)"
            ),
        )
        check_at_most(
            total,
            MAX_BATCH_BYTES,
            limit="queue.batch_bytes",
            message=(
                f"messages: the batch is {total} bytes with metadata, over the {MAX_BATCH_BYTES} bytes a "
                "batch may hold (pass split=True to send it as several batches)"
            ),
        )
        return [messages]
    batches: list[list[PreparedMessage]] = []
    current: list[PreparedMessage] = []
    size = 0
    for message in messages:
        if current and (len(current) == MAX_BATCH_MESSAGES or size + message.size > MAX_BATCH_BYTES):
            batches.append(current)
            current, size = [], 0
        current.append(message)
        size += message.size
    if current:
        batches.append(current)
    return batches
