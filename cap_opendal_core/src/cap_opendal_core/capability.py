"""``Capability``: what every public capability class shares, written once.

``KvNamespace``, ``R2Bucket``, ``Queue``, ``QueueConsumer`` and ``DurableObjectNamespace`` differ in
their methods, not in how they are built, closed, shown or copied. This base owns that part:

* construction — ``Capability(backend, *, settings=None, metrics=None, logger=None)`` checks
  ``settings`` before anything else and composes the layer :class:`~cap_opendal_core.layers.Pipeline`
  every call goes through;
* what it is — ``backend`` (the backend's name), ``info`` (its descriptor), ``pipeline``, ``closed``;
* the lifecycle — open → closed, once. ``aclose()`` closes the backend and is idempotent; every call
  after it raises :class:`~cap_opendal_core.errors.Closed` before any I/O (the pipeline refuses it).
  ``async with cap:`` starts what the backend starts lazily (``_open``) and closes on exit; entering a
  closed capability raises ``Closed``. Entering an open one again is allowed, but the first exit
  closes it: nest scopes around one ``async with``, not several;
* ``repr`` — the class and the subclass's ``_describe()``, scrubbed of registered secrets;
* pickling — refused with ``TypeError``: a capability holds live clients and credentials.

Core knows no particular service: a subclass sets ``spec`` (its package's ``SPEC``) or ``capability``
and, where its backend needs them, overrides ``_layer_settings`` (by default the backend's own
``pipeline_settings``, if it has one) and ``_open``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Final, Generic, Protocol, Self, TypedDict, TypeVar

from .closing import ClosesOnExit
from .errors import Closed, Misconfigured

if TYPE_CHECKING:
    from collections.abc import Iterator

    from .descriptors import Descriptor
    from .layers import LayerSettings, Pipeline
    from .metrics import Metrics
    from .spec import CapabilitySpec

__all__ = [
    "Capability",
    "CapabilityBackend",
    "CapabilityOptions",
    "check_binding",
    "check_options",
    "check_settings",
    "local_order_hint",
    "refuse_pickling",
    "workers_only",
]


class CapabilityBackend(Protocol):
    """What the base needs of every backend (each package's ``backends/base.py`` extends it)."""

    @property
    def name(self) -> str:
        """Which backend answers (``local``, ``workers``, ``rest`` …): for logs, metrics, ``repr``."""

    @property
    def descriptor(self) -> Descriptor:
        """What this backend guarantees (preflight compares it with a flow's requirements)."""

    async def aclose(self) -> None:
        """Release what the backend opened; called once, by :meth:`Capability.aclose`."""


def check_settings(settings: object, capability: str) -> LayerSettings:
    """``settings`` checked before any backend is built (None means the default layers)."""
    from .layers import LayerSettings

    if settings is None:
        return LayerSettings()
    if not isinstance(settings, LayerSettings):
        raise Misconfigured(
            f"settings must be a LayerSettings, got {type(settings).__name__}", capability=capability
        )
    return settings


class CapabilityOptions(TypedDict, total=False):
    """The keywords every classmethod constructor passes on to :class:`Capability`'s ``__init__``
    (``**options: Unpack[CapabilityOptions]``): declared once, so the constructors cannot drift apart."""

    settings: LayerSettings | None
    """The layer settings (retries, timeouts …); None means the default layers."""
    metrics: Metrics | None
    """Where the pipeline records its metrics."""
    logger: Any
    """The ``logging.Logger`` the pipeline logs to."""


class CheckedOptions(TypedDict):
    """:class:`CapabilityOptions` after :func:`check_options`: ``settings`` is a ``LayerSettings``."""

    settings: LayerSettings
    metrics: Metrics | None
    logger: Any


OPTIONS: Final = ("settings", "metrics", "logger")
"""The names :class:`CapabilityOptions` declares, in the order signatures show them."""


def check_options(cls: type[Capability[Any]], constructor: str, options: Mapping[str, Any]) -> CheckedOptions:
    """``cls.constructor``'s ``**options`` checked before any backend is built: an unknown keyword
    raises ``TypeError`` naming the constructor (as Python would), a wrong ``settings`` ``Misconfigured``."""
    from .checks import check_keywords

    check_keywords(options, OPTIONS, f"{cls.__name__}.{constructor}")
    return {
        "settings": check_settings(options.get("settings"), cls.capability),
        "metrics": options.get("metrics"),
        "logger": options.get("logger"),
    }


def check_binding(env: object, binding: object, *, capability: str) -> None:
    """The part of ``from_env``'s checks that needs no Pyodide: ``binding`` is a non-empty name and
    ``env`` holds it. Raises ``Misconfigured`` naming the binding, so a Worker deployed without it (or a
    server calling ``from_env``) learns what to add to ``wrangler.toml`` on every capability alike."""

    def fail(message: str) -> Misconfigured:
        return Misconfigured(message, capability=capability, operation="from_env")

    if not isinstance(binding, str) or not binding:
        raise fail(f"binding name must be a non-empty string, got {type(binding).__name__}")
    if env is None:
        raise fail(f"no env given: pass the Worker's env, which must hold the binding {binding!r}")
    if isinstance(env, Mapping):
        value = env.get(binding)
    else:
        try:
            value = getattr(env, binding)
        except AttributeError:
            value = None
    if value is None:
        raise fail(
            f"binding {binding!r} is missing from env; declare it in wrangler.toml (or pass the right name)"
        )


@contextlib.contextmanager
def workers_only(owner: str, capability: str) -> Iterator[None]:
    """Turn the ``ImportError`` of a Pyodide-only backend into ``Misconfigured`` saying where
    ``owner.from_env`` works and what to use instead."""
    try:
        yield
    except ImportError as exc:
        raise Misconfigured(
            f"{owner}.from_env works only inside a Python Worker (Pyodide); on a server use "
            f"{owner}.from_config / from_url, or {owner}.local",
            capability=capability,
            operation="from_env",
        ) from exc


def local_order_hint(owner: str, second: str) -> str:
    """The sentence every ``local`` adds when its arguments look swapped: all of them take the
    directory first (``Queue.local(path, name)``), which two did not before."""
    return f"{owner}.local takes the directory first: {owner}.local(path, {second}, …)"


def refuse_pickling(obj: object) -> Any:
    """``__reduce__`` for objects that hold clients or credentials: pickling them would copy secrets
    (OpenDAL operators pickle their whole configuration, keys included)."""
    raise TypeError(
        f"{type(obj).__name__} cannot be pickled: it holds live clients and credentials. "
        "Pass its configuration (or operator URL) and build it again where it is needed."
    )


B = TypeVar("B", bound=CapabilityBackend)


class Capability(ClosesOnExit, Generic[B]):
    """Base of the public capability classes: construction, lifecycle, ``repr``, no pickling.

    ``B`` is the package's backend protocol (``KvBackend`` …), so ``self._backend`` is typed.
    """

    spec: ClassVar[CapabilitySpec]
    """The package's :class:`~cap_opendal_core.spec.CapabilitySpec`; a subclass that sets it gets
    ``capability``, ``binding_kind`` and ``provided_hints`` from it."""
    capability: ClassVar[str]
    """The capability's name (``"kv"``, ``"r2"`` …): the pipeline's and every error's ``capability``."""
    binding_kind: ClassVar[str]
    """The wrangler binding kind it stands for (the bag and preflight read it)."""
    provided_hints: ClassVar[tuple[str, ...]]
    """Every hint its calls record (preflight checks a flow's hints have a provider)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        spec = cls.__dict__.get("spec")
        if spec is not None:
            cls.capability = spec.name
            cls.binding_kind = spec.binding_kind
            cls.provided_hints = spec.provided_hints

    __slots__ = ("_backend", "_pipeline")

    def __init__(
        self,
        backend: B,
        *,
        settings: LayerSettings | None = None,
        metrics: Metrics | None = None,
        logger: Any = None,
    ) -> None:
        """Wrap a backend; prefer the class's constructors, which build the backend for you."""
        from .layers import Pipeline

        checked = check_settings(settings, self.capability)
        self._backend: B = backend
        self._pipeline = Pipeline(
            self.capability,
            backend.name,
            self._layer_settings(backend, checked),
            metrics=metrics,
            logger=logger,
        )
        self._pipeline.asyncio_only = bool(getattr(backend, "asyncio_only", False))

    def _layer_settings(self, backend: B, settings: LayerSettings) -> LayerSettings:
        """The pipeline's settings for ``backend``: a backend that does some layers natively (KV's and
        R2's) says which with ``pipeline_settings(settings)``; any other takes ``settings`` as given."""
        adjust = getattr(backend, "pipeline_settings", None)
        if adjust is None:
            return settings
        adjusted: LayerSettings = adjust(settings)
        return adjusted

    async def _open(self) -> None:
        """Start what the backend starts only inside ``async with`` (nothing, by default)."""

    def _describe(self) -> str:
        """What ``repr`` shows between the parentheses (secrets are scrubbed afterwards)."""
        return f"backend={self.backend!r}"

    # -- what it is ------------------------------------------------------------------------------

    @property
    def backend(self) -> str:
        """The name of the backend that answers (``local``, ``workers``, ``rest``, ``opendal`` …)."""
        return self._backend.name

    @property
    def info(self) -> Descriptor:
        """What this capability guarantees on its backend (consistency, durability, delivery …)."""
        return self._backend.descriptor

    @property
    def pipeline(self) -> Pipeline:
        """The layer pipeline every call goes through (its ``layers`` and ``metrics``)."""
        return self._pipeline

    @property
    def closed(self) -> bool:
        """True after :meth:`aclose`: every call raises ``Closed``."""
        return self._pipeline.closed

    # -- lifecycle -------------------------------------------------------------------------------

    def _check_open(self, operation: str) -> None:
        """Raise ``Closed`` when closed: for work that starts before the first pipeline call."""
        if self._pipeline.closed:
            raise Closed(
                "called after aclose(): this capability is closed; build a new one",
                capability=self.capability,
                operation=operation,
            )

    async def aclose(self) -> None:
        """Close what the backend opened. Idempotent; every later call raises ``Closed``."""
        if self._pipeline.closed:
            return
        self._pipeline.close()  # first, so a call racing the close is refused, not half-served
        await self._backend.aclose()

    async def __aenter__(self) -> Self:
        self._check_open("__aenter__")
        await self._open()
        return self

    # -- how it shows and copies -----------------------------------------------------------------

    def __repr__(self) -> str:
        from .redact import scrub

        closed = ", closed" if self._pipeline.closed else ""
        return scrub(f"{type(self).__name__}({self._describe()}{closed})")

    def __reduce__(self) -> Any:
        return refuse_pickling(self)
