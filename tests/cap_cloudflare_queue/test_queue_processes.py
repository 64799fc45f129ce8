"""The local queue across real processes: consumers killed with SIGKILL lose nothing, and two consumer
processes sharing a queue never hold (or handle) the same message at once.

Time is a file both sides read (``queue_worker_proc.FileClock``), so leases expire when the test moves it,
without sleeping.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from cap_cloudflare_queue import MessageSendRequest, Queue, QueueConsumer
from cap_opendal_core.layers import LayerSettings

pytestmark = pytest.mark.anyio

WORKER = Path(__file__).with_name("queue_worker_proc.py")
QUIET = LayerSettings(logging=False)
START = 1_700_000_000.0


class FileClock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.set(START)

    def __call__(self) -> float:
        return float(self.path.read_text())

    def set(self, value: float) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(repr(value))
        tmp.replace(self.path)  # readers never see a half-written number

    def advance(self, seconds: float) -> None:
        self.set(self() + seconds)


def _spawn(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, str(WORKER), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


def _wait_for(path: Path, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            _, err = proc.communicate()
            pytest.fail(f"the worker exited early ({proc.returncode}):\n{err.decode()[-2000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"the worker did not get ready within {timeout} s")
        time.sleep(0.01)


def _log(path: Path) -> list[list[str]]:
    return [line.split() for line in path.read_text().splitlines()] if path.exists() else []


async def test_consumers_killed_mid_batch_lose_nothing(tmp_path: Path) -> None:
    clock = FileClock(tmp_path / "clock")
    qdir = tmp_path / "q"
    async with Queue.local(qdir, "work", clock=clock, settings=QUIET) as q:
        await q.send_batch([MessageSendRequest(i) for i in range(60)])

    acked_by_killed: list[list[str]] = []
    for round_ in range(2):
        log, ready = tmp_path / f"log{round_}", tmp_path / f"ready{round_}"
        proc = _spawn("crash", str(qdir), str(clock.path), str(log), str(ready))
        try:
            _wait_for(ready, proc)
            assert ready.read_text() == "20"
        finally:
            os.kill(proc.pid, signal.SIGKILL)
            proc.communicate(timeout=10)
        assert proc.returncode == -signal.SIGKILL
        acked_by_killed.extend(_log(log))
    assert len(acked_by_killed) == 20

    clock.advance(30)  # the killed consumers' leases run out
    drained: list[tuple[int, int]] = []
    async with QueueConsumer.local(qdir, "work", clock=clock, settings=QUIET) as c:
        while batch := await c.pull(batch_size=100):
            drained.extend((m.body, m.attempts) for m in batch)
            await c.ack(batch.messages)
    acked = [int(body) for body, _ in acked_by_killed]
    assert sorted(acked + [body for body, _ in drained]) == list(range(60)), "every message, exactly once"
    attempts = Counter(a for _, a in drained)
    assert attempts == {2: 20, 1: 20}, "the 20 held by killed consumers came back with attempts + 1"


async def test_two_consumer_processes_never_handle_one_message_concurrently(tmp_path: Path) -> None:
    clock = FileClock(tmp_path / "clock")
    qdir = tmp_path / "q"
    async with Queue.local(qdir, "work", clock=clock, settings=QUIET) as q:
        await q.send_batch([MessageSendRequest(i) for i in range(300)])

    go = tmp_path / "go"
    procs = []
    for n in range(2):
        procs.append(
            _spawn(
                "consume",
                str(qdir),
                str(clock.path),
                str(tmp_path / f"log{n}"),
                str(tmp_path / f"ready{n}"),
                str(go),
            )
        )
    try:
        for n, proc in enumerate(procs):
            _wait_for(tmp_path / f"ready{n}", proc)
        go.write_text("go")
        for proc in procs:
            _, err = proc.communicate(timeout=60)
            assert proc.returncode == 0, err.decode()[-2000:]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()

    records = [row for n in range(2) for row in _log(tmp_path / f"log{n}")]
    handled = Counter(int(body) for body, *_ in records)
    assert sorted(handled) == list(range(300))
    assert set(handled.values()) == {1}, (
        "no message was handled twice (leases are exclusive across processes)"
    )
    assert all(attempts == "1" for _, attempts, *_ in records)
    per_process = Counter(pid for _, _, pid, *_ in records)
    assert len(per_process) == 2, f"both processes took part: {dict(per_process)}"
