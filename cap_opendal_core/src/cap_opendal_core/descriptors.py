"""Descriptors (what a bound provider guarantees) and requirements (what a flow asks of a binding).

Each descriptor field is an ordered level with an explicit ``unknown``: a provider that cannot vouch
for a property says so, and a requirement set against ``unknown`` always fails — preflight must not
assume strong consistency nobody promised. Comparing the two yields ``CAP102`` diagnostics (see
``docs/reference/hints.md``).

Plain dataclasses, no pydantic: capability packages import this on the Workers path too.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Literal, cast

from .diagnostics import Diagnostic, sort_diagnostics
from .errors import InvalidInput

__all__ = [
    "DESCRIPTOR_FIELDS",
    "DESCRIPTOR_LEVELS",
    "UNKNOWN",
    "Consistency",
    "Delivery",
    "Descriptor",
    "Durability",
    "Ordering",
    "Requirement",
    "Reservation",
    "Ttl",
    "check_requirements",
    "level_rank",
]

UNKNOWN = "unknown"

DESCRIPTOR_LEVELS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "consistency": ("eventual", "strong"),
        "durability": ("ephemeral", "durable"),
        "ttl": ("none", "namespace_default", "per_write"),
        "delivery": ("at_most_once", "at_least_once", "exactly_once"),
        "ordering": ("unordered", "ordered"),
        "reservation": ("best_effort", "atomic"),
    }
)
"""Each descriptor field's levels, weakest first (``unknown`` is outside the order)."""

DESCRIPTOR_FIELDS: tuple[str, ...] = tuple(DESCRIPTOR_LEVELS)

Consistency = Literal["unknown", "eventual", "strong"]
Durability = Literal["unknown", "ephemeral", "durable"]
Ttl = Literal["unknown", "none", "namespace_default", "per_write"]
Delivery = Literal["unknown", "at_most_once", "at_least_once", "exactly_once"]
Ordering = Literal["unknown", "unordered", "ordered"]
Reservation = Literal["unknown", "best_effort", "atomic"]

_EXTENSION_KEY = re.compile(r"[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)+")


def _check_field(name: object, where: str | None = None) -> str:
    if not isinstance(name, str) or name not in DESCRIPTOR_LEVELS:
        raise InvalidInput(
            f"unknown descriptor field {name!r}; expected one of {', '.join(DESCRIPTOR_FIELDS)}",
            field=where if where is not None else str(name),
        )
    return name


def level_rank(field: str, level: str) -> int | None:
    """Position of ``level`` in ``field``'s order (0 = weakest); None for ``unknown``.

    Raises :class:`InvalidInput` for a field or level that does not exist.
    """
    _check_field(field)
    if level == UNKNOWN:
        return None
    levels = DESCRIPTOR_LEVELS[field]
    if not isinstance(level, str) or level not in levels:
        raise InvalidInput(
            f"unknown {field} level {level!r}; expected one of {', '.join((*levels, UNKNOWN))}",
            field=field,
        )
    return levels.index(level)


@dataclasses.dataclass(frozen=True, slots=True)
class Descriptor:
    """What a bound provider guarantees. Every field defaults to ``unknown``.

    ``extensions`` holds provider-specific facts under namespaced keys
    (``com.cloudflare.kv.min_ttl_s``); it is copied and made read-only on construction.
    """

    consistency: Consistency = "unknown"
    durability: Durability = "unknown"
    ttl: Ttl = "unknown"
    delivery: Delivery = "unknown"
    ordering: Ordering = "unknown"
    reservation: Reservation = "unknown"
    extensions: Mapping[str, Any] = dataclasses.field(
        default_factory=lambda: MappingProxyType({}), hash=False
    )

    def __post_init__(self) -> None:
        for name in DESCRIPTOR_FIELDS:
            level_rank(name, getattr(self, name))
        if not isinstance(self.extensions, Mapping):
            raise InvalidInput(
                f"descriptor extensions must be a mapping, got {type(self.extensions).__name__}",
                field="extensions",
            )
        for key in self.extensions:
            if not isinstance(key, str) or not _EXTENSION_KEY.fullmatch(key):
                raise InvalidInput(
                    f"descriptor extension key {key!r} must be namespaced with dots, "
                    "like 'com.cloudflare.kv.min_ttl_s'",
                    field=f"extensions.{key}",
                )
        object.__setattr__(self, "extensions", MappingProxyType(dict(self.extensions)))

    def level(self, field: str) -> str:
        """The level this descriptor gives for ``field`` (``unknown`` when unstated)."""
        return cast("str", getattr(self, _check_field(field)))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form; :meth:`from_dict` reads it back."""
        out: dict[str, Any] = {name: getattr(self, name) for name in DESCRIPTOR_FIELDS}
        out["extensions"] = dict(self.extensions)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Descriptor:
        """Build from a mapping; missing fields are ``unknown``, unknown keys are an error."""
        if not isinstance(data, Mapping):
            raise InvalidInput(
                f"a descriptor must be a mapping, got {type(data).__name__}", field="descriptor"
            )
        levels: dict[str, Any] = {}
        for key, value in data.items():
            if key == "extensions":
                continue
            _check_field(key)
            if not isinstance(value, str):
                raise InvalidInput(
                    f"descriptor field {key!r} must be a level name, got {type(value).__name__}", field=key
                )
            levels[key] = value
        extensions = data.get("extensions", {})
        return cls(**levels, extensions=extensions)


@dataclasses.dataclass(frozen=True, slots=True)
class Requirement:
    """What a flow asks of one descriptor field: exactly one of ``any_of`` or ``at_least``."""

    field: str
    any_of: tuple[str, ...] | None = None
    at_least: str | None = None

    def __post_init__(self) -> None:
        _check_field(self.field)
        if self.any_of is not None and self.at_least is not None:
            raise InvalidInput(
                f"requirement on {self.field} takes 'any_of' or 'at_least', not both", field=self.field
            )
        if self.any_of is None and self.at_least is None:
            raise InvalidInput(f"requirement on {self.field} needs 'any_of' or 'at_least'", field=self.field)
        if self.any_of is not None:
            if not isinstance(self.any_of, list | tuple) or not self.any_of:
                got = type(self.any_of).__name__ if self.any_of else "an empty list"
                raise InvalidInput(
                    f"requirement on {self.field}: 'any_of' must be a non-empty list of levels, got {got}",
                    field=f"{self.field}.any_of",
                )
            object.__setattr__(self, "any_of", tuple(self.any_of))
            for i, level in enumerate(self.any_of):
                self._check_level(level, f"{self.field}.any_of[{i}]")
        if self.at_least is not None:
            self._check_level(self.at_least, f"{self.field}.at_least")

    def _check_level(self, level: object, where: str) -> None:
        levels = DESCRIPTOR_LEVELS[self.field]
        if level == UNKNOWN:
            raise InvalidInput(
                f"requirement on {self.field} cannot ask for 'unknown'; name a level: {', '.join(levels)}",
                field=where,
            )
        if not isinstance(level, str) or level not in levels:
            raise InvalidInput(
                f"requirement on {self.field}: unknown level {level!r}; expected one of {', '.join(levels)}",
                field=where,
            )

    @classmethod
    def parse(cls, field: str, obj: Requirement | Mapping[str, Any]) -> Requirement:
        """Read ``{"any_of": [...]}`` or ``{"at_least": "..."}`` for descriptor ``field``."""
        _check_field(field)
        if isinstance(obj, Requirement):
            if obj.field != field:
                raise InvalidInput(f"requirement listed under {field!r} is about {obj.field!r}", field=field)
            return obj
        if not isinstance(obj, Mapping):
            raise InvalidInput(
                f"requirement on {field} must be {{'any_of': [...]}} or {{'at_least': '...'}}, "
                f"got {type(obj).__name__}",
                field=field,
            )
        for key in obj:
            if key not in ("any_of", "at_least"):
                raise InvalidInput(
                    f"unknown requirement key {key!r} on {field}; use 'any_of' or 'at_least'",
                    field=f"{field}.{key}",
                )
        return cls(field, obj.get("any_of"), obj.get("at_least"))

    def satisfied_by(self, level: str) -> bool:
        """Whether a provider at ``level`` meets this requirement; ``unknown`` never does."""
        rank = level_rank(self.field, level)
        if rank is None:
            return False
        if self.any_of is not None:
            return level in self.any_of
        assert self.at_least is not None
        return rank >= DESCRIPTOR_LEVELS[self.field].index(self.at_least)

    def describe(self) -> str:
        """Human text: ``at_least strong`` or ``any_of [eventual, strong]``."""
        if self.any_of is not None:
            return f"any_of [{', '.join(self.any_of)}]"
        return f"at_least {self.at_least}"

    def to_dict(self) -> dict[str, Any]:
        if self.any_of is not None:
            return {"any_of": list(self.any_of)}
        return {"at_least": self.at_least}


def check_requirements(
    binding: str,
    descriptor: Descriptor,
    requirements: Mapping[str, Requirement | Mapping[str, Any]],
) -> list[Diagnostic]:
    """``CAP102`` diagnostics for every requirement ``descriptor`` does not meet.

    All requirements are parsed first, so a malformed one raises :class:`InvalidInput` before any
    diagnostic is produced. ``node`` is the binding name and ``hint`` the descriptor field.
    """
    if not isinstance(descriptor, Descriptor):
        raise InvalidInput(
            f"binding {binding!r}: expected a Descriptor, got {type(descriptor).__name__}", field="descriptor"
        )
    if not isinstance(requirements, Mapping):
        raise InvalidInput(
            f"binding {binding!r}: requirements must be a mapping of descriptor field to requirement",
            field="requirements",
        )
    parsed = [Requirement.parse(name, obj) for name, obj in requirements.items()]
    diags: list[Diagnostic] = []
    for req in parsed:
        level = descriptor.level(req.field)
        if req.satisfied_by(level):
            continue
        if level == UNKNOWN:
            message = (
                f"binding {binding!r} does not say which {req.field} it provides (unknown) but the flow "
                f"requires {req.describe()}; bind a provider whose descriptor states it, "
                "or drop the requirement"
            )
        else:
            message = (
                f"binding {binding!r} provides {req.field} {level!r} but the flow requires "
                f"{req.describe()}; bind a provider that guarantees it, or relax the requirement"
            )
        diags.append(
            Diagnostic(
                code="CAP102",
                node=binding,
                hint=req.field,
                declared=level,
                required=req.describe(),
                message=message,
            )
        )
    return sort_diagnostics(diags, [binding])
