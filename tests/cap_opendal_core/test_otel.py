"""The OpenTelemetry layer: a span per call, errors as status and events, metrics, switches, imports."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from opentelemetry.trace import SpanKind, StatusCode

from cap_opendal_core import InvalidInput, LayerSettings, NotFound, Unavailable
from cap_opendal_core.layers import Operation, OtelSettings, Pipeline, RetryPolicy, SpanFacts
from cap_opendal_core.layers.attributes import register_span_attributes
from cap_opendal_core.layers.otel import DURATION_METRIC, RETRIES_METRIC
from cap_opendal_core.metrics import Metrics
from cap_opendal_core.redact import register_secret
from tests.support.otel import Recorder

pytestmark = pytest.mark.anyio

FETCH = Operation("otel_test", "fetch", "resource::http::read", "resource::http", idempotent=True)
UNKNOWN = Operation("otel_unregistered", "go", "resource::http::read", "resource::http", idempotent=True)
register_span_attributes(
    "otel_test",
    lambda op: SpanFacts({"test.system": "stand-in", "test.op": op.name}, key_attribute="test.key"),
)


class Flaky:
    """Fails the first ``failures`` calls with ``error``, then answers."""

    def __init__(self, error: BaseException | None = None, failures: int = 0) -> None:
        self.calls = 0
        self.error = error
        self.failures = failures

    async def fetch(self, key: str) -> str:
        self.calls += 1
        if self.error is not None and self.calls <= self.failures:
            raise self.error
        return f"value-of-{key}"


def build(recorder: Recorder, **layer_options: object) -> Pipeline:
    options: dict[str, object] = {"logging": False, **layer_options}
    return Pipeline("otel_test", "stand-in", recorder.settings(**options), metrics=Metrics())


async def test_one_span_per_call_with_core_and_package_attributes() -> None:
    rec = Recorder()
    pipe = build(rec)
    assert "otel" in pipe.layers
    assert pipe.layers.index("otel") < pipe.layers.index("metrics")
    assert await pipe.call(FETCH, Flaky().fetch, "a", key="user:1") == "value-of-a"
    span = rec.span("otel_test.fetch")
    assert span.kind is SpanKind.CLIENT
    assert dict(span.attributes or {}) == {
        "cap.capability": "otel_test",
        "cap.operation": "fetch",
        "cap.backend": "stand-in",
        "test.system": "stand-in",
        "test.op": "fetch",
        "test.key": "user:1",
    }
    assert span.status.status_code is StatusCode.UNSET


async def test_an_operation_without_a_hook_gets_core_attributes_and_cap_key() -> None:
    rec = Recorder()
    pipe = build(rec)
    await pipe.call(UNKNOWN, Flaky().fetch, "a", key="k")
    attributes = dict(rec.span("otel_unregistered.go").attributes or {})
    assert attributes["cap.key"] == "k"
    assert attributes["cap.capability"] == "otel_unregistered"


async def test_a_failure_is_an_error_status_an_exception_event_and_error_type() -> None:
    rec = Recorder()
    pipe = build(rec, retry=None)
    with pytest.raises(NotFound):
        await pipe.call(FETCH, Flaky(NotFound("no such thing"), failures=1).fetch, "a", key="a")
    span = rec.span("otel_test.fetch")
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "no such thing"
    assert (span.attributes or {})["error.type"] == "not_found"
    (event,) = span.events
    assert event.name == "exception"
    assert dict(event.attributes or {}) == {
        "exception.type": "NotFound",
        "exception.message": "no such thing",
    }
    (point,) = rec.points(DURATION_METRIC)
    assert point.attributes["cap.outcome"] == "not_found"
    assert point.attributes["error.type"] == "not_found"


async def test_secrets_never_reach_a_span() -> None:
    secret = "s3cr3t-token-for-otel-test-0123456789"
    register_secret(secret)
    rec = Recorder()
    pipe = build(rec, retry=None)
    with pytest.raises(Unavailable):
        await pipe.call(
            FETCH,
            Flaky(Unavailable(f"upstream said {secret}"), failures=1).fetch,
            "a",
            key=f"k/{secret}",
        )
    span = rec.span("otel_test.fetch")
    events = [dict(e.attributes or {}) for e in span.events]
    shown = json.dumps([dict(span.attributes or {}), span.status.description, events])
    assert secret not in shown
    assert str((span.attributes or {})["test.key"]).startswith("k/")


async def test_retries_are_one_span_and_counted_as_a_metric() -> None:
    rec = Recorder()
    pipe = build(rec, retry=RetryPolicy(attempts=3, base=0.001, cap=0.001))
    backend = Flaky(Unavailable("try again"), failures=2)
    assert await pipe.call(FETCH, backend.fetch, "a", key="a") == "value-of-a"
    (span,) = rec.spans()
    assert (span.attributes or {})["cap.attempts"] == 3
    (retries,) = rec.points(RETRIES_METRIC)
    assert retries.value == 2
    (duration,) = rec.points(DURATION_METRIC)
    assert duration.count == 1
    assert duration.attributes["cap.outcome"] == "ok"


async def test_calls_nest_under_the_current_span() -> None:
    rec = Recorder()
    pipe = build(rec)

    async def outer(key: str) -> str:
        return await pipe.call(FETCH, Flaky().fetch, key, key=key)

    outer_op = Operation("otel_test", "outer", "resource::http::read", "resource::http", idempotent=True)
    await pipe.call(outer_op, outer, "a", key="a")
    inner, parent = rec.spans()
    assert parent.name == "otel_test.outer"
    assert inner.parent is not None
    assert inner.parent.span_id == parent.context.span_id


def test_switches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CAP_OTEL", raising=False)
    assert LayerSettings().otel_settings() is None
    assert LayerSettings(otel=True).otel_settings() == OtelSettings()
    monkeypatch.setenv("CAP_OTEL", "1")
    assert LayerSettings().otel_settings() == OtelSettings()
    assert LayerSettings(otel=False).otel_settings() is None
    assert LayerSettings.off().otel_settings() is None
    assert "otel" in Pipeline("kv", "test").layers
    monkeypatch.setenv("CAP_OTEL", "0")
    assert "otel" not in Pipeline("kv", "test").layers


def test_inert_in_a_worker_unless_opted_in(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAP_OTEL", "1")
    monkeypatch.setattr(sys, "platform", "emscripten")
    assert LayerSettings().otel_settings() is None
    assert LayerSettings(otel=True).otel_settings() is None
    assert LayerSettings(otel=OtelSettings(workers=True)).otel_settings() == OtelSettings(workers=True)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: LayerSettings(otel="yes"), "LayerSettings.otel must be"),  # type: ignore[arg-type]
        (lambda: OtelSettings(workers=1), "OtelSettings.workers must be a bool"),  # type: ignore[arg-type]
    ],
)
def test_bad_settings_are_refused(make: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()  # type: ignore[operator]


async def test_bad_input_refused_before_the_pipeline_makes_no_span() -> None:
    from cap_cloudflare_kv import KvNamespace

    rec = Recorder()
    async with KvNamespace.from_url("memory://", settings=rec.settings(logging=False)) as kv:
        with pytest.raises(InvalidInput):
            await kv.put("", "x")
    assert rec.spans() == []


def test_nothing_imports_opentelemetry_while_the_layer_is_off() -> None:
    """Every package imported and a call made, with CAP_OTEL unset: opentelemetry never loads."""
    code = (
        "import sys, anyio\n"
        "import cap_cloudflare_kv, cap_cloudflare_r2, cap_cloudflare_queue, cap_cloudflare_do\n"
        "from cap_cloudflare_kv import KvNamespace\n"
        "async def main():\n"
        "    async with KvNamespace.from_url('memory://') as kv:\n"
        "        await kv.put('a', '1')\n"
        "anyio.run(main)\n"
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))\n"
    )
    env = {k: v for k, v in __import__("os").environ.items() if k != "CAP_OTEL"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "[]"


async def test_with_the_api_no_op_providers_calls_and_errors_pass_through() -> None:
    """No SDK configured (the global providers are OpenTelemetry's no-op ones): nothing changes."""
    pipe = Pipeline("otel_test", "stand-in", LayerSettings(otel=True, logging=False, retry=None))
    assert "otel" in pipe.layers
    assert await pipe.call(FETCH, Flaky().fetch, "a", key="a") == "value-of-a"
    with pytest.raises(NotFound):
        await pipe.call(FETCH, Flaky(NotFound("gone"), failures=1).fetch, "a", key="a")
