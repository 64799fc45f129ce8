"""What a key may hold at a moment, from the requests the service was sent and when (issue 12).

Over HTTP a write the client gave up on is not dead: a request held up on the way (or still being
forwarded) may reach the service after its call failed — even after the same client's *later* write
succeeded, and overwrite it. A retried write may land twice: its acknowledged attempt, then a stale
earlier one. So a soak cannot track a key as "the last acknowledged write, plus the failed ones since".

Instead it asks the fault proxy, once every client is closed and the proxy is quiet
(:meth:`FaultProxy.wait_quiet`), which requests reached the service and when: each one that may have
changed a key is an :class:`Apply`, applied at some moment between the proxy sending it upstream
(``start``) and the answer being back (``end``) — certainly, if the service answered 2xx; perhaps, if
it answered 5xx or never answered (``end`` is then infinite); not at all if it answered 4xx or never
got it. A read that ran between ``a`` and ``b`` (its call's start and end) may see the effect of any
apply ``q`` that started before ``b``, unless a certain apply started after ``q`` ended and ended
before ``a`` (so it certainly came between ``q`` and the read). Nothing is loosened: a write the
client saw acknowledged must show up as a certain apply inside its call (:meth:`Registers.confirmed`),
and once it did, a read after it can see an older value only if some request of that older value
might have been applied after it.

The model is deliberately tied to requests, not to calls: which call a request belongs to does not
matter, only what it would leave (its *effect*: a key's new state, or the amount added to a counter).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from itertools import combinations
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable, Hashable, Iterable

    from tests.support.fault_proxy import ProxyRecord

__all__ = ["INF", "Apply", "Counters", "Read", "Registers", "Write", "applies_from", "check"]

INF = math.inf
S = TypeVar("S")


@dataclass(frozen=True)
class Apply(Generic[S]):
    """One request that may have changed ``key`` to (or by) ``effect``, between ``start`` and ``end``."""

    key: str
    effect: S
    start: float
    end: float
    certain: bool
    """The service answered 2xx: it did apply, once, within the window."""


def applies_from(
    records: Iterable[ProxyRecord], classify: Callable[[ProxyRecord], Iterable[tuple[str, S]]]
) -> list[Apply[S]]:
    """Every request the upstream got that may have changed something; ``classify`` names what it
    would change (nothing for a read)."""
    out: list[Apply[S]] = []
    for record in records:
        if record.sent_at is None:
            continue  # faulted before forwarding, or dropped: the service never saw it
        status = record.upstream_status
        if status is not None and 400 <= status < 500:
            continue  # refused: nothing changed
        end = record.answered_at if record.answered_at is not None else INF
        certain = status is not None and 200 <= status < 300
        out.extend(Apply(key, effect, record.sent_at, end, certain) for key, effect in classify(record))
    return out


class Registers(Generic[S]):
    """Keys holding a value (``initial`` when nothing was written): KV keys, R2 objects."""

    def __init__(self, applies: Iterable[Apply[S]], initial: S) -> None:
        self.initial = initial
        self.by_key: dict[str, list[Apply[S]]] = defaultdict(list)
        for apply in applies:
            self.by_key[apply.key].append(apply)

    def possible(self, key: str, a: float = INF, b: float = INF) -> set[S]:
        """The states a read of ``key`` that ran from ``a`` to ``b`` may have seen (after everything,
        by default)."""
        applies = self.by_key.get(key, [])
        # the latest start of a certain apply that certainly finished before the read began
        fence = max((p.start for p in applies if p.certain and p.end < a), default=-INF)
        out: set[S] = set()
        if fence == -INF:
            out.add(self.initial)
        for q in applies:
            if q.start < b and q.end >= fence:  # (fence < a)
                out.add(q.effect)
        return out

    def confirmed(self, key: str, effect: S, a: float, b: float) -> bool:
        """Whether a certain apply of ``effect`` to ``key`` happened within ``a``..``b`` (an
        acknowledged write's call): the write the client was told about reached the service."""
        return any(
            q.certain and q.effect == effect and q.start >= a and q.end <= b for q in self.by_key.get(key, [])
        )


class Counters:
    """Keys holding a sum of increments, each a distinct amount (Durable Object counters)."""

    LIMIT = 14
    """At most this many increments of uncertain order around one read (2**14 sums)."""

    def __init__(self, applies: Iterable[Apply[int]]) -> None:
        self.by_key: dict[str, list[Apply[int]]] = defaultdict(list)
        for apply in applies:
            self.by_key[apply.key].append(apply)

    def possible(
        self, key: str, a: float = INF, b: float = INF, *, without: Callable[[int], bool] | None = None
    ) -> set[int] | None:
        """The counts a read that ran from ``a`` to ``b`` may have seen; None if too many increments
        are in doubt to enumerate. ``without`` leaves out increments (a call's own)."""
        base = 0
        doubtful: list[int] = []
        for q in self.by_key.get(key, []):
            if without is not None and without(q.effect):
                continue
            if q.certain and q.end < a:
                base += q.effect
            elif q.start < b:
                doubtful.append(q.effect)
        if len(doubtful) > self.LIMIT:
            return None
        return {base + sum(c) for n in range(len(doubtful) + 1) for c in combinations(doubtful, n)}


@dataclass(frozen=True)
class Read:
    """A read that ran from ``a`` to ``b`` and saw ``seen`` (``project`` maps a state to what this kind
    of read shows of it: the value without metadata, whether the key exists …)."""

    key: str
    a: float
    b: float
    seen: object
    what: str
    project: Callable[[Any], object] | None = None


@dataclass(frozen=True)
class Write:
    """A write the client was told succeeded: ``effect`` on ``key``, in a call from ``a`` to ``b``."""

    key: str
    effect: Hashable
    a: float
    b: float
    what: str


def check(
    model: Registers[Any],
    reads: Iterable[Read],
    writes: Iterable[Write],
    problem: Callable[[str], None],
    lost: Callable[[str], None],
) -> None:
    """Judge a soak's reads and acknowledged writes against what the service was sent."""
    for w in writes:
        if not model.confirmed(w.key, w.effect, w.a, w.b):
            lost(f"{w.what} of {w.key!r} was acknowledged, but no request of it reached the service in time")
    for r in reads:
        options = model.possible(r.key, r.a, r.b)
        shown = {o if r.project is None else r.project(o) for o in options}
        if r.seen not in shown:
            problem(f"{r.what} of {r.key!r} saw {r.seen!r}, expected one of {shown!r}")
