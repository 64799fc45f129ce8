"""Issue 17: a capability built once and called through ``asyncio.run(...)`` per request — what a
Flask view or a Celery task does — works on every call, and each loop's connections are closed
when that loop shuts down.

Each test builds one object outside any event loop, then runs several calls, each in its own
``asyncio.run``, against a real server: the REST stand-ins for KV and Queues, the gateway Worker in
Miniflare, and moto's S3 for R2 (multipart through httpx, GET through the hand-written HTTP/1.1
pool). Before the client kept a pool per loop, the second call failed with "Event loop is closed".
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from cap_cloudflare_do import DurableObjectNamespace
from cap_cloudflare_kv import CloudflareKvConfig, KvNamespace
from cap_cloudflare_queue import CloudflareQueueConfig, Queue, QueueConsumer
from cap_cloudflare_r2 import R2Bucket
from cap_opendal_core.layers import LayerSettings
from tests.support.cf_api import CloudflareApi
from tests.support.cf_kv_api import ACCOUNT_ID, NAMESPACE_ID, kv_api_server
from tests.support.cf_queue_api import QueueApi

if TYPE_CHECKING:
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
        config = CloudflareKvConfig(
            account_id=ACCOUNT_ID,
            namespace_id=NAMESPACE_ID,
            api_token=state.api.token,
            base_url=state.api.base_url,
            timeout=10.0,
        )
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
        QueueApi(api, queue_ids=(QUEUE_ID,))
        config = CloudflareQueueConfig(
            account_id=api.account_id,
            queue_id=QUEUE_ID,
            api_token=api.token,
            base_url=api.base_url,
            timeout=10.0,
        )
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
