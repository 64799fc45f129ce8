"""``QueueTrigger``: a flow started by messages on a queue, described once for every place that needs it.

The same settings become (1) the flow's trigger metadata — the node's kind, effects, determinism and
hints, so the hint validator and preflight see a consumer of ``resource::queue`` — and (2) the
``[[queues.consumers]]`` section of ``wrangler.toml``, rendered through core's binding manifest and
wrangler renderer, so a deployment and the flow cannot disagree. Settings are checked against
Cloudflare's limits when the trigger is built.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from cap_opendal_core.errors import InvalidInput

from .binding_kind import CONSUMER_KEYS
from .limits import MAX_CONCURRENCY
from .operations import HANDLE
from .validation import (
    check_batch_size,
    check_batch_timeout,
    check_concurrency,
    check_max_retries,
    check_queue_name,
)

if TYPE_CHECKING:
    from collections.abc import Iterable

    from cap_opendal_core.manifest import BindingManifest

__all__ = ["QueueTrigger"]

_BINDING: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
EFFECT_HINT: Final = HANDLE.effect_hint


@dataclass(frozen=True)
class QueueTrigger:
    """Consume ``queue`` in batches of up to ``max_batch_size`` (1-100) messages, waiting up to
    ``max_batch_timeout`` (0-60 s) to fill one; deliver each message at most ``1 + max_retries`` (0-100)
    times, then move it to ``dead_letter_queue``; run at most ``max_concurrency`` (1-250) consumer
    invocations at once. ``None`` leaves a setting at Cloudflare's default. ``binding`` names the queue
    in the manifest (default: the queue name in upper case, ``-`` as ``_``).
    """

    queue: str
    max_batch_size: int | None = None
    max_batch_timeout: int | None = None
    max_retries: int | None = None
    dead_letter_queue: str | None = None
    max_concurrency: int | None = None
    binding: str | None = None

    def __post_init__(self) -> None:
        check_queue_name(self.queue, field="queue")
        if self.max_batch_size is not None:
            check_batch_size(self.max_batch_size, field="max_batch_size")
        if self.max_batch_timeout is not None:
            check_batch_timeout(self.max_batch_timeout)
        if self.max_retries is not None:
            check_max_retries(self.max_retries)
        if self.max_concurrency is not None:
            check_concurrency(self.max_concurrency, maximum=MAX_CONCURRENCY)
        if self.dead_letter_queue is not None:
            check_queue_name(self.dead_letter_queue, field="dead_letter_queue")
            if self.dead_letter_queue == self.queue:
                raise InvalidInput(
                    "dead_letter_queue: must differ from the queue itself", field="dead_letter_queue"
                )
        if self.binding is not None and not (isinstance(self.binding, str) and _BINDING.match(self.binding)):
            raise InvalidInput(
                f"binding: {self.binding!r} must be an identifier (letters, digits, '_')", field="binding"
            )

    @property
    def binding_name(self) -> str:
        if self.binding is not None:
            return self.binding
        name = self.queue.upper().replace("-", "_")
        return name if not name[0].isdigit() else f"QUEUE_{name}"

    def consumer_settings(self) -> dict[str, Any]:
        """The settings that are set, under wrangler's names."""
        return {key: getattr(self, key) for key in CONSUMER_KEYS if getattr(self, key) is not None}

    # -- the manifest and wrangler.toml --------------------------------------------------------------

    def manifest(self, *, producer: bool = False) -> BindingManifest:
        """A binding manifest holding this queue's consumer (and its producer binding if ``producer``)."""
        from cap_opendal_core.manifest import BindingManifest

        entry = {
            "kind": "queue",
            "queue": self.queue,
            "producer": producer,
            "consumer": self.consumer_settings(),
        }
        return BindingManifest.from_dict(
            {"bindings": {self.binding_name: entry}}, source=f"QueueTrigger({self.queue})"
        )

    def wrangler_toml(
        self,
        *,
        producer: bool = False,
        name: str | None = None,
        main: str | None = None,
        compatibility_date: str | None = None,
        compatibility_flags: Iterable[str] | None = None,
    ) -> str:
        """The ``wrangler.toml`` text with this trigger's ``[[queues.consumers]]`` section."""
        from cap_opendal_core.wrangler import render_wrangler

        return render_wrangler(
            self.manifest(producer=producer),
            name=name,
            main=main,
            compatibility_date=compatibility_date,
            compatibility_flags=compatibility_flags,
        )

    # -- the flow ----------------------------------------------------------------------------------

    def flow_metadata(self) -> dict[str, Any]:
        """The trigger's metadata for a flow: what it consumes, how, and the hints it implies.

        ``effects``/``determinism`` are the weakest claims a node carrying ``resource::queue::consume``
        may make without a diagnostic (``read_only``, ``best_effort``), and ``delivery``/``ordering``
        are what the queue guarantees downstream edges (at least once, unordered).
        """
        return {
            "trigger": "cloudflare.queue",
            "queue": self.queue,
            "binding": self.binding_name,
            "consumer": self.consumer_settings(),
            "delivery": "at_least_once",
            "ordering": "unordered",
            "effects": "read_only",
            "determinism": "best_effort",
            "effectHints": [EFFECT_HINT],
            "determinismHints": [],
        }

    def flow_node(
        self, alias: str = "trigger", *, identifier: str | None = None, flow_id: str | None = None
    ) -> dict[str, Any]:
        """A Flow IR trigger node (``kind: "trigger"``) for this queue, with its metadata attached."""
        if not isinstance(alias, str) or not alias:
            raise InvalidInput(f"alias: must be a non-empty string, got {alias!r}", field="alias")
        meta = self.flow_metadata()
        return {
            "id": f"{flow_id}::{alias}" if flow_id else alias,
            "alias": alias,
            "identifier": identifier or f"cap_cloudflare_queue::{self.queue}",
            "name": "QueueTrigger",
            "kind": "trigger",
            "summary": f"Batches of messages from Cloudflare Queue {self.queue!r}",
            "in_schema": {"kind": "opaque"},
            "out_schema": {"kind": "named", "name": "MessageBatch"},
            "effects": meta["effects"],
            "determinism": meta["determinism"],
            "idempotency": {},
            "effectHints": list(meta["effectHints"]),
            "determinismHints": list(meta["determinismHints"]),
            "metadata": meta,
        }
