"""OpenTelemetry's own in-memory exporters, wired to the OTel layer through ``OtelSettings``.

Providers are passed explicitly (never installed globally), so tests do not leak spans into each other.
"""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from cap_opendal_core.layers import LayerSettings, OtelSettings


class Recorder:
    """Spans and metric points recorded by pipelines built with :meth:`settings`."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])

    def otel(self, **options: Any) -> OtelSettings:
        return OtelSettings(
            tracer_provider=self.tracer_provider, meter_provider=self.meter_provider, **options
        )

    def settings(self, **layer_options: Any) -> LayerSettings:
        otel_options = layer_options.pop("otel_options", {})
        return LayerSettings(otel=self.otel(**otel_options), **layer_options)

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def span(self, name: str) -> ReadableSpan:
        found = [s for s in self.spans() if s.name == name]
        assert len(found) == 1, f"{len(found)} spans named {name!r} in {[s.name for s in self.spans()]}"
        return found[0]

    def points(self, metric: str) -> list[Any]:
        data = self.reader.get_metrics_data()
        if data is None:
            return []
        return [
            point
            for rm in data.resource_metrics
            for sm in rm.scope_metrics
            for m in sm.metrics
            if m.name == metric
            for point in m.data.data_points
        ]
