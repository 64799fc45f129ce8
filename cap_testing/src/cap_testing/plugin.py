"""The pytest plugin (entry point ``pytest11``: ``caps``): fixtures for testing flows built on cap-*.

See the package docstring and ``docs/testing-your-flows.md``. Fixtures:

- ``caps_clock`` — a :class:`~cap_testing.clock.CapsClock`, shared by every backend below;
- ``caps`` — a :class:`~cap_testing.factory.Caps` building capabilities in ``tmp_path``;
- ``caps_kv``, ``caps_r2``, ``caps_queue`` — one KV namespace, R2 bucket, queue producer;
- ``caps_do`` — ``caps_do(MyObject)`` builds a Durable Object namespace of that class;
- ``workers_env`` — a :class:`~cap_testing.workers.WorkersEnv` (Node side started once a session).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .clock import CapsClock
from .factory import Caps
from .workers import WorkersEnv, WorkersHost, WorkersUnavailable

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from cap_cloudflare_do import DurableObject, DurableObjectNamespace
    from cap_cloudflare_kv import KvNamespace
    from cap_cloudflare_queue import Queue
    from cap_cloudflare_r2 import R2Bucket

__all__ = ["caps", "caps_clock", "caps_do", "caps_kv", "caps_queue", "caps_r2", "workers_env"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        "caps_wrangler",
        "workers_env: the Worker's wrangler.toml, relative to the rootdir (default: wrangler.toml)",
        default="wrangler.toml",
    )
    parser.addini(
        "caps_entrypoint",
        "workers_env: the entrypoint class in the Worker's main module (default: Default)",
        default="",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "workers: the test runs the Worker under Pyodide (workers_env)")


@pytest.fixture
def caps_clock() -> CapsClock:
    """The test's clock (epoch seconds, starting at 1_800_000_000); ``advance(seconds)`` moves it."""
    return CapsClock()


def _close(caps: Caps) -> None:
    import anyio

    anyio.run(caps.aclose)


@pytest.fixture
def caps(tmp_path: Path, caps_clock: CapsClock) -> Iterator[Caps]:
    """Builds capabilities on the embedded backends under ``tmp_path/caps``; closes them afterwards."""
    factory = Caps(tmp_path / "caps", caps_clock)
    try:
        yield factory
    finally:
        _close(factory)


@pytest.fixture
def caps_kv(caps: Caps) -> KvNamespace:
    """A KV namespace on the embedded backend; expiry follows ``caps_clock``."""
    return caps.kv()


@pytest.fixture
def caps_r2(caps: Caps) -> R2Bucket:
    """An R2 bucket on the embedded backend."""
    return caps.r2()


@pytest.fixture
def caps_queue(caps: Caps) -> Queue:
    """The producer of local queue ``"queue"``; ``caps.consumer("queue", …)`` consumes it."""
    return caps.queue()


@pytest.fixture
def caps_do(caps: Caps) -> Callable[..., DurableObjectNamespace]:
    """``caps_do(MyObject, env=None)``: a namespace of ``MyObject`` in the embedded runtime."""

    def build(object_class: type[DurableObject], *, env: Any = None) -> DurableObjectNamespace:
        return caps.durable_objects(object_class, env=env)

    return build


@pytest.fixture(scope="session")
def _caps_workers_host(request: pytest.FixtureRequest) -> Iterator[WorkersHost]:
    config = request.config
    wrangler = Path(config.rootpath) / str(config.getini("caps_wrangler"))
    if not wrangler.is_file():
        pytest.fail(
            f"workers_env reads the Worker's bindings from {wrangler}, which does not exist "
            "(set caps_wrangler in the pytest configuration)",
            pytrace=False,
        )
    host = WorkersHost(wrangler, entrypoint=str(config.getini("caps_entrypoint")) or None)
    try:
        host.start()
    except WorkersUnavailable as exc:
        pytest.skip(f"workers_env: {exc}")
    try:
        yield host
    finally:
        host.close()


@pytest.fixture
def workers_env(_caps_workers_host: WorkersHost) -> Iterator[WorkersEnv]:
    """The Worker of ``wrangler.toml`` under Pyodide on Miniflare; state is emptied after each test."""
    env = WorkersEnv(_caps_workers_host)
    try:
        yield env
    finally:
        env.reset()
