"""The :class:`Pipeline`: the layers of :mod:`cap_opendal_core.layers`, composed once per capability."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import CapabilityError, Closed, Unsupported
from ..metrics import metrics as _default_metrics
from ..scope import _current
from .backend import invoke_backend, to_capability_error
from .call import Call
from .concurrency import concurrency_layer
from .deadline import deadline_layer
from .log import logging_layer
from .measure import metrics_layer
from .recording import hints_layer
from .retry import retry_layer
from .settings import LayerSettings

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from ..metrics import Metrics
    from .call import Invoke, Layer
    from .operation import Operation
    from .settings import OtelSettings

__all__ = ["Pipeline"]

T = TypeVar("T")


class Pipeline:
    """Runs a capability's backend calls through the layers ``settings`` turns on.

    ``capability`` and ``backend`` name what the calls go to (``"kv"``, ``"workers"``) for logs;
    ``metrics`` defaults to the process-wide :data:`cap_opendal_core.metrics.metrics`; ``logger`` to
    ``structlog.get_logger("cap_opendal_core")``, resolved on the first logged call.

    Two chains are composed at construction — one for calls inside an invocation scope, one for calls
    outside any (which need neither hint recording nor the scope's deadline) — and with every layer
    off :meth:`call` awaits the backend directly.
    """

    __slots__ = (
        "_bare",
        "_closed",
        "_scoped",
        "_unscoped",
        "asyncio_only",
        "backend",
        "capability",
        "layers",
        "metrics",
        "otel",
        "settings",
    )

    def __init__(
        self,
        capability: str,
        backend: str,
        settings: LayerSettings | None = None,
        *,
        metrics: Metrics | None = None,
        logger: Any = None,
    ) -> None:
        if not isinstance(capability, str) or not capability:
            raise ValueError(f"Pipeline: capability must be a non-empty string, got {capability!r}")
        if not isinstance(backend, str) or not backend:
            raise ValueError(f"Pipeline: backend must be a non-empty string, got {backend!r}")
        if settings is None:
            settings = LayerSettings()
        elif not isinstance(settings, LayerSettings):
            raise ValueError(f"Pipeline: settings must be a LayerSettings, got {type(settings).__name__}")
        self.capability = capability
        self.backend = backend
        self.settings = settings
        self.metrics = _default_metrics if metrics is None else metrics

        s = settings
        self.otel: OtelSettings | None = s.otel_settings()
        """The OpenTelemetry settings in force, or None when the layer is off (queues read it)."""
        layers: list[tuple[str, Layer, bool]] = []  # (name, layer, needed outside a scope)
        if s.hints:
            layers.append(("hints", hints_layer, False))
        if self.otel is not None:
            from .otel import otel_layer  # imports opentelemetry: only when the layer is on

            layers.append(("otel", otel_layer(backend, self.otel), True))
        if s.logging:
            layers.append(("logging", logging_layer(backend, s.log_level, logger), True))
        if s.metrics:
            layers.append(("metrics", metrics_layer(self.metrics), True))
        if s.deadline is not None or s.scope_deadline:
            layers.append(("deadline", deadline_layer(s.deadline, s.scope_deadline), s.deadline is not None))
        if s.retry is not None:
            retry_metrics = self.metrics if s.metrics else None
            layers.append(("retry", retry_layer(s.retry, retry_metrics, charge_budget=s.hints), True))
        if s.concurrency is not None:
            layers.append(("concurrency", concurrency_layer(s.concurrency), True))

        self.layers: tuple[str, ...] = tuple(name for name, _, _ in layers)
        """Names of the layers that are on, outermost first."""
        self._scoped = _compose([layer for _, layer, _ in layers])
        self._unscoped = _compose([layer for _, layer, outside in layers if outside])
        self._bare = self._scoped is None and self._unscoped is None
        self._closed = False
        self.asyncio_only = False
        """True when the backend runs only under asyncio on a runtime of its own (OpenDAL's
        ``AsyncOperator``): under trio, or in a child forked after that runtime started, a call is
        refused with ``Unsupported`` rather than failing obscurely or waiting forever."""

    @property
    def closed(self) -> bool:
        """True once :meth:`close` ran: every later :meth:`call` raises ``Closed``."""
        return self._closed

    def close(self) -> None:
        """Refuse every later call (the capability that owns this pipeline was closed)."""
        self._closed = True

    async def call(
        self,
        op: Operation,
        fn: Callable[..., Awaitable[T]],
        *args: Any,
        key: str | None = None,
        determinism_hint: str | None = None,
    ) -> T:
        """Await ``fn(*args)`` through the layers. ``key`` is what the call is about (for logs and
        errors); ``determinism_hint`` overrides ``op.determinism_hint`` for this call (an R2 read
        pinned to an etag records ``resource::blob::pinned``). Raises only :class:`CapabilityError`:
        ``Closed`` before anything else once the pipeline is closed."""
        if self._closed:
            raise Closed(
                "called after aclose(): this capability is closed; build a new one",
                capability=op.capability,
                operation=op.name,
                key=key,
            )
        if self.asyncio_only:
            self._check_runtime(op, key)
        if self._bare:
            try:
                return await fn(*args)
            except CapabilityError as err:
                err.with_context(capability=op.capability, operation=op.name, key=key)
                raise
            except Exception as exc:
                raise to_capability_error(exc, op.capability, op.name, key) from exc
        scope = _current.get()
        chain = self._scoped if scope is not None else self._unscoped
        if chain is None:
            chain = invoke_backend
        result: T = await chain(Call(op, fn, args, key, determinism_hint, scope))
        return result

    def _check_runtime(self, op: Operation, key: str | None) -> None:
        import asyncio

        from .. import forks

        if asyncio._get_running_loop() is None:
            raise Unsupported(
                f"the {self.backend} backend runs on OpenDAL's AsyncOperator, which works only under "
                "asyncio (not trio): run this capability under asyncio, or use a backend that works "
                "under both (local files, the REST APIs, the gateway)",
                capability=op.capability,
                operation=op.name,
                key=key,
            )
        if forks.opendal_runtime_lost():
            raise Unsupported(
                f"the {self.backend} backend runs on OpenDAL's runtime, which had started in the parent "
                "of this forked process and does not survive fork(): build capabilities before the "
                "fork but call them only in the children (gunicorn --preload: no calls at import)",
                capability=op.capability,
                operation=op.name,
                key=key,
            )

    def __repr__(self) -> str:
        return (
            f"Pipeline(capability={self.capability!r}, backend={self.backend!r}, "
            f"layers={list(self.layers)!r})"
        )


def _compose(layers: list[Layer]) -> Invoke | None:
    if not layers:
        return None
    invoke: Invoke = invoke_backend
    for layer in reversed(layers):
        invoke = layer(invoke)
    return invoke
