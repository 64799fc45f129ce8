"""The crash-safety oracle for KV (run by ``tests/conformance/test_crash_safety.py``).

KV's local backend survives SIGKILL of the writing process at random points.

One directory, many lives: a writer process (:mod:`..crash_writers.kv_writer`) puts, streams, batches
and deletes values of 0 B to 4 MiB under awkward keys until it is killed at a seeded random moment;
the test then reopens the namespace — a restart — and checks every key:

* the value is whole: its body carries the key and the write's number, and its SHA-256 and number
  match the metadata stored with it (so no torn value, and no value with another write's metadata);
* it is the last write the writer saw acknowledged, or the one in flight at the kill (no acknowledged
  write is missing, nothing older comes back after a delete);
* a listing shows exactly the keys that are present, with the metadata a read returns.

Then the next writer starts on the same directory. ``CAP_CRASH_RUNS`` kills per run (see
:mod:`..crash_writers.harness`). Supersedes the single-key torn-value test in the KV package's tests,
which rewrites one key; this one adds batches, streams, deletes and the acknowledged-write ledger.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from cap_cloudflare_kv import KvNamespace

from ..crash_writers.harness import QUIET
from ..crash_writers.kv_writer import KEYS
from ..crash_writers.protocol import parse_payload

if TYPE_CHECKING:
    from pathlib import Path


async def read_back(root: Path) -> tuple[dict[str, int], list[str]]:
    """Every present key → the write it holds, and what is wrong with any value."""
    problems: list[str] = []
    state: dict[str, int] = {}
    async with KvNamespace.local(root, settings=QUIET) as kv:
        listed = {k.name: k.metadata async for k in kv.iter_keys()}
        for key in sorted(set(KEYS) | set(listed)):
            got = await kv.get_with_metadata(key, "bytes")
            if got.value is None:
                if key in listed:
                    problems.append(f"key {key!r} is listed but reads as missing")
                continue
            meta = got.metadata
            if not isinstance(meta, dict) or set(meta) != {"seq", "sha"}:
                problems.append(f"key {key!r}: metadata {meta!r} is not the writer's")
                continue
            if hashlib.sha256(got.value).hexdigest() != meta["sha"]:
                problems.append(f"key {key!r}: torn value ({len(got.value)} bytes fail the write's SHA-256)")
            if parse_payload(got.value) != (key, meta["seq"]):
                problems.append(f"key {key!r}: the body is not write {meta['seq']}'s (mixed writes)")
            if listed.get(key) != meta:
                problems.append(f"key {key!r}: listed with metadata {listed.get(key)!r}, read with {meta!r}")
            state[key] = meta["seq"]
    return state, problems
