"""``cap_cloudflare_do.sync.DurableObjectNamespace``: the same namespace for code without an event loop.

Ids and stubs need no I/O and are the async namespace's; a stub's ``call``, ``fetch`` and RPC by
attribute block, running on the process-wide portal thread (:mod:`cap_opendal_core.sync`). With the
embedded runtime (``local``), ``with namespace:`` starts the alarm scheduler on the portal, where it
keeps running between calls.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Self, Unpack, overload

from cap_opendal_core.forward import Forward
from cap_opendal_core.sync import SyncCapability, run

from .namespace import DurableObjectNamespace as AsyncDurableObjectNamespace
from .namespace import Interface, check_rpc_attribute, interface_methods

if TYPE_CHECKING:
    import os
    from collections.abc import Callable

    from .backends.local import LocalRuntime
    from .config import GatewayConfig
    from .ids import DurableObjectId
    from .models import RequestInit, Response
    from .namespace import DurableObjectStub as AsyncDurableObjectStub
    from .object import DurableObject

__all__ = ["DurableObjectNamespace", "DurableObjectStub"]


class DurableObjectNamespace(SyncCapability[AsyncDurableObjectNamespace]):
    """A Durable Object namespace whose stubs block; see :class:`cap_cloudflare_do.DurableObjectNamespace`.
    Build it like the async one (``local(path, object_class)``, ``from_gateway``, ``from_url``,
    ``from_config``; keywords pass through), or wrap an async namespace."""

    __slots__ = ()
    _async_class = AsyncDurableObjectNamespace

    @classmethod
    def local(cls, path: str | os.PathLike[str], object_class: type[DurableObject], **kwargs: Any) -> Self:
        """``cap_cloudflare_do.DurableObjectNamespace.local(path, object_class, **kwargs)``, blocking."""
        return cls(AsyncDurableObjectNamespace.local(path, object_class, **kwargs))

    @classmethod
    def from_gateway(cls, url: str, **kwargs: Any) -> Self:
        """``cap_cloudflare_do.DurableObjectNamespace.from_gateway(url, **kwargs)``, blocking."""
        return cls(AsyncDurableObjectNamespace.from_gateway(url, **kwargs))

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> Self:
        """``cap_cloudflare_do.DurableObjectNamespace.from_url(url, **kwargs)``, blocking."""
        return cls(AsyncDurableObjectNamespace.from_url(url, **kwargs))

    @classmethod
    def from_config(cls, config: GatewayConfig, **kwargs: Any) -> Self:
        """``cap_cloudflare_do.DurableObjectNamespace.from_config(config, **kwargs)``, blocking."""
        return cls(AsyncDurableObjectNamespace.from_config(config, **kwargs))

    @property
    def backend_kind(self) -> str:
        """See the async namespace."""
        return self._cap.backend_kind

    object_class: Forward[type[DurableObject] | None] = Forward(
        "_cap", "The class the namespace hosts or checks calls against, if given."
    )
    runtime: Forward[LocalRuntime | None] = Forward(
        "_cap", "The embedded runtime of a ``local`` namespace (None otherwise)."
    )

    def id_from_name(self, name: str) -> DurableObjectId:
        """The id derived from ``name`` (no I/O)."""
        return self._cap.id_from_name(name)

    def new_unique_id(self, *, jurisdiction: str | None = None) -> DurableObjectId:
        """A new random id (no I/O)."""
        return self._cap.new_unique_id(jurisdiction=jurisdiction)

    def id_from_string(self, hex_id: str) -> DurableObjectId:
        """The id whose hex form is ``hex_id`` (no I/O)."""
        return self._cap.id_from_string(hex_id)

    def resolve_id(
        self, oid: DurableObjectId | None = None, *, jurisdiction: str | None = None
    ) -> DurableObjectId:
        """``oid`` with its hex form known, or a new unique id."""
        return self._run(self._cap.resolve_id, oid, jurisdiction=jurisdiction)

    @overload
    def get(self, oid: DurableObjectId) -> DurableObjectStub: ...
    @overload
    def get(self, oid: DurableObjectId, interface: Callable[..., Interface]) -> Interface: ...
    def get(self, oid: DurableObjectId, interface: Callable[..., Any] | None = None) -> Any:
        """A stub for the object ``oid``; with ``interface`` (a ``Protocol`` of the object's RPC
        methods written as plain ``def``), typed as that protocol."""
        names = interface_methods(interface, awaited=False)
        return DurableObjectStub(self._cap.get(oid), interface=names)

    @overload
    def get_by_name(self, name: str) -> DurableObjectStub: ...
    @overload
    def get_by_name(self, name: str, interface: Callable[..., Interface]) -> Interface: ...
    def get_by_name(self, name: str, interface: Callable[..., Any] | None = None) -> Any:
        """A stub for the object named ``name``; ``interface`` as in :meth:`get`."""
        names = interface_methods(interface, awaited=False)
        return DurableObjectStub(self._cap.get_by_name(name), interface=names)


class DurableObjectStub:
    """One object with blocking ``call``, ``fetch`` and RPC by attribute (``stub.increment(1)``)."""

    __slots__ = ("_interface", "_stub")

    def __init__(
        self, stub: AsyncDurableObjectStub, *, interface: tuple[str, frozenset[str]] | None = None
    ) -> None:
        self._stub = stub
        self._interface = interface

    id: Forward[DurableObjectId] = Forward("_stub")
    name: Forward[str | None] = Forward("_stub", "The name the id was derived from, if any.")

    def call(self, method: str, *args: Any) -> Any:
        """Call the object's RPC method ``method`` with ``args``; returns its result (a copy)."""
        return run(self._stub.call, method, *args, what=f"DurableObjectStub.{method}()")

    def __getattr__(self, name: str) -> Callable[..., Any]:
        check_rpc_attribute(name, self._interface, DurableObjectStub.__slots__)

        def rpc(*args: Any) -> Any:
            return self.call(name, *args)

        rpc.__name__ = rpc.__qualname__ = name
        return rpc

    def fetch(self, url: str, **init: Unpack[RequestInit]) -> Response:
        """Send an HTTP request to the object's ``fetch`` handler; returns its response (buffered).
        ``init``: ``method``, ``headers``, ``body`` (:class:`~cap_cloudflare_do.models.RequestInit`)."""
        return run(self._stub.fetch, url, what="DurableObjectStub.fetch()", **init)

    def __repr__(self) -> str:
        return f"sync.{self._stub!r}"
