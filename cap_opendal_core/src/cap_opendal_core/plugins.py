"""Capability plugins: how installed ``cap-cloudflare-*`` packages make themselves known to the core.

Each capability package advertises one :class:`CapabilityPlugin` through a Python entry point in the
group ``cap_opendal_core.capabilities`` (``kv = "cap_cloudflare_kv.plugin:PLUGIN"``). The plugin says
what the package is (name, binding kind for wrangler), what it guarantees (its descriptor), which hints
its operations record (so preflight knows which ``resource::*`` hints have a provider), which hint
constraints it registers, and how to build it (dotted constructor references, resolved only on use).

Discovery is lazy and cached: nothing is loaded until :func:`discover` is first called, because
reading entry points costs milliseconds that a Worker's cold start should not pay. A plugin that fails
to import or is not a :class:`CapabilityPlugin` is reported as a :class:`PluginProblem` and skipped;
one broken package must not take the host down.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final, TypeVar

from .binding_kinds import BINDING_KIND_NAME, BindingKindSpec, binding_kinds
from .errors import InvalidInput, Misconfigured
from .hints import BUILTIN_CONSTRAINTS, Constraint, registry, validate_hint_id

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping
    from importlib.metadata import EntryPoint

    from .descriptors import Descriptor
    from .translate.services import ServiceErrors

__all__ = [
    "BINDING_NAME",
    "ENTRY_POINT_GROUP",
    "BindingKind",
    "BindingKindSpec",
    "CapabilityPlugin",
    "PluginProblem",
    "PluginSet",
    "binding_kinds",
    "builtin_constraints_under",
    "discover",
    "hint_covers",
    "hint_provided",
    "load_entry_points",
    "register_plugin",
    "unregister_plugin",
]

ENTRY_POINT_GROUP: Final = "cap_opendal_core.capabilities"

BindingKind = str
"""A wrangler binding kind: an open string, defined by the capability package that stands for it
(its :class:`~cap_opendal_core.binding_kinds.BindingKindSpec`); see :func:`binding_kinds`."""

BINDING_NAME: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
"""A binding is an attribute of ``env`` in JS and Python alike, so its name must be an identifier."""

_PLUGIN_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_REF = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w]*(\.[A-Za-z_]\w*)*$")


def hint_covers(provided: str, hint: str) -> bool:
    """True when ``provided`` is ``hint`` or a whole-segment prefix of it.

    ``resource::kv`` covers ``resource::kv::write``; ``resource::blob`` does not cover
    ``resource::blobs``.
    """
    return hint == provided or hint.startswith(provided + "::")


def hint_provided(hint: str, provided: Iterable[str]) -> bool:
    """True when a provider declaring ``provided`` hints provides ``hint``, matched by whole segments.

    A declared hint provides itself and everything below it (``resource::kv`` provides
    ``resource::kv::write``); a node's broader hint is provided by anything declared below it (a
    provider of ``resource::kv::read`` provides ``resource::kv``). Siblings do not provide each other.
    """
    return any(hint_covers(p, hint) or hint_covers(hint, p) for p in provided)


def builtin_constraints_under(*prefixes: str) -> tuple[Constraint, ...]:
    """The built-in constraints whose hint lies under any of ``prefixes`` (whole segments).

    Capability plugins use this to re-register the built-in rows of their own hint family under
    their distribution's name, so ``caps hints`` shows which installed package stands behind them.
    """
    return tuple(c for c in BUILTIN_CONSTRAINTS if any(hint_covers(p, c.hint) for p in prefixes))


@dataclass(frozen=True, kw_only=True)
class CapabilityPlugin:
    """What one capability package declares about itself.

    ``hints`` are constraints registered into :data:`cap_opendal_core.hints.registry` on discovery
    (their ``source`` is set to ``distribution``); ``provided_hints`` are the hint ids the package's
    operations record — a provided hint covers every hint below it. ``constructors`` maps a
    constructor name to a ``"module:Attr.path"`` reference, imported only by :meth:`constructor`.
    """

    name: str
    distribution: str
    binding_kind: BindingKind
    descriptor: Descriptor = field(hash=False)
    provided_hints: tuple[str, ...] = ()
    hints: tuple[Constraint, ...] = ()
    constructors: Mapping[str, str] = field(default_factory=dict, hash=False)
    binding: BindingKindSpec | None = field(default=None, hash=False)
    """How bindings of ``binding_kind`` read in a manifest and render for wrangler, when this
    package defines that kind."""
    errors: ServiceErrors | None = field(default=None, hash=False)
    """The service's error codes and JS rules, registered with core's translators on discovery."""

    def __post_init__(self) -> None:
        from .descriptors import Descriptor

        where = f"capability plugin {self.name!r}"
        if not isinstance(self.name, str) or not _PLUGIN_NAME.match(self.name):
            raise InvalidInput(
                f"capability plugin name {self.name!r} must be lower-case letters, digits and '_', "
                "starting with a letter",
                field="name",
            )
        if not isinstance(self.distribution, str) or not self.distribution.strip():
            raise InvalidInput(f"{where}: distribution must be a non-empty string", field="distribution")
        if not isinstance(self.binding_kind, str) or not BINDING_KIND_NAME.match(self.binding_kind):
            raise InvalidInput(
                f"{where}: binding_kind {self.binding_kind!r} must be lower-case letters, digits and '_'",
                field="binding_kind",
            )
        if self.binding is not None and (
            not isinstance(self.binding, BindingKindSpec) or self.binding.kind != self.binding_kind
        ):
            raise InvalidInput(
                f"{where}: binding must be a BindingKindSpec for kind {self.binding_kind!r}", field="binding"
            )
        _expect(self.descriptor, Descriptor, "descriptor", where)
        provided = tuple(self.provided_hints)
        for hint in provided:
            try:
                validate_hint_id(hint)
            except ValueError as exc:
                raise InvalidInput(f"{where}: provided_hints: {exc}", field="provided_hints") from None
        constraints = tuple(self.hints)
        for c in constraints:
            if not isinstance(c, Constraint):
                raise InvalidInput(
                    f"{where}: hints must hold Constraint objects, got {type(c).__name__}", field="hints"
                )
        if self.errors is not None:
            from .translate.services import ServiceErrors

            _expect(self.errors, ServiceErrors, "errors", where)
        constructors = dict(self.constructors)
        for key, ref in constructors.items():
            if not isinstance(key, str) or not key.isidentifier():
                raise InvalidInput(f"{where}: constructor name {key!r} is not an identifier")
            if not isinstance(ref, str) or not _REF.match(ref):
                raise InvalidInput(
                    f"{where}: constructor {key!r} must be a 'module:Attr.path' reference, got {ref!r}",
                    field="constructors",
                )
        # Normalise: tuples, a read-only mapping, and constraints stamped with who registers them.
        object.__setattr__(self, "provided_hints", provided)
        object.__setattr__(self, "hints", tuple(replace(c, source=self.distribution) for c in constraints))
        object.__setattr__(self, "constructors", MappingProxyType(constructors))

    def provides(self, hint: str) -> bool:
        """True when this plugin's provided hints provide ``hint`` (see :func:`hint_provided`)."""
        return hint_provided(hint, self.provided_hints)

    def constructor(self, name: str) -> Callable[..., Any]:
        """Import and return the constructor called ``name`` (e.g. ``"from_env"``).

        Raises :class:`Misconfigured` naming the plugin, the constructor and the reference when it
        is unknown or cannot be imported — the package may be a skeleton that does not define it yet.
        """
        ref = self.constructors.get(name)
        if ref is None:
            known = ", ".join(sorted(self.constructors)) or "none"
            raise Misconfigured(
                f"capability plugin {self.name!r} has no constructor {name!r} (it has: {known})",
                capability=self.name,
            )
        module_name, _, attr_path = ref.partition(":")
        try:
            obj: Any = importlib.import_module(module_name)
        except ImportError as exc:
            raise Misconfigured(
                f"capability plugin {self.name!r}: constructor {name!r} points to {ref}, "
                f"but module {module_name!r} cannot be imported ({exc})",
                capability=self.name,
                cause=exc,
            ) from exc
        parts = attr_path.split(".")
        for i, part in enumerate(parts):
            try:
                obj = getattr(obj, part)
            except AttributeError as exc:
                owner = module_name if i == 0 else f"{module_name}:{'.'.join(parts[:i])}"
                raise Misconfigured(
                    f"capability plugin {self.name!r}: constructor {name!r} points to {ref}, "
                    f"but {owner!r} has no attribute {part!r} (is {self.distribution} up to date?)",
                    capability=self.name,
                    cause=exc,
                ) from exc
        if not callable(obj):
            raise Misconfigured(
                f"capability plugin {self.name!r}: constructor {name!r} ({ref}) is not callable",
                capability=self.name,
            )
        return obj  # type: ignore[no-any-return]


@dataclass(frozen=True)
class PluginProblem:
    """An entry point that could not be turned into a plugin, and why (one line)."""

    entry_point: str
    error: str

    def __str__(self) -> str:
        return f"{self.entry_point}: {self.error}"


@dataclass(frozen=True)
class PluginSet:
    """The plugins known to this process (discovered and registered in-process) and the problems."""

    plugins: Mapping[str, CapabilityPlugin]
    problems: tuple[PluginProblem, ...] = ()

    def __iter__(self) -> Iterator[CapabilityPlugin]:
        return iter(self.plugins[name] for name in sorted(self.plugins))

    def __len__(self) -> int:
        return len(self.plugins)

    def __contains__(self, name: object) -> bool:
        return name in self.plugins

    def __getitem__(self, name: str) -> CapabilityPlugin:
        try:
            return self.plugins[name]
        except KeyError:
            known = ", ".join(sorted(self.plugins)) or "none"
            raise KeyError(f"no capability plugin named {name!r} (installed: {known})") from None

    def get(self, name: str) -> CapabilityPlugin | None:
        return self.plugins.get(name)

    def names(self) -> tuple[str, ...]:
        return tuple(sorted(self.plugins))

    def by_kind(self, kind: str) -> tuple[CapabilityPlugin, ...]:
        """Plugins standing for binding ``kind``, by name."""
        return tuple(p for p in self if p.binding_kind == kind)

    def providers_of(self, hint: str) -> tuple[CapabilityPlugin, ...]:
        """Plugins whose provided hints cover ``hint``, by name."""
        return tuple(p for p in self if p.provides(hint))


# --- process-wide state ----------------------------------------------------------------------------

_lock = registry.discovery_lock  # one lock for discovery and the registry's first lookup
_loaded = False
_from_entry_points: dict[str, CapabilityPlugin] = {}
_problems: list[PluginProblem] = []
_registered: dict[str, CapabilityPlugin] = {}
_BUILTIN_BY_KEY: Final = {(c.hint, c.kind): c for c in BUILTIN_CONSTRAINTS}


def _apply_hints(new: CapabilityPlugin, old: CapabilityPlugin | None) -> None:
    """Register ``new``'s constraints; withdraw those of ``old`` that ``new`` no longer declares."""
    if old is not None:
        keep = {(c.hint, c.kind) for c in new.hints}
        for c in old.hints:
            if (c.hint, c.kind) not in keep:
                _withdraw(c, exclude=old.name)
    for c in new.hints:
        registry.register(c)
    if new.errors is not None:
        from .translate.services import register_service_errors

        register_service_errors(new.errors)


def _withdraw(c: Constraint, *, exclude: str) -> None:
    """Take back ``c`` unless something else replaced it since.

    What it shadowed comes back: the same (hint, kind) from another known plugin (by name, last
    wins, as registration order would have it), else the built-in — so removing a plugin never
    leaves the registry weaker than a bare ``cap_opendal_core``.
    """
    if registry.lookup(c.hint, c.kind) != c:
        return
    fallback = _BUILTIN_BY_KEY.get((c.hint, c.kind))
    for name, plugin in sorted({**_from_entry_points, **_registered}.items()):
        if name == exclude:
            continue
        for other in plugin.hints:
            if (other.hint, other.kind) == (c.hint, c.kind):
                fallback = other
    if fallback is not None:
        registry.register(fallback)
    else:
        registry.unregister(c.hint, c.kind)


T = TypeVar("T")


def _expect(value: object, kind: type, field: str, where: str) -> None:
    """``InvalidInput`` naming ``field`` unless ``value`` is a ``kind`` (named with its module)."""
    if not isinstance(value, kind):
        raise InvalidInput(
            f"{where}: {field} must be a {kind.__module__}.{kind.__qualname__}, got {type(value).__name__}",
            field=field,
        )


def _describe_entry_point(ep: EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    dist_name = getattr(dist, "name", None) if dist is not None else None
    text = f"{ep.name} = {ep.value}"
    return f"{text} ({dist_name})" if dist_name else text


def load_entry_points(
    group: str,
    expected: type[T],
    problems: list[PluginProblem],
    *,
    skip: Callable[[EntryPoint], str | None] = lambda ep: None,
) -> Iterator[tuple[EntryPoint, str, T]]:
    """Each entry point of ``group`` (by name, then value), loaded and checked to be an ``expected``,
    as ``(entry point, where, object)``; one that cannot be read, loaded or is something else is a
    problem appended to ``problems`` instead, and so is one ``skip`` names a reason for (asked before
    loading). Never raises because of a broken distribution: plugins and commands both load this way."""
    from importlib.metadata import entry_points

    try:
        eps = sorted(entry_points(group=group), key=lambda e: (e.name, e.value))
    except Exception as exc:  # a corrupt installation must not be fatal either
        problems.append(PluginProblem(group, f"cannot read entry points: {exc!r}"))
        return
    for ep in eps:
        where = _describe_entry_point(ep)
        if (reason := skip(ep)) is not None:
            problems.append(PluginProblem(where, reason))
            continue
        try:
            obj = ep.load()
        except Exception as exc:
            problems.append(PluginProblem(where, f"cannot load: {type(exc).__name__}: {exc}"))
            continue
        if not isinstance(obj, expected):
            problems.append(PluginProblem(where, f"expected a {expected.__name__}, got {type(obj).__name__}"))
            continue
        yield ep, where, obj


def _load_entry_points() -> tuple[dict[str, CapabilityPlugin], list[PluginProblem]]:
    found: dict[str, CapabilityPlugin] = {}
    problems: list[PluginProblem] = []
    for ep, where, obj in load_entry_points(ENTRY_POINT_GROUP, CapabilityPlugin, problems):
        if obj.name != ep.name:
            problems.append(
                PluginProblem(where, f"entry point name {ep.name!r} differs from plugin name {obj.name!r}")
            )
            continue
        if obj.name in found:
            problems.append(
                PluginProblem(
                    where, f"plugin {obj.name!r} is already provided by {found[obj.name].distribution}"
                )
            )
            continue
        found[obj.name] = obj
    return found, problems


def _snapshot() -> PluginSet:
    merged = {**_from_entry_points, **_registered}
    return PluginSet(MappingProxyType(merged), tuple(_problems))


def discover(*, refresh: bool = False) -> PluginSet:
    """Load the installed capability plugins once (or again with ``refresh=True``).

    Registers every plugin's hint constraints into the process-wide registry and returns the known
    plugins — entry-point plugins plus those given to :func:`register_plugin`, which win on a name
    clash — with the problems met on the way. Never raises because of a broken plugin.
    """
    global _loaded
    with _lock:
        if not _loaded or refresh:
            found, problems = _load_entry_points()
            previous = dict(_from_entry_points)
            _from_entry_points.clear()
            _from_entry_points.update(found)
            _problems[:] = problems
            for name, old in previous.items():
                if name not in found and name not in _registered:
                    for c in old.hints:
                        _withdraw(c, exclude=name)
            for name, plugin in found.items():
                if name not in _registered:
                    _apply_hints(plugin, previous.get(name))
            _loaded = True
        return _snapshot()


def register_plugin(plugin: CapabilityPlugin) -> None:
    """Add (or replace, by name) a plugin defined in-process — for hosts and tests.

    Its hints are registered at once; a replaced plugin's constraints that the new one drops are
    withdrawn. Does not trigger entry-point discovery.
    """
    if not isinstance(plugin, CapabilityPlugin):
        raise InvalidInput(f"register_plugin expects a CapabilityPlugin, got {type(plugin).__name__}")
    with _lock:
        old = _registered.get(plugin.name) or _from_entry_points.get(plugin.name)
        _apply_hints(plugin, old)
        _registered[plugin.name] = plugin


def unregister_plugin(name: str) -> CapabilityPlugin | None:
    """Remove an in-process plugin registered with :func:`register_plugin`; returns it, or None.

    Its constraints are withdrawn; an entry-point plugin of the same name, if any, comes back.
    """
    with _lock:
        plugin = _registered.pop(name, None)
        if plugin is None:
            return None
        underlying = _from_entry_points.get(name)
        if underlying is not None:
            _apply_hints(underlying, plugin)
        else:
            for c in plugin.hints:
                _withdraw(c, exclude=name)
        return plugin
