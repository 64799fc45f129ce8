"""The durability policy every embedded store follows — one flag, the same meaning everywhere.

* ``"process"`` (the default): an acknowledged write survives the process being killed at any point
  (``SIGKILL``, an unhandled exception, the machine's OOM killer). Value files are written with
  ``write()`` and SQLite commits in WAL mode with ``synchronous=NORMAL``: both sit in the operating
  system's page cache, which outlives the process. A power cut or a kernel crash may lose the last
  writes (never tear one: SQLite's WAL and the write-then-reference order keep every state whole).
* ``"full"``: an acknowledged write also survives power loss. Each value file is ``fsync``'d, then
  its directory (so its name is durable too), before the index transaction that references it
  commits with ``synchronous=FULL`` (the WAL is ``fsync``'d at every commit — one ``fsync`` for a
  group of commits, :mod:`.grouping`, each caller acknowledged after it).

Why these two and not more: they are the two promises a caller can reason about, and they are
SQLite's own (the local queue's ``synchronous="normal"|"full"`` means the same).
"""

from __future__ import annotations

from typing import Final, Literal

from ..errors import Misconfigured

__all__ = ["DURABILITIES", "Durability", "check_durability"]

Durability = Literal["process", "full"]
DURABILITIES: Final = ("process", "full")


def check_durability(value: object, *, capability: str) -> Durability:
    """``value`` if it is a durability level, else ``Misconfigured`` naming the choices."""
    if value == "process":
        return "process"
    if value == "full":
        return "full"
    raise Misconfigured(
        f"durability must be 'process' (survives the process being killed) or 'full' (also survives "
        f"power loss), got {value!r}"[:300],
        capability=capability,
    )
