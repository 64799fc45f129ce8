"""The logging layer: one structlog event per call, after it finishes.

The event is ``capability.call`` with ``capability``, ``op``, ``key``, ``backend``, ``outcome`` (``ok``,
an error code, or ``cancelled``), ``duration_ms`` and ``attempts``; plus ``node`` inside an invocation
scope and ``error``/``retryable`` on failure. Successful calls log at the configured level, failures
at least at ``warning``. Values and arguments are never logged, only keys — and keys and error
messages pass through :func:`cap_opendal_core.redact.scrub` first.

structlog is imported on first use, not at import (a Worker pays for every import at cold start), and
the level is checked before any event is built: a filtered-out call costs a clock read and a level
test. Loggers are whatever the application configured (``structlog.get_logger("cap_opendal_core")``
by default, so the stdlib integration's logger levels apply); with structlog's
``cache_logger_on_first_use=True`` the level test is a single method call.
"""

from __future__ import annotations

import logging
from time import perf_counter
from typing import TYPE_CHECKING, Any

from .call import outcome_layer
from .settings import LOG_LEVELS

if TYPE_CHECKING:
    from collections.abc import Callable

    from ..errors import CapabilityError
    from .call import Call, Layer

__all__ = ["EVENT", "LOGGER_NAME", "logging_layer"]

EVENT = "capability.call"
LOGGER_NAME = "cap_opendal_core"
_LEVEL_NAMES = {number: name for name, number in LOG_LEVELS.items()}
_fallback = logging.getLogger(__name__)


def _is_enabled(bound: Any, level: int) -> bool:
    # Look the check up on the class: structlog's generic BoundLogger turns any unknown *instance*
    # attribute into a logging method, so getattr(bound, "is_enabled_for") would log instead of ask.
    cls = type(bound)
    check = getattr(cls, "is_enabled_for", None) or getattr(cls, "isEnabledFor", None)
    return True if check is None else bool(check(bound, level))


def logging_layer(backend: str, level_name: str, logger: Any | None = None) -> Layer:
    ok_level = LOG_LEVELS[level_name]
    error_level = max(ok_level, LOG_LEVELS["warning"])
    get_bound: Callable[[], Any] | None = None

    def bound_logger() -> Any:
        nonlocal get_bound
        if get_bound is None:
            get_bound = _resolver(logger)
        return get_bound()

    def emit(level: int, call: Call, outcome: str, started: float, err: CapabilityError | None) -> None:
        duration_ms = (perf_counter() - started) * 1000.0
        try:
            bound = bound_logger()
            if not _is_enabled(bound, level):
                return
            from ..redact import scrub

            op = call.op
            fields: dict[str, Any] = {
                "capability": op.capability,
                "op": op.name,
                "key": None if call.key is None else scrub(call.key),
                "backend": backend,
                "outcome": outcome,
                "duration_ms": round(duration_ms, 3),
                "attempts": call.attempts,
            }
            scope = call.scope
            if scope is not None and scope.node_name is not None:
                fields["node"] = scope.node_name
            if err is not None:
                fields["error"] = scrub(err.message)
                fields["retryable"] = err.retryable
            getattr(bound, _LEVEL_NAMES[level])(EVENT, **fields)
        except Exception:  # a broken logging setup must not fail a storage call
            _fallback.warning("cap_opendal_core: could not emit the %s log event", EVENT, exc_info=True)

    def report(call: Call, outcome: str, started: float, err: CapabilityError | None) -> None:
        emit(ok_level if err is None else error_level, call, outcome, started, err)

    return outcome_layer(report)


def _resolver(logger: Any | None) -> Callable[[], Any]:
    """How to get a bound logger for one event: a lazy proxy binds (structlog may cache that).

    With no logger given and structlog left unconfigured by the application, events go to the
    stdlib logger ``cap_opendal_core`` instead of structlog's print-everything default: a library
    stays quiet unless asked (stdlib's default level passes only warnings, i.e. failed calls).
    Configuring structlog — or the stdlib logger's level — turns per-call events on.
    """
    import structlog

    if logger is not None:
        lazy_proxy_type = type(structlog.get_logger())  # the proxy class, without a private module
        if isinstance(logger, lazy_proxy_type):
            proxy = logger
            return lambda: proxy.bind()
        return lambda: logger
    default = structlog.get_logger(LOGGER_NAME)
    stdlib = _StdlibEvents(logging.getLogger(LOGGER_NAME))
    is_configured = structlog.is_configured
    return lambda: default.bind() if is_configured() else stdlib


class _StdlibEvents:
    """The few structlog-style methods the layer calls, on a stdlib logger (``key=value`` text)."""

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger

    def isEnabledFor(self, level: int) -> bool:
        return self._logger.isEnabledFor(level)

    def _log(self, level: int, event: str, fields: dict[str, Any]) -> None:
        text = " ".join(f"{k}={v}" for k, v in fields.items())
        self._logger.log(level, "%s %s", event, text)

    def debug(self, event: str, **fields: Any) -> None:
        self._log(logging.DEBUG, event, fields)

    def info(self, event: str, **fields: Any) -> None:
        self._log(logging.INFO, event, fields)

    def warning(self, event: str, **fields: Any) -> None:
        self._log(logging.WARNING, event, fields)

    def error(self, event: str, **fields: Any) -> None:
        self._log(logging.ERROR, event, fields)

    def critical(self, event: str, **fields: Any) -> None:
        self._log(logging.CRITICAL, event, fields)
