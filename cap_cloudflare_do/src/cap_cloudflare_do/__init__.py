"""cap-cloudflare-do: Cloudflare Durable Objects as one async capability on Workers, servers and laptops.

::

    from cap_cloudflare_do import DurableObjectNamespace, DurableObject, Dedupe

    ns = DurableObjectNamespace.local(".caps/do/counter", Counter)   # embedded runtime
    ns = DurableObjectNamespace.from_env(env, "COUNTER")                  # inside a Python Worker
    ns = DurableObjectNamespace.from_gateway(url, binding="COUNTER", token=token)  # server

Names load on first use (a Python Worker pays for every import at cold start): importing the package
imports neither a backend nor httpx/pydantic.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from cap_opendal_core.lazy import by_name, lazy_exports

if TYPE_CHECKING:
    from .codec import StorableValue
    from .config import GatewayConfig
    from .dedupe import Dedupe, DedupeLedger
    from .ids import DurableObjectId
    from .models import AlarmInfo, Request, Response
    from .namespace import DurableObjectNamespace, DurableObjectStub
    from .object import DurableObject
    from .sql import SqlCursor, SqlStorage
    from .storage import DurableObjectStorage, Transaction

__version__ = "0.1.0"

_LAZY: Final = by_name(
    {
        "namespace": ("DurableObjectNamespace", "DurableObjectStub"),
        "object": ("DurableObject",),
        "storage": ("DurableObjectStorage", "Transaction"),
        "codec": ("StorableValue",),
        "sql": ("SqlCursor", "SqlStorage"),
        "ids": ("DurableObjectId",),
        "models": ("Request", "Response", "AlarmInfo"),
        "dedupe": ("Dedupe", "DedupeLedger"),
        "config": ("GatewayConfig",),
    }
)

__all__ = [
    "AlarmInfo",
    "Dedupe",
    "DedupeLedger",
    "DurableObject",
    "DurableObjectId",
    "DurableObjectNamespace",
    "DurableObjectStorage",
    "StorableValue",
    "DurableObjectStub",
    "GatewayConfig",
    "Request",
    "Response",
    "SqlCursor",
    "SqlStorage",
    "Transaction",
    "__version__",
]


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())
