"""The local queue survives SIGKILL of a process that produces and consumes at random points.

A writer (:mod:`.crash_writers.queue_writer`) sends single messages and batches, pulls, acks and
retries on one queue until it is killed at a seeded random moment, often holding leases. The test then
drains the queue as a consumer whose clock is two days ahead (every lease of the dead process has run
out) and checks, message by message:

* **no acked message is redelivered**: nothing the writer saw acknowledged comes back;
* **no unacked message is lost**: every message whose send was acknowledged and that was not acked
  comes back — including those the dead process held leased — exactly once;
* the send or ack in flight at the kill happened for all its messages or for none (a batch is one
  transaction), and nothing comes back that was never sent;
* ``attempts`` counts every delivery: one more than the pulls the writer reported, or two more when a
  pull was in flight at the kill.

The drain acks everything, so each life starts on an empty queue in the same file. Supersedes, for
crash safety, the package's consumer-killed test (two fixed kills at one point); this one kills
producers and consumers at random points, many times.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import TYPE_CHECKING

from cap_cloudflare_queue import QueueConsumer
from cap_opendal_core.layers import LayerSettings

from .crash_writers.harness import CrashStats, assert_kills_did_work, failure_report, kill_writer_once, kills
from .crash_writers.queue_writer import MAX_RETRIES, QUEUE, id_of

if TYPE_CHECKING:
    from pathlib import Path

    from .crash_writers.harness import WriterRun

WRITER = "tests.reliability.crash_writers.queue_writer"
QUIET = LayerSettings(logging=False)


async def drain(directory: Path) -> list[tuple[str, int]]:
    """Every message left, as ``(id, attempts)``, acked as it is read: the queue ends empty."""

    def two_days_later() -> float:
        return time.time() + 2 * 86_400

    out: list[tuple[str, int]] = []
    async with QueueConsumer.local(
        directory, QUEUE, max_retries=MAX_RETRIES, clock=two_days_later, settings=QUIET
    ) as consumer:
        while batch := await consumer.pull(batch_size=100):
            out.extend((id_of(m.body), m.attempts) for m in batch)
            await consumer.ack(batch.messages)
    return out


def judge(run: WriterRun, drained: list[tuple[str, int]], stats: CrashStats) -> list[str]:
    problems: list[str] = []
    counts = Counter(message_id for message_id, _ in drained)
    problems += [f"message {m} came back {n} times" for m, n in counts.items() if n > 1]
    back = set(counts)
    sent: set[str] = set()
    acked: set[str] = set()
    in_flight_acks: set[str] = set()
    every_id: set[str] = set()
    for op in run.ops:
        if op.name.startswith("send"):
            every_id.update(op.puts)
            if op.acked:
                sent.update(op.puts)
        elif op.name == "ack":
            (acked if op.acked else in_flight_acks).update(op.deletes)
        if not op.acked and op.atomic and (op.puts or op.deletes):
            ids = set(op.puts) if op.name.startswith("send") else set(op.deletes)
            present = ids & back
            if present and present != ids:
                problems.append(
                    f"{op.name} #{op.seq} is torn: {len(present)} of its {len(ids)} messages remain"
                )
            if op.name.startswith("send"):
                stats.in_flight_applied += bool(present)
                stats.in_flight_not_applied += not present
            else:
                stats.in_flight_applied += not present
                stats.in_flight_not_applied += bool(present)
    redelivered = acked & back
    problems += [f"message {m} was acked, yet delivered again after the restart" for m in sorted(redelivered)]
    lost = sent - acked - in_flight_acks - back
    problems += [f"message {m} was sent and never acked, yet is gone" for m in sorted(lost)]
    problems += [f"message {m} was never sent" for m in sorted(back - every_id)]

    pulls: Counter[str] = Counter()
    for note in run.notes:
        pulls.update(note.get("pulled", ()))
    for message_id, attempts in drained:
        if not pulls[message_id] + 1 <= attempts <= pulls[message_id] + 2:
            problems.append(
                f"message {message_id}: attempts {attempts} after {pulls[message_id]} reported pulls"
            )
    stats.runs += 1
    stats.acked_ops += len(run.acked)
    stats.killed_mid_op += bool(run.pending)
    stats.keys_checked += len(every_id)
    stats.violations.extend(problems)
    return problems


def test_local_queue_survives_sigkill_at_random_points(tmp_path: Path) -> None:
    directory = tmp_path / "queues"
    stats = CrashStats("queue")
    next_seq = 0
    leased_at_kill = 0
    for round_, rng in kills("queue", stats):
        run = kill_writer_once(WRITER, directory, rng, next_seq)
        next_seq = run.ops[-1].seq + 1 if run.ops else next_seq + 1
        drained = asyncio.run(drain(directory))
        pulled = {m for note in run.notes for m in note.get("pulled", ())}
        leased_at_kill += len({m for m, _ in drained} & pulled)
        problems = judge(run, drained, stats)
        assert not problems, failure_report(round_, run, problems)
    assert_kills_did_work(stats, mostly_mid_op=False)
    print(f"{leased_at_kill} messages held by a killed consumer came back")
    assert leased_at_kill > 0, "some kills left messages leased to the dead consumer"
