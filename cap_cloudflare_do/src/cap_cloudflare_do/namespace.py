"""``DurableObjectNamespace`` and ``DurableObjectStub``: reaching objects, the same on every backend.

A namespace hands out ids and stubs; a stub sends RPC (``await stub.call("m", 1)`` or
``await stub.m(1)``) and ``fetch`` to its object. Three backends, chosen by constructor:

* :meth:`DurableObjectNamespace.local` — the embedded runtime hosting a Python class (the default for
  laptops and CI);
* :meth:`DurableObjectNamespace.from_env` — a binding in a Python Worker's ``env`` (Pyodide);
* :meth:`DurableObjectNamespace.from_gateway` — a server reaching objects through the shipped gateway
  Worker over HTTPS.

Every call is validated first — RPC names (public, not reserved, and on the class when the class is
known), arguments (values a Durable Object can receive), ids (64 hex characters) — and then goes
through the pipeline exactly once, recording ``resource::state::read`` for methods the class declares
read-only and ``resource::state::write`` + ``resource::state`` for anything else.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final, Literal, TypeVar, Unpack, overload

from cap_opendal_core.capability import (
    Capability,
    check_binding,
    check_options,
    local_order_hint,
    workers_only,
)
from cap_opendal_core.checks import check_keywords
from cap_opendal_core.errors import InvalidInput, Misconfigured
from cap_opendal_core.show import show

from .ids import DurableObjectId, check_hex_id, check_name
from .models import RequestInit
from .operations import FETCH, FETCH_READ, RESOLVE_ID, RPC, RPC_READ
from .spec import SPEC
from .validation import check_fetch, check_rpc_args, check_rpc_name

if TYPE_CHECKING:
    import os
    from collections.abc import Callable, Iterable

    import httpx

    from cap_opendal_core.capability import CapabilityOptions

    from .backends.base import NamespaceBackend, StubBackend
    from .backends.local import LocalRuntime
    from .config import GatewayConfig
    from .models import Response
    from .object import DurableObject

__all__ = ["DurableObjectNamespace", "DurableObjectStub"]

Interface = TypeVar("Interface")
"""A user's ``Protocol`` of the object's RPC methods, each ``async def`` (see
:meth:`DurableObjectNamespace.get`)."""

_JURISDICTIONS: Final = frozenset({"eu", "fedramp", "fedramp-high"})


def _check_jurisdiction(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or value not in _JURISDICTIONS:
        raise InvalidInput(
            f"jurisdiction must be one of {', '.join(sorted(_JURISDICTIONS))} or None, got {show(value)}",
            field="jurisdiction",
        )
    return str(value)


class DurableObjectNamespace(Capability["NamespaceBackend"]):
    """A Durable Object namespace (one class's objects). Use the constructors below."""

    spec = SPEC

    __slots__ = ("_allowed", "_read_only", "object_class")

    def __init__(
        self,
        backend: NamespaceBackend,
        *,
        object_class: type[DurableObject] | None = None,
        read_only: Iterable[str] | None = None,
        **options: Unpack[CapabilityOptions],
    ) -> None:
        from .object import DurableObject

        super().__init__(backend, **options)

        if object_class is not None and not (
            isinstance(object_class, type) and issubclass(object_class, DurableObject)
        ):
            raise InvalidInput(
                f"object_class must be a DurableObject subclass, got {show(object_class)}",
                field="object_class",
            )
        if isinstance(read_only, str):
            raise InvalidInput("read_only must be a collection of method names, not a str", field="read_only")
        self.object_class = object_class
        self._allowed: frozenset[str] | None = None if object_class is None else object_class.__rpc_methods__
        declared = frozenset(read_only or ())
        if object_class is not None:
            declared |= object_class.__read_only_methods__
        self._read_only = declared

    # -- constructors --------------------------------------------------------------------------------

    @classmethod
    def local(
        cls,
        path: str | os.PathLike[str],
        object_class: type[DurableObject],
        *,
        env: Any = None,
        clock: Callable[[], float] | None = None,
        idle_timeout: float | None = None,
        durability: Literal["process", "full"] = "process",
        **options: Unpack[CapabilityOptions],
    ) -> DurableObjectNamespace:
        """The embedded runtime hosting ``object_class``, storing in the directory ``path``
        (``":memory:"`` keeps storage in memory, for tests). The directory comes first, as for every
        capability's ``local``. ``env`` is handed to every object; ``clock`` (epoch seconds) drives
        alarms, ``ctx.now()`` and idle eviction."""
        from pathlib import PurePath

        from .backends.local import DEFAULT_IDLE_TIMEOUT, LocalRuntime
        from .backends.sqlite_store import check_directory

        checked = check_options(cls, "local", options)  # the runtime's own pipeline uses the settings
        if isinstance(path, type):  # the old order, local(object_class, path)
            raise Misconfigured(
                f"the class {path.__name__} was given as the directory: "
                + local_order_hint("DurableObjectNamespace", "object_class"),
                capability="do",
                operation="local",
            )

        memory = isinstance(path, str | PurePath) and str(path) == ":memory:"
        location = None if memory else check_directory(path)  # a bad path refused before any write
        runtime = LocalRuntime(
            object_class,
            location,
            env=env,
            clock=clock,
            idle_timeout=DEFAULT_IDLE_TIMEOUT if idle_timeout is None else idle_timeout,
            settings=checked["settings"],
            durability=durability,
        )
        return cls(runtime, object_class=object_class, **checked)

    @classmethod
    def from_env(
        cls,
        env: Any,
        binding: str,
        *,
        object_class: type[DurableObject] | None = None,
        read_only: Iterable[str] | None = None,
        **options: Unpack[CapabilityOptions],
    ) -> DurableObjectNamespace:
        """The namespace bound as ``binding`` in a Python Worker's ``env`` (raw or ``workers``-wrapped).

        Give ``object_class`` (when the class is Python) or ``read_only`` so RPC names are checked
        and read-only methods record reads; without them every RPC records a write."""
        checked = check_options(cls, "from_env", options)
        check_binding(env, binding, capability="do")
        with workers_only("DurableObjectNamespace", "do"):
            from .backends.workers import WorkersNamespace

        return cls(
            WorkersNamespace.from_env(env, binding), object_class=object_class, read_only=read_only, **checked
        )

    @classmethod
    def from_gateway(
        cls,
        url: str,
        *,
        binding: str,
        token: str | Any,
        object_class: type[DurableObject] | None = None,
        read_only: Iterable[str] | None = None,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
        proxy: str | None = None,
        trust_env: bool = False,
        **options: Unpack[CapabilityOptions],
    ) -> DurableObjectNamespace:
        """Objects of ``binding`` behind the gateway Worker at ``url`` (see :mod:`cap_cloudflare_do.gateway`).
        ``token`` (a str or :class:`~cap_opendal_core.redact.Secret`) is registered for redaction.
        Requests go direct unless ``proxy=`` names one or ``trust_env=True`` lets the environment's
        ``HTTP(S)_PROXY`` apply (:mod:`cap_opendal_core.transit`)."""
        from .backends.gateway import GatewayNamespace

        checked = check_options(cls, "from_gateway", options)
        backend = GatewayNamespace(
            url,
            binding=binding,
            token=token,
            timeout=timeout,
            transport=transport,
            proxy=proxy,
            trust_env=trust_env,
        )
        return cls(backend, object_class=object_class, read_only=read_only, **checked)

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        object_class: type[DurableObject] | None = None,
        binding: str | None = None,
        token: str | Any = None,
        **options: Unpack[CapabilityOptions],
    ) -> DurableObjectNamespace:
        """By URL: ``memory://`` (the embedded runtime, in memory), ``file:///dir`` (the embedded runtime
        storing in ``dir``) — both need ``object_class`` — or ``https://…`` (the gateway; needs
        ``binding`` and ``token``). Any other scheme raises ``Misconfigured`` naming it."""
        from urllib.parse import unquote, urlsplit

        if not isinstance(url, str):
            raise InvalidInput(f"url must be a str, got {type(url).__name__}", field="url")
        parts = urlsplit(url)
        if parts.scheme in ("memory", "file"):
            if object_class is None:
                raise InvalidInput(
                    f"{parts.scheme}:// hosts objects locally: pass object_class=", field="object_class"
                )
            if parts.scheme == "memory":
                return cls.local(":memory:", object_class, **options)
            path = unquote(parts.netloc + parts.path)
            if not path:
                raise Misconfigured(
                    "local store directory path is empty: file:// needs a directory, e.g. file:///var/lib/caps/do",
                    capability="do",
                    operation="from_url",
                )
            return cls.local(path, object_class, **options)
        if parts.scheme in ("https", "http"):
            if binding is None or token is None:
                raise InvalidInput("a gateway URL needs binding= and token=", field="binding")
            return cls.from_gateway(url, binding=binding, token=token, object_class=object_class, **options)
        raise Misconfigured(
            f"unsupported Durable Objects URL scheme {parts.scheme!r}; accepted: memory://, "
            "file:///absolute/dir, https://gateway-host (the gateway Worker)",
            capability="do",
            operation="from_url",
        )

    @classmethod
    def from_config(
        cls,
        config: GatewayConfig,
        *,
        object_class: type[DurableObject] | None = None,
        **options: Unpack[CapabilityOptions],
    ) -> DurableObjectNamespace:
        """From a validated :class:`~cap_cloudflare_do.config.GatewayConfig` (pydantic)."""
        from .config import GatewayConfig

        if not isinstance(config, GatewayConfig):
            raise Misconfigured(
                f"from_config() takes a GatewayConfig, got {type(config).__name__}",
                capability="do",
                operation="from_config",
            )
        return cls.from_gateway(
            str(config.url),
            binding=config.binding,
            token=config.token.get_secret_value(),
            object_class=object_class,
            read_only=config.read_only,
            timeout=config.timeout,
            proxy=config.proxy,
            trust_env=config.trust_env,
            **options,
        )

    # -- what it is --------------------------------------------------------------------------------

    @property
    def backend_kind(self) -> str:
        """Deprecated: ``backend`` (``local``, ``workers`` or ``gateway``), as every capability spells it."""
        import warnings

        warnings.warn(
            "DurableObjectNamespace.backend_kind is deprecated: use .backend",
            DeprecationWarning,
            stacklevel=2,
        )
        return self._backend.name

    @property
    def runtime(self) -> LocalRuntime | None:
        """The embedded runtime (local backend only): ``run_due_alarms``, ``evict_idle`` …"""
        from .backends.local import LocalRuntime

        return self._backend if isinstance(self._backend, LocalRuntime) else None

    # -- ids -------------------------------------------------------------------------------------

    def id_from_name(self, name: str) -> DurableObjectId:
        """The id for ``name``: always the same object for the same name in this namespace."""
        self._check_open("id_from_name")
        return self._backend.id_from_name(check_name(name))

    def new_unique_id(self, *, jurisdiction: str | None = None) -> DurableObjectId:
        """A new random id (the gateway cannot make one synchronously: use :meth:`resolve_id`)."""
        self._check_open("new_unique_id")
        return self._backend.new_unique_id(_check_jurisdiction(jurisdiction))

    def id_from_string(self, hex_id: str) -> DurableObjectId:
        """The id whose string form is ``hex_id`` (64 hex characters, of this namespace)."""
        self._check_open("id_from_string")
        return self._backend.id_from_string(check_hex_id(hex_id))

    async def resolve_id(
        self, oid: DurableObjectId | None = None, *, jurisdiction: str | None = None
    ) -> DurableObjectId:
        """``oid`` with its hex form known (the gateway asks Cloudflare), or with no ``oid`` a new
        unique id — the one way to get ids through the gateway."""
        if oid is not None and not isinstance(oid, DurableObjectId):
            raise InvalidInput(f"expected a DurableObjectId, got {type(oid).__name__}", field="id")
        place = _check_jurisdiction(jurisdiction)
        if oid is not None and oid.hex is not None:
            return oid
        return await self._pipeline.call(
            RESOLVE_ID, self._backend.resolve_id, oid, place, key=None if oid is None else oid.name
        )

    # -- stubs -----------------------------------------------------------------------------------

    @overload
    def get(self, oid: DurableObjectId) -> DurableObjectStub: ...
    @overload
    def get(self, oid: DurableObjectId, interface: Callable[..., Interface]) -> Interface: ...
    def get(self, oid: DurableObjectId, interface: Callable[..., Any] | None = None) -> Any:
        """A stub for the object ``oid``.

        With ``interface`` — a ``Protocol`` listing the object's RPC methods as ``async def`` — the
        stub is typed as that protocol, so mypy checks each call's arguments and result
        (``await ns.get(oid, CounterApi).increment(1)``), and calling a method the protocol does not
        list raises ``AttributeError``. A stub always awaits, so the protocol's methods must be
        ``async def`` even where the object's own are not.
        """
        names = interface_methods(interface)
        if not isinstance(oid, DurableObjectId):
            raise InvalidInput(
                f"get() takes a DurableObjectId (from id_from_name, new_unique_id or id_from_string), "
                f"not {type(oid).__name__}",
                field="id",
            )
        self._check_open("get")
        return DurableObjectStub(self, oid, self._backend.stub(oid), interface=names)

    @overload
    def get_by_name(self, name: str) -> DurableObjectStub: ...
    @overload
    def get_by_name(self, name: str, interface: Callable[..., Interface]) -> Interface: ...
    def get_by_name(self, name: str, interface: Callable[..., Any] | None = None) -> Any:
        """A stub for the object named ``name`` (``getByName`` in JS); ``interface`` as in :meth:`get`."""
        names = interface_methods(interface)
        self._check_open("get_by_name")
        oid, backend = self._backend.stub_by_name(check_name(name))
        return DurableObjectStub(self, oid, backend, interface=names)

    # -- lifecycle ------------------------------------------------------------------------------
    # ``aclose()``, ``async with``, ``repr`` (secrets scrubbed) and the refusal to pickle come from
    # ``Capability``; ``async with`` also starts the backend (the local runtime's alarm scheduler).

    async def _open(self) -> None:
        await self._backend.start()

    def _describe(self) -> str:
        cls = self.object_class.__name__ if self.object_class is not None else None
        return f"backend={self._backend.name!r}, object_class={cls!r}"


class DurableObjectStub:
    """One object, as a caller reaches it: ``fetch``, ``call`` and RPC by attribute."""

    __slots__ = ("_backend", "_interface", "_namespace", "id")

    def __init__(
        self,
        namespace: DurableObjectNamespace,
        oid: DurableObjectId,
        backend: StubBackend,
        *,
        interface: tuple[str, frozenset[str]] | None = None,
    ) -> None:
        self._namespace = namespace
        self._backend = backend
        self._interface = interface
        self.id = oid

    @property
    def name(self) -> str | None:
        """The name the id was derived from, if any."""
        return self.id.name

    async def call(self, method: str, *args: Any) -> Any:
        """Call the object's RPC method ``method`` with ``args``; returns its result (a copy)."""
        ns = self._namespace
        name = check_rpc_name(method, ns._allowed)
        tagged = check_rpc_args(args)
        op = RPC_READ if name in ns._read_only else RPC
        return await ns._pipeline.call(op, self._backend.call, name, tagged, key=name)

    def __getattr__(self, name: str) -> Callable[..., Any]:
        check_rpc_attribute(name, self._interface, DurableObjectStub.__slots__)

        async def rpc(*args: Any) -> Any:
            return await self.call(name, *args)

        rpc.__name__ = rpc.__qualname__ = name
        return rpc

    async def fetch(self, url: str, **init: Unpack[RequestInit]) -> Response:
        """Send an HTTP request to the object's ``fetch`` handler; returns its response (buffered).
        ``init`` (:class:`~cap_cloudflare_do.models.RequestInit`): ``method``, ``headers``, ``body``.
        Records a read only when the class lists ``"fetch"`` in ``read_only``."""
        ns = self._namespace
        check_keywords(init, RequestInit.__annotations__, "DurableObjectStub.fetch")
        request = check_fetch(url, init.get("method", "GET"), init.get("headers"), init.get("body"))
        op = FETCH_READ if "fetch" in ns._read_only else FETCH
        return await ns._pipeline.call(op, self._backend.fetch, request, key=request.url)

    def __repr__(self) -> str:
        return f"DurableObjectStub({self.id!r})"


def check_rpc_attribute(
    name: str, interface: tuple[str, frozenset[str]] | None, own: tuple[str, ...]
) -> None:
    """Refuse (``AttributeError``) ``stub.name`` as an RPC method where it cannot be one: a dunder or
    one of the stub's ``own`` slots, or, when the stub was made with ``interface``, a name it lacks."""
    if (name.startswith("__") and name.endswith("__")) or name in own:
        raise AttributeError(name)
    if interface is not None and name not in interface[1]:
        raise AttributeError(
            f"{name!r} is not an RPC method of {interface[0]} (the interface this stub was made with)"
        )


def interface_methods(
    interface: Callable[..., Any] | None, *, awaited: bool = True
) -> tuple[str, frozenset[str]] | None:
    """``interface``'s name and RPC method names, refused before any I/O when it is not a class or
    a method is not ``async def`` (its calls would be typed as returning a value, not an awaitable)
    — or, for a sync stub (``awaited=False``), when one is ``async def``."""
    if interface is None:
        return None
    if not isinstance(interface, type):
        raise InvalidInput(
            f"interface must be a class (a Protocol of the object's async RPC methods), "
            f"got {type(interface).__name__}",
            field="interface",
        )
    import inspect

    names: set[str] = set()
    for klass in interface.__mro__:
        if klass is object or klass.__module__ == "typing":
            continue
        for attr, value in vars(klass).items():
            if attr.startswith("_") or not callable(value):
                continue
            if inspect.iscoroutinefunction(value) != awaited:
                raise InvalidInput(
                    f"interface {interface.__qualname__}.{attr} must be 'async def': a stub's RPC calls "
                    "are awaited"
                    if awaited
                    else f"interface {interface.__qualname__}.{attr} must be a plain 'def': a sync "
                    "stub's RPC calls block and return the value",
                    field="interface",
                )
            names.add(attr)
    return interface.__qualname__, frozenset(names)
