"""Keeping the embedded engine's directories and OpenDAL ``fs`` directories apart.

An ``fs://`` operator (OpenDAL's ``fs`` service, one file per key) opened on a directory that holds an
engine index would find none of the store's data — keys live in the index, bodies under opaque
value-file names — and would write files the engine never reads: two stores, silently, in one
directory. The other way round is the documented migration (the engine converts an OpenDAL ``fs``
layout when it first opens the directory, ``docs/local-storage.md``), so only this way is refused.
"""

from __future__ import annotations

import os

from ..errors import Misconfigured
from .store import INDEX

__all__ = ["refuse_engine_directory"]


def refuse_engine_directory(root: str, *, capability: str) -> None:
    """Raise ``Misconfigured`` when ``root`` (already resolved) holds an embedded store's index."""
    if os.path.lexists(os.path.join(root, INDEX)):
        raise Misconfigured(
            f"the directory {root!r} holds an embedded store ({INDEX}: written by .local() or a "
            "file:// URL); an fs:// backend would not see its data and would write beside it. Open it "
            "with .local() or a file:// URL, or give the fs:// store a directory of its own",
            capability=capability,
            operation="open",
        )
