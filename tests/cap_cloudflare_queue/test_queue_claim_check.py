"""Claim-check: bodies over the threshold travel through blob storage and are deleted once acked."""

from __future__ import annotations

import hashlib
import os
import secrets
from typing import TYPE_CHECKING, Any

import opendal
import pytest

from cap_cloudflare_queue import BlobStore, ClaimCheck, MessageBatch, MessageSendRequest, Queue, QueueConsumer
from cap_opendal_core.errors import (
    BackendError,
    InvalidInput,
    LimitExceeded,
    NotFound,
    RateLimited,
    Unavailable,
)
from tests.support.cf_api import CloudflareApi, Fault
from tests.support.cf_queue_api import QueueApi

if TYPE_CHECKING:
    from pathlib import Path

    from cap_opendal_core.layers import LayerSettings
    from tests.support.clock import FakeClock

pytestmark = pytest.mark.anyio

FIVE_MB = 5 * 1024 * 1024
KEY = secrets.token_hex(32)  # the producer's and the consumers' shared claim-check key


def _stored(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


async def _noop(batch: MessageBatch) -> None:
    return None


async def test_a_5_mb_body_round_trips_through_the_local_queue_and_an_opendal_fs_store(
    tmp_path: Path, clock: FakeClock, quiet: LayerSettings
) -> None:
    blobs = tmp_path / "blobs"
    blobs.mkdir()
    store = opendal.AsyncOperator("fs", root=str(blobs))
    body = os.urandom(FIVE_MB)
    q = Queue.local(
        tmp_path / "q", "big", clock=clock, settings=quiet, claim_check=ClaimCheck(store, key=KEY)
    )
    c = QueueConsumer.local(
        tmp_path / "q", "big", clock=clock, settings=quiet, claim_check=ClaimCheck(store, key=KEY)
    )
    async with q, c:
        await q.send(body, content_type="bytes")
        files = _stored(blobs)
        assert len(files) == 1, "the body went to storage"
        assert files[0].stat().st_size == FIVE_MB
        assert str(files[0].relative_to(blobs)).startswith("cap-queue/big/")

        batch = await c.pull()
        (message,) = batch.messages
        assert message.body == body
        assert message.content_type == "json", "the queue itself carried only the reference"
        assert message.claim_key == str(files[0].relative_to(blobs))
        await batch.process(_noop)
        assert _stored(blobs) == [], "the stored body is gone once the message is acked"


async def test_retried_messages_keep_their_body_until_acked(
    tmp_path: Path, clock: FakeClock, quiet: LayerSettings
) -> None:
    store = opendal.AsyncOperator("memory")
    cc = ClaimCheck(store, key=KEY, threshold=1_000)
    q = Queue.local(tmp_path, "jobs", clock=clock, settings=quiet, claim_check=cc)
    c = QueueConsumer.local(tmp_path, "jobs", clock=clock, settings=quiet, claim_check=cc)
    doc = {"rows": [{"i": i, "text": "x" * 50} for i in range(100)]}
    async with q, c:
        await q.send_batch([MessageSendRequest(doc), MessageSendRequest("small")])
        first = await c.pull()
        big = next(m for m in first if m.claim_key is not None)
        assert big.claim_key is not None
        assert big.body == doc
        assert next(m for m in first if m.claim_key is None).body == "small"

        async def fail(batch: MessageBatch) -> None:
            raise RuntimeError("not yet")

        with pytest.raises(RuntimeError):
            await first.process(fail)
        assert await store.read(big.claim_key), "still stored while the message may come back"
        second = await c.pull()
        assert {m.body == doc for m in second} == {True, False}
        await second.process(_noop)
        with pytest.raises(opendal.exceptions.NotFound):
            await store.read(big.claim_key)


class R2ShapedStore:
    """A store with R2Bucket's shape: ``get`` returns ``None`` or a body object with ``async read()``."""

    class Body:
        def __init__(self, data: bytes) -> None:
            self._data = data

        async def read(self) -> bytes:
            return self._data

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    async def put(self, key: str, value: bytes, *, http_metadata: Any = None) -> None:
        self.objects[key] = bytes(value)

    async def get(self, key: str, *, range: Any = None) -> R2ShapedStore.Body | None:
        data = self.objects.get(key)
        return None if data is None else self.Body(data)

    async def delete(self, key: str) -> None:
        self.objects.pop(key, None)


async def test_an_r2_bucket_shaped_store_satisfies_the_protocol(tmp_path: Path, quiet: LayerSettings) -> None:
    store = R2ShapedStore()
    assert isinstance(store, BlobStore)
    cc = ClaimCheck(store, key=KEY)
    async with (
        Queue.local(tmp_path, "r2", settings=quiet, claim_check=cc) as q,
        QueueConsumer.local(tmp_path, "r2", settings=quiet, claim_check=cc) as c,
    ):
        text = "é" * 200_000
        await q.send(text, content_type="text")
        assert len(store.objects) == 1
        batch = await c.pull()
        assert batch.messages[0].body == text
        await batch.process(_noop)
        assert store.objects == {}


async def test_consumers_without_the_store_or_with_a_bad_blob_fail_the_message_not_the_batch(
    tmp_path: Path, clock: FakeClock, quiet: LayerSettings
) -> None:
    store = R2ShapedStore()
    cc = ClaimCheck(store, key=KEY, threshold=100)
    async with Queue.local(tmp_path, "jobs", clock=clock, settings=quiet, claim_check=cc) as q:
        await q.send("x" * 500, content_type="text")
        async with QueueConsumer.local(tmp_path, "jobs", clock=clock, settings=quiet) as blind:
            batch = await blind.pull()
            reference = batch.messages[0].body  # unverifiable without the key: an ordinary body
            assert reference["cap.claim_check"] == 2
            assert batch.messages[0].claim_key is None
            batch.retry_all()
            await batch.settle()
        async with QueueConsumer.local(tmp_path, "jobs", clock=clock, settings=quiet, claim_check=cc) as c:
            (key,) = store.objects
            store.objects[key] = b"tampered" + store.objects[key][8:]
            batch = await c.pull()
            with pytest.raises(BackendError, match="does not match its reference"):
                _ = batch.messages[0].body
            batch.retry_all()
            await batch.settle()
            del store.objects[key]
            batch = await c.pull()
            assert batch.messages[0].attempts == 3
            with pytest.raises(NotFound, match="missing from storage"):
                _ = batch.messages[0].body


async def test_without_a_claim_check_oversized_bodies_are_refused(
    tmp_path: Path, quiet: LayerSettings
) -> None:
    async with Queue.local(tmp_path, "jobs", settings=quiet) as q:
        with pytest.raises(LimitExceeded, match="claim_check"):
            await q.send(b"x" * 200_000, content_type="bytes")


async def test_stored_bodies_of_definitely_refused_sends_are_removed(tmp_path: Path) -> None:
    from cap_cloudflare_queue import CloudflareQueueConfig
    from cap_opendal_core.layers import LayerSettings

    store = R2ShapedStore()
    with CloudflareApi() as api:
        QueueApi(api, queue_ids=("q1",))
        config = CloudflareQueueConfig(
            account_id=api.account_id,
            queue_id="q1",
            queue_name="jobs",
            api_token=api.token,
            base_url=api.base_url,
        )
        async with Queue.from_config(
            config, settings=LayerSettings(logging=False), claim_check=ClaimCheck(store, key=KEY)
        ) as q:
            api.inject(Fault(status=429, errors=[{"code": 10250, "message": "QueueOverloaded"}]))
            with pytest.raises(RateLimited):
                await q.send("y" * 300_000, content_type="text")
            assert store.objects == {}, "the queue refused it: nothing refers to the stored body"
            api.inject(Fault(status=502))
            with pytest.raises(Unavailable):
                await q.send("y" * 300_000, content_type="text")
            assert len(store.objects) == 1, "the message may be in the queue: its body must stay"
            await q.send("z" * 300_000, content_type="text")
            assert len(store.objects) == 2
            assert len(api.requests) == 3


async def test_claim_check_arguments(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="store"):
        ClaimCheck(object())
    with pytest.raises(InvalidInput, match="threshold"):
        ClaimCheck(R2ShapedStore(), key=KEY, threshold=200_000)
    with pytest.raises(InvalidInput, match="threshold"):
        ClaimCheck(R2ShapedStore(), key=KEY, threshold=0)
    with pytest.raises(InvalidInput, match="claim_check"):
        Queue.local(tmp_path, "jobs", claim_check=R2ShapedStore())  # type: ignore[arg-type]
    cc = ClaimCheck(R2ShapedStore(), key=KEY, prefix="p/")
    reference = cc.reference("jobs", b"abc", "bytes")
    assert reference.key.startswith("p/jobs/")
    assert reference.sha256 == hashlib.sha256(b"abc").hexdigest()


async def test_bodies_under_the_threshold_stay_in_the_message(tmp_path: Path, quiet: LayerSettings) -> None:
    store = R2ShapedStore()
    async with Queue.local(tmp_path, "jobs", settings=quiet, claim_check=ClaimCheck(store, key=KEY)) as q:
        await q.send({"small": True})
    assert store.objects == {}
