"""What every soak test shares: running one operation under a hard time guard, judging its outcome,
and the one-line summary.

A soak runs a few thousand mixed operations of one capability through :mod:`tests.support.fault_proxy`
and records, per operation, whether it succeeded or raised a ``CapabilityError`` — and whether that
error was the right one. Under the proxy's faults (5xx, 429, resets, stalls) the right error is a
transient one (``Unavailable``, ``RateLimited``, ``DeadlineExceeded``) with ``retryable=True``: the
service or the network failed, not the caller, so trying again later may succeed (a queue's split
batch that failed part-way raises ``BatchPartiallySent``, judged by the error it carries). Anything else — an
exception that is not a ``CapabilityError``, a transient fault reported as permanent, a call that
outlived its deadline — is a *problem*, and a soak passes only with none.
"""

from __future__ import annotations

import abc
import bisect
import contextlib
import itertools
import random
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import anyio

from cap_cloudflare_queue import BatchPartiallySent
from cap_opendal_core.errors import CapabilityError, DeadlineExceeded, RateLimited, Unavailable
from cap_opendal_core.layers import LayerSettings, RetryPolicy
from tests.reliability.soak_history import Read, Write

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Hashable, Iterable

    import pytest

    from tests.support.cf_api import CloudflareApi
    from tests.support.fault_proxy import FaultProxy, Flavor, ProxyRecord

__all__ = [
    "HANG_GUARD_S",
    "TRANSIENT",
    "Outcome",
    "RegisterWorker",
    "SoakLedger",
    "SoakScenario",
    "SoakTask",
    "late_requests",
    "quicken",
    "soak_settings",
    "soak_through_faults",
]

T = TypeVar("T")

TRANSIENT: tuple[type[CapabilityError], ...] = (Unavailable, RateLimited, DeadlineExceeded)
"""What a fault of the network or the service may surface as."""

HANG_GUARD_S = 10.0
"""How far past its bound an operation may run before the soak calls it hung and cancels it."""

GRACE_S = 2.0
"""Scheduling slack on top of an operation's bound and the event loop's measured lag (the loop, threads
and servers share 2 cores). Stalls last several times longer than the bound plus this, so a call that
ignored its deadline shows."""


@dataclass
class Outcome:
    ok: bool
    value: Any = None
    error: CapabilityError | None = None
    started: float = 0.0
    """``time.monotonic()`` when the call began: the proxy cannot have sent any of its requests before."""
    ended: float = 0.0
    """When the call returned: every answer it used was back before."""


TICK_S = 0.05


class LagWatch:
    """How late the event loop ran: a task that wakes every ``TICK_S`` notes when it did.

    On a loaded machine a call whose deadline fired on time may still return late, because the loop
    (or the GIL) was busy elsewhere; a call that ignores its deadline returns late although the loop
    was free. The lag measured while a call ran is added to the time it is allowed.
    """

    def __init__(self) -> None:
        self.ticks: list[float] = []

    async def run(self) -> None:
        while True:
            self.ticks.append(time.monotonic())
            await anyio.sleep(TICK_S)

    def lag(self, start: float, end: float) -> float:
        """The loop's total lateness between ``start`` and ``end`` (0 when it kept time)."""
        first = bisect.bisect_left(self.ticks, start)
        last = bisect.bisect_right(self.ticks, end)
        points = [start, *self.ticks[first:last], end]
        return sum(max(0.0, later - earlier - TICK_S) for earlier, later in itertools.pairwise(points))


@dataclass
class SoakLedger:
    """Counts one soak's operations and collects its problems."""

    capability: str
    operations: int = 0
    ok: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    lost_writes: int = 0
    problems: list[str] = field(default_factory=list)
    slowest: float = 0.0
    started: float = field(default_factory=time.monotonic)
    watch: LagWatch = field(default_factory=LagWatch)
    """Started by :meth:`watching`; without it no lag is allowed for."""

    @contextlib.asynccontextmanager
    async def watching(self) -> AsyncIterator[None]:
        """Measure the event loop's lag while the soak's operations run."""
        async with anyio.create_task_group() as group:
            group.start_soon(self.watch.run)
            try:
                yield
            finally:
                group.cancel_scope.cancel()

    async def run(
        self,
        name: str,
        fn: Callable[[], Awaitable[T]],
        *,
        bound: float,
        judged_by_caller: tuple[type[CapabilityError], ...] = (),
    ) -> Outcome:
        """Await ``fn()`` as operation ``name``; it must finish within ``bound`` seconds (its deadline)
        and either succeed or raise a transient ``CapabilityError`` with ``retryable=True`` — or one of
        ``judged_by_caller``, which the caller must then judge itself."""
        self.operations += 1
        started = time.monotonic()
        outcome: Outcome
        try:
            with anyio.fail_after(bound + HANG_GUARD_S):
                value = await fn()
            outcome = Outcome(True, value)
        except CapabilityError as err:
            outcome = Outcome(False, error=err)
            self.failures[err.code] += 1
            if not isinstance(err, judged_by_caller):
                self._judge(name, err)
        except TimeoutError:
            outcome = Outcome(False)
            lag = self.watch.lag(started, time.monotonic())
            if lag > HANG_GUARD_S - GRACE_S:  # the loop itself was starved that long: not the call's fault
                self.failures["starved"] += 1
            else:
                self.failures["hung"] += 1
                self.problem(f"{name}: hung for {bound + HANG_GUARD_S:.1f} s (its deadline is {bound:.1f} s)")
        except Exception as exc:  # any other exception escaping a capability is a bug
            outcome = Outcome(False)
            self.failures[type(exc).__name__] += 1
            self.problem(f"{name}: raised {type(exc).__module__}.{type(exc).__name__}: {exc}")
        ended = time.monotonic()
        outcome.started, outcome.ended = started, ended
        elapsed = ended - started
        self.slowest = max(self.slowest, elapsed)
        lag = self.watch.lag(started, ended)
        if elapsed > bound + GRACE_S + lag:
            self.problem(
                f"{name}: took {elapsed:.2f} s, past its {bound:.2f} s deadline (the loop lagged {lag:.2f} s)"
            )
        if outcome.ok:
            self.ok += 1
        return outcome

    def _judge(self, name: str, err: CapabilityError) -> None:
        judged = err
        if isinstance(err, BatchPartiallySent):  # the right error for a split batch: judge its cause
            judged = err.error
            if err.retryable is not judged.retryable:
                self.problem(f"{name}: {err!r} says retryable={err.retryable!r}, its cause {judged!r}")
        if not isinstance(judged, TRANSIENT):
            self.problem(f"{name}: a fault surfaced as {err!r}, not as a transient error")
        elif judged.retryable is not True:
            self.problem(f"{name}: transient {err!r} says retryable={judged.retryable!r}")

    def problem(self, text: str) -> None:
        if len(self.problems) < 200:
            self.problems.append(text)

    def lost(self, text: str) -> None:
        self.lost_writes += 1
        self.problem(f"lost write: {text}")

    def check_listing(self, container: str, listed: set[str], expected: set[str]) -> None:
        """The final listing names exactly the keys that were read back present."""
        if listed != expected:
            self.problem(f"{container} lists {sorted(listed ^ expected)} unexpectedly")

    @property
    def typed_failures(self) -> int:
        return sum(self.failures.values())

    def summary(self, proxy: FaultProxy, *, seed: int, extra: str = "") -> str:
        faults = ", ".join(f"{kind} {n}" for kind, n in sorted(proxy.fault_counts().items()))
        return (
            f"soak {self.capability}: operations={self.operations} "
            f"faults_injected={proxy.faults_injected} retries={proxy.repeats_after_fault} "
            f"typed_failures={self.typed_failures} lost_writes={self.lost_writes} "
            f"problems={len(self.problems)} "
            f"(ok={self.ok}, requests={len(proxy.snapshot())}, slowest={self.slowest:.2f} s, "
            f"{time.monotonic() - self.started:.1f} s, seed={seed}{extra}; faults: {faults}; "
            f"failures: {dict(sorted(self.failures.items()))})"
        )

    def report(
        self, proxy: FaultProxy, capsys: pytest.CaptureFixture[str], *, seed: int, extra: str = ""
    ) -> None:
        """Print the one-line summary (past pytest's capture) and fail on any problem."""
        line = self.summary(proxy, seed=seed, extra=extra)
        with capsys.disabled():
            print(f"\n{line}")
        shown = "\n  ".join(self.problems[:40])
        assert not self.problems, f"{len(self.problems)} problem(s) in {line}:\n  {shown}"
        assert self.lost_writes == 0


def quicken(api: CloudflareApi) -> None:
    """Make the REST stand-in fast enough for a soak (without touching tests/support/cf_api.py).

    The standard library's HTTP server sends a response's head and body in separate segments, so
    Nagle's algorithm holds the body back until the client's delayed ACK (~40 ms per request); and it
    listens with a backlog of 5, so a burst of new connections loses SYNs (a second each). Both are
    test-server artefacts, not what the SDK would meet in production.
    """
    server = api._server  # tuning a running test server from the outside
    assert server is not None
    server.RequestHandlerClass.disable_nagle_algorithm = True  # type: ignore[attr-defined]
    server.socket.listen(128)  # a second listen() only raises the backlog (Linux)


def soak_settings(deadline: float, *, attempts: int = 4, base: float = 0.005) -> LayerSettings:
    """The layers a soak runs its capability with: no logging, ``deadline`` per call, quick retries."""
    return LayerSettings(
        logging=False, deadline=deadline, retry=RetryPolicy(attempts=attempts, base=base, cap=0.05)
    )


def late_requests(records: Iterable[ProxyRecord]) -> int:
    """How many requests the proxy held back and then delivered (after the client may have given up)."""
    return sum(1 for r in records if r.fault == "delay_request" and r.sent_at is not None)


class RegisterWorker:
    """One client of a key-value soak (KV, R2): a seeded sequence of ``ops`` operations on its own keys,
    and the reads and writes it saw, for :func:`tests.reliability.soak_history.check`. A subclass says
    what one operation (:meth:`step`) is."""

    def __init__(self, number: int, ledger: SoakLedger, *, seed: int, ops: int, keys: list[str]) -> None:
        self.rng = random.Random(seed * 1000 + number)
        self.number = number
        self.ledger = ledger
        self.ops = ops
        self.keys = keys
        self.reads: list[Read] = []
        self.writes: list[Write] = []
        self.counter = 0

    def _written(self, key: str, version: Hashable, out: Outcome, what: str) -> None:
        if out.ok:
            self.writes.append(Write(key, version, out.started, out.ended, what))

    def _read(self, key: str, out: Outcome, seen: object, what: str, project: Any = None) -> None:
        self.reads.append(Read(key, out.started, out.ended, seen, what, project))

    @property
    def prefix(self) -> str:
        """What every key of this worker starts with (``w07/``)."""
        return f"w{self.number:02d}/"

    def _listed(self, out: Outcome, names: Callable[[Any], Iterable[str]]) -> None:
        """A listing of :attr:`prefix` (its result in ``out``, the names in it from ``names``) read,
        for each of the worker's keys, whether the key exists."""
        if out.ok:
            listed = set(names(out.value))
            for k in self.keys:
                self._read(k, out, k in listed, "list (listed?)", _exists)

    async def run(self) -> None:
        for _ in range(self.ops):
            await self.step()

    async def step(self) -> None:
        raise NotImplementedError


def _exists(state: object) -> bool:
    return state is not None


SoakTask = Callable[[], Coroutine[Any, Any, object]]
"""One task of a soak's load: a worker's whole run."""


class SoakScenario(abc.ABC):
    """One capability's soak, as :func:`soak_through_faults` runs it: a service stand-in, the
    capability opened through the fault proxy with its workers, and the judgement afterwards.

    The shared part — the fault plan, the proxy, the ledger and its lag watch, waiting until nothing
    more can reach the stand-in, the report — is written once, in :func:`soak_through_faults`; a
    scenario holds only what differs: its operation mix and its oracle.
    """

    capability: str
    seed: int
    flavor: Flavor
    fault_share: float = 0.12
    stall_seconds: float = 5.0

    @abc.abstractmethod
    def upstream(self) -> contextlib.AbstractContextManager[str]:
        """The service stand-in for this soak, as its base URL (the proxy forwards to it)."""

    @abc.abstractmethod
    def load(
        self, proxy: FaultProxy, ledger: SoakLedger
    ) -> contextlib.AbstractAsyncContextManager[list[SoakTask]]:
        """The capability opened through ``proxy``, as the tasks that load it (each runs to its
        end); leaving the context closes what it opened."""

    @abc.abstractmethod
    async def judge(self, records: list[ProxyRecord], upstream: str, ledger: SoakLedger) -> str:
        """Judge what the stand-in received (``records``) and what it holds (read ``upstream``
        directly, no faults), into ``ledger``; returns the report's extra figures."""


async def soak_through_faults(scenario: SoakScenario, capsys: pytest.CaptureFixture[str]) -> None:
    """Run ``scenario``'s load through a seeded mix of faults, then judge it: the one soak every
    capability goes through (``tests/conformance/test_soak.py``)."""
    from tests.support.fault_proxy import FaultPlan, FaultProxy

    with scenario.upstream() as upstream:
        plan = FaultPlan.mixed(
            scenario.seed,
            total=scenario.fault_share,
            stall_share=0.1,
            late_share=0.05,
            flavor=scenario.flavor,
            stall_seconds=scenario.stall_seconds,
        )
        with FaultProxy(upstream, plan) as proxy:
            ledger = SoakLedger(scenario.capability)
            async with (
                scenario.load(proxy, ledger) as tasks,
                ledger.watching(),
                anyio.create_task_group() as group,
            ):
                for task in tasks:
                    group.start_soon(task)
            await proxy.wait_quiet()  # from here on nothing more can reach the stand-in
            extra = await scenario.judge(proxy.snapshot(), upstream, ledger)
            ledger.report(proxy, capsys, seed=scenario.seed, extra=extra)
