"""Which layers a pipeline runs and how each is tuned. Every layer is optional."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

__all__ = ["LOG_LEVELS", "OTEL_ENV_VAR", "LayerSettings", "OtelSettings", "RetryPolicy"]

LOG_LEVELS: dict[str, int] = {"debug": 10, "info": 20, "warning": 30, "error": 40, "critical": 50}
"""structlog's level names and their stdlib numbers (same values as :mod:`logging`)."""

OTEL_ENV_VAR = "CAP_OTEL"
"""``CAP_OTEL=1`` turns the OpenTelemetry layer on for every pipeline whose settings leave ``otel``
unset (``None``); ``CAP_OTEL=0`` (or unset) leaves it off. Read when a pipeline is built."""


def _number(owner: str, name: str, value: object, *, minimum: float, allow_zero: bool = True) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < minimum
        or (not allow_zero and value == minimum)
    ):
        bound = f">= {minimum}" if allow_zero else f"> {minimum}"
        raise ValueError(f"{owner}.{name} must be a finite number {bound}, got {value!r}")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with full jitter, for retryable errors of idempotent operations.

    ``attempts`` counts every try including the first. Before retry *n* (1, 2, …) the pipeline sleeps
    ``uniform(0, min(cap, base * 2 ** (n - 1)))`` seconds (without ``jitter``: the upper end), or at
    least a ``retry_after`` the service gave (``RateLimited``, or ``Unavailable`` from a 503 with
    ``Retry-After``) — unless that is over ``max_retry_after``, in which case the error is raised
    instead of waiting that long.
    """

    attempts: int = 3
    base: float = 0.05
    cap: float = 2.0
    jitter: bool = True
    max_retry_after: float = 30.0

    def __post_init__(self) -> None:
        if not isinstance(self.attempts, int) or isinstance(self.attempts, bool) or self.attempts < 1:
            raise ValueError(f"RetryPolicy.attempts must be an int >= 1, got {self.attempts!r}")
        _number("RetryPolicy", "base", self.base, minimum=0)
        _number("RetryPolicy", "cap", self.cap, minimum=0)
        _number("RetryPolicy", "max_retry_after", self.max_retry_after, minimum=0)
        if not isinstance(self.jitter, bool):
            raise ValueError(f"RetryPolicy.jitter must be a bool, got {self.jitter!r}")

    def backoff(self, retry: int, fraction: float) -> float:
        """Seconds to wait before retry number ``retry`` (1-based); ``fraction`` is a uniform [0, 1) draw."""
        ceiling = min(self.cap, self.base * 2.0 ** (retry - 1))
        return ceiling * fraction if self.jitter else ceiling


@dataclass(frozen=True, slots=True)
class OtelSettings:
    """How the OpenTelemetry layer reports (``LayerSettings(otel=OtelSettings(...))``).

    ``tracer_provider`` and ``meter_provider`` default to OpenTelemetry's global ones (whatever the
    application installed; the API's no-op ones otherwise). ``queue_trace_context`` makes queue
    producers wrap JSON bodies in a small envelope carrying the W3C ``traceparent`` — off by default,
    because a consumer that does not use this SDK would see the envelope instead of its body (Queues
    messages have no headers). ``workers`` opts a Worker (Pyodide) in: there the layer is inert
    unless this is True, whatever ``otel=True`` or ``CAP_OTEL`` say, since every import and every
    span costs CPU time the Worker is billed for.
    """

    tracer_provider: object = None
    meter_provider: object = None
    queue_trace_context: bool = False
    workers: bool = False

    def __post_init__(self) -> None:
        for name in ("queue_trace_context", "workers"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"OtelSettings.{name} must be a bool, got {getattr(self, name)!r}")


@dataclass(frozen=True)
class LayerSettings:
    """The layers a :class:`~cap_opendal_core.layers.Pipeline` runs; see that module for their order.

    ``deadline`` is a per-call timeout in seconds; independently, ``scope_deadline`` makes calls honour
    the invocation scope's deadline. ``concurrency`` caps calls in flight through one pipeline.
    :meth:`off` turns everything off (the OpenTelemetry layer included, whatever ``CAP_OTEL`` says).
    """

    hints: bool = True
    logging: bool = True
    log_level: str = "info"
    metrics: bool = True
    deadline: float | None = None
    scope_deadline: bool = True
    retry: RetryPolicy | None = field(default_factory=RetryPolicy)
    concurrency: int | None = None
    otel: bool | OtelSettings | None = None
    """The OpenTelemetry layer: ``True`` (global providers), an :class:`OtelSettings`, ``False``
    (off), or ``None`` (the default: on when the ``CAP_OTEL`` environment variable is ``1``)."""

    def __post_init__(self) -> None:
        for name in ("hints", "logging", "metrics", "scope_deadline"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"LayerSettings.{name} must be a bool, got {getattr(self, name)!r}")
        if self.log_level not in LOG_LEVELS:
            raise ValueError(
                f"LayerSettings.log_level must be one of {', '.join(LOG_LEVELS)}, got {self.log_level!r}"
            )
        if self.deadline is not None:
            _number("LayerSettings", "deadline", self.deadline, minimum=0, allow_zero=False)
        if self.retry is not None and not isinstance(self.retry, RetryPolicy):
            raise ValueError(f"LayerSettings.retry must be a RetryPolicy or None, got {self.retry!r}")
        if self.concurrency is not None and (
            not isinstance(self.concurrency, int)
            or isinstance(self.concurrency, bool)
            or self.concurrency < 1
        ):
            raise ValueError(
                f"LayerSettings.concurrency must be an int >= 1 or None, got {self.concurrency!r}"
            )
        if self.otel is not None and not isinstance(self.otel, bool | OtelSettings):
            raise ValueError(
                f"LayerSettings.otel must be True, False, None or an OtelSettings, got {self.otel!r}"
            )

    def otel_settings(self) -> OtelSettings | None:
        """The OpenTelemetry settings in force for a pipeline built now, or None when the layer is
        off: ``otel`` as given, ``CAP_OTEL`` when it is None, and never in a Worker unless
        ``OtelSettings(workers=True)``."""
        import sys

        otel = self.otel
        if otel is None:
            import os

            otel = os.environ.get(OTEL_ENV_VAR, "").strip().lower() in ("1", "true", "yes", "on")
        if otel is False:
            return None
        chosen = OtelSettings() if otel is True else otel
        if sys.platform == "emscripten" and not chosen.workers:
            return None
        return chosen

    @classmethod
    def off(cls) -> LayerSettings:
        """Every layer off: a call costs little more than the bare backend call."""
        return cls(
            hints=False,
            logging=False,
            metrics=False,
            deadline=None,
            scope_deadline=False,
            retry=None,
            concurrency=None,
            otel=False,
        )
