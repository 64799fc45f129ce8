"""The test side of the crash scenarios: run a writer, SIGKILL it at a random moment, judge what is left.

:func:`run_writer` starts ``python -m <writer module>`` (a real process), reads its events
(:mod:`.protocol`) from a pipe on a thread — so the writer never blocks on a full pipe, which would
bias where the kill lands — waits until it says ``ready`` and has acknowledged a seeded number of
operations, sleeps a seeded random delay and sends ``SIGKILL``. :class:`Ledger` carries what each
key must hold from one restart to the next and, from a run's events, what it may hold now:

* the state the last *acknowledged* operation on the key left (an acked write that is missing, or
  older than it, is a **lost write**);
* or the state an operation still in flight at the kill would leave (it may or may not have happened);
* an in-flight *atomic* operation (a batch, a transaction) is all there or not there at all: some of
  its keys changed and others not is a **torn batch**;
* a key no operation ever wrote is a **phantom**.

Whether each value is whole (its checksum, its metadata matching its body) is the scenario's reader's
business; it reports each key's state as the ``seq`` stored with it.

``CAP_CRASH_RUNS`` (default 24) sets the number of kills per scenario, ``CAP_CRASH_BUDGET_S`` (default
20) the seconds a scenario may spend before it stops early (after at least :data:`MIN_RUNS` kills, so a
slow machine still kills enough), and ``CAP_CRASH_SEED`` the seed: a soak can run thousands of kills,
and a failure names its seed and kill number, which replay it exactly.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cap_opendal_core.layers import LayerSettings

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine, Iterator

    ReadBack = Callable[[Path], Coroutine[Any, Any, tuple[dict[str, int], list[str]]]]
    """A scenario's reader: reopen the store at a directory and return each present key's write
    (its ``seq``) and what is wrong with any value (torn, mixed, listed but unreadable)."""

__all__ = [
    "MIN_RUNS",
    "QUIET",
    "REPO",
    "RUNS",
    "SEED",
    "CrashStats",
    "Ledger",
    "Op",
    "WriterRun",
    "assert_kills_did_work",
    "failure_report",
    "kill_delay",
    "kill_writer_once",
    "kills",
    "round_rng",
    "run_writer",
    "short",
    "survives_kills",
]

REPO = Path(__file__).resolve().parents[3]
RUNS = int(os.environ.get("CAP_CRASH_RUNS", "24"))
BUDGET_S = float(os.environ.get("CAP_CRASH_BUDGET_S", "20"))
MIN_RUNS = min(RUNS, 8)
SEED = int(os.environ.get("CAP_CRASH_SEED", "9009"))
QUIET = LayerSettings(logging=False)
"""The layers a reader reopens a store with after a kill: no logging."""
READY_TIMEOUT_S = 120.0
"""How long a writer may take to start and report ``ready``: a guard against a broken writer, not a
timing assumption (on a loaded machine importing the packages alone can take seconds)."""


@dataclass
class Op:
    """One operation a writer began (and maybe finished)."""

    seq: int
    name: str
    puts: tuple[str, ...]
    deletes: tuple[str, ...]
    atomic: bool
    acked: bool = False

    def touches(self, key: str) -> bool:
        return key in self.puts or key in self.deletes

    def effect(self, key: str) -> int | None:
        """What ``key`` holds once this operation happened: its seq, or None (deleted)."""
        return self.seq if key in self.puts else None


@dataclass
class WriterRun:
    """What one writer process reported before it was killed."""

    ops: list[Op]
    notes: list[Any]
    kill_after: float
    stderr: str

    @property
    def pending(self) -> list[Op]:
        return [op for op in self.ops if not op.acked]

    @property
    def acked(self) -> list[Op]:
        return [op for op in self.ops if op.acked]


def kill_delay(rng: random.Random, longest: float) -> float:
    """Seconds between the kill's trigger (see :func:`kill_point`) and the kill: a quarter come almost
    at once, the rest anywhere up to ``longest``."""
    if rng.random() < 0.25:
        return rng.uniform(0.0, 0.02)
    return rng.uniform(0.02, longest)


def kill_point(rng: random.Random, most: int = 8) -> int:
    """How many acknowledged operations to wait for after ``ready`` before the kill's delay starts.

    Counting the writer's own progress, not wall time, is what keeps the kills spread over its work on
    a loaded machine: with a timer alone, a starved writer was killed before it acknowledged anything
    and the scenario checked nothing. A quarter of the kills still come right after ``ready``."""
    return 0 if rng.random() < 0.25 else rng.randint(1, most)


def run_writer(module: str, args: list[str], *, kill_after: float, after_acks: int = 0) -> WriterRun:
    """Run ``python -m module *args`` from the repository root and SIGKILL it ``kill_after`` seconds
    after it reports ``ready`` and then ``after_acks`` acknowledged operations; its events up to the kill."""
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", module, *args],
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=err,
        )
        lines: list[bytes] = []
        ready = threading.Event()
        assert proc.stdout is not None
        stdout = proc.stdout

        progressed = threading.Event()
        acks = 0

        def read() -> None:
            nonlocal acks
            for raw in stdout:
                lines.append(raw)
                if raw.startswith(b'{"ready"'):
                    ready.set()
                elif ready.is_set() and raw.startswith(b'{"a"'):
                    acks += 1
                if ready.is_set() and acks >= after_acks:
                    progressed.set()
            progressed.set()  # the writer's output ended: nothing more to wait for

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        try:
            deadline = time.monotonic() + READY_TIMEOUT_S
            while not ready.wait(0.01):
                if proc.poll() is not None or time.monotonic() > deadline:
                    break
            if ready.is_set():
                progressed.wait(READY_TIMEOUT_S)
                time.sleep(kill_after)
        finally:
            exited_early = proc.poll() is not None
            if not exited_early:
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
            reader.join(timeout=30)
            stdout.close()
            err.seek(0)
            stderr = err.read().decode(errors="replace")[-4000:]
        if exited_early or not ready.is_set():
            raise AssertionError(
                f"the writer {module} exited on its own ({proc.returncode}) or never got ready:\n{stderr}"
            )
        assert proc.returncode == -signal.SIGKILL, proc.returncode
    return _parse(lines, kill_after, stderr)


def _parse(lines: list[bytes], kill_after: float, stderr: str) -> WriterRun:
    ops: dict[int, Op] = {}
    notes: list[Any] = []
    for raw in lines:
        if not raw.endswith(b"\n"):
            continue  # cut off by the kill: as if never written (the safe reading)
        event = json.loads(raw)
        if "b" in event:
            ops[event["b"]] = Op(
                event["b"], event["op"], tuple(event["puts"]), tuple(event["deletes"]), event["atomic"]
            )
        elif "a" in event:
            ops[event["a"]].acked = True
        elif "note" in event:
            notes.append(event["note"])
    return WriterRun(sorted(ops.values(), key=lambda op: op.seq), notes, kill_after, stderr)


@dataclass
class CrashStats:
    """Figures for the report: kills, where they landed, what was checked."""

    scenario: str
    runs: int = 0
    acked_ops: int = 0
    killed_mid_op: int = 0
    in_flight_applied: int = 0
    in_flight_not_applied: int = 0
    keys_checked: int = 0
    violations: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    def over_budget(self) -> bool:
        """Whether the scenario has used its time budget (and made at least :data:`MIN_RUNS` kills)."""
        return self.runs >= MIN_RUNS and time.monotonic() - self.started > BUDGET_S

    def summary(self) -> str:
        return (
            f"crash[{self.scenario}]: {self.runs} kills, {self.killed_mid_op} mid-operation, "
            f"{self.acked_ops} acknowledged operations, in-flight operations applied/not "
            f"{self.in_flight_applied}/{self.in_flight_not_applied}, {self.keys_checked} key checks, "
            f"{len(self.violations)} violations, {time.monotonic() - self.started:.1f} s"
        )


@dataclass
class Ledger:
    """What every key must hold, carried across kills and restarts (see the module docstring)."""

    state: dict[str, int] = field(default_factory=dict)
    """Present keys and the seq of the write they hold, as verified after the last run."""

    def judge(self, run: WriterRun, actual: dict[str, int], stats: CrashStats) -> list[str]:
        """Compare ``actual`` (present key → seq) with what ``run`` allows; returns the violations and
        makes ``actual`` the state the next run starts from."""
        problems: list[str] = []
        touched = {k for op in run.ops for k in (*op.puts, *op.deletes)}
        keys = set(self.state) | touched
        settled: dict[str, int | None] = {}
        for key in sorted(keys):
            last: int | None = self.state.get(key)
            last_seq = -1
            for op in run.acked:
                if op.touches(key):
                    last, last_seq = op.effect(key), op.seq
            settled[key] = last
            may = {last} | {op.effect(key) for op in run.pending if op.touches(key) and op.seq > last_seq}
            got = actual.get(key)
            stats.keys_checked += 1
            if got not in may:
                if got is None:
                    what = "an acknowledged write is missing (the key is absent)"
                elif last is None:
                    what = f"holds write {got} although an acknowledged delete (or no write) came after it"
                else:
                    what = f"holds write {got}, not the acknowledged write {last} (or an in-flight one)"
                problems.append(f"key {short(key)}: {what}; allowed {sorted(may, key=str)}")
        for key in sorted(set(actual) - keys):
            problems.append(f"key {short(key)}: phantom (holds write {actual[key]}, which no run made)")

        for op in run.pending:
            changed = [k for k in op.puts] + [k for k in op.deletes if settled.get(k) is not None]
            applied = [actual.get(k) == op.effect(k) for k in changed]
            if op.atomic and any(applied) and not all(applied):
                done = [short(k) for k, a in zip(changed, applied, strict=True) if a]
                keys_of_op = [short(k) for k in changed]
                problems.append(f"{op.name} #{op.seq} is torn: only {done} of {keys_of_op} happened")
            if changed and all(applied):
                stats.in_flight_applied += 1
            elif not any(applied):
                stats.in_flight_not_applied += 1

        stats.runs += 1
        stats.acked_ops += len(run.acked)
        stats.killed_mid_op += bool(run.pending)
        stats.violations.extend(problems)
        self.state = dict(actual)
        return problems


def kills(scenario: str, stats: CrashStats) -> Iterator[tuple[int, random.Random]]:
    """``(kill number, its seeded generator)`` for up to :data:`RUNS` kills, within the time budget."""
    for round_ in range(RUNS):
        if stats.over_budget():
            return
        yield round_, round_rng(scenario, round_)


def short(key: str) -> str:
    """``key`` for a message: its repr, cut short when long."""
    text = repr(key)
    return text if len(text) <= 40 else f"{text[:30]}…({len(key)} chars)"


def round_rng(scenario: str, round_: int) -> random.Random:
    """The seeded generator of one kill (its delay and the writer's own seed)."""
    return random.Random(f"{SEED}:{scenario}:{round_}")


def kill_writer_once(module: str, directory: Path, rng: random.Random, first_seq: int) -> WriterRun:
    """One life of a writer on ``directory``: started with its own seed from ``rng``, numbering its
    operations from ``first_seq``, killed a seeded 0-0.4 s after a seeded number of acknowledgements."""
    seed = str(rng.randrange(2**32))
    return run_writer(
        module,
        [str(directory), seed, str(first_seq)],
        kill_after=kill_delay(rng, 0.4),
        after_acks=kill_point(rng),
    )


def failure_report(round_: int, run: WriterRun, problems: list[str]) -> str:
    """What an assertion says when a kill left a bad store: the seed and kill that replay it."""
    return (
        f"kill {round_} (CAP_CRASH_SEED={SEED}, {run.kill_after:.3f} s after ready, "
        f"in flight: {[(op.name, op.seq) for op in run.pending]}):\n" + "\n".join(problems)
    )


def assert_kills_did_work(stats: CrashStats, *, mostly_mid_op: bool = True) -> None:
    """The sweep proved something: enough kills, work acknowledged before them and (unless the
    scenario says its kills may land between operations) most of them in the middle of one."""
    print(stats.summary())
    assert stats.runs >= MIN_RUNS
    assert stats.acked_ops > stats.runs, "the writers got work done before they were killed"
    if mostly_mid_op:
        assert stats.killed_mid_op > stats.runs // 2, "most kills landed in the middle of an operation"


def survives_kills(scenario: str, writer: str, directory: Path, read_back: ReadBack) -> CrashStats:
    """The key-value crash sweep shared by KV, R2 and Durable Object storage: kill ``writer`` (a
    module name) on ``directory`` again and again, after each kill reopen the store with
    ``read_back`` and judge it with a :class:`Ledger` carried across lives; fail on the first bad
    store, naming the seed and kill, and check the sweep did its work."""
    ledger, stats = Ledger(), CrashStats(scenario)
    next_seq = 0
    for round_, rng in kills(scenario, stats):
        run = kill_writer_once(writer, directory, rng, next_seq)
        next_seq = run.ops[-1].seq + 1 if run.ops else next_seq
        state, problems = asyncio.run(read_back(directory))
        problems += ledger.judge(run, state, stats)
        assert not problems, failure_report(round_, run, problems)
    assert_kills_did_work(stats)
    return stats
