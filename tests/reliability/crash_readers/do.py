"""The crash-safety oracle for Durable Object storage (run by ``tests/conformance/test_crash_safety.py``).

Durable Object storage (the local runtime's SQLite, WAL mode) survives SIGKILL at random points.

A writer process (:mod:`..crash_writers.do_writer`) hosts three objects and calls them without end —
single puts, batch puts, transactions of puts and deletes, batch deletes, alarms set and deleted — until
it is killed at a seeded random moment. The test then opens the namespace again (the dead process's
file lock is gone with it) and checks each object's storage:

* every value is whole (its SHA-256 matches, it names its own key) and SQLite's integrity check passes;
* each key and each alarm holds the last acknowledged write, or the write in flight at the kill;
* a batch put, a transaction or a batch delete in flight at the kill happened entirely or not at all.
"""

from __future__ import annotations

import hashlib
import sqlite3
from typing import TYPE_CHECKING

from cap_cloudflare_do import DurableObjectNamespace
from cap_cloudflare_do.backends.sqlite_store import DB_FILE, SQL_FOLDER

from ..crash_writers.do_writer import ALARM, ALARM_BASE_MS, OBJECTS, CrashLedger, model_key
from ..crash_writers.harness import QUIET

if TYPE_CHECKING:
    from pathlib import Path


async def read_back(directory: Path) -> tuple[dict[str, int], list[str]]:
    problems: list[str] = []
    state: dict[str, int] = {}
    for path in (directory / DB_FILE, *sorted((directory / SQL_FOLDER).glob("*.sqlite3"))):
        with sqlite3.connect(path) as db:  # the namespace index, and each object's own database
            verdict = db.execute("PRAGMA integrity_check").fetchone()[0]
        db.close()
        if verdict != "ok":
            problems.append(f"SQLite integrity check of {path.name}: {verdict}")
    namespace = DurableObjectNamespace.local(directory, CrashLedger, settings=QUIET)
    try:
        runtime = namespace.runtime
        assert runtime is not None
        for name in OBJECTS:
            storage = runtime.storage(namespace.id_from_name(name))
            for key, value in (await storage.list()).items():
                where = model_key(name, key)
                if not isinstance(value, dict) or value.get("key") != key:
                    problems.append(f"{where}: holds {type(value).__name__}, not the writer's value for it")
                    continue
                if hashlib.sha256(value["blob"]).hexdigest() != value["sha"]:
                    problems.append(f"{where}: torn value (the blob fails write {value['seq']}'s SHA-256)")
                state[where] = value["seq"]
            alarm = await storage.get_alarm()
            if alarm is not None:
                state[model_key(name, ALARM)] = alarm - ALARM_BASE_MS
    finally:
        await namespace.aclose()
    return state, problems
