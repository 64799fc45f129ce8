"""The lifecycle every capability shares (``cap_opendal_core.capability.Capability``), checked the same
way for each public class on its local backend: open → closed once, ``Closed`` before any I/O after
``aclose()``, idempotent close, ``async with`` refused once closed, ``repr`` scrubbed, no pickling,
``file://`` naming the same store as ``local(path)``."""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from cap_cloudflare_do import DurableObject, DurableObjectNamespace
from cap_cloudflare_kv import KvNamespace
from cap_cloudflare_queue import Queue, QueueConsumer
from cap_cloudflare_r2 import R2Bucket
from cap_opendal_core import Closed, LayerSettings, Misconfigured
from cap_opendal_core.capability import Capability
from cap_opendal_core.redact import register_secret

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from pathlib import Path

pytestmark = pytest.mark.anyio

QUIET = LayerSettings(logging=False)


class Echo(DurableObject):
    async def echo(self, value: Any) -> Any:
        return value


@dataclass(frozen=True)
class Case:
    """How to build one capability locally (``local(path)``, and by ``file://`` URL) and make one call."""

    name: str
    capability: str
    local: Callable[..., Capability[Any]]
    from_file_url: Callable[[str], Capability[Any]]
    call: Callable[[Any], Awaitable[Any]]
    operation: str


async def _kv_call(kv: KvNamespace) -> Any:
    await kv.put("k", "v")
    return await kv.get("k")


async def _r2_call(bucket: R2Bucket) -> Any:
    await bucket.put("k", b"v")
    return (await bucket.head("k")) is not None


async def _queue_call(queue: Queue) -> Any:
    await queue.send({"n": 1})
    return True


async def _consumer_call(consumer: QueueConsumer) -> Any:
    return await consumer.pull()


async def _do_call(ns: DurableObjectNamespace) -> Any:
    return await ns.get_by_name("a").echo(1)


CASES = [
    Case(
        "KvNamespace",
        "kv",
        lambda p, s=QUIET: KvNamespace.local(p, settings=s),
        lambda url: KvNamespace.from_url(url, settings=QUIET),
        _kv_call,
        "put",
    ),
    Case(
        "R2Bucket",
        "r2",
        lambda p, s=QUIET: R2Bucket.local(p, settings=s),
        lambda url: R2Bucket.from_url(url, settings=QUIET),
        _r2_call,
        "put",
    ),
    Case(
        "Queue",
        "queue",
        lambda p, s=QUIET: Queue.local(p, "jobs", settings=s),
        lambda url: Queue.from_url(url + "/jobs", settings=QUIET),
        _queue_call,
        "send",
    ),
    Case(
        "QueueConsumer",
        "queue",
        lambda p, s=QUIET: QueueConsumer.local(p, "jobs", settings=s),
        lambda url: QueueConsumer.from_url(url + "/jobs", settings=QUIET),
        _consumer_call,
        "pull",
    ),
    Case(
        "DurableObjectNamespace",
        "do",
        lambda p, s=QUIET: DurableObjectNamespace.local(p, Echo, settings=s),
        lambda url: DurableObjectNamespace.from_url(url, object_class=Echo, settings=QUIET),
        _do_call,
        "rpc",
    ),
]
IDS = [case.name for case in CASES]


@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_open_then_closed_once(case: Case, tmp_path: Path) -> None:
    cap = case.local(tmp_path / "store")
    assert isinstance(cap, Capability)
    assert type(cap).__name__ == case.name
    assert cap.capability == case.capability
    assert not cap.closed
    async with cap as entered:
        assert entered is cap
        await case.call(cap)
    assert cap.closed
    await cap.aclose()  # idempotent
    await cap.aclose()
    assert cap.closed


@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_calls_after_close_raise_closed(case: Case, tmp_path: Path) -> None:
    cap = case.local(tmp_path / "store")
    await case.call(cap)
    await cap.aclose()

    with pytest.raises(Closed) as caught:
        await case.call(cap)
    assert isinstance(caught.value, Misconfigured)  # handlers written for Misconfigured keep working
    assert caught.value.code == "closed"
    assert caught.value.capability == case.capability
    assert caught.value.operation is not None
    assert "aclose()" in str(caught.value)
    with pytest.raises(Closed):
        async with cap:
            pass


@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_closed_refuses_without_touching_the_backend(case: Case, tmp_path: Path) -> None:
    """The refusal comes from the pipeline, not from a closed client failing: a backend that would
    answer (reopened behind the capability's back) is never asked."""
    cap = case.local(tmp_path / "store")
    await cap.aclose()
    fresh = case.local(tmp_path / "store")
    cap._backend = fresh._backend  # a live backend: a call that reached it would succeed
    try:
        with pytest.raises(Closed):
            await case.call(cap)
    finally:
        await fresh.aclose()


@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_repr_is_scrubbed_and_says_closed(
    case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "conformance-repr-secret-7f3a9c1e"
    register_secret(secret)
    cap = case.local(tmp_path / "store")
    shown = repr(cap)
    assert shown.startswith(f"{case.name}(")
    assert "closed" not in shown
    with monkeypatch.context() as patch:  # whatever a subclass describes, the repr is scrubbed
        patch.setattr(type(cap), "_describe", lambda self: f"token={secret}")
        assert secret not in repr(cap)
        assert "token=" in repr(cap)
    await cap.aclose()
    assert repr(cap).endswith(", closed)")


@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_pickling_is_refused(case: Case, tmp_path: Path) -> None:
    cap = case.local(tmp_path / "store")
    try:
        with pytest.raises(TypeError, match=f"{case.name} cannot be pickled"):
            pickle.dumps(cap)
    finally:
        await cap.aclose()


@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_bad_settings_are_misconfigured(case: Case, tmp_path: Path) -> None:
    with pytest.raises(Misconfigured, match="settings must be a LayerSettings"):
        case.local(tmp_path / "store", "fast")


@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_file_url_names_the_same_store_as_local(case: Case, tmp_path: Path) -> None:
    root = tmp_path / "store"
    first = case.local(root)
    async with first:
        await case.call(first)
    second = case.from_file_url(root.as_uri())
    async with second:
        assert second.backend == first.backend == "local"
        await case.call(second)


async def test_local_queue_urls_keep_the_local_scheme_as_a_deprecated_alias(tmp_path: Path) -> None:
    async with Queue.from_url(f"file://{tmp_path}/jobs", settings=QUIET) as q:
        await q.send("via file")
    with pytest.warns(DeprecationWarning, match="use file:///dir/NAME") as caught:
        consumer = QueueConsumer.from_url(f"local://{tmp_path}/jobs", settings=QUIET)
    deprecations = [w for w in caught if issubclass(w.category, DeprecationWarning)]
    assert [w.filename for w in deprecations] == [__file__]  # the warning points at the caller
    async with consumer as c:
        assert [m.body for m in await c.pull()] == ["via file"]
