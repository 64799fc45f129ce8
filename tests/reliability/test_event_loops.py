"""Issue 17: a capability built once and called through ``asyncio.run(...)`` per request — what a
Flask view or a Celery task does — works on every call, and each loop's connections are closed
when that loop shuts down.

Each test builds one object outside any event loop, then runs several calls, each in its own
``asyncio.run``, against a real server: the REST stand-ins for KV and Queues, the gateway Worker in
Miniflare, and moto's S3 for R2 (multipart through httpx, GET through the hand-written HTTP/1.1
pool). Before the client kept a pool per loop, the second call failed with "Event loop is closed".

The same object also works when the runs alternate between asyncio and trio (anyio's two backends),
except a backend on OpenDAL's AsyncOperator, which is refused under trio with ``Unsupported`` naming
it; and in a child forked after the parent built — and used — it (pre-fork servers): the child
opens its own connections, store session and sync portal and leaves the parent's alone.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from typing import TYPE_CHECKING, Any

import anyio
import pytest

from cap_cloudflare_do import DurableObject, DurableObjectNamespace
from cap_cloudflare_kv import KvNamespace
from cap_cloudflare_kv.sync import KvNamespace as SyncKvNamespace
from cap_cloudflare_queue import Queue, QueueConsumer
from cap_cloudflare_r2 import R2Bucket
from cap_opendal_core.errors import Unsupported
from cap_opendal_core.layers import LayerSettings
from tests.support.cf_api import CloudflareApi
from tests.support.cf_kv_api import kv_api_server
from tests.support.cf_queue_api import QueueApi

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from tests.support.do_gateway import GatewayServer
    from tests.support.moto_server import MotoS3

RUNS = 4
# no retries: a call that fails on a stale pool must show, not be papered over by a second attempt
SETTINGS = LayerSettings(logging=False, retry=None)
QUEUE_ID = "0123456789abcdef0123456789abcdef"


def _pool_of(backend_client: Any) -> Any:
    """The running loop's httpx client of core's HttpClient (None before its first request)."""
    return backend_client.current_pool()


def test_kv_rest_survives_one_event_loop_per_call() -> None:
    with kv_api_server() as state:
        config = state.config()
        kv = KvNamespace.from_config(config, settings=SETTINGS)

        async def call(i: int) -> tuple[Any, Any]:
            await kv.put("k", f"v{i}")
            return await kv.get("k"), _pool_of(kv._backend._api)  # type: ignore[attr-defined]

        pools = []
        for i in range(RUNS):
            value, pool = asyncio.run(call(i))
            assert value == f"v{i}"
            pools.append(pool)
        assert len({id(p) for p in pools}) == RUNS, "each loop has a pool of its own"
        assert all(p.is_closed for p in pools), "each pool was closed as its loop shut down"
        asyncio.run(kv.aclose())


def test_queue_rest_survives_one_event_loop_per_call() -> None:
    with CloudflareApi() as api:
        config = QueueApi(api, queue_ids=(QUEUE_ID,)).config()
        queue = Queue.from_config(config, settings=SETTINGS)
        consumer = QueueConsumer.from_config(config, settings=SETTINGS)

        async def send(i: int) -> Any:
            await queue.send({"n": i})
            return _pool_of(queue._backend.client._api)  # type: ignore[attr-defined]

        pools = [asyncio.run(send(i)) for i in range(RUNS)]
        assert all(p.is_closed for p in pools)

        async def pull() -> list[Any]:
            batch = await consumer.pull(batch_size=RUNS, visibility_timeout=30)
            bodies = [m.body for m in batch.messages]
            batch.ack_all()
            await batch.settle()
            return bodies

        received: list[Any] = []
        for _ in range(RUNS):
            received += asyncio.run(pull())
            if len(received) >= RUNS:
                break
        assert sorted(b["n"] for b in received) == list(range(RUNS))


def test_do_gateway_survives_one_event_loop_per_call(do_gateway: GatewayServer) -> None:
    namespace = DurableObjectNamespace.from_gateway(
        do_gateway.url, binding="COUNTER", token=do_gateway.token, settings=SETTINGS
    )

    async def call() -> tuple[Any, Any]:
        total = await namespace.get_by_name("event-loops").increment(1)
        return total, _pool_of(namespace._backend._http)  # type: ignore[attr-defined]

    results = [asyncio.run(call()) for _ in range(RUNS)]
    totals = [total for total, _ in results]
    assert totals == list(range(totals[0], totals[0] + RUNS))
    assert all(pool.is_closed for _, pool in results)


def test_r2_s3_survives_one_event_loop_per_call(moto_s3: MotoS3) -> None:
    bucket = R2Bucket.from_url(moto_s3.url(moto_s3.create_bucket()), settings=SETTINGS)

    async def call(i: int) -> tuple[bytes, Any]:
        upload = await bucket.create_multipart_upload(f"mp{i}")  # httpx, signed by S3Address
        part = await upload.upload_part(1, f"part {i}".encode())
        await upload.complete([part])
        got = await bucket.get(f"mp{i}")  # the HTTP/1.1 GET pool
        assert got is not None
        return await got.read(), _pool_of(bucket._backend._multipart._http)  # type: ignore[attr-defined]

    results = [asyncio.run(call(i)) for i in range(RUNS)]
    assert [data for data, _ in results] == [f"part {i}".encode() for i in range(RUNS)]
    assert all(pool.is_closed for _, pool in results)
    asyncio.run(bucket.aclose())


# -- both anyio backends: one object, alternately under asyncio and trio --------------------------------

BACKENDS = ("asyncio", "trio", "asyncio", "trio")


class Counter(DurableObject):
    async def increment(self, by: int) -> int:
        total = int(await self.storage.get("n") or 0) + by
        await self.storage.put("n", total)
        return total


def test_rest_and_gateway_clients_work_under_asyncio_and_trio_alternately(do_gateway: GatewayServer) -> None:
    with kv_api_server() as state, CloudflareApi() as api:
        kv = KvNamespace.from_config(
            state.config(),
            settings=SETTINGS,
        )
        queue = Queue.from_config(
            QueueApi(api, queue_ids=(QUEUE_ID,)).config(),
            settings=SETTINGS,
        )
        namespace = DurableObjectNamespace.from_gateway(
            do_gateway.url, binding="COUNTER", token=do_gateway.token, settings=SETTINGS
        )

        async def call(i: int) -> tuple[Any, Any, list[Any]]:
            await kv.put("k", f"v{i}")
            await queue.send({"n": i})
            total = await namespace.get_by_name("both-backends").increment(1)
            pools = [
                _pool_of(kv._backend._api),  # type: ignore[attr-defined]
                _pool_of(namespace._backend._http),  # type: ignore[attr-defined]
            ]
            return await kv.get("k"), total, pools

        results = [anyio.run(call, i, backend=backend) for i, backend in enumerate(BACKENDS)]
        assert [value for value, _, _ in results] == [f"v{i}" for i in range(len(BACKENDS))]
        totals = [total for _, total, _ in results]
        assert totals == list(range(totals[0], totals[0] + len(BACKENDS)))
        assert all(pool.is_closed for _, _, pools in results for pool in pools), "closed as each run ended"


def test_local_backends_work_under_asyncio_and_trio_alternately(tmp_path: Path) -> None:
    kv = KvNamespace.local(tmp_path / "kv", settings=SETTINGS)
    bucket = R2Bucket.local(tmp_path / "r2", settings=SETTINGS)
    queue = Queue.from_url(f"file://{tmp_path}/q/jobs", settings=SETTINGS)
    consumer = QueueConsumer.from_url(f"file://{tmp_path}/q/jobs", settings=SETTINGS)
    namespace = DurableObjectNamespace.local(tmp_path / "do", Counter, settings=SETTINGS)

    async def call(i: int) -> tuple[Any, ...]:
        await kv.put("k", f"v{i}")
        await bucket.put("k", f"b{i}".encode())
        await queue.send(i)
        batch = await consumer.pull(batch_size=5, visibility_timeout=30)
        batch.ack_all()
        await batch.settle()
        body = await bucket.get("k")
        assert body is not None
        total = await namespace.get_by_name("x").increment(1)
        return await kv.get("k"), await body.read(), [m.body for m in batch], total

    results = [anyio.run(call, i, backend=backend) for i, backend in enumerate(BACKENDS)]
    assert results == [(f"v{i}", f"b{i}".encode(), [i], i + 1) for i in range(len(BACKENDS))]


@pytest.mark.parametrize("build", ["kv", "r2"])
def test_an_opendal_backend_under_trio_is_refused_naming_the_backend(build: str) -> None:
    cap: Any = (
        KvNamespace.from_url("memory://", settings=SETTINGS)
        if build == "kv"
        else R2Bucket.from_url("memory://", settings=SETTINGS)
    )

    async def call() -> None:
        await cap.put("k", b"v")

    with pytest.raises(
        Unsupported, match=r"the (opendal|local) backend runs on OpenDAL's AsyncOperator.*asyncio"
    ):
        anyio.run(call, backend="trio")
    anyio.run(call, backend="asyncio")  # the same object, under asyncio: fine


# -- fork: a pre-fork server builds (and may use) the capability in the parent ------------------------


def _in_child(work: Callable[[], Any]) -> Any:
    """Run ``work`` in a forked child; return what it returned (or the text of what it raised)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report and leave without running the parent's exit handlers
        try:
            os.close(read_end)
            try:
                result: Any = ("ok", work())
            except BaseException as exc:
                result = ("error", f"{type(exc).__name__}: {exc}")
            os.write(write_end, json.dumps(result).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        data = pipe.read()
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status)
    assert os.WEXITSTATUS(status) == 0
    return json.loads(data)


def test_a_forked_child_uses_capabilities_the_parent_built_and_used(tmp_path: Path) -> None:
    with kv_api_server() as state:
        rest = KvNamespace.from_config(
            state.config(),
            settings=SETTINGS,
        )
        local = KvNamespace.local(tmp_path / "kv", settings=SETTINGS)
        queue = Queue.from_url(f"file://{tmp_path}/q/jobs", settings=SETTINGS)
        sync_kv = SyncKvNamespace(local)

        async def use(tag: str) -> list[Any]:
            await rest.put("k", tag)
            await local.put(tag, tag)
            await queue.send(tag)
            return [await rest.get("k"), await local.get(tag)]

        assert asyncio.run(use("parent")) == ["parent", "parent"]
        assert sync_kv.get("parent") == "parent"  # the portal thread runs in the parent

        def child() -> list[Any]:
            got = asyncio.run(use("child"))
            got.append(sync_kv.get("child"))  # a new portal thread, in the child
            sync_kv.put("from-child", "1")
            return got

        assert _in_child(child) == ["ok", ["child", "child", "child"]]
        # the parent's connections, store and portal are intact
        assert asyncio.run(use("parent-again")) == ["parent-again", "parent-again"]
        assert sync_kv.get("from-child") == "1"
        consumer = QueueConsumer.from_url(f"file://{tmp_path}/q/jobs", settings=SETTINGS)

        async def drain() -> list[Any]:
            batch = await consumer.pull(batch_size=10, visibility_timeout=30)
            return sorted(m.body for m in batch)

        assert asyncio.run(drain()) == ["child", "parent", "parent-again"]
        sync_kv.close()


_OPENDAL_FORK_SCRIPT = """
import asyncio, json, os, sys
from cap_cloudflare_kv import KvNamespace
from cap_opendal_core.layers import LayerSettings

async def put_get(kv):
    await kv.put("k", "v")
    return await kv.get("k")

def in_child(kv):
    pid = os.fork()
    if pid == 0:
        try:
            print(json.dumps(["ok", asyncio.run(put_get(kv))]), flush=True)
        except Exception as exc:
            print(json.dumps(["error", f"{type(exc).__name__}: {exc}"]), flush=True)
        os._exit(0)
    os.waitpid(pid, 0)

settings = LayerSettings(logging=False)
unused = KvNamespace.from_url("memory://", settings=settings)
in_child(unused)  # built before the fork, first used in the child (gunicorn --preload, no call at import)
used = KvNamespace.from_url("memory://", settings=settings)
print(json.dumps(["ok", asyncio.run(put_get(used))]), flush=True)  # OpenDAL's runtime now runs here
in_child(used)
"""


def test_opendal_in_a_child_forked_after_the_parent_used_it_is_refused_not_hung() -> None:
    # a fresh interpreter: this one has run OpenDAL already
    done = subprocess.run(
        [sys.executable, "-c", _OPENDAL_FORK_SCRIPT], capture_output=True, text=True, timeout=60, check=True
    )
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert lines[:2] == [["ok", "v"], ["ok", "v"]]
    assert lines[2][0] == "error"
    assert "Unsupported" in lines[2][1]
    assert "does not survive fork()" in lines[2][1]


def test_a_concurrency_limit_made_on_one_loop_holds_on_every_loop(tmp_path: Path) -> None:
    async def build() -> KvNamespace:  # built inside a loop, as a FastAPI lifespan does
        return KvNamespace.local(tmp_path, settings=LayerSettings(logging=False, retry=None, concurrency=2))

    kv = asyncio.run(build())

    async def fan_out(run: int) -> list[Any]:
        async def one(i: int) -> None:
            await kv.put(f"k{i}", str(run))

        async with anyio.create_task_group() as tg:
            for i in range(8):
                tg.start_soon(one, i)
        return [await kv.get(f"k{i}") for i in range(8)]

    for run, backend in enumerate(BACKENDS):
        assert anyio.run(fan_out, run, backend=backend) == [str(run)] * 8
