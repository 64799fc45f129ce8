"""cap-opendal-core: the spine every cap-* capability stands on.

Errors are imported eagerly (every capability raises them); everything else loads on first use so
that importing the package stays cheap — a Python Worker pays for every import at cold start.
"""

from __future__ import annotations

import importlib
from typing import Any

from .errors import (
    AlreadyExists,
    BackendError,
    CapabilityError,
    DeadlineExceeded,
    Forbidden,
    InvalidInput,
    LimitExceeded,
    Misconfigured,
    NotFound,
    PreconditionFailed,
    RateLimited,
    Unauthorized,
    Unavailable,
    Unsupported,
)

__version__ = "0.1.0"

# public name -> submodule that defines it; resolved lazily by __getattr__
_LAZY: dict[str, str] = {
    "Effects": "hints",
    "Determinism": "hints",
    "Constraint": "hints",
    "HintRegistry": "hints",
    "registry": "hints",
    "Diagnostic": "diagnostics",
    "DiagnosticError": "diagnostics",
}

__all__ = [
    "AlreadyExists",
    "BackendError",
    "CapabilityError",
    "DeadlineExceeded",
    "Forbidden",
    "InvalidInput",
    "LimitExceeded",
    "Misconfigured",
    "NotFound",
    "PreconditionFailed",
    "RateLimited",
    "Unauthorized",
    "Unavailable",
    "Unsupported",
    "__version__",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'cap_opendal_core' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
