"""What a capability declares about each of its public methods, once, at module level.

An :class:`Operation` is the pipeline's only knowledge of a call: which hints it records, whether
trying it again is safe, and what it costs against the invocation's sub-request budget.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..hints import validate_hint_id

__all__ = ["Operation", "ResourceHints"]


@dataclass(frozen=True, slots=True)
class Operation:
    """One public method of a capability, declared once at module level::

        PUT = Operation("kv", "put", "resource::kv::write", "resource::kv", idempotent=True)

    ``idempotent`` is the capability's promise that repeating the call cannot do harm; the retry
    layer retries nothing else. ``subrequests`` is what one attempt costs against the invocation's
    sub-request budget (0 for calls that never leave the Worker).
    """

    capability: str
    name: str
    effect_hint: str
    determinism_hint: str
    idempotent: bool
    subrequests: int = 1

    def __post_init__(self) -> None:
        for field, value in (("capability", self.capability), ("name", self.name)):
            if not isinstance(value, str) or not value:
                raise ValueError(f"Operation.{field} must be a non-empty string, got {value!r}")
        for field, value in (("effect_hint", self.effect_hint), ("determinism_hint", self.determinism_hint)):
            try:
                validate_hint_id(value)
            except ValueError as exc:
                raise ValueError(f"Operation {self.capability}.{self.name}: {field}: {exc}") from None
        if not isinstance(self.idempotent, bool):
            raise ValueError(
                f"Operation {self.capability}.{self.name}: idempotent must be a bool, got {self.idempotent!r}"
            )
        if (
            not isinstance(self.subrequests, int)
            or isinstance(self.subrequests, bool)
            or self.subrequests < 0
        ):
            raise ValueError(
                f"Operation {self.capability}.{self.name}: subrequests must be an int >= 0, "
                f"got {self.subrequests!r}"
            )

    @property
    def qualified_name(self) -> str:
        """``capability.name``, as logs and error messages spell it."""
        return f"{self.capability}.{self.name}"


@dataclass(frozen=True, slots=True)
class ResourceHints:
    """The hints of one resource family, spelled once (``docs/reference/hints.md``): reads record
    ``resource::<family>::read``, writes ``resource::<family>::write``, and both record
    ``resource::<family>`` as their determinism hint. A capability whose calls split that way
    builds its operations from it::

        KV = ResourceHints("kv", "kv")
        GET = KV.read("get")
        PUT = KV.write("put", idempotent=True)
    """

    capability: str
    family: str

    def hint(self, kind: str = "") -> str:
        """``resource::<family>::<kind>`` (``kind`` "read" or "write"), or the family's own hint."""
        return f"resource::{self.family}::{kind}" if kind else f"resource::{self.family}"

    def read(self, name: str, *, subrequests: int = 1) -> Operation:
        """A read: always safe to repeat."""
        return self._operation(name, "read", idempotent=True, subrequests=subrequests)

    def write(self, name: str, *, idempotent: bool, subrequests: int = 1) -> Operation:
        return self._operation(name, "write", idempotent=idempotent, subrequests=subrequests)

    def _operation(self, name: str, kind: str, *, idempotent: bool, subrequests: int) -> Operation:
        return Operation(
            self.capability,
            name,
            self.hint(kind),
            self.hint(),
            idempotent=idempotent,
            subrequests=subrequests,
        )
