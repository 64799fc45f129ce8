"""JSON-ready dicts of plain objects, in the order their schema documents.

Errors, diagnostics, scope records and the demo's reports each have a ``to_dict`` whose keys are a
fixed list of their attributes; the list is their schema, declared once beside the class, and this
turns it into the dict. Standard library only: :mod:`.errors` uses it, and it loads with the package.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["attributes"]


def attributes(obj: object, names: Iterable[str]) -> dict[str, Any]:
    """``{name: obj.name}`` for each of ``names``, in their order."""
    return {name: getattr(obj, name) for name in names}
