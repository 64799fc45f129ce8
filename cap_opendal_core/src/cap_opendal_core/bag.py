"""The capability bag: a host's named capabilities, what each one is, and one place that closes them.

A host builds its capabilities (``KvNamespace.from_env(env, "FLOW_KV")`` …), puts them in a bag under
their binding names, runs :func:`cap_opendal_core.preflight` against the flow's manifest,
and hands the bag to node code. ``async with bag:`` enters every capability that is an async context
manager and closes them all on the way out, so a host owns one object instead of N.

A capability can be any object. What preflight needs to know about it — its binding kind, its
descriptor and the hints it provides — is taken, in this order, from the arguments of :meth:`add`,
from attributes on the object (``binding_kind``; ``descriptor``, or ``info`` holding a descriptor;
``provided_hints``), and finally from the installed capability plugin of that kind (discovered
lazily, only when something is missing).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Self

from .closing import ClosesOnExit, close_all
from .errors import InvalidInput, Misconfigured
from .hints import validate_hint_id
from .plugins import BINDING_NAME, BindingKind, binding_kinds, hint_provided

if TYPE_CHECKING:
    import os

    from .descriptors import Descriptor
    from .plugins import CapabilityPlugin

__all__ = ["BagEntry", "CapabilityBag", "DeclaredBinding", "UnknownBinding", "load_bindings"]


class UnknownBinding(Misconfigured, KeyError):
    """``bag[name]`` for a name the bag does not hold. A ``KeyError`` too, so ``dict``-style code works."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return Misconfigured.__str__(self)


@dataclass(frozen=True)
class BagEntry:
    """One capability and what is known about it."""

    name: str
    capability: Any
    kind: BindingKind | None
    descriptor: Descriptor | None = field(hash=False)
    provided_hints: tuple[str, ...]

    def provides(self, hint: str) -> bool:
        """Whether this capability provides ``hint`` (see :func:`~cap_opendal_core.plugins.hint_provided`)."""
        return hint_provided(hint, self.provided_hints)


@dataclass(frozen=True)
class DeclaredBinding:
    """A stand-in for a binding that exists elsewhere (a deployed Worker, a config file).

    ``caps preflight --bindings FILE`` and ``caps demo`` fill a bag with these: they carry the
    facts preflight checks and nothing else.
    """

    name: str
    binding_kind: BindingKind
    descriptor: Descriptor | None = field(default=None, hash=False)
    provided_hints: tuple[str, ...] | None = None


class CapabilityBag(ClosesOnExit):
    """Named capabilities, in the order they were added."""

    def __init__(self, capabilities: Mapping[str, Any] | None = None) -> None:
        self._entries: dict[str, BagEntry] = {}
        self._entered: list[BagEntry] = []
        for name, capability in (capabilities or {}).items():
            self.add(name, capability)

    # -- filling ---------------------------------------------------------------------------------

    def add(
        self,
        name: str,
        capability: Any,
        *,
        kind: BindingKind | None = None,
        descriptor: Descriptor | None = None,
        provided_hints: Iterable[str] | None = None,
        replace: bool = False,
    ) -> Self:
        """Add ``capability`` under binding ``name``; returns the bag, so calls chain.

        Raises :class:`Misconfigured` when ``name`` is taken (unless ``replace=True``) and
        :class:`InvalidInput` for a malformed name, kind, descriptor or hint.
        """
        if not isinstance(name, str) or not BINDING_NAME.match(name):
            raise InvalidInput(
                f"binding name {name!r} must be an identifier "
                "(letters, digits, '_'; not starting with a digit)",
                field="name",
            )
        if name in self._entries and not replace:
            existing = self._entries[name]
            raise Misconfigured(
                f"the capability bag already holds a binding named {name!r} "
                f"({existing.kind or type(existing.capability).__name__}); choose another name or pass "
                "replace=True",
                capability=name,
            )
        if capability is None:
            raise InvalidInput(f"binding {name!r}: the capability is None", field=name)
        self._entries[name] = self._describe(name, capability, kind, descriptor, provided_hints)
        return self

    def _describe(
        self,
        name: str,
        capability: Any,
        kind: str | None,
        descriptor: Descriptor | None,
        provided: Iterable[str] | None,
    ) -> BagEntry:
        from .descriptors import Descriptor

        if kind is None:
            kind = _attr(capability, "binding_kind")
        if kind is not None and kind not in (known := binding_kinds()):
            raise InvalidInput(
                f"binding {name!r}: kind {kind!r} is not one of {', '.join(known)}", field="kind"
            )
        if descriptor is None:
            descriptor = _descriptor_attr(capability, Descriptor)
        elif not isinstance(descriptor, Descriptor):
            raise InvalidInput(
                f"binding {name!r}: descriptor must be a Descriptor, got {type(descriptor).__name__}",
                field="descriptor",
            )
        if provided is None:
            provided = _attr(capability, "provided_hints")
        hints: tuple[str, ...] | None = None
        if provided is not None:
            if isinstance(provided, str):
                raise InvalidInput(
                    f"binding {name!r}: provided_hints must be a collection of hint ids, not a string",
                    field="provided_hints",
                )
            hints = tuple(provided)
            for hint in hints:
                try:
                    validate_hint_id(hint)
                except ValueError as exc:
                    raise InvalidInput(f"binding {name!r}: {exc}", field="provided_hints") from None
        if kind is None or descriptor is None or hints is None:
            plugin = _plugin_for(capability, kind)
            if plugin is not None:
                kind = kind or plugin.binding_kind
                descriptor = descriptor if descriptor is not None else plugin.descriptor
                hints = hints if hints is not None else plugin.provided_hints
        return BagEntry(name, capability, kind, descriptor, hints or ())

    # -- reading ---------------------------------------------------------------------------------

    def __getitem__(self, name: str) -> Any:
        return self.entry(name).capability

    def get(self, name: str, default: Any = None) -> Any:
        entry = self._entries.get(name)
        return default if entry is None else entry.capability

    def entry(self, name: str) -> BagEntry:
        """The :class:`BagEntry` for ``name``; :class:`UnknownBinding` listing what exists if none."""
        try:
            return self._entries[name]
        except KeyError:
            held = ", ".join(self._entries) or "nothing"
            raise UnknownBinding(
                f"no binding named {name!r} in the capability bag (it holds: {held})", capability=name
            ) from None

    def entries(self) -> tuple[BagEntry, ...]:
        return tuple(self._entries.values())

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._entries))

    def __len__(self) -> int:
        return len(self._entries)

    def names(self) -> tuple[str, ...]:
        return tuple(self._entries)

    def items(self) -> Iterator[tuple[str, Any]]:
        return ((e.name, e.capability) for e in list(self._entries.values()))

    def providers_of(self, hint: str) -> tuple[str, ...]:
        """Names of the bindings whose provided hints cover ``hint``."""
        return tuple(e.name for e in self._entries.values() if e.provides(hint))

    def __repr__(self) -> str:
        inner = ", ".join(
            f"{e.name}: {e.kind or type(e.capability).__name__}" for e in self._entries.values()
        )
        return f"CapabilityBag({{{inner}}})"

    # -- lifetime --------------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        entered: list[BagEntry] = []
        try:
            for entry in list(self._entries.values()):
                cap = entry.capability
                if _has(cap, "__aenter__") and _has(cap, "__aexit__"):
                    await cap.__aenter__()
                    entered.append(entry)
        except BaseException:
            self._entered = entered
            await self.aclose()
            raise
        self._entered = entered
        return self

    async def aclose(self) -> None:
        """Close every capability, newest first: ``__aexit__`` for those the bag entered, else
        ``aclose()`` (or ``__aexit__`` when that is all there is). Every one is attempted; a single
        failure is re-raised, several are raised together as an ``ExceptionGroup``."""
        entered = {id(e.capability) for e in self._entered}
        self._entered = []
        closers: list[Callable[[], Awaitable[object]]] = []
        for entry in reversed(list(self._entries.values())):
            cap = entry.capability
            if id(cap) in entered or (not _has(cap, "aclose") and _has(cap, "__aexit__")):
                closers.append(functools.partial(cap.__aexit__, None, None, None))
            elif _has(cap, "aclose"):
                closers.append(cap.aclose)
        await close_all(closers, "the capability bag")

    # -- declared bindings -----------------------------------------------------------------------

    @classmethod
    def from_declarations(cls, data: Mapping[str, Any], *, source: str = "<bindings>") -> CapabilityBag:
        """A bag of :class:`DeclaredBinding` stand-ins from ``{"bindings": {NAME: {...}}}``.

        Each entry has ``kind`` and optionally ``descriptor`` (a descriptor mapping; missing fields
        are ``unknown``) and ``provides`` (hint ids). When ``descriptor``/``provides`` are absent the
        installed plugin of that kind supplies them.
        """
        from .descriptors import Descriptor
        from .manifest import check_no_secrets

        if not isinstance(data, Mapping):
            raise InvalidInput(f"{source}: a bindings file must be an object/table")
        check_no_secrets(data, source)
        unknown = [k for k in data if k != "bindings"]
        if unknown:
            raise InvalidInput(f"{source}: {unknown[0]}: unknown key; a bindings file has only 'bindings'")
        bindings = data.get("bindings")
        if not isinstance(bindings, Mapping):
            raise InvalidInput(f"{source}: bindings: missing or not a table of NAME -> {{kind, ...}}")
        bag = cls()
        for name, spec in bindings.items():
            where = f"{source}: bindings.{name}"
            if not isinstance(name, str) or not BINDING_NAME.match(name):
                raise InvalidInput(f"{where}: binding names must be identifiers", field=str(name))
            if not isinstance(spec, Mapping):
                raise InvalidInput(f"{where}: must be a table/object", field=name)
            extra = [k for k in spec if k not in ("kind", "descriptor", "provides")]
            if extra:
                raise InvalidInput(
                    f"{where}.{extra[0]}: unknown key; expected kind, descriptor, provides", field=name
                )
            kind = spec.get("kind")
            if not isinstance(kind, str) or kind not in (known := binding_kinds()):
                raise InvalidInput(
                    f"{where}.kind: {kind!r} is not one of {', '.join(known)}", field=f"{name}.kind"
                )
            descriptor = None
            if "descriptor" in spec:
                try:
                    descriptor = Descriptor.from_dict(spec["descriptor"])
                except InvalidInput as exc:
                    raise InvalidInput(
                        f"{where}.descriptor: {exc.message}", field=f"{name}.descriptor"
                    ) from None
            provides = spec.get("provides")
            if provides is not None and (
                not isinstance(provides, list) or not all(isinstance(h, str) for h in provides)
            ):
                raise InvalidInput(f"{where}.provides: must be a list of hint ids", field=f"{name}.provides")
            try:
                bag.add(
                    name,
                    DeclaredBinding(name, kind, descriptor, None if provides is None else tuple(provides)),
                )
            except InvalidInput as exc:
                raise InvalidInput(f"{where}: {exc.message}", field=name) from None
        return bag


def load_bindings(path: str | os.PathLike[str]) -> CapabilityBag:
    """Read a JSON/TOML bindings file (see :meth:`CapabilityBag.from_declarations`) into a bag."""
    from .manifest import read_document

    return CapabilityBag.from_declarations(read_document(path, "bindings"), source=str(path))


# --- helpers ---------------------------------------------------------------------------------------


def _has(obj: Any, name: str) -> bool:
    return callable(getattr(obj, name, None))


def _attr(obj: Any, name: str) -> Any:
    try:
        return getattr(obj, name, None)
    except Exception:  # a property that fails is "not stated"
        return None


def _descriptor_attr(capability: Any, descriptor_type: type[Descriptor]) -> Descriptor | None:
    for attr in ("descriptor", "info"):
        value = _attr(capability, attr)
        if isinstance(value, descriptor_type):
            return value
        nested = _attr(value, "descriptor") if value is not None else None
        if isinstance(nested, descriptor_type):
            return nested
    return None


def _plugin_for(capability: Any, kind: str | None) -> CapabilityPlugin | None:
    """The installed plugin that describes ``capability``: by kind when known, else by package.

    With several plugins of one kind, the one whose constructors live in the capability's own
    top-level package wins, then the first by name.
    """
    from .plugins import discover

    plugins = discover()
    package = type(capability).__module__.split(".")[0]

    def home(p: CapabilityPlugin) -> bool:
        return any(ref.split(":")[0].split(".")[0] == package for ref in p.constructors.values())

    candidates = plugins.by_kind(kind) if kind is not None else tuple(p for p in plugins if home(p))
    if not candidates:
        return None
    for p in candidates:
        if home(p):
            return p
    return candidates[0]
