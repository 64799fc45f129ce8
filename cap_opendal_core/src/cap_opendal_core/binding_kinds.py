"""Binding kinds: what each capability package contributes to manifests and ``caps wrangler``.

A binding kind (``"kv_namespace"``, ``"r2_bucket"`` …) is an open, registered string: the package
that stands for it describes it with a :class:`BindingKindSpec` on its plugin — the manifest keys it
accepts and how they are validated (docs/preflight-and-wrangler.md), how they are written back, and
the ``wrangler.toml`` sections it renders (developers.cloudflare.com/workers/wrangler/configuration/).
Core keeps the mechanism: reading and checking a manifest, ordering sections, TOML quoting.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final

from .errors import InvalidInput

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from .manifest import BindingSpec, ManifestReader

__all__ = ["BINDING_KIND_NAME", "BindingKindSpec", "binding_kinds", "section_kind"]

BINDING_KIND_NAME: Final = re.compile(r"^[a-z][a-z0-9_]*$")
"""A binding kind is a lower-case identifier, as wrangler's own section names are."""


def _strings(spec: BindingKindSpec, r: ManifestReader) -> Mapping[str, Any]:
    return {key: r.string(key) for key in spec.keys}


def _present(details: Mapping[str, Any]) -> Mapping[str, Any]:
    return {key: value for key, value in details.items() if value is not None}


@dataclass(frozen=True, kw_only=True)
class BindingKindSpec:
    """One binding kind as its capability package defines it.

    ``keys`` are the manifest keys a binding of this kind may carry besides ``kind`` and
    ``requires``; ``parse`` validates them (raising through ``r.fail``) and returns their values
    (default: each an optional non-empty string); ``dump`` turns them back into manifest keys
    (default: those not ``None``); ``render`` returns the ``wrangler.toml`` lines for all bindings
    of this kind in manifest order (the manifest's source for error messages), or is ``None`` when
    the kind has no wrangler section. Sections are written in ``wrangler_order``, then by kind.
    """

    kind: str
    keys: tuple[str, ...] = ()
    parse: Callable[[ManifestReader], Mapping[str, Any]] | None = field(default=None, hash=False)
    dump: Callable[[Mapping[str, Any]], Mapping[str, Any]] = field(default=_present, hash=False)
    render: Callable[[Sequence[BindingSpec], str], list[str]] | None = field(default=None, hash=False)
    wrangler_order: int = 100

    def __post_init__(self) -> None:
        if not isinstance(self.kind, str) or not BINDING_KIND_NAME.match(self.kind):
            raise InvalidInput(
                f"binding kind {self.kind!r} must be lower-case letters, digits and '_'", field="kind"
            )
        keys = tuple(self.keys)
        for key in keys:
            if not isinstance(key, str) or not key.isidentifier() or key in ("kind", "requires"):
                raise InvalidInput(f"binding kind {self.kind!r}: {key!r} cannot be a manifest key")
        object.__setattr__(self, "keys", keys)

    def read(self, r: ManifestReader) -> Mapping[str, Any]:
        """Every key of this kind, validated (``None`` where the manifest leaves it out)."""
        values = self.parse(r) if self.parse is not None else _strings(self, r)
        return MappingProxyType({key: values.get(key) for key in self.keys})


def section_kind(
    kind: str,
    *,
    section: str,
    keys: tuple[str, ...],
    pattern: re.Pattern[str],
    rule: str,
    required: tuple[str, ...] = (),
    missing: Mapping[str, str] | None = None,
    wrangler_order: int = 100,
) -> BindingKindSpec:
    """The common binding kind, declared as data: every key an optional string matching ``pattern``
    (``rule`` says so in words), and one ``[[section]]`` entry per binding — ``binding``, then the
    keys. wrangler needs the ``required`` keys (:func:`~cap_opendal_core.wrangler.need`); a key of
    ``missing`` that is absent gets its comment line above the entry instead."""
    notes = dict(missing or {})

    def parse(r: ManifestReader) -> Mapping[str, Any]:
        return {key: r.string(key, pattern, rule) for key in keys}

    def render(specs: Sequence[BindingSpec], source: str) -> list[str]:
        from .wrangler import need, table

        lines: list[str] = []
        for spec in specs:
            lines.extend(f"# {spec.name}: {notes[k]}" for k in notes if spec.details[k] is None)
            values = [(k, need(spec, k) if k in required else spec.details[k]) for k in keys]
            lines.extend(table(section, [("binding", spec.name), *values]))
        return lines

    return BindingKindSpec(kind=kind, keys=keys, parse=parse, render=render, wrangler_order=wrangler_order)


def binding_kinds() -> Mapping[str, BindingKindSpec]:
    """The binding kinds the installed capability plugins define, in wrangler section order.

    Two plugins may stand for one kind (the Durable Object package also provides deduplication);
    the first by plugin name that describes it wins.
    """
    from .plugins import discover

    found: dict[str, BindingKindSpec] = {}
    for plugin in discover():
        if plugin.binding is not None:
            found.setdefault(plugin.binding.kind, plugin.binding)
    ordered = sorted(found.values(), key=lambda s: (s.wrangler_order, s.kind))
    return MappingProxyType({s.kind: s for s in ordered})
