"""The constructors table: how capability classes are built and closed, read from the classes themselves.

``docs/capabilities.md`` holds the table :func:`render_constructors_table` makes for the public classes,
and a test compares the two, so the page cannot drift from the code. Only signatures and the
:class:`~cap_opendal_core.capability.Capability` base are read: core knows no particular service.
"""

from __future__ import annotations

import inspect
import re
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

__all__ = ["CONSTRUCTORS", "parameters", "render_constructors_table", "standard_constructors"]

CONSTRUCTORS: Final = ("from_env", "local", "from_url", "from_config")
"""The constructors every capability offers, in the order the table shows them."""


def standard_constructors(ref: str, **more: str) -> dict[str, str]:
    """A plugin's ``constructors``: the class ``ref``'s (``"module:Class"``) :data:`CONSTRUCTORS`,
    and ``more`` named ``Attr.path`` references in the same module (``consumer="QueueConsumer"``)."""
    module = ref.partition(":")[0]
    return {name: f"{ref}.{name}" for name in CONSTRUCTORS} | {
        name: f"{module}:{path}" for name, path in more.items()
    }


def parameters(fn: Callable[..., object]) -> list[inspect.Parameter]:
    """``fn``'s parameters as a caller sees them: ``**options: Unpack[SomeOptions]`` is expanded into
    the TypedDict's keys, keyword-only (:class:`~cap_opendal_core.capability.CapabilityOptions`'
    ``settings``, ``metrics`` and ``logger`` default to None; any other key has a default, ``...``)."""
    from .capability import OPTIONS

    shown: list[inspect.Parameter] = []
    for p in inspect.signature(fn).parameters.values():
        keys = _unpacked_keys(fn, p) if p.kind is p.VAR_KEYWORD else None
        if keys is None:
            shown.append(p)
            continue
        shown.extend(
            inspect.Parameter(name, p.KEYWORD_ONLY, default=None if name in OPTIONS else ...) for name in keys
        )
    return shown


def _unpacked_keys(fn: Callable[..., object], p: inspect.Parameter) -> Sequence[str] | None:
    """The keys of the TypedDict ``p`` unpacks (``**options: Unpack[Name]``), or None."""
    from . import capability

    found = re.fullmatch(r"Unpack\[(\w+)\]", str(p.annotation))
    if found is None:
        return None
    typed = getattr(capability, found[1], None) or getattr(fn, "__globals__", {}).get(found[1])
    return None if typed is None else list(typed.__annotations__)


def _parameters(fn: Callable[..., object], *, skip: int) -> str:
    """``fn``'s parameters as a call shape: ``(env, binding, *, settings=…)``; ``skip`` drops the first
    ``skip`` (``cls``/``self`` are already bound or not shown)."""
    params = parameters(fn)[skip:]
    shown: list[str] = []
    star = False
    for p in params:
        if p.kind is p.VAR_KEYWORD:
            shown.append(f"**{p.name}")
            continue
        if p.kind is p.KEYWORD_ONLY and not star:
            shown.append("*")
            star = True
        shown.append(p.name if p.default is p.empty else f"{p.name}=…")
    return "(" + ", ".join(shown) + ")"


def _config_type(cls: type) -> str:
    fn = getattr(cls, "from_config", None)
    if fn is None:
        return "—"
    params = list(inspect.signature(fn).parameters.values())
    annotation = params[0].annotation if params else inspect.Parameter.empty
    return "—" if annotation is inspect.Parameter.empty else str(annotation).replace("|", "\\|")


def _lifecycle(cls: type) -> str:
    from .capability import Capability

    if not issubclass(cls, Capability):
        return "own"
    starts = cls._open is not Capability._open
    return "Capability" + (" (`async with` starts the backend)" if starts else "")


def render_constructors_table(classes: Sequence[type]) -> str:
    """A Markdown table, one row per class: each constructor's parameters, ``__init__``'s keywords,
    the ``from_config`` type and the lifecycle. ``=…`` marks a parameter with a default."""
    header = [
        "class",
        *(f"`{name}`" for name in CONSTRUCTORS),
        "`__init__`",
        "`from_config` takes",
        "lifecycle",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for cls in classes:
        cells = [f"`{cls.__name__}`"]
        for name in CONSTRUCTORS:
            fn = getattr(cls, name, None)
            cells.append("—" if fn is None else f"`{_parameters(fn, skip=0)}`")
        cells.append(f"`{_parameters(cls.__init__, skip=1)}`")  # type: ignore[misc]
        cells.append(_config_type(cls))
        cells.append(_lifecycle(cls))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
