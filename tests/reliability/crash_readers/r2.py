"""The crash-safety oracle for R2 (run by ``tests/conformance/test_crash_safety.py``).

R2's local backend survives SIGKILL of the writing process at random points.

The local backend writes an object's bytes to a fresh blob and then atomically replaces the object's
record (write to ``tmp/``, rename), so a crash can only leave invisible garbage. This drives that
claim with real kills: a writer (:mod:`..crash_writers.r2_writer`) puts bytes and streams (up to
6 MiB), completes two-part multipart uploads and deletes, until it is killed at a seeded random
moment; the test reopens the bucket and checks every key:

* the object is whole and self-consistent: body checksum and write number match its custom metadata,
  its content type names the same write, ``size`` is the body's length, the etag is the body's MD5
  (or the multipart etag of its two parts), and ``head`` agrees with ``get``;
* it is the last acknowledged write or the one in flight (no acknowledged write missing);
* ``list`` shows exactly the present keys with the metadata ``head`` returns.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from cap_cloudflare_r2 import R2Bucket
from cap_cloudflare_r2.transfer import multipart_etag

from ..crash_writers.harness import QUIET
from ..crash_writers.protocol import parse_payload
from ..crash_writers.r2_writer import KEYS, PART, content_type

if TYPE_CHECKING:
    from pathlib import Path

    from cap_cloudflare_r2 import R2Object


def _md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def _check(key: str, obj: R2Object, body: bytes) -> list[str]:
    custom = dict(obj.custom_metadata)
    if set(custom) - {"parts"} != {"seq", "sha"}:
        return [f"key {key!r}: custom metadata {custom!r} is not the writer's"]
    seq = int(custom["seq"])
    problems = []
    if hashlib.sha256(body).hexdigest() != custom["sha"]:
        problems.append(f"key {key!r}: torn body ({len(body)} bytes fail write {seq}'s SHA-256)")
    if parse_payload(body) != (key, seq):
        problems.append(f"key {key!r}: the body is not write {seq}'s (mixed writes)")
    if obj.http_metadata.content_type != content_type(seq):
        problems.append(f"key {key!r}: content type {obj.http_metadata.content_type!r} is not write {seq}'s")
    if obj.size != len(body):
        problems.append(f"key {key!r}: size {obj.size} but the body has {len(body)} bytes")
    etag = multipart_etag([_md5(body[:PART]), _md5(body[PART:])]) if "parts" in custom else _md5(body)
    if obj.etag != etag:
        problems.append(f"key {key!r}: etag {obj.etag!r} does not fit the body")
    return problems


async def read_back(root: Path) -> tuple[dict[str, int], list[str]]:
    problems: list[str] = []
    state: dict[str, int] = {}
    async with R2Bucket.local(root, settings=QUIET) as bucket:
        listed: dict[str, R2Object] = {}
        cursor = None
        while True:
            page = await bucket.list(cursor=cursor, include=["custom_metadata", "http_metadata"])
            listed.update((o.key, o) for o in page.objects)
            if not page.truncated:
                break
            cursor = page.cursor
        for key in sorted(set(KEYS) | set(listed)):
            head = await bucket.head(key)
            got = await bucket.get(key)
            if got is None or head is None:
                if got is not None or head is not None or key in listed:
                    problems.append(f"key {key!r}: head, get and list disagree on whether it exists")
                continue
            body = await got.read()
            problems += _check(key, got.object, body)
            if head != got.object:
                problems.append(f"key {key!r}: head {head!r} differs from get {got.object!r}")
            if listed.get(key) != head:
                problems.append(f"key {key!r}: listed as {listed.get(key)!r}, head says {head!r}")
            custom = head.custom_metadata
            if "seq" in custom:
                state[key] = int(custom["seq"])
    return state, problems
