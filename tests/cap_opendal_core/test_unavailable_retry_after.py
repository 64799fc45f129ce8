"""A 503 with ``Retry-After`` becomes ``Unavailable(retry_after=…)``, and the retry layer waits that long.

Issue 9: a service that is down for maintenance says when to come back; retrying sooner only adds
load, and a wait past ``max_retry_after`` or the deadline is not worth making.
"""

from __future__ import annotations

import dataclasses
import time

import anyio
import pytest

from cap_opendal_core import Unavailable
from cap_opendal_core.layers import LayerSettings, Operation, Pipeline, RetryPolicy
from cap_opendal_core.metrics import Metrics
from cap_opendal_core.translate import from_http

GET = Operation("kv", "get", "resource::kv::read", "resource::kv", idempotent=True)
SEND = Operation("queue", "send", "resource::queue::publish", "resource::queue", idempotent=False)
NO_BACKOFF = LayerSettings(logging=False, retry=RetryPolicy(attempts=2, base=0.0, cap=0.0))


class Flaky:
    """Fails the first ``failures`` calls with ``error``, then answers."""

    def __init__(self, error: Exception, failures: int = 1) -> None:
        self.error = error
        self.failures = failures
        self.calls = 0

    async def get(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return "ok"


def _pipeline(settings: LayerSettings = NO_BACKOFF) -> Pipeline:
    return Pipeline("kv", "test", settings, metrics=Metrics())


def test_a_503_with_retry_after_fills_unavailable_retry_after() -> None:
    body = b'{"success":false,"errors":[{"code":10001,"message":"down for maintenance"}]}'
    err = from_http(503, body, {"Retry-After": "7"}, capability="kv", operation="get", key="k")
    assert type(err) is Unavailable
    assert err.retryable is True
    assert err.retry_after == 7.0
    assert err.to_dict()["retry_after"] == 7.0
    plain = from_http(503, body, {}, capability="kv", operation="get")
    assert isinstance(plain, Unavailable)
    assert plain.retry_after is None
    assert plain.to_dict()["retry_after"] is None


def test_unavailable_keeps_its_context_and_defaults() -> None:
    err = Unavailable("reset", capability="r2", operation="put", key="a")
    assert err.retry_after is None
    assert err.retryable is True
    assert str(err) == "[r2.put key='a'] reset"


@pytest.mark.anyio
async def test_the_retry_layer_waits_at_least_the_unavailable_retry_after() -> None:
    flaky = Flaky(Unavailable("maintenance", retry_after=0.05))
    started = time.monotonic()
    with anyio.fail_after(60):
        assert await _pipeline().call(GET, flaky.get) == "ok"
    assert time.monotonic() - started >= 0.045  # a lower bound only: sleeps never end early
    assert flaky.calls == 2


@pytest.mark.anyio
async def test_an_unavailable_retry_after_beyond_the_policy_or_deadline_is_not_waited_for() -> None:
    policy = RetryPolicy(attempts=3, base=0.0, cap=0.0, max_retry_after=1.0)
    flaky = Flaky(Unavailable("come back tomorrow", retry_after=86_400))
    with anyio.fail_after(60), pytest.raises(Unavailable) as info:
        await _pipeline(dataclasses.replace(NO_BACKOFF, retry=policy)).call(GET, flaky.get)
    assert flaky.calls == 1
    assert any("max_retry_after" in note for note in info.value.__notes__)

    flaky = Flaky(Unavailable("back in 5 s", retry_after=5.0))
    with anyio.fail_after(0.9), pytest.raises(Unavailable) as info:
        await _pipeline(dataclasses.replace(NO_BACKOFF, deadline=1.0)).call(GET, flaky.get)
    assert flaky.calls == 1
    assert any("deadline" in note for note in info.value.__notes__)


@pytest.mark.anyio
async def test_a_non_idempotent_operation_is_still_not_retried() -> None:
    flaky = Flaky(Unavailable("maintenance", retry_after=0.0))
    with pytest.raises(Unavailable):
        await _pipeline().call(SEND, flaky.get)
    assert flaky.calls == 1
