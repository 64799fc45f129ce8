"""The fault-injection hook: the crash tests make the engine kill its own process at a named step.

Set ``CAP_EMBEDDED_FAULT=<step>`` (or ``<step>@<n>``: the n-th time that step is reached, counting
from 1) in a writer process's environment; when the engine reaches that step boundary it sends
itself ``SIGKILL`` — no cleanup, no ``finally``, exactly what a crash or ``kill -9`` does. The steps
(see :data:`STEPS`) are the boundaries between the engine's durable effects, so a test that kills at
every one of them covers every state a crash can leave. Unset (the normal case), a check is one
global read.
"""

from __future__ import annotations

import os
import signal
import threading
from typing import Final

__all__ = ["ENV", "STEPS", "arm", "armed", "reached"]

ENV: Final = "CAP_EMBEDDED_FAULT"
STEPS: Final = (
    "blob.partial",  # half of a value file's bytes written
    "blob.written",  # a value file complete (and synced, under durability="full"), not yet referenced
    "commit.grouped",  # one member of a group commit ran (savepoint released), before the next one
    "commit.before",  # inside the index transaction, before COMMIT
    "commit.after",  # committed; released value files not yet unlinked
    "release.between",  # some released value files unlinked, not all
    "migrate.copied",  # an old layout imported into the index, its files not yet removed
    "do.commit.after",  # a Durable Object's transaction committed, its alarm change not yet in the index
    "do.migrate.copied",  # an object's key-value rows copied into its database, not yet removed
)
"""Every step boundary the engine can be killed at."""

_lock = threading.Lock()
_armed: tuple[str, int] | None = None
_seen = 0


def arm(spec: str | None) -> None:
    """Arm the hook (``"step"`` or ``"step@n"``); None disarms it. Read from :data:`ENV` at import."""
    global _armed, _seen
    _seen = 0
    if not spec:
        _armed = None
        return
    step, _, count = spec.partition("@")
    if step not in STEPS:
        raise ValueError(f"{ENV}: unknown step {step!r}; the steps are {', '.join(STEPS)}")
    _armed = (step, int(count) if count else 1)


def armed() -> bool:
    """Whether any step is armed (lets a writer split a write in two only when a test asks)."""
    return _armed is not None


def reached(step: str) -> None:
    """Called by the engine at each step boundary: dies here if the hook is armed for this step."""
    global _seen
    if _armed is None or _armed[0] != step:
        return
    with _lock:
        _seen += 1
        if _seen == _armed[1]:
            os.kill(os.getpid(), signal.SIGKILL)


arm(os.environ.get(ENV))
