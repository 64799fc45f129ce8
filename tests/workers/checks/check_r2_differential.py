"""A seeded random sequence of R2 operations, and what each one observably did.

:func:`run_sequence` drives any ``R2Bucket`` through puts (plain and conditional), gets (whole, ranged,
conditional), heads, batch deletes, paged listings (prefix, delimiter, include) and a multipart
upload, and records every result without what legitimately differs between runs (versions, upload
times, part etags, cursors). The harness runs it against Miniflare's R2 binding
(:func:`check_random_sequence` returns the record); ``tests/cap_cloudflare_r2/test_r2_differential.py``
runs it against the local backend and requires the same record.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
from typing import TYPE_CHECKING, Any

from cap_cloudflare_r2 import R2Bucket, R2Conditional, R2Range, R2UploadedPart, TransferSettings
from cap_opendal_core.errors import CapabilityError
from cap_opendal_core.layers import LayerSettings

if TYPE_CHECKING:
    from cap_cloudflare_r2 import R2Object

DEFAULT_SEED = 33
STEPS = 300
OPS = (
    ("put", 4),
    ("put_if", 2),
    ("get", 1),
    ("get_if", 2),
    ("get_range", 2),
    ("head", 1),
    ("delete", 1),
    ("list", 2),
)
KEYS = ("a", "b/1", "b/2", "b/c/3", "c", "d:e", "d:f", "e/")
PREFIXES = ("", "b/", "b", "d")
DELIMITERS = (None, "/", ":")
CONTENT_TYPES = (None, "text/plain", "application/json")
PAST = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
FUTURE = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)
SETTINGS = LayerSettings(logging=False)
TRANSFER = TransferSettings(part_size=5 * 1024 * 1024, concurrency=2)


def seed_from(value: Any) -> int:
    """The seed to run: ``CAP_DIFF_SEED`` when set (handed to the harness as ``env``), else the default."""
    text = None if value is None else str(value).strip()
    return int(text) if text else DEFAULT_SEED


def _md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def _object(obj: R2Object | None, prefix: str) -> dict[str, Any] | None:
    if obj is None:
        return None
    return {
        "key": obj.key[len(prefix) :],
        "size": obj.size,
        "etag": obj.etag,
        "http": obj.http_metadata.to_dict(),
        "custom": dict(obj.custom_metadata),
        "checksums": obj.checksums.to_dict(),
    }


def _condition(rng: random.Random, etags: list[str]) -> tuple[R2Conditional, str]:
    kind = rng.choice(("match", "no_match", "after", "before"))
    if kind in ("match", "no_match"):
        pick = rng.randrange(len(etags) + 2)
        etag = etags[pick] if pick < len(etags) else ("*" if pick == len(etags) else "0" * 32)
        if kind == "match":
            return R2Conditional(etag_matches=etag), f"match:{etag}"
        return R2Conditional(etag_does_not_match=etag), f"no_match:{etag}"
    moment = rng.choice((PAST, FUTURE))
    if kind == "after":
        return R2Conditional(uploaded_after=moment), f"after:{moment.year}"
    return R2Conditional(uploaded_before=moment), f"before:{moment.year}"


async def _body(bucket: R2Bucket, key: str, prefix: str, **options: Any) -> dict[str, Any] | None:
    got = await bucket.get(key, **options)
    if got is None:
        return None
    data = await got.read()
    return {
        **(_object(got.object, prefix) or {}),
        "body": _md5(data),
        "length": len(data),
        "range": [got.range.offset, got.range.length],
    }


async def _list_all(bucket: R2Bucket, prefix: str, sub: str, **options: Any) -> list[Any]:
    pages: list[Any] = []
    cursor = None
    for _ in range(20):
        page = await bucket.list(prefix=prefix + sub, cursor=cursor, **options)
        pages.append(
            {
                "objects": [_object(o, prefix) for o in page.objects],
                "prefixes": [p[len(prefix) :] for p in page.delimited_prefixes],
                "truncated": page.truncated,
            }
        )
        if not page.truncated:
            break
        cursor = page.cursor
    return pages


async def run_sequence(bucket: R2Bucket, seed: int, prefix: str) -> list[Any]:
    """Run the sequence for ``seed`` under ``prefix``; the record of what each step observed."""
    rng = random.Random(seed)
    etags: list[str] = []
    log: list[Any] = []

    def seen(obj: R2Object | None) -> None:
        if obj is not None and obj.etag not in etags:
            etags.append(obj.etag)

    for step in range(STEPS):
        op = rng.choice(
            ("put", "put", "put_if", "get", "get_if", "get_range", "head", "delete", "list", "list")
        )
        key = rng.choice(KEYS)
        full = prefix + key
        detail: Any = None
        try:
            if op in ("put", "put_if"):
                value = rng.randbytes(rng.randrange(0, 300))
                content_type = rng.choice(CONTENT_TYPES)
                custom = {"n": str(rng.randrange(100))} if rng.random() < 0.5 else None
                http = {"content_type": content_type} if content_type else None
                condition = None
                if op == "put_if":
                    condition, detail = _condition(rng, etags)
                stored = await bucket.put(
                    full, value, http_metadata=http, custom_metadata=custom, only_if=condition
                )
                seen(stored)
                result: Any = _object(stored, prefix)
            elif op in ("get", "get_if"):
                condition = None
                if op == "get_if":
                    condition, detail = _condition(rng, etags)
                result = await _body(bucket, full, prefix, only_if=condition)
            elif op == "get_range":
                if rng.random() < 0.3:
                    requested = R2Range(suffix=rng.randrange(1, 400))
                else:
                    requested = R2Range(offset=rng.randrange(0, 350), length=rng.randrange(1, 100))
                detail = [requested.offset, requested.length, requested.suffix]
                result = await _body(bucket, full, prefix, range=requested)
            elif op == "head":
                result = _object(await bucket.head(full), prefix)
            elif op == "delete":
                doomed = sorted({rng.choice(KEYS) for _ in range(rng.randrange(1, 3))})
                detail = doomed
                await bucket.delete([prefix + k for k in doomed])
                result = "deleted"
            else:
                sub = rng.choice(PREFIXES)
                delimiter = rng.choice(DELIMITERS)
                limit = rng.randrange(2, 6)
                include = [name for name in ("http_metadata", "custom_metadata") if rng.random() < 0.3]
                detail = [sub, delimiter, limit, include]
                result = await _list_all(
                    bucket, prefix, sub, delimiter=delimiter, limit=limit, include=include
                )
        except CapabilityError as exc:
            result = {"error": type(exc).__name__, "field": getattr(exc, "field", None)}
        log.append([step, op, key, detail, result])

    # a multipart upload (two parts, given out of order) and an aborted one
    part1 = rng.randbytes(64) * (5 * 1024 * 1024 // 64)  # cheap to make, even under Pyodide
    part2 = rng.randbytes(rng.randrange(1, 1000))
    upload = await bucket.create_multipart_upload(prefix + "mp", custom_metadata={"kind": "mp"})
    second = await upload.upload_part(2, part2)
    first = await upload.upload_part(1, part1)
    log.append(["multipart", _object(await upload.complete([second, first]), prefix)])
    log.append(["multipart-body", await _body(bucket, prefix + "mp", prefix)])
    small = await bucket.create_multipart_upload(prefix + "small")
    parts = [await small.upload_part(1, b"under 5 MiB"), await small.upload_part(2, b"tail")]
    try:
        await small.complete(parts)
        log.append(["small-parts", "completed"])
    except CapabilityError as exc:
        log.append(["small-parts", {"error": type(exc).__name__, "field": getattr(exc, "field", None)}])
    await small.abort()
    aborted = await bucket.create_multipart_upload(prefix + "aborted")
    await aborted.upload_part(1, b"discarded")
    await aborted.abort()
    log.append(["aborted", _object(await bucket.head(prefix + "aborted"), prefix)])
    log.extend(await _multipart_edges(bucket, prefix, rng))
    log.extend(await _range_and_list_edges(bucket, prefix))
    log.append(["final", await _list_all(bucket, prefix, "", include=["http_metadata", "custom_metadata"])])
    return log


def _outcome(exc: CapabilityError) -> dict[str, Any]:
    return {"error": type(exc).__name__, "field": getattr(exc, "field", None)}


async def _multipart_edges(bucket: R2Bucket, prefix: str, rng: random.Random) -> list[Any]:
    """Resume by id, then complete with a wrong etag, no parts, an unknown part, and after abort."""
    log: list[Any] = []
    upload = await bucket.create_multipart_upload(prefix + "resumed")
    part = await upload.upload_part(1, rng.randbytes(100))
    resumed = await bucket.resume_multipart_upload(prefix + "resumed", upload.upload_id)
    attempts: list[tuple[str, list[R2UploadedPart]]] = [
        ("wrong-etag", [R2UploadedPart(1, "0" * 32)]),
        ("no-parts", []),
        ("unknown-part", [part, R2UploadedPart(2, part.etag)]),
        ("resumed", [part]),
    ]
    for name, parts in attempts:
        try:
            log.append([f"multipart-{name}", _object(await resumed.complete(parts), prefix)])
        except CapabilityError as exc:
            log.append([f"multipart-{name}", _outcome(exc)])
    log.append(["multipart-resumed-body", await _body(bucket, prefix + "resumed", prefix)])
    gone = await bucket.create_multipart_upload(prefix + "gone")
    kept = await gone.upload_part(1, b"x")
    await gone.abort()
    for name, call in (
        ("complete", lambda: gone.complete([kept])),
        ("upload", lambda: gone.upload_part(2, b"y")),
    ):
        try:
            await call()
            log.append([f"after-abort-{name}", "accepted"])
        except CapabilityError as exc:
            log.append([f"after-abort-{name}", _outcome(exc)])
    return log


async def _range_and_list_edges(bucket: R2Bucket, prefix: str) -> list[Any]:
    """Ranges by offset alone, length alone, past the end and whole-object suffixes; listings that
    start after a key, with and without a delimiter, paged one entry at a time."""
    log: list[Any] = []
    await bucket.put(prefix + "edge/ten", b"0123456789")
    await bucket.put(prefix + "edge/a/one", b"1")
    await bucket.put(prefix + "edge/b", b"")
    ranges = (
        R2Range(offset=3),
        R2Range(length=4),
        R2Range(offset=9, length=50),
        R2Range(suffix=10),
        R2Range(suffix=50),
        R2Range(offset=0, length=10),
    )
    for requested in ranges:
        try:
            result: Any = await _body(bucket, prefix + "edge/ten", prefix, range=requested)
        except CapabilityError as exc:
            result = _outcome(exc)
        log.append(["range-edge", [requested.offset, requested.length, requested.suffix], result])
    for start_after, delimiter in (("edge/", None), ("edge/a", "/"), ("edge/a/one", None), ("edge/zz", None)):
        pages = await _list_all(
            bucket, prefix, "edge/", start_after=prefix + start_after, delimiter=delimiter, limit=1
        )
        log.append(["list-start-after", start_after, delimiter, pages])
    return log


async def check_random_sequence(env: Any) -> dict[str, Any]:
    import os

    bucket = R2Bucket.from_env(env, "BUCKET", settings=SETTINGS, transfer=TRANSFER)
    run = os.urandom(4).hex()
    seed = seed_from(getattr(env, "CAP_DIFF_SEED", None))
    return {str(seed): await run_sequence(bucket, seed, f"r2-diff/{run}/{seed}/")}
