"""Bad input, the same way for every capability: each public method of each public class, with each of
its arguments in turn replaced by an odd value (wrong type, NaN, huge, empty, a lone surrogate …) and
the others valid, either succeeds or raises a ``CapabilityError`` — never a ``TypeError`` or an
``AttributeError`` from deep inside — and when it raises, the store on disk is exactly as it was.

The capability-specific oracles (which values must be refused, what a success must have stored) are
the hypothesis properties in ``tests/reliability/test_bad_input_{kv,r2,queue,do}.py``; this suite is
what all of them promise alike, and it fails when a class gains a public method no one listed here.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio
import pytest

from cap_cloudflare_do import DurableObjectNamespace
from cap_cloudflare_kv import KvNamespace
from cap_cloudflare_queue import JsonCodec, Queue, QueueConsumer
from cap_cloudflare_r2 import R2Bucket
from cap_opendal_core.errors import CapabilityError, Unsupported
from cap_opendal_core.layers import LayerSettings, RetryPolicy
from tests.cap_cloudflare_do.objects import Counter

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.anyio

SETTINGS = LayerSettings(logging=False, retry=RetryPolicy(attempts=1))


class _Odd:
    def __repr__(self) -> str:
        return "<odd object>"


ODD_VALUES: tuple[Any, ...] = (
    None,
    _Odd(),
    float("nan"),
    float("-inf"),
    -1,
    2**70,
    True,
    "",
    "\ud800",
    "x" * 70_000,
    b"\xff\xfe",
    [_Odd()],
    {"k": _Odd()},
    {1: 2},
    dt.datetime(2030, 1, 1),  # naive
)
"""What each argument is replaced by, one at a time."""

Valid = dict[str, Any]
ValidFor = Callable[[Any], Valid]


@dataclass(frozen=True)
class Subject:
    """One public class on its local backend: how to open it, and a valid call of each method."""

    name: str
    open: Callable[[Path], Any]
    calls: dict[str, Valid | ValidFor]
    warm_up: Callable[[Any], Any]
    """A valid call made first, so the store exists before any snapshot."""


def _consumer(path: Path) -> QueueConsumer:
    return QueueConsumer.local(path / "q", "jobs", settings=SETTINGS, visibility_timeout=1)


SUBJECTS = {
    s.name: s
    for s in (
        Subject(
            "KvNamespace",
            lambda p: KvNamespace.local(p / "kv", settings=SETTINGS),
            {
                "delete": {"key": "k"},
                "delete_many": {"keys": ["k"]},
                "get": {"key": "k", "type": "text", "cache_ttl": None},
                "get_many": {"keys": ["k"], "type": "text"},
                "get_with_metadata": {"key": "k", "type": "text", "cache_ttl": None},
                "iter_keys": {"prefix": None, "page_size": 10},
                "list": {"prefix": None, "limit": 10, "cursor": None},
                "purge_expired": {},
                "put": {
                    "key": "k",
                    "value": "v",
                    "expiration": None,
                    "expiration_ttl": None,
                    "metadata": None,
                },
                "put_many": {"items": {"k": "v"}},
            },
            lambda kv: kv.put("seed", "v"),
        ),
        Subject(
            "R2Bucket",
            lambda p: R2Bucket.local(p / "r2", settings=SETTINGS),
            {
                "create_multipart_upload": {
                    "key": "k",
                    "http_metadata": None,
                    "custom_metadata": None,
                    "storage_class": None,
                },
                "delete": {"keys": "k"},
                "get": {"key": "k", "range": None, "only_if": None, "on_progress": None},
                "head": {"key": "k"},
                "iter_objects": {
                    "prefix": None,
                    "delimiter": None,
                    "start_after": None,
                    "include": (),
                    "page_size": 10,
                },
                "list": {
                    "prefix": None,
                    "delimiter": None,
                    "cursor": None,
                    "limit": 10,
                    "start_after": None,
                    "include": (),
                },
                "presign": {"key": "k", "method": "GET", "expires_in": 60, "content_type": None},
                "put": {"key": "k", "value": b"v"},
                "resume_multipart_upload": {"key": "k", "upload_id": "upload"},
            },
            lambda bucket: bucket.put("seed", b"v"),
        ),
        Subject(
            "Queue",
            lambda p: Queue.local(p / "q", "jobs", settings=SETTINGS),
            {
                "send": {"body": {"n": 1}, "content_type": None, "delay_seconds": None},
                "send_batch": {"messages": [{"body": 1}], "delay_seconds": None, "split": True},
                "typed": {"codec": JsonCodec(int)},
            },
            lambda queue: queue.send("seed"),
        ),
        Subject(
            "QueueConsumer",
            _consumer,
            {
                "ack": {"messages": []},
                "pull": {"batch_size": 1, "visibility_timeout": 1, "wait_time": 0},
                "retry": {"messages": [], "delay_seconds": None},
                "run": {
                    "handler": lambda batch: anyio.lowlevel.checkpoint(),
                    "concurrency": 1,
                    "batch_size": 1,
                    "visibility_timeout": 1,
                    "max_batch_timeout": 0,
                    "shutdown_grace": 0,
                },
                "typed": {"codec": JsonCodec(int)},
            },
            lambda consumer: consumer.pull(batch_size=1),
        ),
        Subject(
            "DurableObjectNamespace",
            lambda p: DurableObjectNamespace.local(p / "do", Counter, settings=SETTINGS),
            {
                "get": lambda ns: {"oid": ns.id_from_name("a"), "interface": None},
                "get_by_name": {"name": "a", "interface": None},
                "id_from_name": {"name": "a"},
                "id_from_string": lambda ns: {"hex_id": ns.id_from_name("a").hex},
                "new_unique_id": {"jurisdiction": None},
                "resolve_id": {"oid": None, "jurisdiction": None},
            },
            lambda ns: ns.get_by_name("seed").increment(1),
        ),
    )
}


def _public_methods(cls: type) -> set[str]:
    names = set()
    for name, member in inspect.getmembers(cls):
        if name.startswith("_") or name == "aclose":
            continue
        if isinstance(inspect.getattr_static(cls, name), classmethod | staticmethod | property):
            continue
        if inspect.isfunction(member):
            names.add(name)
    return names


def _snapshot(root: Path) -> dict[str, str]:
    """Every file under ``root`` by content (SQLite's shared-memory index excluded: readers write it)."""
    out = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.name.endswith("-shm"):
            out[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


async def _call(obj: Any, method: str, args: Valid) -> None:
    """Call ``method`` and see it through: await a coroutine, drain an async iterator, and stop a
    ``run`` loop that started (it runs until cancelled)."""
    result = getattr(obj, method)(**args)
    if method == "run":
        with anyio.move_on_after(0.2):
            await result
        return
    if inspect.isawaitable(result):
        result = await result
    if hasattr(result, "__aiter__"):
        async for _ in result:
            pass


def test_every_public_method_is_listed() -> None:
    classes = {
        "KvNamespace": KvNamespace,
        "R2Bucket": R2Bucket,
        "Queue": Queue,
        "QueueConsumer": QueueConsumer,
        "DurableObjectNamespace": DurableObjectNamespace,
    }
    for name, cls in classes.items():
        assert _public_methods(cls) == set(SUBJECTS[name].calls), name


@pytest.mark.parametrize("subject", sorted(SUBJECTS))
async def test_odd_arguments_raise_a_capability_error_and_change_nothing(
    subject: str, tmp_path: Path
) -> None:
    spec = SUBJECTS[subject]
    obj = spec.open(tmp_path)
    refused = attempted = 0
    async with obj:
        await spec.warm_up(obj)
        for method, valid_or_factory in sorted(spec.calls.items()):
            valid = valid_or_factory(obj) if callable(valid_or_factory) else valid_or_factory
            # the valid call works, or the backend says, as documented, that it cannot (R2's presign)
            with contextlib.suppress(Unsupported):
                await _call(obj, method, valid)
            for parameter in valid:
                for odd in ODD_VALUES:
                    attempted += 1
                    before = await anyio.to_thread.run_sync(_snapshot, tmp_path)
                    try:
                        await _call(obj, method, {**valid, parameter: odd})
                    except CapabilityError:
                        refused += 1
                        after = await anyio.to_thread.run_sync(_snapshot, tmp_path)
                        assert after == before, (
                            f"{subject}.{method}({parameter}={odd!r}) raised after writing"
                        )
                    except Exception as exc:
                        pytest.fail(
                            f"{subject}.{method}({parameter}={odd!r}) raised {type(exc).__name__}: {exc} "
                            "(expected success or a CapabilityError)"
                        )
    assert refused > attempted // 3, f"only {refused} of {attempted} odd calls were refused"
