"""cap-cloudflare-kv: Workers KV as one async capability on Workers, servers and laptops.

``KvNamespace`` and the result types load with the package (they need nothing heavier than the core);
``CloudflareKvConfig`` imports pydantic, so it loads on first use — a Python Worker never pays for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from cap_opendal_core.lazy import by_name, lazy_exports

from .models import KvKey, KvListResult, KvValueWithMetadata, KvWrite, ValueType
from .namespace import KvNamespace

if TYPE_CHECKING:
    from .config import CloudflareKvConfig
    from .streams import KvStream

__version__ = "0.1.0"

_LAZY: Final = by_name(
    {
        "config": ("CloudflareKvConfig",),
        "streams": ("KvStream",),
    }
)

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


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())
