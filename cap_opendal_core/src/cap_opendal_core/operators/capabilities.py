"""What an operator can do natively, as a plain frozen record capabilities consult to fill the gaps.

OpenDAL describes each operator with a ``Capability`` object; this copies the fields cap-* decides on
into a dataclass that compares, prints and serialises like any value, and that does not change shape
when an OpenDAL release adds or drops a field (a field the installed OpenDAL lacks reads False/None).
Note what it cannot say: the Python API has no batch delete, whatever the service supports.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["OperatorCapabilities", "operator_capabilities"]


class _HasCapability(Protocol):
    def capability(self) -> Any: ...


@dataclass(frozen=True, slots=True)
class OperatorCapabilities:
    """Native abilities of one operator (after its layers, so capability overrides show)."""

    stat: bool = False
    stat_with_if_match: bool = False
    stat_with_if_none_match: bool = False
    read: bool = False
    read_with_if_match: bool = False
    read_with_if_none_match: bool = False
    read_with_if_modified_since: bool = False
    read_with_if_unmodified_since: bool = False
    write: bool = False
    write_can_empty: bool = False
    write_can_append: bool = False
    write_can_multi: bool = False
    write_with_if_not_exists: bool = False
    write_with_if_match: bool = False
    write_with_if_none_match: bool = False
    write_with_content_type: bool = False
    write_with_content_disposition: bool = False
    write_with_content_encoding: bool = False
    write_with_cache_control: bool = False
    write_with_user_metadata: bool = False
    write_multi_min_size: int | None = None
    write_multi_max_size: int | None = None
    write_total_max_size: int | None = None
    create_dir: bool = False
    delete: bool = False
    copy: bool = False
    rename: bool = False
    list: bool = False
    list_with_limit: bool = False
    list_with_start_after: bool = False
    list_with_recursive: bool = False
    presign: bool = False
    presign_read: bool = False
    presign_stat: bool = False
    presign_write: bool = False
    presign_delete: bool = False
    shared: bool = False

    def as_dict(self) -> dict[str, bool | int | None]:
        """Every field by name, e.g. for a diagnostics endpoint or a descriptor's ``extensions``."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def missing(self, *names: str) -> tuple[str, ...]:
        """Which of the named boolean abilities this operator lacks (unknown names count as lacking)."""
        return tuple(name for name in names if getattr(self, name, None) is not True)


_FIELDS = tuple(f.name for f in dataclasses.fields(OperatorCapabilities))


def operator_capabilities(op: _HasCapability) -> OperatorCapabilities:
    """Read ``op.capability()`` of an ``opendal.AsyncOperator`` (or ``Operator``) into a record."""
    capability_of = getattr(op, "capability", None)
    if not callable(capability_of):
        raise TypeError(f"operator_capabilities() takes an OpenDAL operator, not {type(op).__name__}")
    native = capability_of()
    values: dict[str, Any] = {}
    for name in _FIELDS:
        value = getattr(native, name, None)
        if name.endswith("_size"):
            values[name] = value if isinstance(value, int) and not isinstance(value, bool) else None
        else:
            values[name] = value is True
    return OperatorCapabilities(**values)
