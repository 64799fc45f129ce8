"""The hint registry's one-off discovery: once, under a lock, so concurrent first lookups see it all."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading

import pytest

from cap_opendal_core.hints import Constraint, Effects, HintRegistry

FIRST = Constraint("resource::probe::first", "effect", Effects.EFFECTFUL)
SECOND = Constraint("resource::probe::second", "effect", Effects.EFFECTFUL)


def test_a_lookup_during_discovery_waits_for_the_whole_table() -> None:
    """Thread A runs the hook; thread B's lookup, made while the hook is half done, must not answer
    from the half table (nor cache that answer)."""
    hook_started = threading.Event()
    b_finished = threading.Event()
    calls: list[int] = []

    def hook() -> None:
        calls.append(1)
        registry.register(FIRST)
        hook_started.set()
        # Without the lock B finishes here (and this wait ends at once); with it B waits for us.
        b_finished.wait(timeout=0.5)
        registry.register(SECOND)

    registry = HintRegistry(before_first_lookup=hook)
    seen: dict[str, Constraint | None] = {}

    def a() -> None:
        seen["a"] = registry.lookup(SECOND.hint, "effect")

    def b() -> None:
        seen["b"] = registry.lookup(SECOND.hint, "effect")
        b_finished.set()

    thread_a = threading.Thread(target=a)
    thread_a.start()
    assert hook_started.wait(timeout=30)
    thread_b = threading.Thread(target=b)
    thread_b.start()
    thread_a.join(timeout=30)
    thread_b.join(timeout=30)
    assert seen == {"a": SECOND, "b": SECOND}
    assert calls == [1]  # once
    assert registry.lookup(SECOND.hint, "effect") == SECOND  # nothing stale cached


def test_the_hook_may_look_up_and_register_without_running_again() -> None:
    calls: list[int] = []

    def hook() -> None:
        calls.append(1)
        assert registry.lookup(FIRST.hint, "effect") is None  # its own lookup does not recurse
        registry.register(FIRST)

    registry = HintRegistry(before_first_lookup=hook)
    assert registry.lookup(FIRST.hint, "effect") == FIRST
    assert len(registry) == 1
    assert calls == [1]


def test_a_failed_hook_is_tried_again() -> None:
    attempts: list[int] = []

    def hook() -> None:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("first discovery fails")
        registry.register(FIRST)

    registry = HintRegistry(before_first_lookup=hook)
    with pytest.raises(RuntimeError, match="first discovery fails"):
        registry.lookup(FIRST.hint, "effect")
    assert registry.lookup(FIRST.hint, "effect") == FIRST
    assert attempts == [1, 1]


def test_concurrent_first_lookups_of_the_process_registry_see_every_plugin() -> None:
    """In a fresh interpreter, many threads look up plugin hints at once (and one registers a plugin
    meanwhile, which takes discovery's lock from the other side): all see the installed families."""
    code = textwrap.dedent(
        """
        import threading
        from cap_opendal_core.hints import registry
        from cap_opendal_core.plugins import CapabilityPlugin, register_plugin
        from cap_opendal_core.descriptors import Descriptor

        HINTS = [
            "resource::kv::write",
            "resource::blob::read",
            "resource::queue::publish",
            "resource::state::write",
        ]
        start = threading.Barrier(9)
        results = []

        def look(hint):
            start.wait()
            results.append(registry.lookup(hint, "effect") is not None)

        def register():
            start.wait()
            probe = CapabilityPlugin(
                name="probe", distribution="probe", binding_kind="kv_namespace", descriptor=Descriptor()
            )
            register_plugin(probe)

        threads = [threading.Thread(target=look, args=(HINTS[i % 4],)) for i in range(8)]
        threads.append(threading.Thread(target=register))
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert not any(t.is_alive() for t in threads), "deadlock"
        assert results == [True] * 8, results
        print("ok")
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"
