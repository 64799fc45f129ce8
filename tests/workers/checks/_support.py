"""Small helpers for the Pyodide checks (pytest itself does not run under Pyodide here)."""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterator


@dataclass
class Caught:
    """What :func:`raises` caught, for assertions after the ``with`` block."""

    value: BaseException | None = None


@contextmanager
def raises(expected: type[BaseException], *, match: str | None = None) -> Iterator[Caught]:
    """Like ``pytest.raises``: the block must raise ``expected`` whose message contains ``match``."""
    caught = Caught()
    try:
        yield caught
    except expected as exc:
        caught.value = exc
        if match is not None and match not in str(exc):
            raise AssertionError(f"{type(exc).__name__}({str(exc)!r}) does not mention {match!r}") from exc
    else:
        raise AssertionError(f"expected {expected.__name__} to be raised")


def unique_key(prefix: str) -> str:
    """A key no other check (or earlier run of this one) uses."""
    return f"{prefix}/{os.urandom(4).hex()}"


async def probe_storage(env: Any, name: str) -> Any:
    """``StorageProbe`` ``name``'s real ``ctx.storage`` as a Python Durable Object sees it: its methods,
    and ``transaction(closure)`` as the runtime's (``env.CAPS_TXN_BRIDGE``, cap_testing's
    ``harness/txn_bridge.mjs``: workerd admits no call into an object while a transaction is open, so
    the object runs it and asks Node for each call the Python block makes)."""
    ns = env.DO_PROBE
    stub = ns.get(ns.idFromName(name))
    return env.CAPS_TXN_BRIDGE.storage(await stub.storage(), stub)
