"""``DurableObject``: the base class of a Durable Object written in Python.

Same shape as a Python Worker's ``workers.DurableObject`` — constructed with ``(ctx, env)`` — plus
``self.storage``, a :class:`~cap_cloudflare_do.storage.DurableObjectStorage` whatever hosts the object:
the local runtime hands it a context whose storage is SQLite-backed; in a Python Worker ``ctx`` is the
JS ``DurableObjectState`` and its ``storage`` is wrapped on first use.

Public coroutine methods (no leading underscore) are the object's RPC surface; ``fetch(request)`` and
``alarm()`` are handlers, not RPC. ``read_only`` names the RPC methods that only read, so callers record
``resource::state::read`` for them (anything else records a write). The surface is computed once per
class, when it is defined, and a ``read_only`` name that is not an RPC method is a ``TypeError`` there.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, ClassVar

from .validation import RESERVED_NAMES

if TYPE_CHECKING:
    from collections.abc import Iterable

    from .storage import DurableObjectStorage

__all__ = ["DurableObject", "rpc_methods"]

_BASE_ATTRIBUTES = frozenset({"ctx", "env", "storage", "now", "read_only"})


def rpc_methods(cls: type) -> frozenset[str]:
    """The public methods of ``cls`` reachable over RPC (defined below :class:`DurableObject`)."""
    names = set()
    for klass in cls.__mro__:
        if klass is DurableObject or klass is object:
            continue
        for name, attr in vars(klass).items():
            if name.startswith("_") or name in RESERVED_NAMES or name in _BASE_ATTRIBUTES:
                continue
            if isinstance(attr, staticmethod | classmethod) or not callable(attr):
                continue
            names.add(name)
    return frozenset(names)


class DurableObject:
    """Subclass this; see the module docstring. ``ctx`` and ``env`` are what the host passed."""

    read_only: ClassVar[Iterable[str]] = frozenset()
    __rpc_methods__: ClassVar[frozenset[str]] = frozenset()
    __read_only_methods__: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, ctx: Any, env: Any) -> None:
        self.ctx = ctx
        self.env = env
        self._storage: DurableObjectStorage | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        methods = rpc_methods(cls)
        declared = cls.__dict__.get("read_only", None)
        read_only = frozenset(cls.read_only if declared is None else declared)
        if isinstance(declared, str):
            raise TypeError(f"{cls.__name__}.read_only must be a set of method names, not a str")
        unknown = read_only - methods - {"fetch"}  # "fetch": the fetch handler only reads
        if unknown:
            raise TypeError(
                f"{cls.__name__}.read_only names {', '.join(sorted(unknown))}, which "
                f"{'is not an RPC method' if len(unknown) == 1 else 'are not RPC methods'} of the class"
            )
        cls.__rpc_methods__ = methods
        cls.__read_only_methods__ = read_only

    @property
    def storage(self) -> DurableObjectStorage:
        """This object's storage (the local runtime's, or the Worker's ``ctx.storage`` wrapped)."""
        storage = self.__dict__.get("_storage")
        if storage is None:
            from .storage import DurableObjectStorage

            own = getattr(self.ctx, "storage", None)
            if isinstance(own, DurableObjectStorage):
                storage = own
            elif own is None:
                raise AttributeError(f"{type(self).__name__}: ctx has no storage")
            else:
                storage = DurableObjectStorage.from_js(own)
            self._storage = storage
        return storage

    def now(self) -> float:
        """Seconds since the epoch as the host sees them (the local runtime's clock is injectable)."""
        clock = getattr(self.ctx, "now", None)
        if callable(clock):
            value = clock()
            if isinstance(value, int | float):
                return float(value)
        return time.time()


def alarm_takes_info(cls: type) -> bool:
    """Whether ``cls.alarm`` accepts an :class:`~cap_cloudflare_do.models.AlarmInfo` argument."""
    import inspect  # lazy: only the local runtime asks, once per class

    handler = getattr(cls, "alarm", None)
    if handler is None:
        return False
    try:
        parameters = list(inspect.signature(handler).parameters.values())[1:]  # skip self
    except (TypeError, ValueError):
        return False
    return bool(parameters) and parameters[0].kind in (
        inspect.Parameter.POSITIONAL_ONLY,
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
        inspect.Parameter.VAR_POSITIONAL,
    )
