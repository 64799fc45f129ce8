"""What the layer pipeline costs per call, over awaiting the backend directly.

Run: ``.venv/bin/python benchmarks/bench_pipeline.py [--calls N] [--repeats R] [--strict]``

For each case the same trivial backend coroutine is awaited ``N`` times bare and ``N`` times through
a :class:`~cap_opendal_core.layers.Pipeline`, alternating which goes first, ``R`` times. The overhead
of one repeat is ``(pipeline - bare) / N``; the table shows the median and the spread (min..max) over
the repeats. Goals (issue 2, Performance): every layer off ≤ 2 µs; default layers with logging on at
INFO but filtered out ≤ 5 µs. Rows without a goal are shown for context. This is a measurement, not a
test: ``--strict`` makes a MISS exit non-zero, otherwise the exit status is 0.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import platform
import statistics
import sys
import time
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING

import structlog

from cap_opendal_core.layers import LayerSettings, Operation, Pipeline
from cap_opendal_core.metrics import Metrics
from cap_opendal_core.scope import InvocationScope

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterator

GET = Operation("kv", "get", "resource::kv::read", "resource::kv", idempotent=True)


async def backend_get(key: str) -> str:
    """The 'backend': returns at once, so all that is measured is the pipeline around it."""
    return key


@dataclass(frozen=True)
class Case:
    label: str
    settings: LayerSettings
    logging_setup: Callable[[], None]
    scope: Callable[[], AbstractContextManager[object]]
    goal_us: float | None


def structlog_filtering_at_warning(*, cache: bool) -> Callable[[], None]:
    def setup() -> None:
        structlog.reset_defaults()
        structlog.configure(
            wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
            cache_logger_on_first_use=cache,
        )

    return setup


def stdlib_level_warning() -> None:
    structlog.reset_defaults()
    structlog.configure(
        processors=[structlog.stdlib.render_to_log_kwargs],
        wrapper_class=structlog.stdlib.BoundLogger,
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=True,
    )
    logging.getLogger("cap_opendal_core").setLevel(logging.WARNING)


def no_logging() -> None:
    structlog.reset_defaults()


@contextmanager
def open_scope(timeout: float | None = None) -> Iterator[object]:
    with InvocationScope("bench", timeout=timeout) as scope:
        yield scope


CASES = [
    Case("(a) every layer off", LayerSettings.off(), no_logging, nullcontext, 2.0),
    Case(
        "(b) default layers, INFO filtered out by structlog",
        LayerSettings(),
        structlog_filtering_at_warning(cache=True),
        nullcontext,
        5.0,
    ),
    Case(
        "(b2) as (b), without cache_logger_on_first_use",
        LayerSettings(),
        structlog_filtering_at_warning(cache=False),
        nullcontext,
        None,
    ),
    Case(
        "(b3) as (b), filtered by the stdlib logger level",
        LayerSettings(),
        stdlib_level_warning,
        nullcontext,
        None,
    ),
    Case(
        "(c) default layers, inside an invocation scope",
        LayerSettings(),
        structlog_filtering_at_warning(cache=True),
        open_scope,
        None,
    ),
    Case(
        "(c2) as (c), scope with a deadline (cancel scope per call)",
        LayerSettings(),
        structlog_filtering_at_warning(cache=True),
        lambda: open_scope(timeout=3600.0),
        None,
    ),
]


@dataclass(frozen=True)
class Result:
    case: Case
    bare_us: float
    piped_us: float
    overhead_us: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.overhead_us)

    @property
    def verdict(self) -> str:
        if self.case.goal_us is None:
            return "—"
        return "PASS" if self.median <= self.case.goal_us else "MISS"


async def time_loop(n: int, call: Callable[[], Awaitable[object]]) -> float:
    start = time.perf_counter()
    for _ in range(n):
        await call()
    return time.perf_counter() - start


async def run_case(case: Case, calls: int, repeats: int) -> Result:
    case.logging_setup()
    pipeline = Pipeline("kv", "bench", case.settings, metrics=Metrics())

    def bare() -> Awaitable[str]:
        return backend_get("user:1")

    def piped() -> Awaitable[str]:
        return pipeline.call(GET, backend_get, "user:1", key="user:1")

    with case.scope():
        await time_loop(min(calls, 2000), bare)  # warm up both paths (logger resolution, caches)
        await time_loop(min(calls, 2000), piped)
        bare_s: list[float] = []
        piped_s: list[float] = []
        for i in range(repeats):
            if i % 2 == 0:
                bare_s.append(await time_loop(calls, bare))
                piped_s.append(await time_loop(calls, piped))
            else:
                piped_s.append(await time_loop(calls, piped))
                bare_s.append(await time_loop(calls, bare))
    overhead = [(p - b) / calls * 1e6 for b, p in zip(bare_s, piped_s, strict=True)]
    return Result(
        case,
        bare_us=statistics.median(bare_s) / calls * 1e6,
        piped_us=statistics.median(piped_s) / calls * 1e6,
        overhead_us=overhead,
    )


def table(results: list[Result]) -> str:
    lines = [
        "| case | bare µs/call | pipeline µs/call | overhead µs (median) | spread (min..max) "
        "| goal | result |",
        "| --- | ---: | ---: | ---: | ---: | ---: | :---: |",
    ]
    for r in results:
        goal = "—" if r.case.goal_us is None else f"≤ {r.case.goal_us:g}"
        lines.append(
            f"| {r.case.label} | {r.bare_us:.3f} | {r.piped_us:.3f} | {r.median:.3f} | "
            f"{min(r.overhead_us):.3f}..{max(r.overhead_us):.3f} | {goal} | {r.verdict} |"
        )
    return "\n".join(lines)


async def main_async(calls: int, repeats: int) -> list[Result]:
    return [await run_case(case, calls, repeats) for case in CASES]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=20_000, help="calls per timed loop (default 20000)")
    parser.add_argument("--repeats", type=int, default=11, help="alternating repeats per case (default 11)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a goal is missed")
    args = parser.parse_args(argv)
    if args.calls < 1 or args.repeats < 1:
        parser.error("--calls and --repeats must be at least 1")

    results = asyncio.run(main_async(args.calls, args.repeats))
    structlog.reset_defaults()
    print(
        f"Pipeline overhead per call — Python {platform.python_version()} ({platform.machine()}), "
        f"{args.calls} calls x {args.repeats} repeats per case\n"
    )
    print(table(results))
    missed = [r for r in results if r.verdict == "MISS"]
    print()
    print("all goals met" if not missed else f"{len(missed)} goal(s) missed")
    return 1 if (missed and args.strict) else 0


if __name__ == "__main__":
    sys.exit(main())
