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

from typing import TYPE_CHECKING, Any, Final, Literal

from cap_opendal_core.capability import Capability, check_settings
from cap_opendal_core.errors import InvalidInput, Misconfigured
from cap_opendal_core.show import show

from .ids import DurableObjectId, check_hex_id, check_name
from .operations import FETCH, FETCH_READ, RESOLVE_ID, RPC, RPC_READ
from .spec import SPEC
from .validation import check_fetch, check_rpc_args, check_rpc_name

if TYPE_CHECKING:
    import os
    from collections.abc import Callable, Iterable

    import httpx

    from cap_opendal_core.layers import LayerSettings
    from cap_opendal_core.metrics import Metrics

    from .backends.base import NamespaceBackend, StubBackend
    from .backends.local import LocalRuntime
    from .config import GatewayConfig
    from .models import HeadersInit, Response
    from .object import DurableObject

__all__ = ["DurableObjectNamespace", "DurableObjectStub"]

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
        settings: LayerSettings | None = None,
        metrics: Metrics | None = None,
        logger: Any = None,
        object_class: type[DurableObject] | None = None,
        read_only: Iterable[str] | None = None,
    ) -> None:
        from .object import DurableObject

        super().__init__(backend, settings=settings, metrics=metrics, logger=logger)

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
        object_class: type[DurableObject],
        path: str | os.PathLike[str] | None = None,
        *,
        env: Any = None,
        clock: Callable[[], float] | None = None,
        idle_timeout: float | None = None,
        settings: LayerSettings | None = None,
        durability: Literal["process", "full"] = "process",
    ) -> DurableObjectNamespace:
        """The embedded runtime hosting ``object_class``, storing in the directory ``path`` (default
        ``.caps/do/<class name>``; ``":memory:"`` keeps storage in memory, for tests). ``env`` is handed
        to every object; ``clock`` (epoch seconds) drives alarms, ``ctx.now()`` and idle eviction."""
        from pathlib import Path, PurePath

        from .backends.local import DEFAULT_IDLE_TIMEOUT, LocalRuntime
        from .backends.sqlite_store import check_directory

        check_settings(settings, "do")  # the runtime builds its own pipeline with them: refuse now

        location: str | os.PathLike[str] | None
        if path is None:
            location = Path(".caps") / "do" / getattr(object_class, "__name__", "objects")
        elif isinstance(path, str | PurePath) and str(path) == ":memory:":
            location = None
        else:
            location = path
        if location is not None:  # refuse a bad path now, before anything is written
            location = check_directory(location)
        runtime = LocalRuntime(
            object_class,
            location,
            env=env,
            clock=clock,
            idle_timeout=DEFAULT_IDLE_TIMEOUT if idle_timeout is None else idle_timeout,
            settings=settings,
            durability=durability,
        )
        return cls(runtime, settings=settings, object_class=object_class)

    @classmethod
    def from_env(
        cls,
        env: Any,
        binding: str,
        *,
        object_class: type[DurableObject] | None = None,
        read_only: Iterable[str] | None = None,
        settings: LayerSettings | None = None,
    ) -> DurableObjectNamespace:
        """The namespace bound as ``binding`` in a Python Worker's ``env`` (raw or ``workers``-wrapped).

        Give ``object_class`` (when the class is Python) or ``read_only`` so RPC names are checked
        and read-only methods record reads; without them every RPC records a write."""
        from .backends.workers import WorkersNamespace

        return cls(
            WorkersNamespace.from_env(env, binding),
            settings=settings,
            object_class=object_class,
            read_only=read_only,
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
        settings: LayerSettings | None = None,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
        proxy: str | None = None,
        trust_env: bool = False,
    ) -> DurableObjectNamespace:
        """Objects of ``binding`` behind the gateway Worker at ``url`` (see :mod:`cap_cloudflare_do.gateway`).
        ``token`` (a str or :class:`~cap_opendal_core.redact.Secret`) is registered for redaction.
        Requests go direct unless ``proxy=`` names one or ``trust_env=True`` lets the environment's
        ``HTTP(S)_PROXY`` apply (:mod:`cap_opendal_core.transit`)."""
        from .backends.gateway import GatewayNamespace

        backend = GatewayNamespace(
            url,
            binding=binding,
            token=token,
            timeout=timeout,
            transport=transport,
            proxy=proxy,
            trust_env=trust_env,
        )
        return cls(backend, settings=settings, object_class=object_class, read_only=read_only)

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        object_class: type[DurableObject] | None = None,
        binding: str | None = None,
        token: str | Any = None,
        settings: LayerSettings | None = None,
    ) -> DurableObjectNamespace:
        """By URL: ``memory://`` (the embedded runtime, in memory), ``file:///dir`` (the embedded runtime
        storing in ``dir``) — both need ``object_class`` — or ``https://…`` (the gateway; needs
        ``binding`` and ``token``)."""
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
                return cls.local(object_class, ":memory:", settings=settings)
            path = unquote(parts.netloc + parts.path)
            if not path:
                raise Misconfigured(
                    "local store directory path is empty: file:// needs a directory, e.g. file:///var/lib/caps/do",
                    capability="do",
                    operation="from_url",
                )
            return cls.local(object_class, path, settings=settings)
        if parts.scheme in ("https", "http"):
            if binding is None or token is None:
                raise InvalidInput("a gateway URL needs binding= and token=", field="binding")
            return cls.from_gateway(
                url, binding=binding, token=token, object_class=object_class, settings=settings
            )
        raise InvalidInput(
            f"unsupported URL scheme {parts.scheme!r} for Durable Objects (memory, file, https)", field="url"
        )

    @classmethod
    def from_config(
        cls,
        config: GatewayConfig,
        *,
        object_class: type[DurableObject] | None = None,
        settings: LayerSettings | None = None,
    ) -> DurableObjectNamespace:
        """From a validated :class:`~cap_cloudflare_do.config.GatewayConfig` (pydantic)."""
        return cls.from_gateway(
            str(config.url),
            binding=config.binding,
            token=config.token.get_secret_value(),
            object_class=object_class,
            read_only=config.read_only,
            settings=settings,
            timeout=config.timeout,
            proxy=config.proxy,
            trust_env=config.trust_env,
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

    def get(self, oid: DurableObjectId) -> DurableObjectStub:
        """A stub for the object ``oid``."""
        if not isinstance(oid, DurableObjectId):
            raise InvalidInput(
                f"get() takes a DurableObjectId (from id_from_name, new_unique_id or id_from_string), "
                f"not {type(oid).__name__}",
                field="id",
            )
        self._check_open("get")
        return DurableObjectStub(self, oid, self._backend.stub(oid))

    def get_by_name(self, name: str) -> DurableObjectStub:
        """A stub for the object named ``name`` (``getByName`` in JS)."""
        self._check_open("get_by_name")
        oid, backend = self._backend.stub_by_name(check_name(name))
        return DurableObjectStub(self, oid, backend)

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

    __slots__ = ("_backend", "_namespace", "id")

    def __init__(self, namespace: DurableObjectNamespace, oid: DurableObjectId, backend: StubBackend) -> None:
        self._namespace = namespace
        self._backend = backend
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
        if (name.startswith("__") and name.endswith("__")) or name in DurableObjectStub.__slots__:
            raise AttributeError(name)

        async def rpc(*args: Any) -> Any:
            return await self.call(name, *args)

        rpc.__name__ = rpc.__qualname__ = name
        return rpc

    async def fetch(
        self,
        url: str,
        *,
        method: str = "GET",
        headers: HeadersInit | None = None,
        body: bytes | str | None = None,
    ) -> Response:
        """Send an HTTP request to the object's ``fetch`` handler; returns its response (buffered).
        Records a read only when the class lists ``"fetch"`` in ``read_only``."""
        ns = self._namespace
        request = check_fetch(url, method, headers, body)
        op = FETCH_READ if "fetch" in ns._read_only else FETCH
        return await ns._pipeline.call(op, self._backend.fetch, request, key=request.url)

    def __repr__(self) -> str:
        return f"DurableObjectStub({self.id!r})"
