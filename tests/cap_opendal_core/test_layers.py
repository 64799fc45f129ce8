"""The layer pipeline: order, hints and budget, deadline, retry, concurrency, logging, error translation."""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import TYPE_CHECKING, Any

import anyio
import pytest
import structlog
from structlog.testing import LogCapture, capture_logs

from cap_opendal_core import (
    CapabilityError,
    DeadlineExceeded,
    LimitExceeded,
    NotFound,
    RateLimited,
    Unavailable,
)
from cap_opendal_core.hints import Determinism, Effects
from cap_opendal_core.layers import LayerSettings, Operation, Pipeline, RetryPolicy
from cap_opendal_core.metrics import Metrics
from cap_opendal_core.redact import Secret
from cap_opendal_core.scope import InvocationScope

if TYPE_CHECKING:
    from collections.abc import Iterator, MutableMapping

GET = Operation("kv", "get", "resource::kv::read", "resource::kv", idempotent=True)
PUT = Operation("kv", "put", "resource::kv::write", "resource::kv", idempotent=True)
SEND = Operation("queue", "send", "resource::queue::publish", "resource::queue", idempotent=False)
R2_GET = Operation("r2", "get", "resource::blob::read", "resource::blob", idempotent=True)

FAST_RETRY = RetryPolicy(attempts=4, base=0.001, cap=0.002)
QUIET = LayerSettings(logging=False, retry=FAST_RETRY)


class Backend:
    """A stand-in service: counts calls and fails the first ``failures`` of them with ``error``."""

    def __init__(self, error: BaseException | None = None, failures: int = 0) -> None:
        self.calls = 0
        self.error = error
        self.failures = failures

    async def get(self, key: str, value: object = None) -> str:
        self.calls += 1
        if self.error is not None and self.calls <= self.failures:
            raise self.error
        return f"value-of-{key}"


def pipeline(settings: LayerSettings = QUIET, **kw: Any) -> Pipeline:
    return Pipeline("kv", "test", settings, metrics=kw.pop("metrics", Metrics()), **kw)


@pytest.fixture
def structlog_config() -> Iterator[None]:
    """Let a test reconfigure structlog; put everything back afterwards."""
    saved = structlog.get_config()
    saved_processors = list(saved["processors"])
    yield
    structlog.reset_defaults()
    structlog.configure(**{**saved, "processors": saved_processors})


# -- construction ------------------------------------------------------------------------------------


def test_default_layers_are_in_the_documented_order() -> None:
    p = Pipeline("kv", "test", LayerSettings(deadline=1.0, concurrency=4))
    assert p.layers == ("hints", "logging", "metrics", "deadline", "retry", "concurrency")


def test_every_layer_can_be_turned_off() -> None:
    assert Pipeline("kv", "test", LayerSettings.off()).layers == ()
    only_metrics = dataclasses.replace(LayerSettings.off(), metrics=True)
    assert Pipeline("kv", "test", only_metrics).layers == ("metrics",)


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: Operation("kv", "", "resource::kv::read", "resource::kv", idempotent=True), "name"),
        (lambda: Operation("kv", "get", "resource:kv", "resource::kv", idempotent=True), "effect_hint"),
        (lambda: Operation("kv", "get", "resource::kv::read", "", idempotent=True), "determinism_hint"),
        (lambda: Operation("kv", "get", "resource::kv::read", "resource::kv", idempotent=1), "idempotent"),  # type: ignore[arg-type]
        (
            lambda: Operation(
                "kv", "get", "resource::kv::read", "resource::kv", idempotent=True, subrequests=-1
            ),
            "subrequests",
        ),
        (lambda: LayerSettings(log_level="loud"), "log_level"),
        (lambda: LayerSettings(deadline=0), "deadline"),
        (lambda: LayerSettings(concurrency=0), "concurrency"),
        (lambda: LayerSettings(retry=3), "retry"),  # type: ignore[arg-type]
        (lambda: RetryPolicy(attempts=0), "attempts"),
        (lambda: RetryPolicy(base=-1), "base"),
        (lambda: RetryPolicy(cap=float("inf")), "cap"),
        (lambda: Pipeline("", "test"), "capability"),
        (lambda: Pipeline("kv", "test", {"logging": False}), "settings"),  # type: ignore[arg-type]
    ],
)
def test_bad_configuration_is_refused_with_the_field_named(build: Any, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        build()


# -- the bare path and error translation -----------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("settings", [LayerSettings.off(), QUIET], ids=["off", "on"])
async def test_returns_what_the_backend_returns(settings: LayerSettings) -> None:
    backend = Backend()
    assert await pipeline(settings).call(GET, backend.get, "a", key="a") == "value-of-a"
    assert backend.calls == 1


@pytest.mark.anyio
@pytest.mark.parametrize("settings", [LayerSettings.off(), QUIET], ids=["off", "on"])
async def test_foreign_exceptions_leave_as_capability_errors(settings: LayerSettings) -> None:
    backend = Backend(KeyError("boom"), failures=1)
    with pytest.raises(CapabilityError) as info:
        await pipeline(settings).call(GET, backend.get, "a", key="a")
    err = info.value
    assert (err.capability, err.operation, err.key) == ("kv", "get", "a")
    assert isinstance(err.__cause__, KeyError)


@pytest.mark.anyio
@pytest.mark.parametrize("settings", [LayerSettings.off(), QUIET], ids=["off", "on"])
async def test_capability_errors_get_their_missing_context(settings: LayerSettings) -> None:
    backend = Backend(NotFound("no such key"), failures=1)
    with pytest.raises(NotFound) as info:
        await pipeline(settings).call(GET, backend.get, "a", key="a")
    assert (info.value.capability, info.value.operation, info.value.key) == ("kv", "get", "a")


@pytest.mark.anyio
async def test_cancellation_passes_through_untranslated() -> None:
    m = Metrics()
    p = pipeline(metrics=m)

    async def hang(key: str) -> None:
        await anyio.sleep(10)

    with anyio.fail_after(60):  # did not hang
        with anyio.move_on_after(0.02) as cancelled:
            await p.call(GET, hang, "a", key="a")
    assert cancelled.cancelled_caught
    assert m.snapshot()["kv"]["get"]["cancelled"] == 1


# -- hints and budget --------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_calls_outside_a_scope_just_work() -> None:
    backend = Backend()
    assert await pipeline().call(PUT, backend.get, "a") == "value-of-a"


@pytest.mark.anyio
async def test_hints_are_recorded_into_the_current_scope() -> None:
    backend = Backend()
    p = pipeline()
    async with InvocationScope("node") as scope:
        await p.call(GET, backend.get, "a", key="a")
        assert (scope.observed_effects, scope.observed_determinism) == (
            Effects.READ_ONLY,
            Determinism.BEST_EFFORT,
        )
        await p.call(PUT, backend.get, "a", key="a")
        await p.call(GET, backend.get, "b", key="b")
    assert scope.observed_effects is Effects.EFFECTFUL
    assert scope.effect_hints == ("resource::kv::read", "resource::kv::write")
    assert [(r.operation, r.count) for r in scope.records] == [("get", 2), ("put", 1)]
    assert scope.subrequests_used == 3


@pytest.mark.anyio
async def test_a_call_can_override_the_determinism_hint() -> None:
    backend = Backend()
    async with InvocationScope() as scope:
        await pipeline().call(R2_GET, backend.get, "obj", determinism_hint="resource::blob::pinned")
    assert scope.determinism_hints == ("resource::blob::pinned",)


@pytest.mark.anyio
async def test_hints_are_recorded_even_when_the_call_fails() -> None:
    backend = Backend(NotFound("gone"), failures=1)
    async with InvocationScope() as scope:
        with pytest.raises(NotFound):
            await pipeline().call(PUT, backend.get, "a")
    assert scope.observed_effects is Effects.EFFECTFUL


@pytest.mark.anyio
async def test_hints_layer_off_records_nothing() -> None:
    backend = Backend()
    async with InvocationScope(subrequest_budget=0) as scope:
        await pipeline(dataclasses.replace(QUIET, hints=False)).call(PUT, backend.get, "a")
    assert scope.effect_hints == ()


@pytest.mark.anyio
async def test_budget_raises_before_the_backend_is_called() -> None:
    backend = Backend()
    p = pipeline()
    async with InvocationScope(subrequest_budget=2) as scope:
        await p.call(GET, backend.get, "a")
        await p.call(GET, backend.get, "b")
        with pytest.raises(LimitExceeded) as info:
            await p.call(PUT, backend.get, "c", key="c")
    assert backend.calls == 2  # the third call was never made
    assert (info.value.limit, info.value.value, info.value.maximum) == ("subrequests", 3, 2)
    assert (info.value.capability, info.value.operation) == ("kv", "put")
    assert scope.effect_hints == ("resource::kv::read",)  # the refused call recorded nothing


@pytest.mark.anyio
async def test_an_enclosing_scopes_budget_applies_to_calls_in_a_child_scope() -> None:
    backend = Backend()
    p = pipeline()
    async with InvocationScope("flow", subrequest_budget=1) as outer, InvocationScope("node") as inner:
        await p.call(GET, backend.get, "a")
        with pytest.raises(LimitExceeded):
            await p.call(GET, backend.get, "b")
    assert backend.calls == 1
    assert outer.subrequests_used == inner.subrequests_used == 1
    assert outer.effect_hints == inner.effect_hints == ("resource::kv::read",)


@pytest.mark.anyio
async def test_each_retry_is_charged_and_retrying_stops_at_the_budget() -> None:
    backend = Backend(Unavailable("try later"), failures=10)
    async with InvocationScope(subrequest_budget=2) as scope:
        with pytest.raises(Unavailable) as info:
            await pipeline().call(GET, backend.get, "a")
    assert backend.calls == 2
    assert scope.subrequests_used == 2
    assert any("budget" in note for note in info.value.__notes__)


# -- deadline ------------------------------------------------------------------------------------------------


async def hang(key: str) -> str:
    await anyio.sleep(10)
    return key


@pytest.mark.anyio
async def test_per_call_deadline_becomes_deadline_exceeded() -> None:
    m = Metrics()
    p = pipeline(dataclasses.replace(QUIET, deadline=0.03), metrics=m)
    with anyio.fail_after(60), pytest.raises(DeadlineExceeded) as info:  # did not hang
        await p.call(GET, hang, "a", key="a")
    assert (info.value.capability, info.value.operation, info.value.key) == ("kv", "get", "a")
    assert m.snapshot()["kv"]["get"]["errors"] == {"deadline_exceeded": 1}


@pytest.mark.anyio
async def test_the_scope_deadline_applies_to_calls_inside_it() -> None:
    with anyio.fail_after(60), pytest.raises(DeadlineExceeded):  # did not hang
        async with InvocationScope(timeout=0.03):
            await pipeline().call(GET, hang, "a")


@pytest.mark.anyio
async def test_an_expired_scope_fails_the_call_before_it_is_made() -> None:
    backend = Backend()
    async with InvocationScope(deadline=time.monotonic() - 1):
        with pytest.raises(DeadlineExceeded, match="before the call was made"):
            await pipeline().call(GET, backend.get, "a")
    assert backend.calls == 0


@pytest.mark.anyio
async def test_scope_deadline_can_be_ignored() -> None:
    backend = Backend()
    async with InvocationScope(deadline=time.monotonic() - 1):
        settings = dataclasses.replace(QUIET, scope_deadline=False)
        assert await pipeline(settings).call(GET, backend.get, "a") == "value-of-a"


@pytest.mark.anyio
async def test_a_backend_that_finishes_in_time_is_unaffected_by_the_deadline() -> None:
    backend = Backend()
    p = pipeline(dataclasses.replace(QUIET, deadline=30.0))
    async with InvocationScope(timeout=30):
        assert await p.call(GET, backend.get, "a") == "value-of-a"


# -- retry ---------------------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_retryable_errors_of_idempotent_operations_are_retried() -> None:
    m = Metrics()
    backend = Backend(Unavailable("blip"), failures=2)
    assert await pipeline(metrics=m).call(GET, backend.get, "a") == "value-of-a"
    assert backend.calls == 3
    snap = m.snapshot()["kv"]["get"]
    assert (snap["retries"], snap["ok"], snap["count"]) == (2, 1, 1)  # one call, however many attempts


@pytest.mark.anyio
async def test_non_retryable_errors_are_not_retried() -> None:
    backend = Backend(NotFound("gone"), failures=5)
    with pytest.raises(NotFound):
        await pipeline().call(GET, backend.get, "a")
    assert backend.calls == 1


@pytest.mark.anyio
async def test_an_error_marked_not_retryable_is_not_retried() -> None:
    backend = Backend(Unavailable("permanent", retryable=False), failures=5)
    with pytest.raises(Unavailable):
        await pipeline().call(GET, backend.get, "a")
    assert backend.calls == 1


@pytest.mark.anyio
async def test_non_idempotent_operations_are_never_retried() -> None:
    backend = Backend(Unavailable("blip"), failures=1)
    with pytest.raises(Unavailable):
        await pipeline().call(SEND, backend.get, "msg")
    assert backend.calls == 1


@pytest.mark.anyio
async def test_retrying_stops_at_max_attempts() -> None:
    backend = Backend(Unavailable("down"), failures=100)
    with pytest.raises(Unavailable):
        await pipeline().call(GET, backend.get, "a")
    assert backend.calls == FAST_RETRY.attempts


@pytest.mark.anyio
async def test_retry_layer_off_means_one_attempt() -> None:
    backend = Backend(Unavailable("down"), failures=100)
    with pytest.raises(Unavailable):
        await pipeline(dataclasses.replace(QUIET, retry=None)).call(GET, backend.get, "a")
    assert backend.calls == 1


@pytest.mark.anyio
async def test_retry_after_is_a_floor_on_the_wait() -> None:
    no_backoff = RetryPolicy(attempts=2, base=0.0, cap=0.0)
    backend = Backend(RateLimited("slow down", retry_after=0.05), failures=1)
    started = time.monotonic()
    with anyio.fail_after(60):
        assert await pipeline(dataclasses.replace(QUIET, retry=no_backoff)).call(GET, backend.get, "a")
    assert time.monotonic() - started >= 0.045  # only a lower bound: sleeps never end early
    assert backend.calls == 2


@pytest.mark.anyio
async def test_a_retry_after_beyond_the_policy_is_not_waited_for() -> None:
    policy = dataclasses.replace(FAST_RETRY, max_retry_after=1.0)
    backend = Backend(RateLimited("come back tomorrow", retry_after=86_400), failures=1)
    with anyio.fail_after(60), pytest.raises(RateLimited) as info:
        await pipeline(dataclasses.replace(QUIET, retry=policy)).call(GET, backend.get, "a")
    assert backend.calls == 1
    assert any("max_retry_after" in note for note in info.value.__notes__)


@pytest.mark.anyio
async def test_retry_never_sleeps_past_the_deadline() -> None:
    backend = Backend(RateLimited("slow down", retry_after=5.0), failures=1)
    p = pipeline(dataclasses.replace(QUIET, deadline=1.0))
    with anyio.fail_after(0.9), pytest.raises(RateLimited) as info:  # raised at once, no 5 s sleep
        await p.call(GET, backend.get, "a")
    assert backend.calls == 1
    assert any("deadline" in note for note in info.value.__notes__)


def test_backoff_is_exponential_capped_and_fully_jittered() -> None:
    policy = RetryPolicy(base=0.1, cap=0.5)
    assert [policy.backoff(n, 1.0) for n in (1, 2, 3, 4)] == [0.1, 0.2, 0.4, 0.5]
    assert policy.backoff(3, 0.0) == 0.0
    assert policy.backoff(3, 0.5) == pytest.approx(0.2)
    assert RetryPolicy(base=0.1, cap=0.5, jitter=False).backoff(2, 0.0) == 0.2


# -- concurrency ---------------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_concurrency_limit_bounds_calls_in_flight() -> None:
    p = pipeline(dataclasses.replace(QUIET, concurrency=2))
    in_flight = peak = 0
    release = anyio.Event()
    results: list[int] = []

    async def backend(i: int) -> int:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await release.wait()
        in_flight -= 1
        return i

    async def run(i: int) -> None:
        results.append(await p.call(GET, backend, i))

    with anyio.fail_after(60):
        async with anyio.create_task_group() as tg:
            for i in range(6):
                tg.start_soon(run, i)
            await anyio.wait_all_tasks_blocked()
            assert in_flight == 2
            release.set()
    assert peak == 2
    assert sorted(results) == list(range(6))


# -- logging -------------------------------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.usefixtures("structlog_config")
async def test_one_log_event_per_call_with_the_documented_fields() -> None:
    backend = Backend(Unavailable("blip"), failures=1)
    p = pipeline(LayerSettings(retry=FAST_RETRY))
    with capture_logs() as events:
        async with InvocationScope("load_user"):
            await p.call(GET, backend.get, "user:1", key="user:1")
    assert len(events) == 1  # one event for the call, not one per attempt
    event = events[0]
    assert event["event"] == "capability.call"
    assert event["log_level"] == "info"
    assert {k: event[k] for k in ("capability", "op", "key", "backend", "outcome", "attempts", "node")} == {
        "capability": "kv",
        "op": "get",
        "key": "user:1",
        "backend": "test",
        "outcome": "ok",
        "attempts": 2,
        "node": "load_user",
    }
    assert isinstance(event["duration_ms"], float)
    assert event["duration_ms"] >= 0


@pytest.mark.anyio
@pytest.mark.usefixtures("structlog_config")
async def test_failures_are_logged_at_warning_with_their_code() -> None:
    backend = Backend(NotFound("no such key"), failures=1)
    with capture_logs() as events, pytest.raises(NotFound):
        await pipeline(LayerSettings()).call(GET, backend.get, "k", key="k")
    assert [(e["log_level"], e["outcome"], e["retryable"]) for e in events] == [
        ("warning", "not_found", False)
    ]
    assert "no such key" in events[0]["error"]


@pytest.mark.anyio
@pytest.mark.usefixtures("structlog_config")
async def test_secrets_never_reach_the_log() -> None:
    registered = Secret("registered-api-token-0123456789")
    secret_value = "hunter2-plaintext-secret-value"
    keys = [
        "exports/report.csv?token=sk-live-abcdef0123456789",
        f"tenants/{registered.reveal()}/config",
    ]
    backend = Backend()
    failing = Backend(Unavailable("upstream said Authorization: Bearer abcdefghijklmnop1234"), failures=9)
    p = pipeline(LayerSettings(retry=None))
    with capture_logs() as events:
        for key in keys:
            await p.call(PUT, backend.get, key, secret_value, key=key)
        with pytest.raises(Unavailable):
            await p.call(PUT, failing.get, "k", secret_value, key="k")
    assert len(events) == 3
    text = repr(events)
    for leaked in ("sk-live-abcdef0123456789", registered.reveal(), secret_value, "abcdefghijklmnop1234"):
        assert leaked not in text
    assert "[REDACTED]" in events[0]["key"]
    assert events[1]["key"] == "tenants/[REDACTED]/config"


@pytest.mark.anyio
@pytest.mark.usefixtures("structlog_config")
async def test_a_filtered_level_emits_nothing_but_failures_still_show() -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    p = pipeline(LayerSettings(retry=None))
    with capture_logs() as events:
        await p.call(GET, Backend().get, "a", key="a")
        assert events == []
        with pytest.raises(Unavailable):
            await p.call(GET, Backend(Unavailable("x"), failures=1).get, "a", key="a")
    assert [e["outcome"] for e in events] == ["unavailable"]


@pytest.mark.anyio
@pytest.mark.usefixtures("structlog_config")
async def test_stdlib_logger_levels_apply_through_structlog() -> None:
    capture = LogCapture()
    structlog.configure(
        processors=[capture],
        wrapper_class=structlog.stdlib.BoundLogger,
        logger_factory=structlog.stdlib.LoggerFactory(),
    )
    std_logger = logging.getLogger("cap_opendal_core")
    old_level = std_logger.level
    std_logger.setLevel(logging.WARNING)
    try:
        p = pipeline(LayerSettings(retry=None))
        await p.call(GET, Backend().get, "a", key="a")
        assert capture.entries == []
        std_logger.setLevel(logging.INFO)
        await p.call(GET, Backend().get, "a", key="a")
        assert [e["outcome"] for e in capture.entries] == ["ok"]
    finally:
        std_logger.setLevel(old_level)


@pytest.mark.anyio
async def test_a_given_logger_is_used() -> None:
    capture = LogCapture()
    logger = structlog.wrap_logger(structlog.testing.CapturingLogger(), processors=[capture])
    p = pipeline(LayerSettings(retry=None, log_level="debug"), logger=logger)
    await p.call(GET, Backend().get, "a", key="a")
    assert [(e["log_level"], e["op"]) for e in capture.entries] == [("debug", "get")]


@pytest.mark.anyio
async def test_a_broken_logger_does_not_fail_the_call() -> None:
    def explode(logger: Any, method: str, event: MutableMapping[str, Any]) -> dict[str, Any]:
        raise RuntimeError("processor bug")

    logger = structlog.wrap_logger(structlog.testing.CapturingLogger(), processors=[explode])
    p = pipeline(LayerSettings(retry=None), logger=logger)
    assert await p.call(GET, Backend().get, "a", key="a") == "value-of-a"


# -- metrics -------------------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_metrics_count_calls_by_outcome() -> None:
    m = Metrics()
    p = pipeline(metrics=m)
    await p.call(GET, Backend().get, "a")
    await p.call(GET, Backend().get, "b")
    with pytest.raises(NotFound):
        await p.call(GET, Backend(NotFound("x"), failures=1).get, "c")
    await p.call(PUT, Backend().get, "d")
    snap = m.snapshot()["kv"]
    assert (snap["get"]["count"], snap["get"]["ok"], snap["get"]["errors"]) == (3, 2, {"not_found": 1})
    assert snap["put"]["count"] == 1


@pytest.mark.anyio
async def test_metrics_layer_off_records_nothing() -> None:
    m = Metrics()
    await pipeline(dataclasses.replace(QUIET, metrics=False), metrics=m).call(GET, Backend().get, "a")
    assert m.snapshot() == {}


async def _one_ok_call(pipeline: Pipeline) -> None:
    async def backend() -> int:
        return 1

    await pipeline.call(Operation("kv", "get", "resource::kv::read", "resource::kv", True), backend, key="k")


@pytest.mark.anyio
async def test_unconfigured_structlog_falls_back_to_quiet_stdlib_logging(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    """A library stays quiet unless asked: successes are INFO on the stdlib logger, off by default."""
    import structlog

    structlog.reset_defaults()
    pipeline = Pipeline("kv", "memory", LayerSettings(retry=None))
    await _one_ok_call(pipeline)
    out = capsys.readouterr()
    assert "capability.call" not in out.out + out.err + caplog.text
    caplog.set_level(logging.INFO, logger="cap_opendal_core")
    await _one_ok_call(pipeline)
    assert "capability.call capability=kv op=get key=k" in caplog.text
