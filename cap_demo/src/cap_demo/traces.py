"""``caps demo --otel``: the run's OpenTelemetry spans, kept in memory and printed as a tree.

The demo builds its own tracer provider (OpenTelemetry SDK, in-memory exporter) and hands it to every
capability through ``LayerSettings(otel=OtelSettings(...))`` — nothing global is installed — with queue
trace context on, so the consumer's spans link back to the sends. Each node execution is a span of its
own, so the tree reads flow → node → capability call. Sibling spans with the same name are folded into
one line (``kv.put x20``) with their summed time (concurrent spans overlap, so a folded line may
add up to more than its parent), so a hundred events stay readable.

Needs the OpenTelemetry SDK (``pip install opentelemetry-sdk``); without it ``--otel`` says so and the
demo runs without traces.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from cap_opendal_core.layers import LayerSettings

__all__ = ["DemoTracing", "render_tree"]

_SYSTEM_ATTRIBUTES = ("messaging.system", "db.system.name", "cap.object_store", "rpc.system")


class DemoTracing:
    """An SDK tracer provider with an in-memory exporter, and the layer settings that use it."""

    def __init__(self) -> None:
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider()
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.tracer = self.provider.get_tracer("cap_demo")

    @classmethod
    def create(cls) -> DemoTracing | None:
        """None when the OpenTelemetry SDK is not installed."""
        try:
            return cls()
        except ImportError:
            return None

    def settings(self) -> LayerSettings:
        from cap_opendal_core.layers import LayerSettings, OtelSettings

        return LayerSettings(otel=OtelSettings(tracer_provider=self.provider, queue_trace_context=True))

    @contextmanager
    def span(self, name: str) -> Iterator[None]:
        with self.tracer.start_as_current_span(name):
            yield

    def spans(self) -> list[Any]:
        return list(self.exporter.get_finished_spans())


def _system(span: Any) -> str:
    attributes = span.attributes or {}
    for name in _SYSTEM_ATTRIBUTES:
        if name in attributes:
            return f"{name}={attributes[name]}"
    return ""


def render_tree(out: TextIO, spans: Sequence[Any], *, indent: str = "  ") -> int:
    """Print ``spans`` as an indented tree, same-named siblings folded; returns the lines printed."""
    ids = {s.context.span_id for s in spans}
    children: dict[int | None, list[Any]] = {}
    for s in sorted(spans, key=lambda s: s.start_time or 0):
        parent = s.parent.span_id if s.parent is not None and s.parent.span_id in ids else None
        children.setdefault(parent, []).append(s)
    lines = 0

    def walk(group: list[Any], depth: int) -> None:
        nonlocal lines
        by_name: dict[str, list[Any]] = {}
        for s in group:
            by_name.setdefault(s.name, []).append(s)
        for name, same in by_name.items():
            total_ms = sum(((s.end_time or 0) - (s.start_time or 0)) for s in same) / 1e6
            count = f" x{len(same)}" if len(same) > 1 else ""
            links = sum(len(s.links) for s in same)
            errors = sum(1 for s in same if not s.status.is_ok)
            notes = [n for n in (_system(same[0]),) if n]
            if links:
                notes.append(f"{links} link{'s' if links != 1 else ''} to producer spans")
            if errors:
                notes.append(f"{errors} error{'s' if errors != 1 else ''}")
            detail = f"  [{'; '.join(notes)}]" if notes else ""
            print(f"{indent}{'  ' * depth}{name}{count}  {total_ms:.1f} ms{detail}", file=out)
            lines += 1
            walk([c for s in same for c in children.get(s.context.span_id, ())], depth + 1)

    walk(children.get(None, []), 0)
    return lines
