"""Issue 17: a sync KV call on a local OpenDAL service (``memory://``, ``fs://``) runs in its caller's
thread — the async method's pipeline on the thread's own event loop, the I/O through OpenDAL's
blocking ``Operator`` — and behaves exactly as the async call does: same results, same errors, the
caller's scope sees it, refused inside an event loop, nothing left open when the thread ends.
"""

from __future__ import annotations

import asyncio
import gc
import os
import subprocess
import sys
import threading
from typing import TYPE_CHECKING, Any

import pytest

from cap_cloudflare_kv.sync import KvNamespace as SyncKvNamespace
from cap_opendal_core.errors import InvalidInput, Misconfigured
from cap_opendal_core.layers import LayerSettings
from cap_opendal_core.scope import InvocationScope
from cap_opendal_core.sync import BlockingCallInEventLoop, portal_running, stop_portal

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

SETTINGS = LayerSettings(logging=False)


@pytest.mark.parametrize("scheme", ["memory", "fs"])
def test_calls_run_in_the_caller_thread_and_see_the_async_side(tmp_path: Path, scheme: str) -> None:
    url = "memory://" if scheme == "memory" else f"fs://{tmp_path / 'kv'}"
    stop_portal()
    kv = SyncKvNamespace.from_url(url, settings=SETTINGS)
    try:  # not ``with``: entering holds ``async with`` open on the portal
        kv.put("a", "1", metadata={"m": 1})
        kv.put_many({"b": "2", "c": "3"})
        assert kv.get("a") == "1"
        assert kv.get("a", "bytes") == b"1"
        assert kv.get_with_metadata("a").metadata == {"m": 1}
        assert kv.get_many(["a", "b", "missing"]) == {"a": "1", "b": "2", "missing": None}
        kv.delete("c")
        assert kv.get("c") is None
        assert [k.name for k in kv.list().keys] == ["a", "b"]
        assert not portal_running()  # nothing crossed to the portal thread

        async def from_async() -> Any:  # the async object reads what the blocking operator wrote
            await kv.asynchronous.put("d", "4")
            return await kv.asynchronous.get("a")

        assert asyncio.run(from_async()) == "1"
        assert kv.get("d") == "4"
    finally:
        kv.close()
    assert not portal_running()


def test_errors_are_the_async_calls_errors() -> None:
    with SyncKvNamespace.from_url("memory://", settings=SETTINGS) as kv:
        with pytest.raises(InvalidInput) as sync_error:
            kv.put("", "x")

        async def bad() -> None:
            await kv.asynchronous.put("", "x")

        with pytest.raises(InvalidInput) as async_error:
            asyncio.run(bad())
        assert str(sync_error.value) == str(async_error.value)


def test_a_stream_value_is_read_through_the_portal() -> None:
    with SyncKvNamespace.from_url("memory://", settings=SETTINGS) as kv:
        kv.put("big", b"z" * 200_000)
        stream = kv.get("big", "stream")
        assert stream is not None
        with stream:
            assert stream.read() == b"z" * 200_000


def test_the_scope_of_the_calling_thread_observes_the_calls() -> None:
    with SyncKvNamespace.from_url("memory://", settings=SETTINGS) as kv, InvocationScope("node") as scope:
        kv.put("a", "1")
        kv.get("a")
    assert scope.calls == 2


def test_refused_inside_a_running_event_loop() -> None:
    kv = SyncKvNamespace.from_url("memory://", settings=SETTINGS)

    async def inside() -> None:
        kv.get("a")

    with pytest.raises(BlockingCallInEventLoop, match=r"KvNamespace\.get\(\)"):
        asyncio.run(inside())
    kv.close()


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")
def test_a_thread_per_request_leaves_no_event_loop_open(tmp_path: Path) -> None:
    with SyncKvNamespace.from_url("memory://", settings=SETTINGS) as kv:

        def in_thread(work: Callable[[], None]) -> None:
            thread = threading.Thread(target=work)
            thread.start()
            thread.join()

        in_thread(lambda: kv.put("warm", "up"))  # OpenDAL's runtime, the blocking operator
        gc.collect()
        before = _open_fds()
        for i in range(20):  # Werkzeug's threaded server: a new thread per request
            in_thread(lambda i=i: kv.put(f"k{i}", "v"))  # type: ignore[misc]
        gc.collect()
        assert _open_fds() == before  # each thread's loop (its selector, self-pipe) was closed
        assert kv.get("k19") == "v"


def test_on_fs_a_planted_link_is_refused_as_on_the_async_side(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "kv"
    kv = SyncKvNamespace.from_url(f"fs://{root}", settings=SETTINGS)
    kv.put("short", "v")
    (record,) = (p for p in (root / "k").iterdir() if p.is_file())
    record.rename(outside / "record")
    os.symlink(outside / "record", record)
    calls: list[Callable[[], object]] = [
        lambda: kv.get("short"),
        lambda: kv.delete("short"),
        lambda: kv.put("short", "x"),
    ]
    for call in calls:
        with pytest.raises(Misconfigured, match="symbolic link"):
            call()
    assert (outside / "record").read_bytes().endswith(b"v")
    kv.close()


_FORK_SCRIPT = """
import os, sys
from cap_cloudflare_kv.sync import KvNamespace
from cap_opendal_core.errors import InvalidInput
from cap_opendal_core.layers import LayerSettings

kv = KvNamespace.from_url("fs://" + sys.argv[1], settings=LayerSettings(logging=False))
try:
    kv.put("", "x")  # this thread's loop exists now; OpenDAL's runtime has not started
except InvalidInput:
    pass
pid = os.fork()
if pid == 0:
    try:
        kv.put("a", "from the child")
        print(kv.get("a"), flush=True)
    except BaseException as exc:
        print(type(exc).__name__, exc, flush=True)
    os._exit(0)
os.waitpid(pid, 0)
print(kv.get("a"), flush=True)  # the parent's loop still works
kv.close()
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_a_forked_child_makes_its_own_loop(tmp_path: Path) -> None:
    # a fresh interpreter: in this one OpenDAL's runtime has started (a child would be refused)
    done = subprocess.run(
        [sys.executable, "-c", _FORK_SCRIPT, str(tmp_path / "kv")],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.splitlines() == ["from the child", "from the child"]
