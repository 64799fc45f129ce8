"""Issue 17: the sync API — every async method has a blocking twin with the same parameters, and each
sync class behaves like its async class on the local backends (same results, same errors), closes
it, refuses pickling, and refuses to run inside an event loop.

The twins are written by hand (mypy sees real signatures); the parity test below is what stops them
drifting from the async classes.
"""

from __future__ import annotations

import asyncio
import inspect
import pickle
import threading
from typing import TYPE_CHECKING, Any

import pytest

import cap_cloudflare_do.sync as do_sync
import cap_cloudflare_kv.sync as kv_sync
import cap_cloudflare_queue.sync as queue_sync
import cap_cloudflare_r2.sync as r2_sync
from cap_cloudflare_do import DurableObject, DurableObjectNamespace
from cap_cloudflare_do.namespace import DurableObjectStub
from cap_cloudflare_kv import KvNamespace
from cap_cloudflare_queue import MessageBatch, Queue, QueueConsumer
from cap_cloudflare_r2 import R2Bucket, R2MultipartUpload, R2ObjectBody
from cap_opendal_core.capability import Capability
from cap_opendal_core.errors import Closed, InvalidInput, Misconfigured, Unsupported
from cap_opendal_core.layers import LayerSettings
from cap_opendal_core.sync import BlockingCallInEventLoop, SyncCapability, portal_running, stop_portal
from cap_opendal_core.sync import run as sync_run
from tests.support.threads import run_in_threads

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

SETTINGS = LayerSettings(logging=False)

PAIRS: list[tuple[type, type]] = [
    (KvNamespace, kv_sync.KvNamespace),
    (R2Bucket, r2_sync.R2Bucket),
    (R2MultipartUpload, r2_sync.R2MultipartUpload),
    (R2ObjectBody, r2_sync.R2ObjectBody),
    (Queue, queue_sync.Queue),
    (QueueConsumer, queue_sync.QueueConsumer),
    (MessageBatch, queue_sync.MessageBatch),
    (DurableObjectNamespace, do_sync.DurableObjectNamespace),
    (DurableObjectStub, do_sync.DurableObjectStub),
]

# what the sync side deliberately has not: Workers are async (from_env), the async lifecycle
# (aclose / async with: the sync side has close / with), and the Workers-only batch constructor
NOT_TWINNED = frozenset({"from_env", "aclose", "from_js", "load"})
CONSTRUCTORS = frozenset({"local", "from_url", "from_config", "from_gateway"})


def _public(cls: type) -> dict[str, Any]:
    names = {n for n in dir(cls) if not n.startswith("_")} - NOT_TWINNED
    return {n: inspect.getattr_static(cls, n) for n in names}


def _shape(fn: Callable[..., Any]) -> list[tuple[str, Any, Any]]:
    params = list(inspect.signature(fn).parameters.values())[1:]  # self / cls
    return [(p.name, p.kind, p.default) for p in params]


@pytest.mark.parametrize("pair", PAIRS, ids=lambda p: p[0].__name__)
def test_every_public_async_method_has_a_sync_twin_with_the_same_parameters(pair: tuple[type, type]) -> None:
    async_cls, sync_cls = pair
    sync_members = _public(sync_cls)
    missing = sorted(set(_public(async_cls)) - set(sync_members))
    assert not missing, f"{sync_cls.__module__}.{sync_cls.__name__} lacks {missing}"
    for name, member in _public(async_cls).items():
        if name in CONSTRUCTORS:
            continue  # keywords pass through (**kwargs): checked by behaviour below
        fn = getattr(member, "__func__", member)
        if (
            inspect.iscoroutinefunction(fn)
            or inspect.isasyncgenfunction(fn)
            or (callable(fn) and not isinstance(member, property))
        ):
            twin = getattr(sync_members[name], "__func__", sync_members[name])
            assert not inspect.iscoroutinefunction(twin), f"{sync_cls.__name__}.{name} is async"
            assert _shape(fn) == _shape(twin), f"{sync_cls.__name__}.{name}: parameters differ"


def test_sync_capabilities_wrap_only_their_async_class(tmp_path: Path) -> None:
    bucket = R2Bucket.local(tmp_path / "r2")
    with pytest.raises(Misconfigured) as caught:
        kv_sync.KvNamespace(bucket)  # type: ignore[arg-type]
    assert "KvNamespace" in str(caught.value)
    for async_cls, sync_cls in PAIRS:
        if issubclass(sync_cls, SyncCapability):
            assert issubclass(async_cls, Capability)
            assert sync_cls._async_class is async_cls


# -- behaviour, per capability, on the local backends ---------------------------------------------------


class Counter(DurableObject):
    async def increment(self, by: int) -> int:
        total = int(await self.storage.get("n") or 0) + by
        await self.storage.put("n", total)
        return total


def _kv(tmp_path: Path) -> None:
    kv = kv_sync.KvNamespace.local(tmp_path / "kv", settings=SETTINGS)
    kv.put("a", "1", metadata={"m": 1})
    assert kv.get("a") == "1"
    assert kv.get("a", "bytes") == b"1"
    assert kv.get_with_metadata("a").metadata == {"m": 1}
    kv.put_many({"b": "2", "c": "3"})
    assert kv.get_many(["a", "b", "z"]) == {"a": "1", "b": "2", "z": None}
    assert [k.name for k in kv.iter_keys()] == ["a", "b", "c"]
    stream = kv.get("b", "stream")
    assert stream is not None
    with stream:
        assert b"".join(stream) == b"2"
    kv.delete_many(["b", "c"])
    assert kv.list().keys[0].name == "a"
    with pytest.raises(InvalidInput):
        kv.put("", "x")  # the async class's validation, the async class's error
    kv.close()


def _r2(tmp_path: Path) -> None:
    with r2_sync.R2Bucket.local(tmp_path / "r2", settings=SETTINGS) as bucket:
        stored = bucket.put("a", b"hello", custom_metadata={"k": "v"})
        assert stored is not None
        head = bucket.head("a")
        assert head is not None
        assert head.etag == stored.etag
        body = bucket.get("a")
        assert body is not None
        assert (body.key, body.size, dict(body.custom_metadata)) == ("a", 5, {"k": "v"})
        assert body.text() == "hello"
        part_body = bucket.get("a", range={"offset": 1, "length": 3})
        assert part_body is not None
        assert b"".join(part_body) == b"ell"
        upload = bucket.create_multipart_upload("mp")
        part = upload.upload_part(1, b"xyz")
        upload.complete([part])
        again = bucket.get("mp")
        assert again is not None
        assert again.read() == b"xyz"
        assert [o.key for o in bucket.list().objects] == ["a", "mp"]
        bucket.delete(["a", "mp"])
        assert bucket.head("a") is None
    assert bucket.closed


def _queue(tmp_path: Path) -> None:
    queue = queue_sync.Queue.local(tmp_path / "q", "jobs", settings=SETTINGS)
    consumer = queue_sync.QueueConsumer.local(tmp_path / "q", "jobs", settings=SETTINGS)
    queue.send({"n": 1})
    queue.send_batch([{"body": {"n": 2}}, {"body": {"n": 3}}])
    seen: list[int] = []
    batch = consumer.pull(batch_size=10, visibility_timeout=30)
    result = batch.process(lambda b: seen.extend(m.body["n"] for m in b))
    assert sorted(seen) == [1, 2, 3]
    assert result.acked == 3
    assert len(consumer.pull(batch_size=10, visibility_timeout=30)) == 0
    queue.close()
    consumer.close()


def _do(tmp_path: Path) -> None:
    with do_sync.DurableObjectNamespace.local(tmp_path / "do", Counter, settings=SETTINGS) as namespace:
        stub = namespace.get_by_name("a")
        assert stub.increment(2) == 2
        assert stub.call("increment", 3) == 5
        assert namespace.get(namespace.id_from_name("a")).increment(1) == 6


SCENARIOS: dict[str, Callable[[Path], None]] = {"kv": _kv, "r2": _r2, "queue": _queue, "do": _do}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_sync_class_behaves_like_the_async_one(name: str, tmp_path: Path) -> None:
    SCENARIOS[name](tmp_path)


def _builders(tmp_path: Path) -> dict[str, Callable[[], SyncCapability[Any]]]:
    return {
        "kv": lambda: kv_sync.KvNamespace.local(tmp_path / "kv"),
        "r2": lambda: r2_sync.R2Bucket.local(tmp_path / "r2"),
        "queue": lambda: queue_sync.Queue.local(tmp_path / "q", "jobs"),
        "consumer": lambda: queue_sync.QueueConsumer.local(tmp_path / "q", "jobs"),
        "do": lambda: do_sync.DurableObjectNamespace.local(tmp_path / "do", Counter),
    }


def _one_call(cap: SyncCapability[Any]) -> Any:
    if isinstance(cap, kv_sync.KvNamespace):
        return cap.get("k")
    if isinstance(cap, r2_sync.R2Bucket):
        return cap.head("k")
    if isinstance(cap, queue_sync.Queue):
        return cap.send("x")
    if isinstance(cap, queue_sync.QueueConsumer):
        return cap.pull(batch_size=1, visibility_timeout=30)
    assert isinstance(cap, do_sync.DurableObjectNamespace)
    return cap.get_by_name("k").increment(1)


@pytest.mark.parametrize("name", ["kv", "r2", "queue", "consumer", "do"])
def test_close_then_closed_no_pickling_and_no_call_inside_a_loop(name: str, tmp_path: Path) -> None:
    cap = _builders(tmp_path)[name]()
    assert repr(cap).startswith("sync.")
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(cap)

    async def inside_a_loop() -> None:
        _one_call(cap)

    with pytest.raises(BlockingCallInEventLoop, match="inside a running event loop"):
        asyncio.run(inside_a_loop())
    _one_call(cap)  # the refused call did nothing to the object
    cap.close()
    cap.close()  # idempotent
    assert cap.closed
    with pytest.raises(Closed):
        _one_call(cap)


def test_many_threads_share_one_object(tmp_path: Path) -> None:
    kv = kv_sync.KvNamespace.local(tmp_path / "kv", settings=SETTINGS)

    def worker(n: int) -> None:
        for i in range(20):
            kv.put(f"t{n}/{i}", f"{n}:{i}")
            assert kv.get(f"t{n}/{i}") == f"{n}:{i}"

    assert run_in_threads(worker, 16) == []
    assert sum(1 for _ in kv.iter_keys(prefix="t")) == 16 * 20
    kv.close()


def test_a_scope_opened_in_the_calling_thread_sees_the_sync_calls(tmp_path: Path) -> None:
    from cap_opendal_core.scope import InvocationScope

    kv = kv_sync.KvNamespace.local(tmp_path / "kv")
    with InvocationScope("node") as scope:
        kv.put("a", "1")
        kv.get("a")
    assert scope.calls == 2
    assert scope.effect_hints
    kv.close()


def test_the_portal_stops_and_a_later_call_starts_a_new_one(tmp_path: Path) -> None:
    kv = kv_sync.KvNamespace.local(tmp_path / "kv", settings=SETTINGS)
    kv.put("a", "1")
    assert portal_running()
    stop_portal()
    assert not portal_running()
    assert kv.get("a") == "1"  # a new portal thread
    assert portal_running()
    kv.close()


def test_a_sync_call_from_a_trio_task_is_refused(tmp_path: Path) -> None:
    import trio

    kv = kv_sync.KvNamespace.local(tmp_path / "kv", settings=SETTINGS)

    async def inside() -> None:
        kv.get("a")

    with pytest.raises(BlockingCallInEventLoop):
        trio.run(inside)
    kv.close()


def test_an_error_raised_on_the_portal_reaches_the_caller_with_its_type_and_context(tmp_path: Path) -> None:
    bucket = r2_sync.R2Bucket.local(tmp_path / "r2", settings=SETTINGS)
    with pytest.raises(Unsupported) as caught:  # raised by the backend, on the portal thread
        bucket.presign("a")
    assert (caught.value.capability, caught.value.operation, caught.value.key) == ("r2", "presign", "a")
    bucket.close()


def test_a_sync_consumer_runs_a_plain_handler_until_stopped(tmp_path: Path) -> None:
    queue = queue_sync.Queue.local(tmp_path / "q", "jobs", settings=SETTINGS)
    consumer = queue_sync.QueueConsumer.local(tmp_path / "q", "jobs", settings=SETTINGS)
    queue.send_batch([{"body": i} for i in range(20)])
    seen: list[int] = []
    all_seen = threading.Event()
    ended: list[BaseException | None] = []

    def handler(batch: queue_sync.MessageBatch) -> None:
        assert threading.current_thread() is not threading.main_thread()
        seen.extend(m.body for m in batch)
        if len(seen) >= 20:
            all_seen.set()

    def serve() -> None:
        try:
            consumer.run(handler, concurrency=2, batch_size=5)
            ended.append(None)
        except BaseException as exc:  # reported below
            ended.append(exc)

    runner = threading.Thread(target=serve)
    runner.start()
    assert all_seen.wait(60)
    consumer.stop()
    runner.join(60)
    assert ended == [None], "run() returned normally after stop()"
    assert sorted(seen) == list(range(20))
    assert len(consumer.pull(batch_size=20, visibility_timeout=30)) == 0, "every message was acked"
    queue.close()
    consumer.close()


async def _echo(value: object) -> object:
    await asyncio.sleep(0)
    return value


def test_many_threads_each_get_their_own_results_through_one_portal() -> None:
    """Calls from many threads are queued together and answered together (see
    ``cap_opendal_core.sync._Portal``): each caller must still get its own answer, or its own error."""

    def worker(n: int) -> None:
        for i in range(200):
            assert sync_run(_echo, (n, i)) == (n, i)
            if i % 50 == 0:
                with pytest.raises(InvalidInput, match=f"{n}/{i}"):
                    sync_run(_fail, f"{n}/{i}")

    assert run_in_threads(worker, 16) == []


async def _fail(what: str) -> None:
    await asyncio.sleep(0)
    raise InvalidInput(f"refused {what}")


async def _interrupt() -> None:
    raise KeyboardInterrupt


def test_anything_raised_on_the_portal_reaches_the_caller_and_the_portal_keeps_serving() -> None:
    with pytest.raises(KeyboardInterrupt):
        sync_run(_interrupt)
    assert sync_run(_echo, "still serving") == "still serving"
    with pytest.raises(TypeError):  # raised while making the coroutine, before any await
        sync_run(_echo)


def test_a_call_handed_to_a_stopped_portal_is_answered_not_left_waiting() -> None:
    from cap_opendal_core import sync

    sync_run(_echo, 1)
    portal = sync._get_portal()
    stop_portal()
    with pytest.raises(RuntimeError, match="stopped"):
        portal.submit(sync._Call(_echo, (1,), {}))
    assert sync_run(_echo, 2) == 2  # a new portal


def test_stopping_the_portal_under_load_answers_every_caller() -> None:
    """Callers in flight when the portal stops get an error (or their answer), none waits forever;
    their next calls start a new portal."""
    import concurrent.futures

    started = threading.Barrier(9)
    outcomes: list[str] = []

    def worker() -> None:
        started.wait()
        for i in range(100):
            try:
                sync_run(_echo, i)
                outcomes.append("answer")
            except (RuntimeError, concurrent.futures.CancelledError):
                outcomes.append("stopped")

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(8)]
    for t in threads:
        t.start()
    started.wait()
    stop_portal()
    for t in threads:
        t.join(60)  # a guard against a hang, not a timing: each thread makes 100 quick calls
    assert not any(t.is_alive() for t in threads)
    assert len(outcomes) == 800
    assert sync_run(_echo, "after") == "after"
