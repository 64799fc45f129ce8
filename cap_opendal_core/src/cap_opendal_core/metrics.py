"""In-process call metrics: counters and latency histograms per (capability, operation, outcome).

No external service: a host reads :meth:`Metrics.snapshot` (a plain dict) and ships it wherever it
likes. Recording must cost next to nothing because it runs on every call, so a series is a dict lookup,
a bisect into fixed log-spaced buckets and a few integer adds; percentiles are estimated only when a
snapshot is taken. ``outcome`` is ``"ok"``, an error ``code`` (``"unavailable"`` …) or ``"cancelled"``.

Counters are plain integers updated without a lock: exact within one event loop, approximate if
several threads share one instance.

The process-wide instance is :data:`metrics`; this module's own :func:`snapshot` and :func:`reset`
act on it, so ``cap_opendal_core.metrics.snapshot()`` reads it whether ``metrics`` names this module
(``from cap_opendal_core import metrics``) or the instance (``from cap_opendal_core.metrics import
metrics``).
"""

from __future__ import annotations

from bisect import bisect_left
from typing import Any

__all__ = ["BUCKET_BOUNDS", "Metrics", "metrics", "reset", "snapshot"]

BUCKET_BOUNDS: tuple[float, ...] = tuple(10 ** (k / 4) for k in range(-24, 9))
"""Upper bounds (seconds) of the latency buckets: four per decade from 1 µs to 100 s, then overflow."""

_QUANTILES = (("p50", 0.5), ("p90", 0.9), ("p99", 0.99))


class _Series:
    __slots__ = ("buckets", "count", "max", "min", "total")

    def __init__(self, n_buckets: int) -> None:
        self.count = 0
        self.total = 0.0
        self.min = float("inf")
        self.max = 0.0
        self.buckets = [0] * n_buckets


class Metrics:
    """Counters and latency histograms; see the module docstring. Pass your own to a pipeline, or use
    the process-wide :data:`metrics`."""

    def __init__(self, bounds: tuple[float, ...] = BUCKET_BOUNDS) -> None:
        if not bounds or any(b <= 0 for b in bounds) or list(bounds) != sorted(set(bounds)):
            raise ValueError("Metrics: bucket bounds must be positive and strictly increasing")
        self._bounds = tuple(float(b) for b in bounds)
        self._series: dict[tuple[str, str, str], _Series] = {}
        self._retries: dict[tuple[str, str], int] = {}

    @property
    def bounds(self) -> tuple[float, ...]:
        return self._bounds

    def observe(self, capability: str, operation: str, outcome: str, seconds: float) -> None:
        """Count one finished call and its duration."""
        key = (capability, operation, outcome)
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = _Series(len(self._bounds) + 1)
        series.count += 1
        series.total += seconds
        if seconds < series.min:
            series.min = seconds
        if seconds > series.max:
            series.max = seconds
        series.buckets[bisect_left(self._bounds, seconds)] += 1

    def retry(self, capability: str, operation: str, n: int = 1) -> None:
        """Count ``n`` retries (attempts after the first) of an operation."""
        key = (capability, operation)
        self._retries[key] = self._retries.get(key, 0) + n

    def reset(self) -> None:
        """Forget everything recorded so far."""
        self._series = {}
        self._retries = {}

    def snapshot(self) -> dict[str, Any]:
        """Everything recorded, as ``{capability: {operation: {...}}}`` of plain values.

        Per operation: ``count``, ``ok``, ``errors`` (by code), ``cancelled``, ``retries``,
        ``total_seconds`` and ``p50``/``p90``/``p99`` over all outcomes; ``outcomes`` has the same
        figures (plus ``min``, ``max`` and the non-empty ``histogram`` buckets as
        ``[upper_bound_seconds or None for overflow, count]``) per outcome. Percentiles are estimates
        interpolated within a bucket, clamped to the observed min and max.
        """
        series = dict(self._series)
        retries = dict(self._retries)
        out: dict[str, Any] = {}
        ops: dict[tuple[str, str], list[tuple[str, _Series]]] = {}
        for (cap, op, outcome), s in series.items():
            ops.setdefault((cap, op), []).append((outcome, s))
        for cap_op in retries:
            ops.setdefault(cap_op, [])
        for (cap, op), items in sorted(ops.items()):
            n_buckets = len(self._bounds) + 1
            merged = _Series(n_buckets)
            outcomes: dict[str, Any] = {}
            errors: dict[str, int] = {}
            ok = cancelled = 0
            for outcome, s in sorted(items, key=lambda item: item[0]):
                merged.count += s.count
                merged.total += s.total
                merged.min = min(merged.min, s.min)
                merged.max = max(merged.max, s.max)
                merged.buckets = [a + b for a, b in zip(merged.buckets, s.buckets, strict=True)]
                if outcome == "ok":
                    ok += s.count
                elif outcome == "cancelled":
                    cancelled += s.count
                else:
                    errors[outcome] = errors.get(outcome, 0) + s.count
                outcomes[outcome] = {
                    "count": s.count,
                    "total_seconds": s.total,
                    "min": s.min,
                    "max": s.max,
                    **self._quantiles(s),
                    "histogram": [
                        [self._bounds[i] if i < len(self._bounds) else None, c]
                        for i, c in enumerate(s.buckets)
                        if c
                    ],
                }
            out.setdefault(cap, {})[op] = {
                "count": merged.count,
                "ok": ok,
                "errors": errors,
                "cancelled": cancelled,
                "retries": retries.get((cap, op), 0),
                "total_seconds": merged.total,
                **self._quantiles(merged),
                "outcomes": outcomes,
            }
        return out

    def _quantiles(self, s: _Series) -> dict[str, float | None]:
        return {name: self._estimate(s, q) for name, q in _QUANTILES}

    def _estimate(self, s: _Series, q: float) -> float | None:
        if s.count == 0:
            return None
        rank = q * s.count
        cumulative = 0
        for i, c in enumerate(s.buckets):
            if c == 0:
                continue
            if cumulative + c >= rank:
                lower = self._bounds[i - 1] if i > 0 else 0.0
                upper = self._bounds[i] if i < len(self._bounds) else s.max
                lower = max(lower, s.min)
                upper = min(upper, s.max)
                fraction = (rank - cumulative) / c
                return lower + (upper - lower) * fraction
            cumulative += c
        return s.max

    def __repr__(self) -> str:
        calls = sum(s.count for s in self._series.values())
        return f"Metrics(series={len(self._series)}, calls={calls})"


metrics = Metrics()
"""The process-wide default every pipeline records into unless given its own."""


def snapshot() -> dict[str, Any]:
    """:meth:`Metrics.snapshot` of the process-wide :data:`metrics`."""
    return metrics.snapshot()


def reset() -> None:
    """:meth:`Metrics.reset` of the process-wide :data:`metrics`."""
    metrics.reset()
