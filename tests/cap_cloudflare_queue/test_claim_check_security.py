"""Claim-check references cannot be forged: only what the SDK's producer made, with the consumer's key,
for this queue, under the ClaimCheck's prefix, is ever read or deleted.

The bucket is a real directory (OpenDAL ``fs``) that also holds the application's own objects — the
victims of a forged reference. Every storage call goes through :class:`Recording`, so "no I/O" is
asserted, not assumed. Attackers here can only enqueue JSON (a plain producer without the key), and
sometimes read the queue (so they hold genuine references to tamper with or replay).
"""

from __future__ import annotations

import hashlib
import secrets
from typing import TYPE_CHECKING, Any

import opendal
import pytest

from cap_cloudflare_queue import ClaimCheck, CloudflareQueueConfig, MessageBatch, Queue, QueueConsumer
from cap_opendal_core.errors import BackendError, InvalidInput, Misconfigured

if TYPE_CHECKING:
    from pathlib import Path

    from cap_opendal_core.layers import LayerSettings
    from tests.support.clock import FakeClock

pytestmark = pytest.mark.anyio

KEY = secrets.token_hex(32)
VICTIM = "users/alice/avatar.png"
VICTIM_BYTES = b"\x89PNG alice's avatar" * 100
BIG = b"\x01" * 200_000  # over a message's 128 KB: claim-checked


class Recording:
    """The real ``fs`` operator, with every call it gets written down."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.operator = opendal.AsyncOperator("fs", root=str(root))
        self.calls: list[tuple[str, str]] = []

    async def put(self, key: str, value: bytes, /) -> None:
        self.calls.append(("put", key))
        await self.operator.write(key, value)

    async def get(self, key: str, /) -> bytes | None:
        self.calls.append(("get", key))
        try:
            return bytes(await self.operator.read(key))
        except opendal.exceptions.NotFound:
            return None

    async def delete(self, key: str, /) -> None:
        self.calls.append(("delete", key))
        await self.operator.delete(key)


@pytest.fixture
async def bucket(tmp_path: Path) -> Recording:
    root = tmp_path / "bucket"
    root.mkdir()
    store = Recording(root)
    await store.operator.write(VICTIM, VICTIM_BYTES)
    store.calls.clear()
    return store


async def _objects(bucket: Recording) -> dict[str, bytes]:
    """What the bucket's directory holds, read from disk."""
    return {
        p.relative_to(bucket.root).as_posix(): p.read_bytes() for p in bucket.root.rglob("*") if p.is_file()
    }


def _forged(key: str, **changes: Any) -> dict[str, Any]:
    body = {
        "cap.claim_check": 2,
        "key": key,
        "content_type": "bytes",
        "size": 1,
        "sha256": hashlib.sha256(b"x").hexdigest(),
        "mac": "0" * 64,
    }
    body.update(changes)
    return body


def _format_1(body: dict[str, Any]) -> dict[str, Any]:
    """The reference format before version 2: no MAC, so anyone could write one."""
    return {k: v for k, v in body.items() if k != "mac"} | {"cap.claim_check": 1}


async def _deliver(
    path: Path,
    queue: str,
    bodies: list[Any],
    claim_check: ClaimCheck | None,
    quiet: LayerSettings,
    clock: FakeClock,
) -> MessageBatch:
    """Enqueue ``bodies`` with a plain producer (no key: anyone who can send JSON), then pull them with
    a consumer holding ``claim_check``, ack them all and settle — what a handler that acks messages it
    cannot use does."""
    async with Queue.local(path, queue, settings=quiet, clock=clock) as attacker:
        for body in bodies:
            await attacker.send(body)
    async with QueueConsumer.local(
        path, queue, settings=quiet, clock=clock, claim_check=claim_check, max_batch_size=100
    ) as consumer:
        batch = await consumer.pull()
        assert len(batch) == len(bodies)
        batch.ack_all()
        await batch.settle()
    return batch


@pytest.mark.parametrize(
    "key",
    [
        VICTIM,  # outside the prefix
        f"cap-queue/../{VICTIM}",
        f"cap-queue/jobs/../../{VICTIM}",
        "cap-queue/jobs/" + "a" * 32 + "/../../../" + VICTIM,
    ],
)
async def test_a_forged_reference_to_a_key_outside_the_prefix_is_an_ordinary_body(
    tmp_path: Path, bucket: Recording, quiet: LayerSettings, clock: FakeClock, key: str
) -> None:
    forged = [_forged(key), _forged(key, size=len(VICTIM_BYTES))]
    forged.append(_format_1(forged[0]))
    batch = await _deliver(tmp_path / "q", "jobs", forged, ClaimCheck(bucket, key=KEY), quiet, clock)
    assert [m.body for m in batch] == forged, "delivered as the JSON it is"
    assert all(m.claim_key is None for m in batch)
    assert bucket.calls == [], "never read, never deleted"
    assert await _objects(bucket) == {VICTIM: VICTIM_BYTES}


async def test_a_forged_reference_inside_the_prefix_touches_nothing(
    tmp_path: Path, bucket: Recording, quiet: LayerSettings, clock: FakeClock
) -> None:
    cc = ClaimCheck(bucket, key=KEY)
    async with Queue.local(tmp_path / "q", "jobs", settings=quiet, clock=clock, claim_check=cc) as producer:
        await producer.send(BIG, content_type="bytes")  # a genuine claim-checked body, still in flight
    ((genuine, _),) = [(k, v) for k, v in (await _objects(bucket)).items() if k != VICTIM]
    bucket.calls.clear()
    forged = [
        _forged(genuine),  # the real key, a MAC made up
        _forged(genuine, size=len(BIG), sha256=hashlib.sha256(BIG).hexdigest()),  # all right but the MAC
        _forged("cap-queue/jobs/victim"),  # not the shape the producer generates
        _forged("cap-queue/jobs/" + "A" * 32),
        _forged("cap-queue/other/" + "a" * 32),  # another queue's folder
        _format_1(_forged(genuine)),  # the unauthenticated format of earlier versions
    ]
    batch = await _deliver(tmp_path / "q2", "jobs", forged, cc, quiet, clock)
    assert [m.body for m in batch] == forged
    assert bucket.calls == []
    assert await _objects(bucket) == {VICTIM: VICTIM_BYTES, genuine: BIG}


async def _genuine_reference(tmp_path: Path, cc: ClaimCheck, quiet: LayerSettings, clock: FakeClock) -> Any:
    """A reference the SDK's producer made for queue ``jobs``, as someone reading the queue sees it."""
    async with Queue.local(tmp_path / "q", "jobs", settings=quiet, clock=clock, claim_check=cc) as producer:
        await producer.send(BIG, content_type="bytes")
    async with QueueConsumer.local(tmp_path / "q", "jobs", settings=quiet, clock=clock) as reader:
        batch = await reader.pull()
        (message,) = batch.messages
        batch.retry_all()
        await batch.settle()
    assert message.claim_key is None, "a consumer without the key cannot verify it: an ordinary body"
    return message.body


@pytest.mark.parametrize(
    "change",
    [
        {"size": len(BIG) + 1},
        {"size": 0},
        {"sha256": hashlib.sha256(b"other").hexdigest()},
        {"content_type": "json"},
        {"key": "cap-queue/jobs/" + "b" * 32},
        {"mac": "f" * 64},
        {"extra": True},
    ],
    ids=["size+1", "size0", "sha256", "content_type", "key", "mac", "extra-field"],
)
async def test_a_tampered_reference_is_an_ordinary_body_and_the_genuine_one_still_works(
    tmp_path: Path, bucket: Recording, quiet: LayerSettings, clock: FakeClock, change: dict[str, Any]
) -> None:
    cc = ClaimCheck(bucket, key=KEY)
    genuine = await _genuine_reference(tmp_path, cc, quiet, clock)
    bucket.calls.clear()
    tampered = {**genuine, **change}
    batch = await _deliver(tmp_path / "q2", "jobs", [tampered], cc, quiet, clock)
    assert batch.messages[0].body == tampered
    assert bucket.calls == []
    assert (await _objects(bucket))[genuine["key"]] == BIG

    async with QueueConsumer.local(tmp_path / "q", "jobs", settings=quiet, clock=clock, claim_check=cc) as c:
        clock.advance(60)
        batch = await c.pull()
        assert batch.messages[0].body == BIG, "the untampered reference still resolves"
        batch.ack_all()
        await batch.settle()
    assert await _objects(bucket) == {VICTIM: VICTIM_BYTES}


async def test_a_reference_replayed_onto_another_queue_is_an_ordinary_body(
    tmp_path: Path, bucket: Recording, quiet: LayerSettings, clock: FakeClock
) -> None:
    cc = ClaimCheck(bucket, key=KEY)
    genuine = await _genuine_reference(tmp_path, cc, quiet, clock)
    bucket.calls.clear()
    batch = await _deliver(tmp_path / "q", "payments", [genuine], cc, quiet, clock)
    assert batch.messages[0].body == genuine
    assert bucket.calls == []
    assert (await _objects(bucket))[genuine["key"]] == BIG


async def test_a_dead_letter_consumer_accepts_the_queues_it_names_and_no_other(
    tmp_path: Path, bucket: Recording, quiet: LayerSettings, clock: FakeClock
) -> None:
    cc = ClaimCheck(bucket, key=KEY)
    path = tmp_path / "q"
    async with (
        Queue.local(path, "jobs", settings=quiet, clock=clock, claim_check=cc) as producer,
        QueueConsumer.local(
            path, "jobs", settings=quiet, clock=clock, claim_check=cc, max_retries=0, dead_letter_queue="dlq"
        ) as consumer,
    ):
        await producer.send(BIG, content_type="bytes")
        batch = await consumer.pull()
        batch.retry_all()
        await batch.settle()  # no retries left: moved to "dlq", body and all
    async with QueueConsumer.local(path, "dlq", settings=quiet, clock=clock, claim_check=cc) as other:
        batch = await other.pull()
        assert batch.messages[0].claim_key is None, "a reference made for 'jobs' is not trusted on 'dlq'"
        batch.retry_all()
        await batch.settle()
    dead_letters = ClaimCheck(bucket, key=KEY, dead_letters_of=["jobs"])
    async with QueueConsumer.local(path, "dlq", settings=quiet, clock=clock, claim_check=dead_letters) as dlq:
        batch = await dlq.pull()
        assert batch.messages[0].body == BIG
        await batch.process(lambda _: _noop())
    assert await _objects(bucket) == {VICTIM: VICTIM_BYTES}


async def _noop() -> None:
    return None


async def test_a_consumer_with_another_key_or_prefix_trusts_nothing(
    tmp_path: Path, bucket: Recording, quiet: LayerSettings, clock: FakeClock
) -> None:
    genuine = await _genuine_reference(tmp_path, ClaimCheck(bucket, key=KEY), quiet, clock)
    for other in (ClaimCheck(bucket, key=secrets.token_hex(32)), ClaimCheck(bucket, key=KEY, prefix="x/")):
        bucket.calls.clear()
        batch = await _deliver(tmp_path / "q2", "jobs", [genuine], other, quiet, clock)
        assert batch.messages[0].body == genuine
        assert bucket.calls == []
    assert (await _objects(bucket))[genuine["key"]] == BIG


async def test_an_altered_stored_object_is_neither_described_nor_deleted(
    tmp_path: Path, bucket: Recording, quiet: LayerSettings, clock: FakeClock
) -> None:
    cc = ClaimCheck(bucket, key=KEY)
    genuine = await _genuine_reference(tmp_path, cc, quiet, clock)
    replaced = b"someone else's data" * 777
    await bucket.operator.write(genuine["key"], replaced)
    async with QueueConsumer.local(tmp_path / "q", "jobs", settings=quiet, clock=clock, claim_check=cc) as c:
        clock.advance(60)
        batch = await c.pull()
        with pytest.raises(BackendError, match="does not match its reference") as caught:
            _ = batch.messages[0].body
        assert str(len(replaced)) not in str(caught.value), "the error does not tell the object's size"
        batch.ack_all()  # a handler that acks what it cannot use
        await batch.settle()
    assert ("delete", genuine["key"]) not in bucket.calls, "a body that did not verify is never deleted"
    assert (await _objects(bucket))[genuine["key"]] == replaced


async def test_references_carry_no_key_and_a_claim_check_never_shows_it(
    tmp_path: Path, bucket: Recording, quiet: LayerSettings, clock: FakeClock
) -> None:
    cc = ClaimCheck(bucket, key=KEY)
    genuine = await _genuine_reference(tmp_path, cc, quiet, clock)
    assert KEY not in str(genuine)
    assert KEY not in repr(cc)
    with pytest.raises(Misconfigured) as caught:
        ClaimCheck(bucket, key=KEY[:20])
    assert KEY[:20] not in str(caught.value)
    assert "too short" in str(caught.value)


@pytest.mark.parametrize("key", [None, "", b"", b"\x00" * 31, "k" * 31])
async def test_a_claim_check_without_a_usable_key_is_refused(bucket: Recording, key: Any) -> None:
    with pytest.raises(Misconfigured, match="claim-check key 'key'") as caught:
        ClaimCheck(bucket, key=key)
    assert "secrets.token_hex(32)" in str(caught.value), "the error says how to make one"


async def test_from_env_reads_the_key_from_a_worker_env_or_the_environment(
    tmp_path: Path, bucket: Recording, quiet: LayerSettings, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    class WorkerEnv:  # a Worker's env: secrets are attributes
        CAPS_CLAIM_CHECK_KEY = KEY

    monkeypatch.delenv("CAPS_CLAIM_CHECK_KEY", raising=False)
    with pytest.raises(Misconfigured, match="'CAPS_CLAIM_CHECK_KEY' is not set"):
        ClaimCheck.from_env(bucket)
    with pytest.raises(Misconfigured, match="'CAPS_CLAIM_CHECK_KEY' is not set"):
        ClaimCheck.from_env(bucket, object())
    with pytest.raises(InvalidInput, match="name"):
        ClaimCheck.from_env(bucket, {"": KEY}, name="")
    with pytest.raises(InvalidInput, match="dead_letters_of"):
        ClaimCheck(bucket, key=KEY, dead_letters_of="jobs")
    with pytest.raises(Misconfigured, match="'JOBS_CLAIM_KEY' is too short"):
        ClaimCheck.from_env(bucket, {"JOBS_CLAIM_KEY": "short-key"}, name="JOBS_CLAIM_KEY")
    monkeypatch.setenv("CAPS_CLAIM_CHECK_KEY", KEY)
    server = ClaimCheck.from_env(bucket)  # a server: os.environ
    worker = ClaimCheck.from_env(bucket, WorkerEnv())
    async with (
        Queue.local(tmp_path, "jobs", settings=quiet, clock=clock, claim_check=server) as producer,
        QueueConsumer.local(tmp_path, "jobs", settings=quiet, clock=clock, claim_check=worker) as consumer,
    ):
        await producer.send(BIG, content_type="bytes")
        batch = await consumer.pull()
        assert batch.messages[0].body == BIG, "the same key on both sides: the reference verifies"
        await batch.process(lambda _: _noop())
    assert await _objects(bucket) == {VICTIM: VICTIM_BYTES}


async def test_queues_known_by_another_name_must_say_which_queue_references_are_bound_to(
    bucket: Recording,
) -> None:
    cc = ClaimCheck(bucket, key=KEY)
    with pytest.raises(Misconfigured, match="queue_name"):
        Queue.from_env(object(), "JOBS", claim_check=cc)  # the binding's name is not the queue's
    config = CloudflareQueueConfig(account_id="a" * 32, queue_id="q1", api_token="t" * 40)
    with pytest.raises(Misconfigured, match="queue_name"):
        Queue.from_config(config, claim_check=cc)
    with pytest.raises(Misconfigured, match="queue_name"):
        QueueConsumer.from_config(config, claim_check=cc)
    named = config.model_copy(update={"queue_name": "jobs"})
    async with Queue.from_config(named, claim_check=cc) as producer:
        assert producer.queue_name == "jobs"


async def test_a_rotated_key_still_verifies_what_the_old_one_signed_and_only_that(
    tmp_path: Path, bucket: Recording, quiet: LayerSettings, clock: FakeClock
) -> None:
    old, new = KEY, secrets.token_hex(32)
    genuine = await _genuine_reference(tmp_path, ClaimCheck(bucket, key=old), quiet, clock)
    rotated = ClaimCheck(bucket, key=new, previous_keys=[old])
    async with Queue.local(tmp_path / "q", "jobs", settings=quiet, clock=clock, claim_check=rotated) as q:
        await q.send(BIG + b"new", content_type="bytes")
    async with QueueConsumer.local(
        tmp_path / "q", "jobs", settings=quiet, clock=clock, claim_check=rotated
    ) as c:
        clock.advance(60)
        batch = await c.pull()
        assert sorted(len(m.body) for m in batch) == [len(BIG), len(BIG) + 3], "old and new references"
        await batch.process(lambda _: _noop())
    assert await _objects(bucket) == {VICTIM: VICTIM_BYTES}
    bucket.calls.clear()
    batch = await _deliver(tmp_path / "q2", "jobs", [genuine], ClaimCheck(bucket, key=new), quiet, clock)
    assert batch.messages[0].body == genuine, "once the old key is dropped, its references are plain JSON"
    assert bucket.calls == []
    with pytest.raises(Misconfigured, match=r"previous_keys\[0\]"):
        ClaimCheck(bucket, key=new, previous_keys=["short"])
    with pytest.raises(InvalidInput, match="previous_keys"):
        ClaimCheck(bucket, key=new, previous_keys=old)
