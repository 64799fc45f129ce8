"""How the bad-input properties judge an answer, and the scaffolding their backend fixtures share.

The rule of issue 9: a call either succeeds with the documented behaviour, or raises
:class:`~cap_opendal_core.errors.InvalidInput` / :class:`~cap_opendal_core.errors.LimitExceeded` and
did no I/O — nothing sent (the REST stand-in's request log is unchanged), nothing written (the
directory tree or the store is unchanged). Any other exception fails the property; hypothesis then
shrinks it to the smallest call that shows it. What the properties draw is in
:mod:`.bad_input_strategies`.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from hypothesis import HealthCheck, settings

from cap_opendal_core.errors import CapabilityError, InvalidInput, LimitExceeded
from cap_opendal_core.scope import InvocationScope

if TYPE_CHECKING:
    from collections.abc import Awaitable
    from pathlib import Path

    from tests.support.cf_api import CloudflareApi

__all__ = [
    "PROPERTY",
    "REFUSALS",
    "TALLY",
    "Outcome",
    "PropertyEnv",
    "answer_at_once",
    "attempt",
    "confined_tree",
    "encodable",
    "finite_or_none",
    "memory_store",
    "tree",
    "utf8_len",
]

T = TypeVar("T")

REFUSALS = (InvalidInput, LimitExceeded)

PROPERTY = settings(
    max_examples=int(os.environ.get("CAP_BAD_INPUT_EXAMPLES", "60")),
    derandomize=os.environ.get("CAP_BAD_INPUT_RANDOM") != "1",
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
    database=None,
)
"""Modest example counts (``CAP_BAD_INPUT_EXAMPLES`` raises them for a soak), the same examples on
every run so CI never flakes (``CAP_BAD_INPUT_RANDOM=1`` explores new ones), no per-example deadline
(disk and HTTP vary), no example database written into the repository. The backend fixtures last a
whole property on purpose (one store, many calls: the properties compare its state before and after
each call), hence the function-scoped-fixture check is off."""


# --- judging -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What a call did: its result, or the error it raised — a refusal or one of the errors the call
    documents — and how many calls it sent through the capability's pipeline, the only way to a
    backend."""

    value: Any = None
    error: CapabilityError | None = None
    pipeline_calls: int = 0

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def refused(self) -> InvalidInput | LimitExceeded | None:
        return self.error if isinstance(self.error, REFUSALS) else None

    def assert_refused_before_io(self, *, late_fields: tuple[str, ...] = ()) -> None:
        """The call was refused by validation: it never entered the pipeline, so no backend saw it.

        ``late_fields``: arguments only a backend can judge (a cursor it made, a range against the
        object's size, the chunks of a stream as they are read); their refusals may come from inside
        the pipeline — the caller then proves nothing was written."""
        refused = self.refused
        assert refused is not None, f"expected a refusal, got {self}"
        if self.pipeline_calls and isinstance(refused, InvalidInput) and refused.field in late_fields:
            return
        assert self.pipeline_calls == 0, (
            f"refused only after reaching the backend ({self.pipeline_calls} call(s)): {refused!r}"
        )


async def attempt(call: Awaitable[T], *, documented: tuple[type[CapabilityError], ...] = ()) -> Outcome:
    """Await ``call`` inside an invocation scope (which records every pipeline call). A refusal, or an
    error in ``documented``, becomes an :class:`Outcome`; any other exception propagates and fails the
    property with the call that raised it."""
    caught: tuple[type[CapabilityError], ...] = (*REFUSALS, *documented)
    with InvocationScope("bad-input") as scope:
        try:
            value = await call
        except caught as exc:
            if not str(exc):
                raise AssertionError(f"{type(exc).__name__} without a message saying what was wrong") from exc
            TALLY["refused" if isinstance(exc, REFUSALS) else type(exc).__name__] += 1
            return Outcome(error=exc, pipeline_calls=_calls(scope))
    TALLY["ok"] += 1
    return Outcome(value, pipeline_calls=_calls(scope))


def _calls(scope: InvocationScope) -> int:
    return sum(record.count for record in scope.records)


TALLY: Counter[str] = Counter()
"""Calls made by the properties, by how they ended (``ok`` / ``refused``): printed at the end of the
session, so the report can say how many calls of each kind the properties made."""


def utf8_len(text: str) -> int | None:
    """Bytes of ``text`` as UTF-8; None when it cannot be encoded (a lone surrogate)."""
    try:
        return len(text.encode("utf-8"))
    except UnicodeEncodeError:
        return None


def encodable(text: object) -> bool:
    return isinstance(text, str) and utf8_len(text) is not None


def answer_at_once(api: CloudflareApi) -> None:
    """Turn off Nagle's algorithm on the REST stand-in's connections. It writes a response's headers
    and body in two ``send`` calls, so the body waits for the client's delayed ACK (~40 ms) on every
    request; hundreds of examples make that most of a property's time."""
    server = api._server
    assert server is not None, "start the stand-in first"
    server.RequestHandlerClass.disable_nagle_algorithm = True  # type: ignore[attr-defined]


# --- the file system ---------------------------------------------------------------------------


def tree(root: Path) -> dict[str, str]:
    """Every file under ``root`` → a digest of its content, by path relative to ``root``: compare two
    to prove nothing was written. (Empty directories a backend made and left are not data.)"""
    out: dict[str, str] = {}
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            if name.endswith(".sqlite3-shm"):
                continue  # SQLite's shared-memory index changes when a reader connects: not data
            path = os.path.join(dirpath, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, root)] = hashlib.sha256(f.read()).hexdigest()
    return out


def confined_tree(parent: Path, root: Path) -> dict[str, str]:
    """:func:`tree` of ``root``, after checking that nothing escaped it: ``parent`` (a directory that
    holds only ``root``) holds nothing else, and no path under ``root`` is a link or leaves it."""
    assert root.parent == parent
    outside = sorted(p.name for p in parent.iterdir() if p.name != root.name)
    assert not outside, f"written beside the root directory: {outside}"
    real_root = os.path.realpath(root)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in (*dirnames, *filenames):
            path = os.path.join(dirpath, name)
            assert not os.path.islink(path), f"a link under the root: {path}"
            assert os.path.commonpath([real_root, os.path.realpath(path)]) == real_root, path
    return tree(root)


def finite_or_none(value: object) -> float | None:
    """``value`` as a finite float when it is an int or float (not a bool); None otherwise."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


async def memory_store(capability: object) -> dict[str, bytes]:
    """Every object in a capability's in-memory OpenDAL store, path → bytes: compare two to prove a
    refused call wrote nothing (the memory backend has no directory to walk)."""
    op = capability._backend._op  # type: ignore[attr-defined]
    found = {}
    async for entry in await op.list("", recursive=True):
        if not entry.path.endswith("/"):
            found[entry.path] = bytes(await op.read(entry.path))
    return found


@dataclass
class PropertyEnv:
    """One backend of a bad-input property, for the length of the property: its ``kind`` (``memory``,
    ``local``, ``rest`` …) and ``parent``, a directory that holds only the store's own :attr:`root`
    (named by the subclass's ``DIRECTORY``), so :func:`confined_tree` can prove nothing escaped it."""

    DIRECTORY: ClassVar[str]

    kind: str
    parent: Path

    @property
    def root(self) -> Path:
        return self.parent / self.DIRECTORY
