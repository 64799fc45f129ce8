"""The embedded engine killed with SIGKILL at every step boundary (its fault hook, not a timer).

For each store kind and each step of :data:`cap_opendal_core.embedded.faults.STEPS` a writer
process (``crash_writers/embedded_writer.py``) runs a fixed sequence of operations until the engine
kills it at the n-th time it reaches that step. The store is then reopened, as a restarted process
would, and checked:

* **no lost acknowledged write, no phantom**: every key holds what its last acknowledged operation
  left, or what the operation in flight at the kill would leave;
* **no torn value**: every value is whole (its body names its key and write, and its filler matches);
* **no broken object**: every listed key reads back whole; an upload completed before the kill
  cannot be resumed to replace a part the object uses (issue 14, defect 3);
* **no orphan after the next open**: every value file is referenced by the index, and no session
  of the dead writer is left.

Deterministic: the kill point is named, the operations are fixed — no sleeps, no timing.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cap_cloudflare_kv import KvNamespace
from cap_cloudflare_r2 import R2Bucket
from cap_opendal_core.embedded.faults import ENV
from cap_opendal_core.errors import NotFound
from tests.reliability.crash_writers.embedded_writer import QUIET, parse

REPO = Path(__file__).resolve().parents[2]
# (step, which hit): early and later hits, so the kill lands in different operations
POINTS = [
    ("blob.partial", 1),
    ("blob.partial", 4),
    ("blob.written", 2),
    ("blob.written", 7),
    ("commit.before", 3),
    ("commit.before", 9),
    ("commit.after", 4),
    ("commit.after", 10),
    ("release.between", 1),
    ("release.between", 2),
]


def _run(kind: str, root: Path, point: str) -> list[dict[str, Any]]:
    env = {**os.environ, ENV: point}
    done = subprocess.run(
        [sys.executable, "-m", "tests.reliability.crash_writers.embedded_writer", kind, str(root)],
        cwd=REPO,
        env=env,
        capture_output=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == -signal.SIGKILL, (
        f"the writer was not killed at {point} (rc={done.returncode}): {done.stderr.decode()[-2000:]}"
    )
    return [json.loads(line) for line in done.stdout.decode().splitlines()]


def _allowed(lines: list[dict[str, Any]]) -> dict[str, set[int | None]]:
    state: dict[str, int | None] = {}
    in_flight: dict[str, int | None] = {}
    for line in lines:
        if line["event"] == "begin":
            in_flight = line["effects"]
        elif line["event"] == "ack":
            state.update(in_flight)
            in_flight = {}
    keys = set(state) | set(in_flight) | {"a", "dir/b", "c"}
    return {k: {state.get(k)} | ({in_flight[k]} if k in in_flight else set()) for k in keys}


def _no_orphans(root: Path) -> None:
    with sqlite3.connect(root / "index.sqlite3") as conn:
        referenced = {name for (name,) in conn.execute("SELECT name FROM blob_refs")}
    files = {str(p.relative_to(root)) for p in (root / "blobs").rglob("*") if p.is_file()}
    assert files <= referenced, f"orphan value files after reopening: {sorted(files - referenced)}"
    assert referenced <= files, f"the index references missing files: {sorted(referenced - files)}"


@pytest.mark.anyio
@pytest.mark.parametrize(("step", "hit"), POINTS, ids=[f"{s}@{n}" for s, n in POINTS])
async def test_kv_killed_at_every_step_boundary(tmp_path: Path, step: str, hit: int) -> None:
    root = tmp_path / "kv"
    lines = _run("kv", root, f"{step}@{hit}")
    allowed = _allowed(lines)
    async with KvNamespace.local(root, settings=QUIET) as kv:
        present = set()
        for key, states in allowed.items():
            data = await kv.get(key, "bytes")
            found = None if data is None else parse(key, data)
            assert found in states, (
                f"{key}: write {found} found, expected one of {states} (killed at {step}@{hit})"
            )
            if found is not None:
                present.add(key)
        assert {k.name async for k in kv.iter_keys()} == present, "the listing disagrees with the reads"
        _no_orphans(root)  # the reads opened the store: recovery has run
    assert list((root / "sessions").iterdir()) == [], "a dead or closed session was left"


@pytest.mark.anyio
@pytest.mark.parametrize(("step", "hit"), POINTS, ids=[f"{s}@{n}" for s, n in POINTS])
async def test_r2_killed_at_every_step_boundary(tmp_path: Path, step: str, hit: int) -> None:
    root = tmp_path / "r2"
    lines = _run("r2", root, f"{step}@{hit}")
    allowed = _allowed(lines)
    async with R2Bucket.local(root, settings=QUIET) as bucket:
        for key, states in allowed.items():
            got = await bucket.get(key)
            found = None if got is None else parse(key, await got.read())
            assert found in states, (
                f"{key}: write {found} found, expected one of {states} (killed at {step}@{hit})"
            )
        listing = await bucket.list()
        for obj in listing.objects:
            got = await bucket.get(obj.key)
            assert got is not None, f"{obj.key} is listed but cannot be read"
            assert len(await got.read()) == obj.size
        for line in lines:
            if line["event"] == "upload":
                upload = await bucket.resume_multipart_upload(line["key"], line["upload_id"])
                try:
                    await upload.upload_part(1, b"resent")
                except NotFound:
                    continue  # completed (or its completion committed): it cannot be reopened
                await upload.abort()
        for obj in (await bucket.list()).objects:  # still whole after the resumed uploads
            got = await bucket.get(obj.key)
            assert got is not None
            parse(obj.key, await got.read())
        _no_orphans(root)
    assert list((root / "sessions").iterdir()) == [], "a dead or closed session was left"


GROUPED = [("commit.grouped", 3), ("commit.grouped", 40), ("commit.before", 12), ("commit.after", 30)]


@pytest.mark.anyio
@pytest.mark.parametrize(("step", "hit"), GROUPED, ids=[f"{s}@{n}" for s, n in GROUPED])
async def test_grouped_commits_killed_lose_no_acknowledged_write(tmp_path: Path, step: str, hit: int) -> None:
    """Eight tasks' create-if-absent puts commit in groups; a kill inside a group (between its
    members, before or after its one COMMIT) loses no acknowledged put and invents none."""
    root = tmp_path / "r2"
    lines = _run("r2group", root, f"{step}@{hit}")
    begun = {line["key"] for line in lines if line["event"] == "begin"}
    acked = {line["key"] for line in lines if line["event"] == "ack"}
    assert acked, "the writer was killed before any put was acknowledged: the point is too early"
    async with R2Bucket.local(root, settings=QUIET) as bucket:
        present = {obj.key for obj in (await bucket.list(limit=1000)).objects}
        assert acked <= present, f"acknowledged puts lost: {sorted(acked - present)}"
        assert present <= begun, f"puts nobody made: {sorted(present - begun)}"
        for key in present:
            got = await bucket.get(key)
            assert got is not None
            parse(key, await got.read())
        _no_orphans(root)
