"""Crash recovery and garbage collection: what an interrupted step left behind is removed.

What a crash can leave (every other state is whole, because a value file is written completely
before the single index transaction that references it, and released files are unlinked only after
the transaction that released them committed):

* a value file written (wholly or partly) but never referenced — killed before the commit;
* a value file no longer referenced but not yet unlinked — killed between the commit and the unlink;
* a session lock file (``sessions/<id>``, or ``<id>.new`` if killed while starting) of a dead process;
* an uncommitted SQLite transaction — SQLite rolls it back itself when the index is next opened.

All of the first three belong to a dead session, so :func:`sweep` — run when a store opens, and
whenever :meth:`~.store.Store.collect_garbage` is called — takes the lock of each dead session,
removes every file of its directory that no ``blob_refs`` row names, then its lock file. A live
session is never touched, and a referenced file never removed: the index is the truth.
"""

from __future__ import annotations

import contextlib
import os
from typing import TYPE_CHECKING

from .sessions import try_lock_dead

if TYPE_CHECKING:
    import sqlite3

    from .blobs import BlobDirs

__all__ = ["sweep"]


def sweep(conn: sqlite3.Connection, sessions_fd: int, dirs: BlobDirs, own: str | None) -> int:
    """Remove the orphans of every dead session; returns how many files were removed."""
    removed = 0
    for entry in os.listdir(sessions_fd):
        session, _, suffix = entry.partition(".")
        if session == own or suffix not in ("", "new"):
            continue
        fd = try_lock_dead(sessions_fd, entry)
        if fd is None:
            continue  # alive: its unreferenced files may be values about to be committed
        try:
            removed += _sweep_session(conn, dirs, session)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry, dir_fd=sessions_fd)
        finally:
            os.close(fd)
    return removed


def _sweep_session(conn: sqlite3.Connection, dirs: BlobDirs, session: str) -> int:
    try:
        dir_fd = dirs.dir_fd(session)
    except FileNotFoundError:
        return 0  # it never wrote a value file
    present = os.listdir(dir_fd)
    prefix = f"blobs/{session}/"
    referenced = {
        name[len(prefix) :]
        for (name,) in conn.execute(
            "SELECT name FROM blob_refs WHERE name > ? AND name < ?", (prefix, f"blobs/{session}0")
        )
    }
    removed = 0
    for file in present:
        if file not in referenced:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(file, dir_fd=dir_fd)
                removed += 1
    if not referenced:  # nothing of it is used any more: the directory goes too
        dirs.forget(session)
        with contextlib.suppress(OSError):
            os.rmdir(session, dir_fd=dirs.fd)
    return removed
