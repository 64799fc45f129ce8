"""cap-cloudflare-kv: Workers KV as one async capability on Workers, servers and laptops.

``KvNamespace`` and the result types load with the package (they need nothing heavier than the core);
``CloudflareKvConfig`` imports pydantic, so it loads on first use — a Python Worker never pays for it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .models import KvKey, KvListResult, KvValueWithMetadata, KvWrite, ValueType
from .namespace import KvNamespace

if TYPE_CHECKING:
    from .config import CloudflareKvConfig
    from .streams import KvStream

__version__ = "0.1.0"

_LAZY: dict[str, str] = {
    "CloudflareKvConfig": "config",
    "KvStream": "streams",
}

__all__ = [
    "CloudflareKvConfig",
    "KvKey",
    "KvListResult",
    "KvNamespace",
    "KvStream",
    "KvValueWithMetadata",
    "KvWrite",
    "ValueType",
    "__version__",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'cap_cloudflare_kv' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
