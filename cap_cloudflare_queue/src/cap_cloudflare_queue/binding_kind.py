"""The ``queue`` binding kind: its manifest keys and its ``[[queues.producers]]`` /
``[[queues.consumers]]`` wrangler sections.

Keys per docs/preflight-and-wrangler.md; names and consumer bounds per
developers.cloudflare.com/queues/platform/limits/ (batch ≤ 100, wait ≤ 60 s, ≤ 100 retries) and the
sections per developers.cloudflare.com/queues/configuration/configure-queues/.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final

from cap_opendal_core.binding_kinds import BindingKindSpec
from cap_opendal_core.errors import InvalidInput

from .limits import MAX_BATCH_TIMEOUT_S, MAX_CONSUMER_BATCH_MESSAGES, MAX_RETRIES

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from cap_opendal_core.manifest import BindingSpec, ManifestReader

__all__ = ["BINDING", "CONSUMER_KEYS", "QueueConsumerSettings"]

_QUEUE_NAME: Final = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_CONSUMER_LIMITS: Final[Mapping[str, tuple[int, int | None]]] = MappingProxyType(
    {
        "max_batch_size": (1, MAX_CONSUMER_BATCH_MESSAGES),
        "max_batch_timeout": (0, MAX_BATCH_TIMEOUT_S),
        "max_retries": (0, MAX_RETRIES),
        "max_concurrency": (1, None),
    }
)
CONSUMER_KEYS: Final = (
    "max_batch_size",
    "max_batch_timeout",
    "max_retries",
    "dead_letter_queue",
    "max_concurrency",
)
"""The settings of a ``[[queues.consumers]]`` entry (manifest and :class:`~.trigger.QueueTrigger`)."""


@dataclass(frozen=True)
class QueueConsumerSettings:
    """A ``[[queues.consumers]]`` entry's settings; None means "wrangler's default"."""

    max_batch_size: int | None = None
    max_batch_timeout: int | None = None
    max_retries: int | None = None
    dead_letter_queue: str | None = None
    max_concurrency: int | None = None


def _parse(r: ManifestReader) -> Mapping[str, Any]:
    queue = r.string("queue", _QUEUE_NAME, "lower-case letters, digits and '-', at most 63")
    producer = r.boolean("producer", True)
    consumer = _parse_consumer(r, queue)
    if not producer and consumer is None:
        raise r.fail(None, "a queue binding with producer = false needs a 'consumer' table")
    return {"queue": queue, "producer": producer, "consumer": consumer}


def _parse_consumer(r: ManifestReader, queue: str | None) -> QueueConsumerSettings | None:
    raw = r.data.get("consumer")
    if raw is None or raw is False:
        return None
    if raw is True:
        return QueueConsumerSettings()
    c = r.table("consumer")
    assert c is not None
    c.only(CONSUMER_KEYS, "a queue consumer")
    limits = {k: c.integer(k, *bounds) for k, bounds in _CONSUMER_LIMITS.items()}
    dlq = c.string("dead_letter_queue", _QUEUE_NAME, "a queue name")
    if dlq is not None and dlq == queue:
        raise c.fail("dead_letter_queue", "must differ from the queue itself")
    return QueueConsumerSettings(
        max_batch_size=limits["max_batch_size"],
        max_batch_timeout=limits["max_batch_timeout"],
        max_retries=limits["max_retries"],
        dead_letter_queue=dlq,
        max_concurrency=limits["max_concurrency"],
    )


def _dump(details: Mapping[str, Any]) -> Mapping[str, Any]:
    out: dict[str, Any] = {}
    if details.get("queue") is not None:
        out["queue"] = details["queue"]
    if not details.get("producer", True):
        out["producer"] = False
    consumer = details.get("consumer")
    if consumer is not None:
        out["consumer"] = {k: getattr(consumer, k) for k in CONSUMER_KEYS if getattr(consumer, k) is not None}
    return out


def _render(specs: Sequence[BindingSpec], source: str) -> list[str]:
    from cap_opendal_core.wrangler import need, table

    lines: list[str] = []
    for spec in specs:
        if spec.details["producer"]:
            lines.extend(table("queues.producers", [("binding", spec.name), ("queue", need(spec, "queue"))]))
    consumed: dict[str, str] = {}
    for spec in specs:
        c = spec.details["consumer"]
        if c is None:
            continue
        queue = need(spec, "queue")
        if queue in consumed:
            raise InvalidInput(
                f"{source}: bindings {consumed[queue]!r} and {spec.name!r} both consume queue "
                f"{queue!r}; a Worker has one consumer per queue",
                field=f"bindings.{spec.name}.consumer",
            )
        consumed[queue] = spec.name
        lines.extend(
            table(
                "queues.consumers",
                [
                    ("queue", queue),
                    ("max_batch_size", c.max_batch_size),
                    ("max_batch_timeout", c.max_batch_timeout),
                    ("max_retries", c.max_retries),
                    ("dead_letter_queue", c.dead_letter_queue),
                    ("max_concurrency", c.max_concurrency),
                ],
            )
        )
    return lines


BINDING: Final = BindingKindSpec(
    kind="queue",
    keys=("queue", "producer", "consumer"),
    parse=_parse,
    dump=_dump,
    render=_render,
    wrangler_order=30,
)
