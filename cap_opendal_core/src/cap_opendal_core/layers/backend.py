"""The innermost step: call the backend and make sure only a CapabilityError comes out of it.

Anything else the backend raises goes through :func:`cap_opendal_core.translate.from_exception`,
imported only when a foreign exception actually occurs (the happy path never pays for it).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ..errors import BackendError, CapabilityError

if TYPE_CHECKING:
    from .call import Call

__all__ = ["invoke_backend", "to_capability_error"]


async def invoke_backend(call: Call) -> Any:
    try:
        return await call.fn(*call.args)
    except CapabilityError as err:
        err.with_context(capability=call.op.capability, operation=call.op.name, key=call.key)
        raise
    except Exception as exc:
        raise to_capability_error(exc, call.op.capability, call.op.name, call.key) from exc


def to_capability_error(exc: Exception, capability: str, operation: str, key: str | None) -> CapabilityError:
    """Translate a foreign exception, filling in the call's context."""
    translated: object = None
    try:
        translate = importlib.import_module("cap_opendal_core.translate")
    except ImportError:
        translate = None
    if translate is not None:
        try:
            translated = translate.from_exception(exc, capability=capability, operation=operation, key=key)
        except Exception:  # a translator bug must not let a foreign exception escape
            translated = None
    if isinstance(translated, CapabilityError):
        return translated.with_context(capability=capability, operation=operation, key=key)
    # translate/ not importable (or failed): a scrubbed, non-retryable BackendError keeps the promise
    from ..redact import scrub, trim_foreign_frames

    trim_foreign_frames(exc)

    return BackendError(
        f"{type(exc).__name__}: {scrub(str(exc))}",
        capability=capability,
        operation=operation,
        key=key,
        retryable=False,
        cause=exc,
    )
