"""End-to-end throughput of the local queue: send in batches of 100, consume with acks.

Run: ``.venv/bin/python benchmarks/bench_queue.py [--messages N] [--repeats R] [--strict]``

Each repeat runs three cases on a fresh directory, rotating which goes first:

* **capability** — ``Queue.local`` sends ``N`` small JSON messages with ``send_batch`` (100 per call)
  while ``QueueConsumer.local(...).run(handler, concurrency=2, batch_size=100)`` consumes them in the
  same process; the handler reads every body and returns (so every message is acked). The clock runs
  from the first send to the last ack. Default layers, with structlog filtering INFO out (a production
  logging setup); everything goes through the pipeline and the worker thread that SQLite needs.
* **baseline** — the same work done directly with ``sqlite3``, interleaved as the capability does it:
  a producer thread inserts 100 rows per transaction while two consumer threads (``concurrency=2``)
  lease 100 per transaction, decode the bodies and delete them per transaction, each thread with its
  own connection to one WAL database (same schema and pragmas): the floor the capability's own
  overhead sits on.
* **sequential** (context) — the earlier baseline: everything inserted first, then consumed, in one
  thread; not the same work (no contention between sending and consuming), so it is shown only beside.

Goal (issue 5): at least 5,000 messages/s end to end (Cloudflare's per-queue ceiling). The table shows
the median and spread (min..max) over the repeats. ``--profile`` runs the capability case once under
cProfile and prints the top functions. ``--strict`` makes a MISS exit non-zero.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import anyio
import structlog

from cap_cloudflare_queue import MessageBatch, MessageSendRequest, Queue, QueueConsumer

GOAL = 5_000.0
BATCH = 100


def _body(i: int) -> dict[str, object]:
    return {"i": i, "kind": "event", "payload": "x" * 48}


async def capability(n: int, directory: Path) -> float:
    consumed = 0
    done = anyio.Event()

    async def handler(batch: MessageBatch) -> None:
        nonlocal consumed
        for message in batch:
            _ = message.body
        consumed += len(batch)
        if consumed >= n:
            done.set()

    async with Queue.local(directory, "bench") as q, QueueConsumer.local(directory, "bench") as c:
        started = time.perf_counter()
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: c.run(handler, concurrency=2, batch_size=BATCH))
            for start in range(0, n, BATCH):
                await q.send_batch(
                    [MessageSendRequest(_body(i)) for i in range(start, min(n, start + BATCH))]
                )
            await done.wait()
            elapsed = time.perf_counter() - started
            tg.cancel_scope.cancel()
    assert consumed == n, consumed
    return n / elapsed


_SCHEMA = (
    "CREATE TABLE messages (seq INTEGER PRIMARY KEY, queue TEXT NOT NULL, id TEXT NOT NULL UNIQUE, "
    "body BLOB NOT NULL, content_type TEXT NOT NULL, timestamp_ms INTEGER NOT NULL, "
    "visible_at_ms INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, lease_id TEXT);"
    "CREATE INDEX messages_ready ON messages (queue, visible_at_ms, seq);"
)


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    return conn


def _produce(conn: sqlite3.Connection, n: int) -> None:
    for start in range(0, n, BATCH):
        now = int(time.time() * 1000)
        rows = [
            ("bench", uuid.uuid4().hex, json.dumps(_body(i)).encode(), "json", now, now)
            for i in range(start, min(n, start + BATCH))
        ]
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(
            "INSERT INTO messages (queue, id, body, content_type, timestamp_ms, visible_at_ms) "
            "VALUES (?,?,?,?,?,?)",
            rows,
        )
        conn.execute("COMMIT")


def _consume_batch(conn: sqlite3.Connection) -> int:
    """Lease up to a batch (one transaction), decode the bodies, delete them (another): 0 when empty."""
    now = int(time.time() * 1000)
    conn.execute("BEGIN IMMEDIATE")
    got = conn.execute(
        "SELECT seq, id, body FROM messages WHERE queue = ? AND visible_at_ms <= ? "
        "ORDER BY visible_at_ms, seq LIMIT ?",
        ("bench", now, BATCH),
    ).fetchall()
    conn.executemany(
        "UPDATE messages SET attempts = attempts + 1, lease_id = ?, visible_at_ms = ? WHERE seq = ?",
        [(uuid.uuid4().hex, now + 30_000, seq) for seq, _, _ in got],
    )
    conn.execute("COMMIT")
    if not got:
        return 0
    for _, _, body in got:
        json.loads(body)
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany("DELETE FROM messages WHERE id = ?", [(message_id,) for _, message_id, _ in got])
    conn.execute("COMMIT")
    return len(got)


def baseline(n: int, directory: Path) -> float:
    """The capability's work done with sqlite3 directly, interleaved as the capability does it: one
    producer thread sends batches of 100 while two consumer threads lease, decode and delete batches
    of 100 at the same time (the capability's ``run(concurrency=2)``), each with its own connection
    to one WAL database. An empty lease backs off 1 ms, as a poller must."""
    import threading

    path = directory / "baseline.sqlite3"
    setup = _connect(path)
    setup.executescript(_SCHEMA)
    setup.close()
    consumed = 0
    lock = threading.Lock()
    errors: list[BaseException] = []

    def consumer() -> None:
        nonlocal consumed
        conn = _connect(path)
        try:
            while True:
                with lock:
                    if consumed >= n:
                        return
                got = _consume_batch(conn)
                if got:
                    with lock:
                        consumed += got
                else:
                    time.sleep(0.001)
        except BaseException as exc:  # reported below: a silent dead thread would hang the run
            errors.append(exc)
            raise
        finally:
            conn.close()

    producer_conn = _connect(path)
    started = time.perf_counter()
    consumers = [threading.Thread(target=consumer) for _ in range(2)]
    for t in consumers:
        t.start()
    _produce(producer_conn, n)
    for t in consumers:
        t.join(timeout=600)
    elapsed = time.perf_counter() - started
    producer_conn.close()
    if errors or consumed != n:
        raise RuntimeError(f"baseline consumed {consumed} of {n}: {errors!r}")
    return n / elapsed


def baseline_sequential(n: int, directory: Path) -> float:
    """The earlier baseline, for context: everything sent first, then consumed, one thread."""
    conn = _connect(directory / "sequential.sqlite3")
    conn.executescript(_SCHEMA)
    started = time.perf_counter()
    _produce(conn, n)
    consumed = 0
    while consumed < n:
        consumed += _consume_batch(conn)
    elapsed = time.perf_counter() - started
    conn.close()
    return n / elapsed


def quiet_logging() -> None:
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING), cache_logger_on_first_use=True
    )


def profile(n: int) -> None:
    import cProfile
    import pstats

    with tempfile.TemporaryDirectory() as tmp:
        profiler = cProfile.Profile()
        profiler.enable()
        anyio.run(capability, n, Path(tmp))
        profiler.disable()
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)


def measure(messages: int, repeats: int) -> dict[str, list[float]]:
    """Messages/s of the capability, the interleaved raw-SQLite baseline and the sequential one, one
    figure per repeat each; the cases rotate which goes first, each on a fresh directory."""
    cases = ("capability", "baseline", "sequential")
    results: dict[str, list[float]] = {case: [] for case in cases}
    for repeat in range(repeats):
        shift = repeat % len(cases)
        for case in cases[shift:] + cases[:shift]:
            with tempfile.TemporaryDirectory() as tmp:
                if case == "capability":
                    rate = anyio.run(capability, messages, Path(tmp))
                elif case == "baseline":
                    rate = baseline(messages, Path(tmp))
                else:
                    rate = baseline_sequential(messages, Path(tmp))
            results[case].append(rate)
            print(f"repeat {repeat + 1}: {case:10s} {rate:10,.0f} msg/s", file=sys.stderr)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--strict", action="store_true", help="exit 1 when the goal is missed")
    parser.add_argument("--profile", action="store_true", help="profile one capability run instead")
    args = parser.parse_args()
    quiet_logging()
    if args.profile:
        profile(args.messages)
        return 0

    results = measure(args.messages, args.repeats)

    print(f"\nLocal queue, {args.messages:,} messages, batches of {BATCH}, {args.repeats} repeats")
    print(f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, {platform.machine()}\n")
    print("| case | median msg/s | spread (min..max) | goal | result |")
    print("| --- | ---: | --- | ---: | --- |")
    missed = False
    for case, rates in results.items():
        median = statistics.median(rates)
        spread = f"{min(rates):,.0f}..{max(rates):,.0f}"
        if case == "capability":
            ok = median >= GOAL
            missed = not ok
            verdict = "PASS" if ok else "MISS"
            print(
                f"| send_batch + run/ack (capability) | {median:,.0f} | {spread} | {GOAL:,.0f} | {verdict} |"
            )
        elif case == "baseline":
            print(f"| raw sqlite3, same interleaved work (baseline) | {median:,.0f} | {spread} | | |")
        else:
            print(f"| raw sqlite3, send all then consume (context) | {median:,.0f} | {spread} | | |")
    ratio = statistics.median(results["capability"]) / statistics.median(results["baseline"])
    print(f"\nThe capability runs at {ratio:.0%} of the raw-SQLite baseline.")
    return 1 if missed and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
