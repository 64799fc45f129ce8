"""Cloudflare Queues' documented limits: the one place their numbers live.

Sources: ``docs/reference/queues.md`` (in the repository) and Cloudflare's Queues documentation — the limits
page (message size, ``sendBatch`` size, retries, batch wait, visibility timeout, ``delaySeconds``), the
JavaScript API page (content types, ``delaySeconds`` an integer 0 to 43,200), the batching page (consumer
batch size and timeout defaults) and the pull-consumer page (``batch_size`` default 5, visibility timeout
default 30 s). Every check in :mod:`cap_cloudflare_queue.validation` reads from here, so when Cloudflare
changes a number it changes in one line.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

__all__ = [
    "CONTENT_TYPES",
    "DEFAULT_CONTENT_TYPE",
    "DEFAULT_MAX_BATCH_SIZE",
    "DEFAULT_MAX_BATCH_TIMEOUT_S",
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_PULL_BATCH_SIZE",
    "DEFAULT_VISIBILITY_TIMEOUT_S",
    "MAX_BATCH_BYTES",
    "MAX_BATCH_MESSAGES",
    "MAX_BATCH_TIMEOUT_S",
    "MAX_BODY_BYTES",
    "MAX_CONCURRENCY",
    "MAX_CONSUMER_BATCH_MESSAGES",
    "MAX_DELAY_S",
    "MAX_MESSAGE_BYTES",
    "MAX_RETRIES",
    "MAX_VISIBILITY_TIMEOUT_S",
    "MESSAGE_METADATA_BYTES",
    "ContentType",
]

ContentType = Literal["json", "text", "bytes", "v8"]
"""``QueuesContentType``: how the body is serialised. ``v8`` (structured clone) exists only in Workers."""

CONTENT_TYPES: Final[tuple[ContentType, ...]] = get_args(ContentType)

DEFAULT_CONTENT_TYPE: Final[ContentType] = "json"
"""The binding's default since compatibility date 2024-03-18 (before that it was ``v8``)."""

MAX_MESSAGE_BYTES: Final = 128_000
"""One message, 128 KB; Cloudflare measures 1 KB as 1000 bytes (limits page, note 1)."""

MESSAGE_METADATA_BYTES: Final = 100
""""Messages can include up to ~100 bytes of internal metadata that counts towards total message
limits" (limits page, note 1): every message is charged this much on top of its body."""

MAX_BODY_BYTES: Final = MAX_MESSAGE_BYTES - MESSAGE_METADATA_BYTES
"""The largest encoded body that is sure to fit in one message."""

MAX_BATCH_MESSAGES: Final = 100
"""Messages per ``sendBatch`` call (and per REST ``messages/batch`` request)."""

MAX_BATCH_BYTES: Final = 256_000
"""Total size of one ``sendBatch`` call, 256 KB (bodies plus per-message metadata)."""

MAX_DELAY_S: Final = 43_200
"""``delaySeconds`` when sending or retrying: an integer from 0 to 43,200 (12 hours).

The JavaScript API page and the limits page say 12 hours; an older page says 24 hours (the docs differ
by date, see cloudflare.md). We enforce the conservative 12 h, which every deployment accepts."""

MAX_VISIBILITY_TIMEOUT_S: Final = 43_200
"""A pull consumer's ``visibility_timeout``: at most 12 hours."""

DEFAULT_VISIBILITY_TIMEOUT_S: Final = 30.0
"""The pull API's default visibility timeout (30 s)."""

DEFAULT_PULL_BATCH_SIZE: Final = 5
"""The pull API's default ``batch_size`` (only what the REST endpoint does when none is sent)."""

MAX_CONSUMER_BATCH_MESSAGES: Final = 100
"""``max_batch_size`` of a consumer and ``batch_size`` of a pull: at most 100 messages."""

DEFAULT_MAX_BATCH_SIZE: Final = 10
"""``max_batch_size`` default for a consumer (batching page)."""

MAX_BATCH_TIMEOUT_S: Final = 60
"""``max_batch_timeout``: how long a consumer may wait to fill a batch, at most 60 s."""

DEFAULT_MAX_BATCH_TIMEOUT_S: Final = 5
"""``max_batch_timeout`` default (batching page)."""

MAX_RETRIES: Final = 100
"""``max_retries`` of a consumer: at most 100."""

DEFAULT_MAX_RETRIES: Final = 3
"""``max_retries`` default: a message is delivered up to ``1 + 3`` times, then dead-lettered or dropped."""

MAX_CONCURRENCY: Final = 250
"""Concurrent consumer invocations of a push consumer (``max_concurrency``), at most 250."""
