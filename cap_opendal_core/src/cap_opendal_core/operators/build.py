"""Turn a configuration into a ready ``opendal.AsyncOperator`` with OpenDAL's own layers applied.

Why native layers: OpenDAL's ``RetryLayer``, ``TimeoutLayer`` and ``ConcurrentLimitLayer`` act per
request inside the Rust core — a retry re-sends one HTTP request, not the whole Python call, and a
timeout bounds each attempt — so an OpenDAL-backed capability takes them from the same
:class:`~cap_opendal_core.layers.settings.LayerSettings` its pipeline uses, and turns the pipeline's
own retry and concurrency off (:func:`defer_to_native_layers`) so nothing is done twice.

Layers are applied innermost first, in this order:

1. ``CapabilityOverrideLayer`` — what the service lacks though OpenDAL's driver claims it (R2 has no
   append); it changes what the operator *reports*, which is what capabilities consult;
2. ``TimeoutLayer`` — ``deadline`` bounds every control call and every IO step of each attempt;
   OpenDAL requires it below the retry layer, so a timed-out attempt is retried, not abandoned;
3. ``ConcurrentLimitLayer`` — ``concurrency`` requests in flight; a permit is held for one attempt,
   not through the backoff sleeps between attempts;
4. ``RetryLayer`` — ``retry.attempts - 1`` retries of temporary errors, exponential backoff from
   ``retry.base`` doubling up to ``retry.cap``, jittered when ``retry.jitter``.

OpenDAL's retry does not know which calls are idempotent, does not honour ``Retry-After`` and does not
charge the invocation's sub-request budget; a capability that needs those for a call keeps it on an
operator built with ``retry=None``.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import TYPE_CHECKING, Protocol, cast

from ..errors import Misconfigured
from ..redact import scrub
from .config import FsConfig, ServiceConfig, describe_config

if TYPE_CHECKING:
    import opendal

    from ..layers.settings import LayerSettings

__all__ = ["NativeLayerSettings", "build_operator", "defer_to_native_layers", "native_layers"]


class _RetrySettings(Protocol):
    @property
    def attempts(self) -> int: ...
    @property
    def base(self) -> float: ...
    @property
    def cap(self) -> float: ...
    @property
    def jitter(self) -> bool: ...


class NativeLayerSettings(Protocol):
    """The fields of :class:`~cap_opendal_core.layers.settings.LayerSettings` that map onto OpenDAL layers."""

    @property
    def retry(self) -> _RetrySettings | None: ...
    @property
    def deadline(self) -> float | None: ...
    @property
    def concurrency(self) -> int | None: ...


def native_layers(config: ServiceConfig, layers: NativeLayerSettings | None) -> list[opendal.layers.Layer]:
    """The OpenDAL layers :func:`build_operator` applies, innermost first (see the module docstring)."""
    from opendal import exceptions as odx
    from opendal import layers as odl

    built: list[opendal.layers.Layer] = []
    overrides = config.capability_overrides()
    try:
        if overrides:
            built.append(odl.CapabilityOverrideLayer(",".join(overrides)))
        if layers is None:
            return built
        if layers.deadline is not None:
            built.append(odl.TimeoutLayer(timeout=float(layers.deadline), io_timeout=float(layers.deadline)))
        if layers.concurrency is not None:
            built.append(odl.ConcurrentLimitLayer(int(layers.concurrency)))
        policy = layers.retry
        if policy is not None and policy.attempts > 1:
            cap = float(policy.cap)
            built.append(
                odl.RetryLayer(
                    max_times=policy.attempts - 1,
                    factor=2.0,
                    jitter=bool(policy.jitter),
                    min_delay=min(float(policy.base), cap),
                    max_delay=cap,
                )
            )
    except odx.ConfigInvalid as exc:
        raise Misconfigured(f"OpenDAL rejected the layer settings: {scrub(str(exc))}") from exc
    return built


def build_operator(
    config: ServiceConfig | str,
    layers: NativeLayerSettings | None = None,
    *,
    capability: str | None = None,
) -> opendal.AsyncOperator:
    """An ``opendal.AsyncOperator`` for ``config`` (a model or an operator URL) with native layers.

    ``layers`` is normally the capability's :class:`~cap_opendal_core.layers.settings.LayerSettings`;
    None applies only the service's capability overrides. Nothing is sent over the network here.
    Raises :class:`~cap_opendal_core.errors.Misconfigured` when OpenDAL refuses the configuration
    (an unregistered scheme such as ``cloudflare-kv``, a missing option), or when the route to the
    service's endpoint is not one the configuration allows (:mod:`cap_opendal_core.transit`);
    the message names the configuration with :func:`describe_config`, so it never carries a secret.
    """
    if isinstance(config, str):
        from .url import from_url

        config = from_url(config, capability=capability)
    from .config import _ServiceConfig

    if not isinstance(config, _ServiceConfig):
        raise Misconfigured(
            f"build_operator() takes an operator config or URL, not {type(config).__name__}",
            capability=capability,
        )

    from ..transit import check_opendal_route

    for endpoint, signed in config.http_endpoints():
        check_opendal_route(
            endpoint,
            trust_env=config.honours_environment,
            credential="its credentials" if signed else None,
            capability=capability,
        )
    import opendal

    if isinstance(config, FsConfig):
        config = confine_root(config, capability)
    _guard_interpreter_exit()
    try:
        operator = opendal.AsyncOperator(config.scheme, **config.opendal_options())
    except Exception as exc:
        detail = scrub(str(exc)).strip()
        message = detail.splitlines()[0] if detail else type(exc).__name__
        if "scheme is not registered" in detail:
            message = (
                f"OpenDAL in this environment has no {config.scheme!r} service (the PyPI opendal wheel "
                "does not register every service)"
            )
        raise Misconfigured(
            f"cannot build an OpenDAL operator for {describe_config(config)}: {message}",
            capability=capability,
        ) from exc
    try:
        for layer in native_layers(config, layers):
            operator = operator.layer(layer)
    except Misconfigured as err:
        raise err.with_context(capability=capability) from err.__cause__
    if isinstance(config, FsConfig):
        from .confined import ConfinedFsOperator

        # duck-typed: it offers the AsyncOperator calls capabilities make, each path checked first
        return cast("opendal.AsyncOperator", ConfinedFsOperator(operator, config.root, capability))
    return operator


def confine_root(config: FsConfig, capability: str | None) -> FsConfig:
    """``config`` with its root checked and resolved once (:func:`~cap_opendal_core.localfs.local_root`):
    the operator and the checks of :class:`~.confined.ConfinedFsOperator` then name the same directory."""
    from ..localfs import local_root

    root = local_root(config.root, capability=capability or "fs", operation="build_operator")
    if root == config.root:
        return config
    return config.model_copy(update={"root": root})


_exit_guard_lock = threading.Lock()
_exit_guarded = False
EXIT_GRACE_SECONDS = 0.02
"""How long the interpreter waits at exit for OpenDAL's worker threads to leave Python code."""


def _guard_interpreter_exit() -> None:
    """Keep a short-lived process that used OpenDAL from aborting as it exits.

    OpenDAL's async API completes each Python future from a Tokio worker thread. If the interpreter
    starts finalizing while such a thread is still inside ``loop.call_soon_threadsafe`` (it releases
    the GIL to write to the loop's wake-up socket), the thread is torn down mid-Rust-frame and the
    process dies with SIGABRT — after every operation succeeded (measured here: about one run in ten
    of a tiny script). A brief sleep at exit, while the interpreter is still whole, lets the thread
    finish; it is registered once, on the first operator built, so processes that never use OpenDAL
    never pay it.
    """
    global _exit_guarded
    if _exit_guarded:
        return
    with _exit_guard_lock:
        if not _exit_guarded:
            import atexit
            import time

            atexit.register(time.sleep, EXIT_GRACE_SECONDS)
            _exit_guarded = True


def defer_to_native_layers(settings: LayerSettings) -> LayerSettings:
    """``settings`` with the pipeline's retry and concurrency limit off, because the operator has them.

    The pipeline's deadline stays: it bounds the whole call (every attempt and backoff) and maps to
    ``DeadlineExceeded``, while OpenDAL's timeout bounds each attempt.
    """
    if not dataclasses.is_dataclass(settings) or isinstance(settings, type):
        raise TypeError(f"defer_to_native_layers() takes a LayerSettings, not {type(settings).__name__}")
    return dataclasses.replace(settings, retry=None, concurrency=None)
