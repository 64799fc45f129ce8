"""Sessions: which process wrote which value file, and whether that process is still alive.

Every process that opens a store for writing starts a *session*: a random id, a lock file
``sessions/<id>`` it holds an exclusive ``flock`` on for as long as the store is open, and a
directory ``blobs/<id>/`` where all the value files it writes are created. A value file is written
before the index transaction that references it commits, so between the two it is referenced by
nothing — and only its own session knows it is not garbage. The lock answers "is that session still
alive?" without any write per value: the kernel drops a ``flock`` when its process dies, however it
dies. So:

* a session whose lock can be taken is dead; every file in its directory that the index does not
  reference is an orphan of an interrupted write (or of a release a crash cut short) and is removed
  (:mod:`.recovery`), then its lock file;
* a session whose lock is held is alive; its directory is left alone (its unreferenced files may be
  values about to be committed).

The lock file is created under a temporary name, locked, and only then renamed into place, so no
other process can see a session's lock file unlocked while that session lives. A session closed
cleanly removes its lock file; its directory keeps the files the index references.

Without ``fcntl`` (Windows) no other session can be proven dead: only a session's own orphans are
removed, at its own close.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import secrets
from typing import Final

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["SESSIONS", "Session", "try_lock_dead"]

SESSIONS: Final = "sessions"
_NOFOLLOW: Final = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC: Final = getattr(os, "O_CLOEXEC", 0)


class Session:
    """This process's session in one store: its id, its held lock, and names for new value files."""

    __slots__ = ("_counter", "id", "lock_fd")

    def __init__(self, sessions_fd: int) -> None:
        self.id = secrets.token_hex(8)
        staging = f"{self.id}.new"
        fd = os.open(
            staging, os.O_RDWR | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC, 0o644, dir_fd=sessions_fd
        )
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.rename(staging, self.id, src_dir_fd=sessions_fd, dst_dir_fd=sessions_fd)
        except BaseException:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(staging, dir_fd=sessions_fd)
            raise
        self.lock_fd = fd
        self._counter = itertools.count(1)

    def next_name(self) -> str:
        """A file name no other value file of this store has or will have."""
        return f"{next(self._counter):012x}"

    def end(self, sessions_fd: int | None) -> None:
        """Remove the lock file (a clean end) and let go of the lock."""
        if sessions_fd is not None:
            with contextlib.suppress(OSError):
                os.unlink(self.id, dir_fd=sessions_fd)
        with contextlib.suppress(OSError):
            os.close(self.lock_fd)


def try_lock_dead(sessions_fd: int, name: str) -> int | None:
    """A descriptor holding the lock of session file ``name`` if its process is dead, else None."""
    if fcntl is None:
        return None
    try:
        fd = os.open(name, os.O_RDWR | _NOFOLLOW | _CLOEXEC, dir_fd=sessions_fd)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd
