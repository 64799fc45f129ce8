"""Run by ``test_local_fs_edges.py`` as ``python -m tests.reliability.space_writer DIR``: writes that
fail for space, on every local store, in a real process under ``RLIMIT_FSIZE``.

A file-size limit is the one way to make ``write()`` fail for space without root or a small disk:
with ``SIGXFSZ`` ignored, a write past the limit fails with ``EFBIG`` (the same path in every store as
``ENOSPC``). Each scenario writes a small value, lowers the soft limit, tries a write over it,
snapshots the directory, raises the limit again (as freeing space would) and retries the same write.
One JSON line per scenario on stdout; the test judges them.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

from cap_cloudflare_do import DurableObjectNamespace
from cap_cloudflare_kv import KvNamespace
from cap_cloudflare_queue import MessageSendRequest, Queue, QueueConsumer
from cap_cloudflare_r2 import R2Bucket
from cap_opendal_core import LayerSettings
from tests.cap_cloudflare_do.objects import Box

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable

LIMIT = 64 * 1024
BIG = 256 * 1024
QUIET = LayerSettings(logging=False)


def files(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_size for p in sorted(root.rglob("*")) if p.is_file()}


async def chunks() -> AsyncIterator[bytes]:
    for _ in range(BIG // 16384):
        yield b"s" * 16384


async def scenario(
    name: str, root: Path, write: Callable[[], Awaitable[Any]], read: Callable[[], Awaitable[Any]]
) -> None:
    before = files(root)
    resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT, resource.RLIM_INFINITY))
    try:
        await write()
        error: dict[str, Any] | None = None
    except Exception as exc:
        error = {"type": type(exc).__name__, "message": str(exc)}
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    after_failure = files(root)
    seen_after_failure = await read()
    await write()  # space is back: the same write must now succeed
    report = {
        "scenario": name,
        "error": error,
        "before": before,
        "after_failure": after_failure,
        "seen_after_failure": seen_after_failure,
        "seen_after_retry": await read(),
    }
    print(json.dumps(report), flush=True)


async def main(base: Path) -> None:
    kv = KvNamespace.local(base / "kv", settings=QUIET)
    await kv.put("small", "x")
    await scenario(
        "kv.put",
        base / "kv",
        lambda: kv.put("big", b"k" * BIG),
        lambda: _size(kv.get("big", "bytes")),
    )

    r2 = R2Bucket.local(base / "r2", settings=QUIET)
    await r2.put("small", b"x")
    await scenario("r2.put", base / "r2", lambda: r2.put("big", b"r" * BIG), lambda: _r2_size(r2, "big"))
    await scenario(
        "r2.put(stream)", base / "r2", lambda: r2.put("streamed", chunks()), lambda: _r2_size(r2, "streamed")
    )

    queue = Queue.local(base / "queue", "jobs", settings=QUIET)
    await queue.send("small")
    consumer = QueueConsumer.local(base / "queue", "jobs", settings=QUIET)
    await scenario(
        "queue.send_batch",
        base / "queue",
        lambda: queue.send_batch([MessageSendRequest("q" * 100_000) for _ in range(3)]),
        lambda: _queued(consumer),
    )

    namespace = DurableObjectNamespace.local(base / "do", Box, settings=QUIET)
    async with namespace:
        stub = namespace.get(namespace.id_from_name("box"))
        await stub.call("put", "small", "x")
        await scenario(
            "do.put",
            base / "do",
            lambda: stub.call("put", "big", "d" * BIG),
            lambda: _size(stub.call("get", "big")),
        )


async def _size(value: Awaitable[Any]) -> int | None:
    got = await value
    return None if got is None else len(got)


async def _r2_size(bucket: R2Bucket, key: str) -> int | None:
    found = await bucket.get(key)
    return None if found is None else len(await found.read())


async def _queued(consumer: QueueConsumer) -> int:
    """Big messages delivered (and kept leased): the failed batch must have sent none."""
    batch = await consumer.pull(batch_size=100, visibility_timeout=3600)
    return sum(1 for message in batch.messages if message.body != "small")


if __name__ == "__main__":
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # write() then fails with EFBIG instead of killing us
    os.umask(0o022)
    anyio.run(main, Path(sys.argv[1]))
