"""Hint ids, the two lattices, and the registry of constraints that gives hints their meaning.

A hint is a ``::``-separated id such as ``resource::kv::write``. A *constraint* says what a hint
implies: for the ``effect`` kind, the weakest effects level a node using it may declare; for the
``determinism`` kind, the strictest determinism it may declare. Constraints are looked up segment by
segment, most specific first, so ``resource::blob`` covers ``resource::blob::read`` but not
``resource::blobs`` (see ``docs/reference/hints.md``).

The built-in table — core's own families only: ``http``, ``db``, ``clock``, ``rng`` — is registered
at import; each capability package registers the meanings of its own family (``kv``, ``blob``,
``queue`` …) through its plugin. The process-wide :data:`registry` runs plugin discovery (once, cheaply
cached) before its first lookup, so a scope check or ``validate_flow`` sees every installed family
without the host calling :func:`~cap_opendal_core.plugins.discover` first. Registering the same
(hint, kind) again replaces the earlier entry — the newest registration wins.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING, Literal, Self

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

__all__ = [
    "BUILTIN_CONSTRAINTS",
    "Constraint",
    "Determinism",
    "Effects",
    "HintKind",
    "HintRegistry",
    "registry",
    "split_hint",
    "validate_hint_id",
]

HintKind = Literal["effect", "determinism"]


class _Level(IntEnum):
    """A lattice of levels; flows and JSON spell each level as its lower-case name (``read_only``)."""

    @property
    def json(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Self:
        for level in cls:
            if level.json == text:
                return level
        raise ValueError(
            f"unknown {cls.__name__.lower()} level {text!r}; expected one of {', '.join(m.json for m in cls)}"
        )


class Effects(_Level):
    """Effects lattice: Pure < ReadOnly < Effectful. A higher value is a weaker claim."""

    PURE = 0
    READ_ONLY = 1
    EFFECTFUL = 2


class Determinism(_Level):
    """Determinism lattice: Strict < Stable < BestEffort < Nondeterministic (weakest claim last)."""

    STRICT = 0
    STABLE = 1
    BEST_EFFORT = 2
    NONDETERMINISTIC = 3


@dataclass(frozen=True, slots=True)
class Constraint:
    """What one hint implies for one lattice.

    ``minimum`` is an :class:`Effects` level for ``kind == "effect"`` and a :class:`Determinism`
    level for ``kind == "determinism"``. ``source`` names who registered it (``"cap-opendal-core"``
    for the built-ins, a distribution name for plugins).
    """

    hint: str
    kind: HintKind
    minimum: Effects | Determinism
    why: str = ""
    source: str = "cap-opendal-core"


def split_hint(hint: str) -> tuple[str, ...]:
    return tuple(hint.split("::"))


def validate_hint_id(hint: str) -> str:
    """Return ``hint`` if it is a well-formed id (non-empty ``::``-separated segments), else raise."""
    if not isinstance(hint, str) or not hint:
        raise ValueError(f"a hint id must be a non-empty string, got {hint!r}")
    for seg in hint.split("::"):
        if not seg or seg.strip() != seg or ":" in seg:
            raise ValueError(
                f"malformed hint id {hint!r}: segments are separated by '::' and may not be empty"
            )
    return hint


_E, _D = Effects, Determinism

BUILTIN_CONSTRAINTS: tuple[Constraint, ...] = (
    Constraint("resource::http::read", "effect", _E.READ_ONLY, "reads an external service"),
    Constraint("resource::http::write", "effect", _E.EFFECTFUL, "changes an external service"),
    Constraint("resource::http", "determinism", _D.BEST_EFFORT, "responses drift"),
    Constraint("resource::clock", "determinism", _D.BEST_EFFORT, "wall-clock time"),
    Constraint("resource::rng", "determinism", _D.BEST_EFFORT, "randomness"),
    Constraint("resource::db::read", "effect", _E.READ_ONLY),
    Constraint("resource::db::write", "effect", _E.EFFECTFUL),
    Constraint("resource::db", "determinism", _D.BEST_EFFORT),
)


class HintRegistry:
    """Constraints by (hint, kind), with most-specific segment-wise lookup.

    Lookups are cached; a registration clears the cache. Thread-safe: registration, lookup and the
    one-off discovery hook.
    """

    def __init__(
        self,
        constraints: Iterable[Constraint] = (),
        *,
        before_first_lookup: Callable[[], None] | None = None,
        discovery_lock: threading.RLock | None = None,
    ) -> None:
        self._table: dict[tuple[str, HintKind], Constraint] = {}
        self._cache: dict[tuple[str, HintKind], Constraint | None] = {}
        self._lock = threading.Lock()
        self._pending = before_first_lookup
        self._discovering = False
        self.discovery_lock = threading.RLock() if discovery_lock is None else discovery_lock
        """Held while the hook runs. Re-entrant, and shared with whatever the hook itself locks
        (plugin discovery's lock, for the process-wide registry), so the two are never taken in
        opposite orders by two threads."""
        for c in constraints:
            self.register(c)

    def _ready(self) -> None:
        """Run the one-off hook (plugin discovery, for the process-wide registry) before reading.

        Once, under :attr:`discovery_lock`: a thread that arrives while another runs it waits for the
        whole table rather than reading half of it. The hook's own registrations and lookups (same
        thread) do not run it again. A hook that raises is tried again by the next lookup."""
        if self._pending is None:
            return
        with self.discovery_lock:
            hook = self._pending
            if hook is None or self._discovering:
                return
            self._discovering = True
            try:
                hook()
                self._pending = None
            finally:
                self._discovering = False

    def register(self, constraint: Constraint) -> None:
        """Add or replace the constraint for ``(constraint.hint, constraint.kind)``."""
        validate_hint_id(constraint.hint)
        if constraint.kind == "effect" and not isinstance(constraint.minimum, Effects):
            raise TypeError(f"effect constraint for {constraint.hint!r} needs an Effects minimum")
        if constraint.kind == "determinism" and not isinstance(constraint.minimum, Determinism):
            raise TypeError(f"determinism constraint for {constraint.hint!r} needs a Determinism minimum")
        with self._lock:
            self._table[(constraint.hint, constraint.kind)] = constraint
            self._cache.clear()

    def unregister(self, hint: str, kind: HintKind) -> None:
        with self._lock:
            self._table.pop((hint, kind), None)
            self._cache.clear()

    def lookup(self, hint: str, kind: HintKind) -> Constraint | None:
        """The most specific constraint of ``kind`` covering ``hint`` (whole segments), or None."""
        self._ready()
        cache_key = (hint, kind)
        try:
            return self._cache[cache_key]
        except KeyError:
            pass
        found: Constraint | None = None
        segments = hint.split("::")
        with self._lock:  # so a registration between reading the table and caching cannot go stale
            for n in range(len(segments), 0, -1):
                found = self._table.get(("::".join(segments[:n]), kind))
                if found is not None:
                    break
            self._cache[cache_key] = found
        return found

    def effect_minimum(self, hint: str) -> Effects | None:
        c = self.lookup(hint, "effect")
        return None if c is None else Effects(c.minimum)

    def determinism_minimum(self, hint: str) -> Determinism | None:
        c = self.lookup(hint, "determinism")
        return None if c is None else Determinism(c.minimum)

    def effect_determinism(
        self, effect_hint: str, determinism_hints: Iterable[str] = ()
    ) -> Constraint | None:
        """The determinism constraint that governs ``effect_hint`` (what ``DET301`` checks), or None.

        Normally that is the effect hint's own determinism constraint (``resource::blob::read`` falls
        under ``resource::blob``: BestEffort). When the same call or node also carries a determinism
        hint that is *more specific within that family* and is not itself an effect hint — a read
        pinned to an etag records ``resource::blob::pinned`` (Stable) — the more specific hint governs
        instead, and it is checked as a determinism hint (``DET302``); hints.md's "most specific
        wins", applied across the pair.
        """
        found = self.lookup(effect_hint, "determinism")
        if found is None:
            return None
        family = found.hint + "::"
        for det_hint in determinism_hints:
            c = self.lookup(det_hint, "determinism")
            # only a determinism-only refinement counts: ``resource::state::read`` is itself an effect
            # hint (another call's), so it must not excuse a ``resource::state::write`` beside it
            if c is not None and c.hint.startswith(family) and self.lookup(det_hint, "effect") is None:
                return None
        return found

    def is_known(self, hint: str) -> bool:
        """True when some constraint (of either kind) covers ``hint``."""
        return self.lookup(hint, "effect") is not None or self.lookup(hint, "determinism") is not None

    def __iter__(self) -> Iterator[Constraint]:
        self._ready()
        return iter(sorted(self._table.values(), key=lambda c: (c.hint, c.kind)))

    def __len__(self) -> int:
        self._ready()
        return len(self._table)


def _discover_plugins() -> None:
    from .plugins import discover

    discover()


registry = HintRegistry(
    BUILTIN_CONSTRAINTS, before_first_lookup=_discover_plugins, discovery_lock=threading.RLock()
)
"""The process-wide registry: core's built-ins, and every installed plugin's family, discovered before
the first lookup."""
