"""Row 1: what the layer pipeline adds to a call, over awaiting the same backend coroutine bare.

Uses ``bench_pipeline``'s cases and timing (the bare loop and the pipeline loop alternate, repeat by
repeat); lines 1a (every layer off, goal ≤ 2 µs) and 1b (default layers, INFO filtered out, ≤ 5 µs).
Lines 1c and 1d measure what the OpenTelemetry layer adds on top of 1b's default layers, the two
pipelines alternating: 1c with the OTel SDK's tracer and meter providers and a span exporter that
drops everything (goal ≤ 5 µs), 1d with the OTel API's no-op providers (no SDK configured; context).
"""

from __future__ import annotations

import asyncio
import statistics
from dataclasses import dataclass
from typing import Any

import structlog

from benchmarks import bench_pipeline as bp
from cap_opendal_core.layers import LayerSettings, OtelSettings, Pipeline
from cap_opendal_core.metrics import Metrics

from .table import Line, RowReport, spread, verdict

TITLE = "Layer pipeline overhead per call"
OTEL_GOAL_US = 5.0


@dataclass(frozen=True)
class OtelResult:
    label: str
    without_us: float
    with_us: float
    added_us: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.added_us)


def _sdk_providers() -> tuple[Any, Any]:
    """The OTel SDK's providers with a span exporter that drops every span (no metric reader)."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

    class Drop(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(Drop()))
    return tracer_provider, MeterProvider()


def _sdk_floor(tracer_provider: Any, meter_provider: Any, calls: int, repeats: int) -> list[float]:
    """µs per call of the OTel SDK's own work alone, with the same providers: start a CLIENT span
    with five attributes, make it current, end it (the span processor and exporter run), and record
    one histogram value — the part of 1c no layer of ours can avoid while the SDK records."""
    import time

    from opentelemetry import trace
    from opentelemetry.trace import SpanKind

    tracer = tracer_provider.get_tracer("bench")
    histogram = meter_provider.get_meter("bench").create_histogram("bench.duration", unit="s")
    attributes = {
        "cloud.provider": "cloudflare",
        "db.system.name": "cloudflare_workers_kv",
        "db.operation.name": "get",
        "cap.capability": "kv",
        "cap.backend": "bench",
    }
    small = {"cap.capability": "kv", "cap.operation": "get"}

    def one() -> None:
        span = tracer.start_span("kv.get", kind=SpanKind.CLIENT, attributes=attributes)
        with trace.use_span(span, end_on_exit=True):
            pass
        histogram.record(0.001, small)

    for _ in range(min(calls, 2000)):
        one()
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            one()
        out.append((time.perf_counter() - start) / calls * 1e6)
    return out


async def _otel_added(label: str, otel: OtelSettings, calls: int, repeats: int) -> OtelResult:
    """(default layers + OTel) - (default layers), per call, the two loops alternating."""
    bp.structlog_filtering_at_warning(cache=True)()
    plain = Pipeline("kv", "bench", LayerSettings(otel=False), metrics=Metrics())
    traced = Pipeline("kv", "bench", LayerSettings(otel=otel), metrics=Metrics())

    def call(pipe: Pipeline) -> Any:
        return lambda: pipe.call(bp.GET, bp.backend_get, "user:1", key="user:1")

    without, with_ = call(plain), call(traced)
    await bp.time_loop(min(calls, 2000), without)
    await bp.time_loop(min(calls, 2000), with_)
    a: list[float] = []
    b: list[float] = []
    for i in range(repeats):
        if i % 2 == 0:
            a.append(await bp.time_loop(calls, without))
            b.append(await bp.time_loop(calls, with_))
        else:
            b.append(await bp.time_loop(calls, with_))
            a.append(await bp.time_loop(calls, without))
    return OtelResult(
        label,
        without_us=statistics.median(a) / calls * 1e6,
        with_us=statistics.median(b) / calls * 1e6,
        added_us=[(y - x) / calls * 1e6 for x, y in zip(a, b, strict=True)],
    )


def run(quick: bool) -> RowReport:
    calls, repeats = (4_000, 5) if quick else (20_000, 11)
    cases = bp.CASES[:2] if quick else bp.CASES

    async def measure() -> list[bp.Result]:
        return [await bp.run_case(case, calls, repeats) for case in cases]

    floor: list[float] = []

    async def measure_otel() -> list[OtelResult]:
        tracer_provider, meter_provider = _sdk_providers()
        sdk = OtelSettings(tracer_provider=tracer_provider, meter_provider=meter_provider)
        out = [
            await _otel_added("OTel SDK providers, no-op span exporter", sdk, calls, repeats),
            await _otel_added("OTel API no-op providers (no SDK configured)", OtelSettings(), calls, repeats),
        ]
        floor.extend(_sdk_floor(tracer_provider, meter_provider, calls, repeats))
        return out

    results = asyncio.run(measure())
    otel_results = asyncio.run(measure_otel())
    floor_us = statistics.median(floor)
    structlog.reset_defaults()
    lines = []
    for line_id, result, what in (
        ("1a", results[0], "capability call, every layer off"),
        ("1b", results[1], "capability call, default layers (INFO filtered out)"),
    ):
        goal = result.case.goal_us
        assert goal is not None
        lines.append(
            Line(
                line_id,
                what,
                f"+{result.median:.2f} µs/call",
                f"bare backend call {result.bare_us:.2f} µs",
                spread(result.overhead_us, unit=" µs"),
                f"≤ {goal:g} µs added",
                verdict(result.median, goal),
            )
        )
    for line_id, otel_result, goal_us in (
        ("1c", otel_results[0], OTEL_GOAL_US),
        ("1d", otel_results[1], None),
    ):
        floor_note = (
            f"; the SDK's own span + histogram record alone, same providers: {floor_us:.2f} µs (the floor "
            f"while the SDK records), so the layer's own part is {otel_result.median - floor_us:+.2f} µs"
            if line_id == "1c"
            else ""
        )
        lines.append(
            Line(
                line_id,
                f"OpenTelemetry layer on top of 1b: {otel_result.label}",
                f"+{otel_result.median:.2f} µs/call",
                f"default layers, OTel off {otel_result.without_us:.2f} µs{floor_note}",
                spread(otel_result.added_us, unit=" µs"),
                "—" if goal_us is None else f"≤ {goal_us:g} µs added",
                "—" if goal_us is None else verdict(otel_result.median, goal_us),
            )
        )
    otel_table = "\n".join(
        [
            "| OpenTelemetry case | OTel off µs/call | OTel on µs/call | added µs (median) | spread |",
            "| --- | ---: | ---: | ---: | ---: |",
            *(
                f"| {r.label} | {r.without_us:.3f} | {r.with_us:.3f} | {r.median:.3f} | "
                f"{min(r.added_us):.3f}..{max(r.added_us):.3f} |"
                for r in otel_results
            ),
        ]
    )
    detail = (
        "Overhead = (pipeline loop - bare loop) / calls, per repeat; a trivial backend coroutine, so "
        "only the pipeline is measured. Rows without a goal are context.\n\n"
        + bp.table(results)
        + "\n\nThe OpenTelemetry layer: (default layers with OTel - default layers without) / calls, "
        "per repeat, the two loops alternating. Most of 1c is the SDK's own span (start, attributes, "
        "end, the span processor) and two metric records; 1d is what the layer itself costs. The "
        f"floor under 1c — the SDK starting, making current and ending one CLIENT span with five "
        f"attributes and recording one histogram value, nothing of ours — measured in this run: "
        f"{floor_us:.2f} µs per call ({spread(floor, unit=' µs')}). A goal of 5 µs cannot be met while "
        "the Python SDK records spans; it is met with the API's no-op providers (1d) or when the SDK's "
        "sampler drops the span.\n\n" + otel_table
    )
    return RowReport(1, TITLE, lines, detail, settings={"calls per loop": calls, "repeats": repeats})
