"""The invocation scope: what one node execution actually did, its deadline and its sub-request budget.

A host opens an :class:`InvocationScope` around one node execution (``with`` or ``async with``). The
scope lives in a :class:`contextvars.ContextVar`, so every capability call made by that node — in the
same task or in tasks it spawns — finds it with :func:`current_scope` without being handed anything.
The layer pipeline records each call's hints there and charges the sub-request budget *before* the
call is made; the host then compares what the node did with what it declared (:meth:`~InvocationScope.check`).

Observed levels start at Pure/Strict and only ever weaken (``hints.md``: after a Durable Object write
the scope is BestEffort whatever was read before). Scopes nest: a child records into itself and into
every enclosing scope (they observed the call too), its deadline is the tighter of its own and its
parent's, and a charge counts against every enclosing budget.

Outside any scope nothing is recorded and nothing breaks. No threads are used (Pyodide has none).
"""

from __future__ import annotations

import time
from contextvars import ContextVar, Token
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from .errors import LimitExceeded
from .hints import Determinism, Effects, HintRegistry, validate_hint_id
from .hints import registry as _default_registry
from .records import attributes

if TYPE_CHECKING:
    from types import TracebackType

    from .diagnostics import Diagnostic

__all__ = ["DEFAULT_MAX_RECORDS", "InvocationScope", "ScopeRecord", "current_scope", "outside_scope"]

DEFAULT_MAX_RECORDS = 1000
"""Distinct (capability, operation, hints) records a scope keeps; repeats only bump a counter."""

_current: ContextVar[InvocationScope | None] = ContextVar("cap_opendal_core.invocation_scope", default=None)


def current_scope() -> InvocationScope | None:
    """The innermost open scope of this context, or None outside any scope."""
    return _current.get()


class outside_scope:  # used as a function: ``with outside_scope():``
    """Run a block as if no scope were open: nothing it does is recorded in or charged to the caller.

    For runtimes that execute someone else's code on the caller's task — a local Durable Object runs
    its own request, as it would on Cloudflare, not as part of the calling node's invocation. A class
    rather than a ``@contextmanager`` generator: every local RPC enters one, and this costs a third.
    """

    __slots__ = ("_token",)

    def __enter__(self) -> None:
        self._token = _current.set(None)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        _current.reset(self._token)


@dataclass(frozen=True, slots=True)
class ScopeRecord:
    """One distinct kind of call seen in a scope, and how many times it was made."""

    capability: str
    operation: str
    effect_hint: str
    determinism_hint: str
    count: int

    def to_dict(self) -> dict[str, Any]:
        return attributes(self, (f.name for f in fields(self)))


def _check_name(value: object, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"InvocationScope.record: {what} must be a non-empty string, got {value!r}")
    return value


class InvocationScope:
    """What one node execution did; see the module docstring.

    ``node_name`` (also readable as ``alias``) names the node for diagnostics. Give at most one of
    ``deadline`` (absolute, :func:`time.monotonic` seconds) and ``timeout`` (seconds, counted from when
    the scope is entered). ``subrequest_budget`` caps sub-requests (None = unlimited; hosts on
    Workers pass :data:`cap_opendal_core.limits.WORKER_SUBREQUESTS_PER_INVOCATION`).
    """

    def __init__(
        self,
        node_name: str | None = None,
        *,
        deadline: float | None = None,
        timeout: float | None = None,
        subrequest_budget: int | None = None,
        registry: HintRegistry | None = None,
        max_records: int = DEFAULT_MAX_RECORDS,
    ) -> None:
        if node_name is not None and (not isinstance(node_name, str) or not node_name):
            raise ValueError(
                f"InvocationScope: node_name must be a non-empty string or None, got {node_name!r}"
            )
        if deadline is not None and timeout is not None:
            raise ValueError(
                "InvocationScope: give either deadline (absolute) or timeout (relative), not both"
            )
        if deadline is not None and not _is_real(deadline):
            raise ValueError(
                f"InvocationScope: deadline must be a number (time.monotonic() seconds), got {deadline!r}"
            )
        if timeout is not None and (not _is_real(timeout) or timeout < 0):
            raise ValueError(f"InvocationScope: timeout must be a number of seconds >= 0, got {timeout!r}")
        if subrequest_budget is not None and (
            not isinstance(subrequest_budget, int)
            or isinstance(subrequest_budget, bool)
            or subrequest_budget < 0
        ):
            raise ValueError(
                f"InvocationScope: subrequest_budget must be an int >= 0 or None, got {subrequest_budget!r}"
            )
        if not isinstance(max_records, int) or isinstance(max_records, bool) or max_records < 1:
            raise ValueError(f"InvocationScope: max_records must be an int >= 1, got {max_records!r}")

        self.node_name = node_name
        self.subrequest_budget = subrequest_budget
        self.subrequests_used = 0
        self.records_dropped = 0
        """Calls whose (capability, operation, hints) record did not fit in ``max_records``."""
        self.calls = 0
        self._registry = registry if registry is not None else _default_registry
        self._max_records = max_records
        self._timeout = None if timeout is None else float(timeout)
        self._own_deadline = None if deadline is None else float(deadline)
        if self._timeout is not None:
            self._own_deadline = time.monotonic() + self._timeout
        self._effects = Effects.PURE
        self._determinism = Determinism.STRICT
        # dicts as ordered sets: first-seen order, O(1) membership
        self._effect_hints: dict[str, None] = {}
        self._determinism_hints: dict[str, None] = {}
        self._records: dict[tuple[str, str, str, str], int] = {}
        self._parent: InvocationScope | None = None
        self._token: Token[InvocationScope | None] | None = None
        self._closed_at: float | None = None

    # -- context management ------------------------------------------------------------------------

    def __enter__(self) -> InvocationScope:
        if self._token is not None:
            raise RuntimeError("InvocationScope is already open; open a new scope for each node execution")
        if self._timeout is not None:
            self._own_deadline = time.monotonic() + self._timeout
        self._parent = _current.get()
        self._closed_at = None
        self._token = _current.set(self)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        token, self._token = self._token, None
        self._closed_at = time.monotonic()
        if token is not None:
            _current.reset(token)

    async def __aenter__(self) -> InvocationScope:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    # -- identity ----------------------------------------------------------------------------------

    @property
    def alias(self) -> str | None:
        """The node alias (same as ``node_name``), as Flow IR calls it."""
        return self.node_name

    @property
    def parent(self) -> InvocationScope | None:
        """The scope that was current when this one was entered."""
        return self._parent

    # -- hints -------------------------------------------------------------------------------------

    def record(self, effect_hint: str, determinism_hint: str, *, capability: str, operation: str) -> None:
        """Note one capability call and its hints here and in every enclosing scope."""
        scope: InvocationScope | None = self
        while scope is not None:
            scope._record_one(effect_hint, determinism_hint, capability, operation)
            scope = scope._parent

    def _record_one(self, effect_hint: str, determinism_hint: str, capability: str, operation: str) -> None:
        new_effect = effect_hint not in self._effect_hints
        new_det = determinism_hint not in self._determinism_hints
        key = (capability, operation, effect_hint, determinism_hint)
        records = self._records
        count = records.get(key)
        # validate everything new before changing anything, so bad input leaves the scope untouched
        if new_effect:
            validate_hint_id(effect_hint)
        if new_det:
            validate_hint_id(determinism_hint)
        if count is None:
            _check_name(capability, "capability")
            _check_name(operation, "operation")

        self.calls += 1
        reg = self._registry
        if new_effect:
            self._effect_hints[effect_hint] = None
            e_min = reg.effect_minimum(effect_hint)
            if e_min is not None and e_min > self._effects:
                self._effects = e_min
            # a resource's own determinism constraint applies to its effect hint too (DET301), unless
            # the call's determinism hint is more specific in that family (a read pinned to an etag)
            det_c = reg.effect_determinism(effect_hint, (determinism_hint,))
            if det_c is not None and det_c.minimum > self._determinism:
                self._determinism = Determinism(det_c.minimum)
        if new_det:
            self._determinism_hints[determinism_hint] = None
            d_min = reg.determinism_minimum(determinism_hint)
            if d_min is not None and d_min > self._determinism:
                self._determinism = d_min
        if count is not None:
            records[key] = count + 1
        elif len(records) < self._max_records:
            records[key] = 1
        else:
            self.records_dropped += 1

    @property
    def observed_effects(self) -> Effects:
        """The weakest effects level any recorded hint requires (Pure when nothing was recorded)."""
        return self._effects

    @property
    def observed_determinism(self) -> Determinism:
        """The weakest determinism any recorded hint allows (Strict when nothing was recorded)."""
        return self._determinism

    @property
    def effect_hints(self) -> tuple[str, ...]:
        """Effect hints in the order first seen, without repeats."""
        return tuple(self._effect_hints)

    @property
    def determinism_hints(self) -> tuple[str, ...]:
        """Determinism hints in the order first seen, without repeats."""
        return tuple(self._determinism_hints)

    @property
    def records(self) -> list[ScopeRecord]:
        """Distinct calls in the order first seen, each with its count (at most ``max_records``)."""
        return [ScopeRecord(c, o, e, d, n) for (c, o, e, d), n in self._records.items()]

    # -- deadline ----------------------------------------------------------------------------------

    @property
    def deadline(self) -> float | None:
        """The effective absolute deadline (``time.monotonic()`` seconds): own or an ancestor's, tighter."""
        own = self._own_deadline
        parent = self._parent
        inherited = parent.deadline if parent is not None else None
        if own is None:
            return inherited
        if inherited is None:
            return own
        return min(own, inherited)

    def remaining(self) -> float | None:
        """Seconds left before the deadline (never negative), or None when there is no deadline."""
        deadline = self.deadline
        if deadline is None:
            return None
        return max(0.0, deadline - time.monotonic())

    def expired(self) -> bool:
        """True when the deadline has passed (while open), or had passed when the scope closed."""
        deadline = self.deadline
        if deadline is None:
            return False
        now = self._closed_at if self._closed_at is not None else time.monotonic()
        return now >= deadline

    # -- sub-request budget ------------------------------------------------------------------------

    @property
    def subrequests_remaining(self) -> int | None:
        """What is left of the tightest budget here or in an enclosing scope; None when unlimited."""
        left: int | None = None
        scope: InvocationScope | None = self
        while scope is not None:
            if scope.subrequest_budget is not None:
                mine = scope.subrequest_budget - scope.subrequests_used
                left = mine if left is None else min(left, mine)
            scope = scope._parent
        return left

    def charge(self, n: int = 1, *, capability: str | None = None, operation: str | None = None) -> None:
        """Count ``n`` sub-requests against this and every enclosing budget, or raise before any is counted.

        Raises :class:`~cap_opendal_core.errors.LimitExceeded` (``limit="subrequests"``) when any
        budget would be exceeded; nothing is charged then, so the call must not be made.
        """
        if not isinstance(n, int) or isinstance(n, bool) or n < 0:
            raise ValueError(f"InvocationScope.charge: n must be an int >= 0, got {n!r}")
        scope: InvocationScope | None = self
        while scope is not None:
            budget = scope.subrequest_budget
            if budget is not None and scope.subrequests_used + n > budget:
                where = f" of node {scope.node_name!r}" if scope.node_name else ""
                raise LimitExceeded(
                    f"sub-request budget{where} exhausted: {scope.subrequests_used} used, "
                    f"{n} more would exceed the maximum of {budget} per invocation",
                    limit="subrequests",
                    value=scope.subrequests_used + n,
                    maximum=budget,
                    capability=capability,
                    operation=operation,
                )
            scope = scope._parent
        scope = self
        while scope is not None:
            scope.subrequests_used += n
            scope = scope._parent

    # -- comparing with what the node declared -----------------------------------------------------

    def check(
        self, declared_effects: Effects | str, declared_determinism: Determinism | str
    ) -> list[Diagnostic]:
        """Diagnostics for what this scope observed against what the node declared.

        ``EFFECT201`` for an effect hint needing weaker effects than declared, ``DET301`` for an effect
        hint whose resource is less deterministic than declared, ``DET302`` for a determinism hint the
        declared determinism violates, ``TIME015`` when the deadline passed. Levels may be given as
        enum members or their JSON spelling (``"read_only"``, ``"best_effort"`` …).
        """
        from .diagnostics import Diagnostic, sort_diagnostics

        effects = Effects.parse(declared_effects) if isinstance(declared_effects, str) else declared_effects
        determinism = (
            Determinism.parse(declared_determinism)
            if isinstance(declared_determinism, str)
            else declared_determinism
        )
        if not isinstance(effects, Effects):
            raise TypeError(
                f"declared_effects must be Effects or its JSON spelling, got {declared_effects!r}"
            )
        if not isinstance(determinism, Determinism):
            raise TypeError(
                f"declared_determinism must be Determinism or its JSON spelling, got {declared_determinism!r}"
            )
        node = self.node_name
        reg = self._registry
        out: list[Diagnostic] = []
        for hint in self._effect_hints:
            e_min = reg.effect_minimum(hint)
            if e_min is not None and e_min > effects:
                out.append(
                    Diagnostic(
                        "EFFECT201",
                        node,
                        f"the node used {hint}, which needs effects at least {e_min.json}; "
                        f"declare {e_min.json} or stop using it",
                        hint=hint,
                        declared=effects.json,
                        required=e_min.json,
                    )
                )
            det_c = reg.effect_determinism(hint, self._determinism_hints)
            d_min = None if det_c is None else Determinism(det_c.minimum)
            if d_min is not None and d_min > determinism:
                out.append(
                    Diagnostic(
                        "DET301",
                        node,
                        f"the node used {hint}, whose resource is at best {d_min.json}; "
                        f"declare determinism {d_min.json} or weaker",
                        hint=hint,
                        declared=determinism.json,
                        required=d_min.json,
                    )
                )
        for hint in self._determinism_hints:
            d_min = reg.determinism_minimum(hint)
            if d_min is not None and d_min > determinism:
                out.append(
                    Diagnostic(
                        "DET302",
                        node,
                        f"the node reported determinism hint {hint}, which allows at best {d_min.json}; "
                        f"declare determinism {d_min.json} or weaker",
                        hint=hint,
                        declared=determinism.json,
                        required=d_min.json,
                    )
                )
        if self.expired():
            out.append(
                Diagnostic(
                    "TIME015",
                    node,
                    "the invocation's deadline passed; give the node more time or make it do less",
                )
            )
        return sort_diagnostics(out)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary for a host's logs or run record."""
        return {
            "node": self.node_name,
            "observed_effects": self._effects.json,
            "observed_determinism": self._determinism.json,
            "effect_hints": list(self._effect_hints),
            "determinism_hints": list(self._determinism_hints),
            "calls": self.calls,
            "records": [r.to_dict() for r in self.records],
            "records_dropped": self.records_dropped,
            "subrequests_used": self.subrequests_used,
            "subrequest_budget": self.subrequest_budget,
            "deadline_remaining": self.remaining(),
        }

    def __repr__(self) -> str:
        return (
            f"InvocationScope(node_name={self.node_name!r}, effects={self._effects.json}, "
            f"determinism={self._determinism.json}, calls={self.calls}, "
            f"subrequests={self.subrequests_used}/{self.subrequest_budget})"
        )


def _is_real(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value == value  # not NaN
