"""The registry of per-service error facts: each capability package contributes its own.

Core keeps the mechanism — the status table, envelope parsing, the error tree, the generic JS rules —
and each ``cap-cloudflare-*`` package registers what only its service knows: the Cloudflare error
codes it returns (``errors[].code`` in an API envelope, or ``(10012)`` at the end of a binding's JS
message), extra JS rules tried before the generic ones, and the capability names that belong to it.
The numbers overlap between services (``10009`` is "key not found" for KV but "TooManyBuckets" for
R2), so a code is looked up in the table of the service the failing capability belongs to.

A package registers its :class:`ServiceErrors` when its error-code module is imported (its backends
import it), and its plugin carries the same object so :func:`cap_opendal_core.plugins.discover`
registers it too. A lookup for a capability no registered service claims runs discovery once, so a
host that translates before importing the package still gets the table.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Final

from ..errors import InvalidInput
from ._common import LazyPattern, Spec

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "JsRule",
    "ServiceErrors",
    "register_service_errors",
    "registered_services",
    "service_errors",
    "service_of",
]

_SERVICE_NAME: Final = re.compile(r"^[a-z][a-z0-9_]*$")


class JsRule:
    """Matches when the JS error's name is in ``names`` (if given) and ``pattern`` is in its message."""

    __slots__ = ("names", "pattern", "spec")

    def __init__(
        self, spec: Spec, *, names: tuple[str, ...] | None = None, pattern: str | None = None
    ) -> None:
        self.spec = spec
        self.names = frozenset(names) if names is not None else None
        self.pattern = LazyPattern(pattern, re.IGNORECASE) if pattern is not None else None

    def matches(self, name: str | None, message: str) -> bool:
        if self.names is not None and name not in self.names:
            return False
        return self.pattern is None or self.pattern.search(message) is not None

    def __repr__(self) -> str:
        pattern = self.pattern.compiled.pattern if self.pattern is not None else None
        return f"JsRule({self.spec!r}, names={self.names!r}, pattern={pattern!r})"


@dataclass(frozen=True, kw_only=True)
class ServiceErrors:
    """What one service's failures mean, as its capability package knows them.

    ``capability_prefixes`` are the capability names (as passed to the translators' ``capability=``)
    that belong to ``service``, matched as prefixes (``"kv"`` claims ``"kv"`` and ``"kv_cache"``).
    ``codes`` maps Cloudflare error codes to a :class:`Spec`; ``js_rules`` are tried, in order, before
    core's generic :data:`~cap_opendal_core.translate.js.JS_RULES`.
    """

    service: str
    capability_prefixes: tuple[str, ...]
    codes: Mapping[int, Spec] = field(default_factory=dict, hash=False)
    js_rules: tuple[JsRule, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.service, str) or not _SERVICE_NAME.match(self.service):
            raise InvalidInput(f"service name {self.service!r} must be lower-case letters, digits, '_'")
        prefixes = tuple(self.capability_prefixes)
        if not prefixes or not all(isinstance(p, str) and p for p in prefixes):
            raise InvalidInput(f"service {self.service!r}: capability_prefixes must be non-empty strings")
        for code, spec in self.codes.items():
            if isinstance(code, bool) or not isinstance(code, int) or not isinstance(spec, Spec):
                raise InvalidInput(f"service {self.service!r}: codes must map int to Spec, got {code!r}")
        for rule in self.js_rules:
            if not isinstance(rule, JsRule):
                raise InvalidInput(f"service {self.service!r}: js_rules must hold JsRule objects")
        object.__setattr__(self, "capability_prefixes", tuple(p.lower() for p in prefixes))
        object.__setattr__(self, "codes", MappingProxyType(dict(self.codes)))
        object.__setattr__(self, "js_rules", tuple(self.js_rules))


_lock = threading.Lock()
_services: dict[str, ServiceErrors] = {}
_prefixes: list[tuple[str, str]] = []  # (prefix, service), longest prefix first
_discovered = False


def register_service_errors(errors: ServiceErrors) -> None:
    """Register (or replace, by service name) one service's error facts."""
    if not isinstance(errors, ServiceErrors):
        raise InvalidInput(f"register_service_errors expects ServiceErrors, got {type(errors).__name__}")
    with _lock:
        if _services.get(errors.service) is errors:
            return
        _services[errors.service] = errors
        pairs = [(p, s.service) for s in _services.values() for p in s.capability_prefixes]
        _prefixes[:] = sorted(pairs, key=lambda pair: (-len(pair[0]), pair[0]))


def registered_services() -> Mapping[str, ServiceErrors]:
    """The services registered so far, by name (a read-only snapshot)."""
    with _lock:
        return MappingProxyType(dict(_services))


def _claim(name: str) -> str | None:
    for prefix, service in _prefixes:
        if name.startswith(prefix):
            return service
    return None


def _discover_once() -> None:
    """Let installed plugins register their tables, once per process (see the module docstring)."""
    global _discovered
    if _discovered:
        return
    _discovered = True
    from ..plugins import discover

    discover()


def service_of(capability: str | None) -> str | None:
    """The service a capability name belongs to (``"kv"`` for ``"kv"``), by registered prefixes."""
    if not capability:
        return None
    name = capability.lower()
    service = _claim(name)
    if service is None and not _discovered:
        _discover_once()
        service = _claim(name)
    return service


def service_errors(capability: str | None) -> ServiceErrors | None:
    """The registered error facts of the service ``capability`` belongs to, if any."""
    service = service_of(capability)
    return _services.get(service) if service is not None else None
