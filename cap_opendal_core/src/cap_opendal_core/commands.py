"""``caps`` sub-commands that other distributions add, through the entry point group
``cap_opendal_core.commands``.

Core owns the ``caps`` CLI but imports no capability package (``tests/test_import_contract.py``), so a
command that needs them — ``caps demo``, from the ``cap-demo`` distribution — registers itself here
the way a capability registers its plugin (``cap_opendal_core.capabilities``, see
docs/preflight-and-wrangler.md). In the distribution's ``pyproject.toml``::

    [project.entry-points."cap_opendal_core.commands"]
    demo = "cap_demo.command:COMMAND"

The entry point's name is the sub-command's name and its object a :class:`Command`. The module it
names is imported on every ``caps`` run (to list the command in ``caps --help``), so it should import
no more than :mod:`argparse` and do the real work inside :attr:`Command.run`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from .plugins import PluginProblem, load_entry_points

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Collection
    from importlib.metadata import EntryPoint

__all__ = ["ENTRY_POINT_GROUP", "Command", "CommandProblem", "discover_commands"]

ENTRY_POINT_GROUP: Final = "cap_opendal_core.commands"


@dataclass(frozen=True)
class Command:
    """One ``caps`` sub-command: its help, how it adds its arguments, and what runs it.

    ``run`` returns the exit code (0 clean, 1 diagnostics found); raising
    :class:`~cap_opendal_core.errors.InvalidInput` or :class:`~cap_opendal_core.errors.Misconfigured`
    prints one line and exits 2, as the built-in commands do.
    """

    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]
    description: str | None = None
    epilog: str | None = None


CommandProblem = PluginProblem
"""An entry point that could not become a command, and why: the same record plugin discovery reports."""


def discover_commands(reserved: Collection[str] = ()) -> tuple[dict[str, Command], list[CommandProblem]]:
    """The installed commands by name, and the entry points that did not load.

    Never raises because of a broken distribution: ``caps hints`` must still work when some command
    does not import. A name in ``reserved`` (a built-in command) or already taken is a problem, so an
    installed package cannot replace ``caps validate``.
    """
    found: dict[str, Command] = {}
    problems: list[CommandProblem] = []

    def taken(ep: EntryPoint) -> str | None:
        return (
            f"the command name {ep.name!r} is already taken"
            if ep.name in reserved or ep.name in found
            else None
        )

    for ep, _, command in load_entry_points(ENTRY_POINT_GROUP, Command, problems, skip=taken):
        found[ep.name] = command
    return found, problems
