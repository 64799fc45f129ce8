"""The OpenTelemetry layer: one span per capability call, and the call's duration and retries as metrics.

Optional (``pip install 'cap-opendal-core[otel]'``) and off unless asked for — ``LayerSettings(otel=
True)``, an :class:`~cap_opendal_core.layers.settings.OtelSettings`, or ``CAP_OTEL=1`` — and inert in
a Worker unless ``OtelSettings(workers=True)``. OpenTelemetry is imported when a pipeline with the
layer on is *built*, never by importing this module: with the layer off nothing imports it and a call
costs what it did before.

Each call gets a span named ``capability.operation`` (``kv.get``, ``queue.send``), a child of the
current span, made current while the call runs (so a claim-check upload inside a send is its child).
Core sets ``cap.capability``, ``cap.operation``, ``cap.backend``, ``cap.attempts`` (when retried) and
``error.type`` (the error's code) on failure; the package's hook
(:mod:`cap_opendal_core.layers.attributes`) adds the semantic-convention attributes of its service and
names the attribute the key goes under. Keys pass through :func:`cap_opendal_core.redact.scrub`, as in
the log layer; values and arguments never reach a span. A failure sets the span's status to ERROR with
the scrubbed message and adds an ``exception`` event (type and scrubbed message, no stack trace: a
trace is where a message's secrets would slip through).

Metrics: ``cap.client.operation.duration`` (histogram, seconds, one observation per call with every
attempt included) and ``cap.client.retries`` (counter), both with ``cap.capability``, ``cap.operation``,
``cap.backend``, ``cap.outcome`` (``ok``, an error code, or ``cancelled``) and ``error.type`` on failure.

Queues carry trace context across the queue with :func:`trace_carrier` (producer side) and
:func:`link_current_span` / :func:`process_span` (consumer side); see ``docs/layers.md``.
"""

from __future__ import annotations

import sys
from contextlib import AbstractContextManager, contextmanager, nullcontext
from time import perf_counter
from typing import TYPE_CHECKING, Any, Final

from ..errors import CapabilityError
from .attributes import AttributeValue, SpanFacts, span_attributes_for

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping

    from .call import Call, Invoke, Layer
    from .operation import Operation
    from .settings import OtelSettings

__all__ = [
    "DURATION_METRIC",
    "INSTRUMENTATION_NAME",
    "RETRIES_METRIC",
    "link_current_span",
    "otel_layer",
    "process_span",
    "trace_carrier",
]

INSTRUMENTATION_NAME: Final = "cap_opendal_core"
"""The tracer's and meter's instrumentation scope name."""
DURATION_METRIC: Final = "cap.client.operation.duration"
RETRIES_METRIC: Final = "cap.client.retries"
_BUCKETS: Final = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_KEY_CACHE_MAX: Final = 1024


def _version() -> str:
    from .. import __version__

    return __version__


def _tracer(settings: OtelSettings | None) -> Any:
    from opentelemetry import trace

    provider: Any = None if settings is None else settings.tracer_provider
    if provider is None:
        provider = trace.get_tracer_provider()
    return provider.get_tracer(INSTRUMENTATION_NAME, _version())


class _OpInfo:
    """What every span of one operation shares, worked out on its first call."""

    __slots__ = ("_own", "attributes", "key_attribute", "kind", "metric_attributes", "name")

    def __init__(self, op: Operation, backend: str, kinds: Mapping[str, Any]) -> None:
        hook = span_attributes_for(op.capability)
        facts = hook(op) if hook is not None else SpanFacts({})
        self.name = op.qualified_name
        self.kind = kinds.get(facts.kind, kinds["client"])
        own: dict[str, AttributeValue] = {
            "cap.capability": op.capability,
            "cap.operation": op.name,
            "cap.backend": backend,
        }
        self.attributes: dict[str, AttributeValue] = {**own, **dict(facts.attributes)}
        self.key_attribute = facts.key_attribute
        self.metric_attributes: dict[str, dict[str, AttributeValue]] = {}
        self._own = own

    def metric_attrs(self, outcome: str) -> dict[str, AttributeValue]:
        """Core's attributes only (the package's follow from ``cap.capability``): each one costs the
        SDK a little on every record, and metric attributes must stay few."""
        attrs = self.metric_attributes.get(outcome)
        if attrs is None:
            attrs = {**self._own, "cap.outcome": outcome}
            if outcome not in ("ok", "cancelled"):
                attrs["error.type"] = outcome
            self.metric_attributes[outcome] = attrs
        return attrs


def otel_layer(backend: str, settings: OtelSettings) -> Layer:
    """The layer, bound to the providers ``settings`` names (the global ones by default)."""
    from opentelemetry import context as otel_context
    from opentelemetry import metrics as otel_metrics
    from opentelemetry import trace
    from opentelemetry.trace import SpanKind, Status, StatusCode

    from .. import redact

    tracer = _tracer(settings)
    meter_provider: Any = settings.meter_provider or otel_metrics.get_meter_provider()
    meter = meter_provider.get_meter(INSTRUMENTATION_NAME, _version())
    duration = meter.create_histogram(
        DURATION_METRIC,
        unit="s",
        description="Duration of one capability call, every attempt included",
        explicit_bucket_boundaries_advisory=_BUCKETS,
    )
    retries = meter.create_counter(
        RETRIES_METRIC, unit="{retry}", description="Attempts after the first, per capability call"
    )
    kinds = {
        "client": SpanKind.CLIENT,
        "producer": SpanKind.PRODUCER,
        "consumer": SpanKind.CONSUMER,
        "internal": SpanKind.INTERNAL,
    }
    infos: dict[Operation, _OpInfo] = {}
    keys: dict[str, str] = {}
    key_pattern: list[object] = [None]  # the secret registry's pattern the cached keys were scrubbed with
    start_span = tracer.start_span
    set_span_in_context = trace.set_span_in_context
    attach, detach = otel_context.attach, otel_context.detach
    record_duration, add_retries = duration.record, retries.add
    scrub = redact.scrub

    def scrubbed(key: str) -> str:
        pattern = redact._registry_pattern()
        if pattern is not key_pattern[0]:  # a secret was registered since: scrub again
            keys.clear()
            key_pattern[0] = pattern
        shown = keys.get(key)
        if shown is None:
            shown = scrub(key)
            if len(keys) >= _KEY_CACHE_MAX:
                keys.clear()
            keys[key] = shown
        return shown

    def finish(span: Any, info: _OpInfo, call: Call, outcome: str, started: float) -> None:
        elapsed = perf_counter() - started
        attrs = info.metric_attrs(outcome)
        if call.attempts > 1:
            span.set_attribute("cap.attempts", call.attempts)
            add_retries(call.attempts - 1, attrs)
        record_duration(elapsed, attrs)
        span.end()

    def wrap(next_step: Invoke) -> Invoke:
        async def traced(call: Call) -> Any:
            op = call.op
            info = infos.get(op)
            if info is None:
                info = infos[op] = _OpInfo(op, backend, kinds)
            attributes = info.attributes
            if call.key is not None and info.key_attribute is not None:
                attributes = {**attributes, info.key_attribute: scrubbed(call.key)}
            span = start_span(info.name, kind=info.kind, attributes=attributes)
            # An invalid span (the API's no-op tracer) has nothing for nested calls to join.
            token = attach(set_span_in_context(span)) if span.get_span_context().is_valid else None
            started = perf_counter()
            try:
                result = await next_step(call)
            except CapabilityError as err:
                if token is not None:
                    detach(token)
                message = scrub(err.message)
                span.set_attribute("error.type", err.code)
                span.set_status(Status(StatusCode.ERROR, message))
                span.add_event(
                    "exception", {"exception.type": type(err).__qualname__, "exception.message": message}
                )
                finish(span, info, call, err.code, started)
                raise
            except BaseException:
                if token is not None:
                    detach(token)
                span.set_attribute("cap.outcome", "cancelled")
                finish(span, info, call, "cancelled", started)
                raise
            if token is not None:
                detach(token)
            finish(span, info, call, "ok", started)
            return result

        return traced

    return wrap


# -- trace context across queues ---------------------------------------------------------------------


def _loaded() -> bool:
    """True once something imported OpenTelemetry: until then there is no span to carry or link."""
    return "opentelemetry.trace" in sys.modules


def trace_carrier() -> dict[str, str] | None:
    """The current span's W3C trace context (``traceparent``, and ``tracestate`` when set), or None
    when there is no valid current span — or OpenTelemetry was never imported (then this costs a dict
    lookup). Always W3C, whatever global propagator the application set: it is a wire format."""
    if not _loaded():
        return None
    from opentelemetry import trace
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    if not trace.get_current_span().get_span_context().is_valid:
        return None
    carrier: dict[str, str] = {}
    TraceContextTextMapPropagator().inject(carrier)
    return carrier or None


def _span_contexts(carriers: Iterable[Mapping[str, str] | None]) -> list[Any]:
    from opentelemetry import trace
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    propagator = TraceContextTextMapPropagator()
    found = []
    for carrier in carriers:
        if not carrier:
            continue
        context = trace.get_current_span(propagator.extract(dict(carrier))).get_span_context()
        if context.is_valid:
            found.append(context)
    return found


def link_current_span(carriers: Iterable[Mapping[str, str] | None]) -> int:
    """Link the current span (a queue pull's) to the producers' contexts in ``carriers``; returns how
    many links were added. Does nothing without a recording current span or OpenTelemetry loaded."""
    if not _loaded():
        return 0
    from opentelemetry import trace

    span = trace.get_current_span()
    if not span.is_recording():
        return 0
    contexts = _span_contexts(carriers)
    for context in contexts:
        span.add_link(context)
    return len(contexts)


def process_span(
    settings: OtelSettings | None,
    name: str,
    attributes: Mapping[str, AttributeValue],
    carriers: Iterable[Mapping[str, str] | None],
) -> AbstractContextManager[Any]:
    """A CONSUMER span around handling a batch, linked to every producer context in ``carriers``;
    a do-nothing context when ``settings`` is None (the layer is off)."""
    if settings is None:
        return nullcontext()
    return _process_span(settings, name, attributes, carriers)


@contextmanager
def _process_span(
    settings: OtelSettings,
    name: str,
    attributes: Mapping[str, AttributeValue],
    carriers: Iterable[Mapping[str, str] | None],
) -> Iterator[Any]:
    from opentelemetry.trace import Link, SpanKind, Status, StatusCode

    links = [Link(context) for context in _span_contexts(carriers)]
    tracer = _tracer(settings)
    with tracer.start_as_current_span(
        name,
        kind=SpanKind.CONSUMER,
        attributes=dict(attributes),
        links=links,
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        try:
            yield span
        except CapabilityError as err:
            from ..redact import scrub

            span.set_attribute("error.type", err.code)
            span.set_status(Status(StatusCode.ERROR, scrub(err.message)))
            raise
        except Exception as exc:
            span.set_attribute("error.type", type(exc).__qualname__)
            span.set_status(Status(StatusCode.ERROR))
            raise
