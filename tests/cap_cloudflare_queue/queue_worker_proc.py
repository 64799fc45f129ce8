"""A consumer process for test_queue_processes.py (run as a script, never imported by pytest).

    python queue_worker_proc.py crash   QUEUE_DIR CLOCK_FILE LOG_FILE READY_FILE
    python queue_worker_proc.py consume QUEUE_DIR CLOCK_FILE LOG_FILE READY_FILE GO_FILE

``crash`` pulls a batch of 20, acks the first 10 one by one (logging each), says it is ready and then
hangs until the test kills it with SIGKILL. ``consume`` waits for GO_FILE, then runs
``QueueConsumer.run`` with two workers, logging ``id start end`` per message, until the queue is empty.
Both read the time from CLOCK_FILE, which only the test moves, so leases expire when the test says.
"""

from __future__ import annotations

import os
import sqlite3
import sys
import time
from pathlib import Path

import anyio

from cap_cloudflare_queue import MessageBatch, QueueConsumer
from cap_opendal_core.layers import LayerSettings

QUIET = LayerSettings(logging=False)


class FileClock:
    def __init__(self, path: str) -> None:
        self.path = Path(path)

    def __call__(self) -> float:
        return float(self.path.read_text())


def write(path: str, text: str) -> None:
    Path(path).write_text(text)


def exists(path: str) -> bool:
    return Path(path).exists()


def log_line(path: str, line: str) -> None:
    with open(path, "a") as f:
        f.write(line + "\n")
        f.flush()
        os.fsync(f.fileno())


async def crash(queue_dir: str, clock_file: str, log_file: str, ready_file: str) -> None:
    consumer = QueueConsumer.local(queue_dir, "work", clock=FileClock(clock_file), settings=QUIET)
    batch = await consumer.pull(batch_size=20, visibility_timeout=30)
    for message in batch.messages[:10]:
        await consumer.ack(message)
        log_line(log_file, f"{message.body} {message.attempts}")
    write(ready_file, str(len(batch)))
    await anyio.sleep(120)  # mid-batch: the test kills us here


async def consume(queue_dir: str, clock_file: str, log_file: str, ready_file: str, go_file: str) -> None:
    consumer = QueueConsumer.local(queue_dir, "work", clock=FileClock(clock_file), settings=QUIET)
    pid = os.getpid()

    async def handler(batch: MessageBatch) -> None:
        for message in batch:
            start = time.monotonic()
            await anyio.sleep(0.002)
            log_line(log_file, f"{message.body} {message.attempts} {pid} {start} {time.monotonic()}")

    def remaining() -> int:
        with sqlite3.connect(Path(queue_dir) / "queues.sqlite3") as conn:
            return int(conn.execute("SELECT count(*) FROM messages WHERE queue = 'work'").fetchone()[0])

    write(ready_file, "ready")
    while not exists(go_file):  # noqa: ASYNC110  (the test process creates it)
        await anyio.sleep(0.005)
    async with consumer, anyio.create_task_group() as tg:
        tg.start_soon(lambda: consumer.run(handler, concurrency=2, batch_size=10, shutdown_grace=5))
        while remaining():  # noqa: ASYNC110  (other processes' acks)
            await anyio.sleep(0.01)
        tg.cancel_scope.cancel()


if __name__ == "__main__":
    mode, *args = sys.argv[1:]
    if mode == "crash":
        anyio.run(crash, args[0], args[1], args[2], args[3])
    else:
        anyio.run(consume, args[0], args[1], args[2], args[3], args[4])
