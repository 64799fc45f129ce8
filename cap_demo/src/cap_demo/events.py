"""The demo's events: what ``caps demo`` generates, and what the hosts accept over HTTP.

An event is a small JSON object with an ``id`` (the idempotency key of every node downstream), a
``kind`` and optionally ``amount_cents``; anything else it carries is stored with it untouched.
Generated events are the same on every run (event *n* is always ``evt-0000n`` with the same fields),
which is what makes a second ``caps demo`` a re-run of the same work rather than new work.

Submissions are checked here, before any capability is called, so a bad batch stores nothing: a
host maps :class:`~cap_opendal_core.errors.InvalidInput` / ``LimitExceeded`` to HTTP 400/413.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final

from cap_opendal_core.checks import check_at_most
from cap_opendal_core.errors import InvalidInput, LimitExceeded

__all__ = [
    "EVENT_ID",
    "KIND",
    "KINDS",
    "MAX_EVENTS_PER_SUBMIT",
    "MAX_EVENT_BYTES",
    "check_events",
    "encode_event",
    "make_events",
]

EVENT_ID: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
"""Event ids: short, URL- and key-safe (they become R2 keys, KV keys and dedupe keys)."""
KIND: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
"""Event kinds: short tokens (they are stored as R2 custom metadata, which S3 wants printable ASCII)."""

KINDS: Final = ("view", "click", "signup", "purchase")
MAX_EVENTS_PER_SUBMIT: Final = 100
"""Events per submission. On Workers each event costs two sub-requests (R2 put, KV put), so 100 keeps a
request well inside the 1,000 sub-requests one invocation may make."""
MAX_EVENT_BYTES: Final = 64 * 1024
"""One event's compact JSON; far below every service limit the flow touches (a KV value is 25 MiB)."""


def make_events(count: int, *, start: int = 1) -> list[dict[str, Any]]:
    """``count`` deterministic events, ``evt-{start:06d}`` onwards: the same ids and fields every time."""
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise InvalidInput(f"count must be an int >= 0, got {count!r}", field="count")
    events = []
    for n in range(start, start + count):
        # A small deterministic mix (no random module: the same on every Python and under Pyodide).
        kind = KINDS[(n * 7 + n // 3) % len(KINDS)]
        event: dict[str, Any] = {
            "id": f"evt-{n:06d}",
            "kind": kind,
            "user": f"user-{(n * 37) % 97:02d}",
            "at": f"2026-01-01T{(n // 60) % 24:02d}:{n % 60:02d}:00Z",
        }
        if kind == "purchase":
            event["amount_cents"] = 100 + (n * 7919) % 9900
        events.append(event)
    return events


def check_events(value: object, *, limit: int = MAX_EVENTS_PER_SUBMIT) -> list[dict[str, Any]]:
    """``value`` (a list of event objects, or ``{"events": [...]}``) checked and normalised.

    Raises :class:`InvalidInput` naming the first bad event and field, or :class:`LimitExceeded` for
    too many events or an event too large — before anything is stored.
    """
    if isinstance(value, dict) and set(value) == {"events"}:
        value = value["events"]
    if not isinstance(value, list):
        raise InvalidInput(
            'expected a JSON array of events or {"events": [...]}, got ' + type(value).__name__,
            field="events",
        )
    if not value:
        raise InvalidInput("no events: send at least one", field="events")
    check_at_most(
        len(value),
        limit,
        limit="demo.events_per_submit",
        message=f"{len(value)} events in one submission; at most {limit}",
    )
    seen: set[str] = set()
    out = []
    for i, event in enumerate(value):
        where = f"events[{i}]"
        if not isinstance(event, dict):
            raise InvalidInput(f"{where}: must be an object, got {type(event).__name__}", field=where)
        event_id = event.get("id")
        if not isinstance(event_id, str) or not EVENT_ID.match(event_id):
            raise InvalidInput(
                f"{where}.id: must be 1-128 characters of letters, digits, '.', '_', ':' or '-' "
                f"(starting with a letter or digit), got {event_id!r}",
                field=f"{where}.id",
            )
        if event_id in seen:
            raise InvalidInput(
                f"{where}.id: {event_id!r} appears twice in this submission", field=f"{where}.id"
            )
        seen.add(event_id)
        kind = event.get("kind", "event")
        if not isinstance(kind, str) or not KIND.match(kind):
            raise InvalidInput(
                f"{where}.kind: must be 1-64 letters, digits, '.', '_' or '-', got {kind!r}",
                field=f"{where}.kind",
            )
        amount = event.get("amount_cents", 0)
        if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
            raise InvalidInput(
                f"{where}.amount_cents: must be a whole number of cents >= 0, got {amount!r}",
                field=f"{where}.amount_cents",
            )
        try:
            size = len(encode_event(event))
        except (TypeError, ValueError) as exc:
            raise InvalidInput(f"{where}: not JSON-serialisable: {exc}", field=where) from None
        if size > MAX_EVENT_BYTES:
            raise LimitExceeded(
                f"{where}: {size} bytes as JSON; at most {MAX_EVENT_BYTES}",
                limit="demo.event_bytes",
                value=size,
                maximum=MAX_EVENT_BYTES,
            )
        out.append({**event, "kind": kind})
    return out


def encode_event(event: dict[str, Any]) -> bytes:
    """The stored form of an event: compact, key-sorted JSON, so the same event is the same bytes."""
    return json.dumps(event, separators=(",", ":"), sort_keys=True, allow_nan=False).encode("utf-8")
