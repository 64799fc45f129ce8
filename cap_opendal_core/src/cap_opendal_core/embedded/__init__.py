"""The embedded storage engine every local store stands on (KV's and R2's ``.local()``).

A generic engine — it knows no Cloudflare service: one transactional SQLite index per directory,
immutable value files referenced by it, garbage collected, recovered after a crash, with one
durability policy. Modules, one concern each:

* :mod:`.store` — the store: layout, the index, transactions, locking, the per-process registry;
* :mod:`.grouping` — group commit: queued transactions share one commit and one ``fsync``;
* :mod:`.blobs` — value files: written once, read through descriptors, never through a link;
* :mod:`.sessions` — which process wrote which file, and whether it is still alive;
* :mod:`.recovery` — removing what a crash left (and garbage collection);
* :mod:`.durability` — the ``durability="process" | "full"`` policy;
* :mod:`.faults` — the fault-injection hook the crash tests kill the engine with;
* :mod:`.url` — what a ``file://`` URL names.

See ``docs/local-storage.md``. Importing this package loads neither OpenDAL nor pydantic.
"""

from __future__ import annotations

from .durability import DURABILITIES, Durability, check_durability
from .store import INDEX, MEMBERS, Migration, Store, Txn, acquire

__all__ = [
    "DURABILITIES",
    "INDEX",
    "MEMBERS",
    "Durability",
    "Migration",
    "Store",
    "Txn",
    "acquire",
    "check_durability",
]
