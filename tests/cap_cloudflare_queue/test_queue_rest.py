"""The REST backend against a local server that follows Cloudflare's documented Queues endpoints."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import anyio
import pytest

from cap_cloudflare_queue import (
    BatchPartiallySent,
    CloudflareQueueConfig,
    MessageBatch,
    MessageSendRequest,
    Queue,
    QueueConsumer,
)
from cap_opendal_core.errors import (
    LimitExceeded,
    Misconfigured,
    RateLimited,
    Unauthorized,
    Unavailable,
    Unsupported,
)
from cap_opendal_core.layers import LayerSettings, RetryPolicy
from tests.support.cf_api import CloudflareApi, Fault, error_response
from tests.support.cf_queue_api import QueueApi

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.support.clock import FakeClock

pytestmark = pytest.mark.anyio

QUEUE_ID = "0123456789abcdef0123456789abcdef"
FAST = LayerSettings(logging=False, retry=RetryPolicy(attempts=3, base=0.001, cap=0.01))


@pytest.fixture
def api() -> Iterator[CloudflareApi]:
    with CloudflareApi() as server:
        yield server


@pytest.fixture
def queues(api: CloudflareApi, clock: FakeClock) -> QueueApi:
    return QueueApi(api, queue_ids=(QUEUE_ID,), clock=clock)


def _config(api: CloudflareApi, **overrides: Any) -> CloudflareQueueConfig:
    fields: dict[str, Any] = {
        "account_id": api.account_id,
        "queue_id": QUEUE_ID,
        "api_token": api.token,
        "queue_name": "jobs",
        "base_url": api.base_url,
        "timeout": 5,
    }
    fields.update(overrides)
    return CloudflareQueueConfig(**fields)


async def test_push_pull_ack_round_trip_with_documented_wire_formats(
    api: CloudflareApi, queues: QueueApi, clock: FakeClock
) -> None:
    async with (
        Queue.from_config(_config(api), settings=FAST) as q,
        QueueConsumer.from_config(_config(api), settings=FAST) as c,
    ):
        await q.send({"greeting": "hello", "n": [1, None]})
        await q.send("plain text", content_type="text", delay_seconds=0)
        await q.send_batch(
            [MessageSendRequest({"i": 1}), {"body": "two", "content_type": "text"}], delay_seconds=0
        )
        push = api.requests[0]
        assert push.path == f"/client/v4/accounts/{api.account_id}/queues/{QUEUE_ID}/messages"
        assert push.headers["authorization"] == f"Bearer {api.token}"
        assert push.headers["content-type"] == "application/json"
        assert push.json() == {"body": {"greeting": "hello", "n": [1, None]}, "content_type": "json"}
        assert api.requests[1].json() == {"body": "plain text", "content_type": "text", "delay_seconds": 0}
        assert api.requests[2].path.endswith("/messages/batch")
        assert api.requests[2].json() == {
            "messages": [
                {"body": {"i": 1}, "content_type": "json", "delay_seconds": 0},
                {"body": "two", "content_type": "text", "delay_seconds": 0},
            ]
        }

        batch = await c.pull(batch_size=10, visibility_timeout=45)
        pull = api.requests[3]
        assert pull.path.endswith("/messages/pull")
        assert pull.json() == {"batch_size": 10, "visibility_timeout_ms": 45_000}
        assert batch.queue == "jobs"
        assert sorted((m.content_type or "", json.dumps(m.body)) for m in batch) == sorted(
            [
                ("json", json.dumps({"greeting": "hello", "n": [1, None]})),
                ("text", json.dumps("plain text")),
                ("json", json.dumps({"i": 1})),
                ("text", json.dumps("two")),
            ]
        )
        assert all(m.attempts == 1 and m.lease_id for m in batch)
        by_body = {json.dumps(m.body): m for m in batch}
        by_body['"two"'].retry(delay_seconds=60)
        result = await batch.process(_noop)
        assert (result.acked, result.retried, result.warnings) == (3, 1, ())
        ack = api.requests[-1]
        assert ack.path.endswith("/messages/ack")
        body = ack.json()
        assert {"lease_id": by_body['"two"'].lease_id, "delay_seconds": 60} in body["retries"]
        assert len(body["acks"]) == 3
        assert len(queues.queues[QUEUE_ID]) == 1
        assert len(await c.pull()) == 0
        clock.advance(60)
        again = await c.pull()
        assert [(m.body, m.attempts) for m in again] == [("two", 2)]


async def _noop(batch: MessageBatch) -> None:
    return None


async def test_content_types_the_push_api_lacks_are_refused_without_a_request(
    api: CloudflareApi, queues: QueueApi
) -> None:
    async with Queue.from_config(_config(api), settings=FAST) as q:
        with pytest.raises(Unsupported, match="json and text"):
            await q.send(b"\x00", content_type="bytes")
        with pytest.raises(Unsupported, match="structured clone"):
            await q.send({"a": 1}, content_type="v8")
        with pytest.raises(LimitExceeded):
            await q.send("x" * 200_000, content_type="text")
        with pytest.raises(LimitExceeded):
            await q.send_batch([MessageSendRequest(i) for i in range(101)], split=False)
    assert api.requests == [], "nothing reached the server"


async def test_a_failed_send_is_not_retried_and_says_it_may_have_landed(
    api: CloudflareApi, queues: QueueApi
) -> None:
    async with Queue.from_config(_config(api), settings=FAST) as q:
        api.inject(Fault(status=500, errors=[{"code": 15000, "message": "UnknownInternalError"}]))
        with pytest.raises(Unavailable) as caught:
            await q.send("once", content_type="text")
        assert api.count("POST", "/messages") == 1, "sends are not idempotent: no automatic retry"
        assert any("may already be in the queue" in note for note in caught.value.__notes__)

        api.inject(Fault(drop=True))
        with pytest.raises(Unavailable):
            await q.send("dropped", content_type="text")
        assert api.count("POST", "/messages") == 2

        api.inject(
            Fault(
                status=429,
                headers={"Retry-After": "7"},
                errors=[{"code": 10250, "message": "QueueOverloaded"}],
            )
        )
        with pytest.raises(RateLimited) as limited:
            await q.send("slow down", content_type="text")
        assert limited.value.retry_after == 7.0
        assert not getattr(limited.value, "__notes__", []), (
            "a 429 is a definite refusal: nothing was enqueued"
        )
        assert api.count("POST", "/messages") == 3


async def test_service_errors_map_to_the_capability_errors(api: CloudflareApi, queues: QueueApi) -> None:
    async with Queue.from_config(
        _config(api, queue_id="ffffffffffffffffffffffffffffffff"), settings=FAST
    ) as q:
        with pytest.raises(Misconfigured, match="10104"):
            await q.send(1)
    async with Queue.from_config(_config(api), settings=FAST) as q:
        api.inject(Fault(status=413, errors=[{"code": 10204, "message": "MessageSizeOutOfBounds"}]))
        with pytest.raises(LimitExceeded) as caught:
            await q.send(1)
        assert caught.value.limit == "queue.message_bytes"
    async with Queue.from_config(_config(api, api_token="not-the-right-token-xyz"), settings=FAST) as q:
        with pytest.raises(Unauthorized) as denied:
            await q.send(1)
        assert "not-the-right-token-xyz" not in str(denied.value)
        assert "not-the-right-token-xyz" not in repr(denied.value)


async def test_consumer_calls_are_retried_through_5xx_and_dropped_connections(
    api: CloudflareApi, queues: QueueApi
) -> None:
    async with (
        Queue.from_config(_config(api), settings=FAST) as q,
        QueueConsumer.from_config(_config(api), settings=FAST) as c,
    ):
        await q.send_batch([MessageSendRequest(i) for i in range(3)])
        api.inject(Fault(status=503, match="/messages/pull"))
        batch = await c.pull(batch_size=5)
        assert len(batch) == 3
        assert api.count("POST", "/messages/pull") == 2
        api.inject(Fault(drop=True, match="/messages/ack"))
        result = await batch.process(_noop)
        assert result.acked == 3
        assert api.count("POST", "/messages/ack") == 2
        assert queues.queues[QUEUE_ID] == []


async def test_a_split_batch_that_fails_part_way_says_what_went_out(
    api: CloudflareApi, queues: QueueApi
) -> None:
    async with Queue.from_config(_config(api), settings=FAST) as q:
        queues.batch_outcomes = [None, error_response(500, 15000, "UnknownInternalError")]
        with pytest.raises(BatchPartiallySent) as caught:
            await q.send_batch([MessageSendRequest(i) for i in range(150)])
        err = caught.value
        assert err.sent == tuple(range(100))
        assert err.unsent == tuple(range(100, 150))
        assert isinstance(err.error, Unavailable)
        assert "messages 0-99 were sent" in err.message
        assert "100-149 were not sent" in err.message
        assert any("may already be in the queue" in n for n in err.__notes__)
        assert len(queues.queues[QUEUE_ID]) == 100
        assert api.count("POST", "/messages/batch") == 2

        queues.batch_outcomes = [None, None, error_response(429, 10250, "QueueOverloaded")]
        with pytest.raises(BatchPartiallySent) as caught:
            await q.send_batch([MessageSendRequest(i) for i in range(250)])
        assert caught.value.sent == tuple(range(200))
        assert isinstance(caught.value.error, RateLimited)
        assert caught.value.retryable

        queues.batch_outcomes = [error_response(500, 15000, "UnknownInternalError")]
        with pytest.raises(Unavailable):  # nothing went out: the plain error, not a partial one
            await q.send_batch([MessageSendRequest(i) for i in range(150)])
        assert api.count("POST", "/messages/batch") == 6


async def test_stale_leases_come_back_as_warnings(
    api: CloudflareApi, queues: QueueApi, clock: FakeClock
) -> None:
    async with (
        Queue.from_config(_config(api), settings=FAST) as q,
        QueueConsumer.from_config(_config(api), settings=FAST) as c,
    ):
        await q.send(1)
        batch = await c.pull(visibility_timeout=1)
        await c.ack(batch.messages)
        again = await c.ack(batch.messages)  # nothing left to send: already settled
        assert again.acked == 0
        from cap_cloudflare_queue.models import Lease

        result = await c._backend.settle([Lease("no-such-lease", "x")], [])
        assert result.acked == 0
        assert "unknown or already acknowledged" in result.warnings[0]


async def test_run_over_rest(api: CloudflareApi, queues: QueueApi) -> None:
    handled: list[int] = []

    async def handler(batch: MessageBatch) -> None:
        handled.extend(m.body for m in batch)

    async with (
        Queue.from_config(_config(api), settings=FAST) as q,
        QueueConsumer.from_config(_config(api), settings=FAST, poll_interval=0.01) as c,
    ):
        await q.send_batch([MessageSendRequest(i) for i in range(25)])
        with anyio.fail_after(60):
            async with anyio.create_task_group() as tg:
                tg.start_soon(lambda: c.run(handler, concurrency=2, batch_size=10))
                while len(handled) < 25 or queues.queues[QUEUE_ID]:  # noqa: ASYNC110  (server state)
                    await anyio.sleep(0.01)
                tg.cancel_scope.cancel()
    assert sorted(handled) == list(range(25))


async def test_run_stops_on_errors_that_will_not_go_away(api: CloudflareApi, queues: QueueApi) -> None:
    async with QueueConsumer.from_config(_config(api, api_token="wrong-token-123456"), settings=FAST) as c:
        with anyio.fail_after(60), pytest.raises(Unauthorized):
            await c.run(_noop)


def test_config_keeps_the_token_secret(api: CloudflareApi) -> None:
    config = _config(api)
    assert api.token not in repr(config)
    assert api.token not in config.model_dump_json()
    with pytest.raises(Misconfigured, match="account_id") as caught:
        Queue.from_config({"account_id": "bad id!", "queue_id": QUEUE_ID, "api_token": "secret-token-value"})
    assert "secret-token-value" not in str(caught.value)
    with pytest.raises(Misconfigured, match="api_token"):
        QueueConsumer.from_config({"account_id": "a", "queue_id": "b"})
