"""What the bad-input properties throw at every capability, and how they judge the answer.

Strategies aim at what breaks storage code: keys with control characters, lone surrogates, ``..`` and
``/`` runs, percent signs, reserved names, lengths around each limit (in bytes of UTF-8, with one- to
four-byte characters), values of the wrong type, JSON that is not JSON (NaN, sets, huge integers,
cycles), times that are naive, far away or not numbers. Each limit comes from the package's own
``limits.py``, so when Cloudflare changes a number the properties follow.

Judging (the rule of issue 9): a call either succeeds with the documented behaviour, or raises
:class:`~cap_opendal_core.errors.InvalidInput` / :class:`~cap_opendal_core.errors.LimitExceeded` and
did no I/O — nothing sent (the REST stand-in's request log is unchanged), nothing written (the
directory tree or the store is unchanged). Any other exception fails the property; hypothesis then
shrinks it to the smallest call that shows it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from cap_opendal_core.errors import CapabilityError, InvalidInput, LimitExceeded
from cap_opendal_core.scope import InvocationScope

if TYPE_CHECKING:
    from collections.abc import Awaitable

    from tests.support.cf_api import CloudflareApi

__all__ = [
    "PROPERTY",
    "REFUSALS",
    "TALLY",
    "Outcome",
    "answer_at_once",
    "attempt",
    "confined_tree",
    "datetimes_anywhere",
    "encodable",
    "finite_or_none",
    "json_like",
    "json_valid",
    "keys",
    "long_text",
    "nested",
    "cyclic",
    "mixed",
    "not_str",
    "numbers",
    "odd_values",
    "texts",
    "tree",
    "utf8_len",
    "valid_text",
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


def mixed(
    **arguments: tuple[st.SearchStrategy[Any], st.SearchStrategy[Any]],
) -> st.SearchStrategy[dict[str, Any]]:
    """Dicts of one value per argument: from its *valid* strategy, except for none, one or two
    arguments drawn from their *wild* strategy. Drawing every argument wild would make a call that
    passes validation (and so the documented behaviour of a success) too rare to test; this keeps
    both common. (Drawn up front, not with ``st.data()`` inside an async test.)"""
    names = sorted(arguments)

    @st.composite
    def draw_all(draw: st.DrawFn) -> dict[str, Any]:
        wild = draw(st.sets(st.sampled_from(names), max_size=2))
        return {name: draw(arguments[name][name in wild]) for name in names}

    return draw_all()


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


# --- strategies --------------------------------------------------------------------------------

SURROGATE = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
"""Lone surrogates: a Python ``str`` may hold them, UTF-8 cannot."""

ANY_CHAR = st.one_of(st.characters(), st.characters(max_codepoint=0x1F), SURROGATE)
"""Any code point, with control characters and lone surrogates drawn often enough to matter."""

PATH_PIECES = (
    "..",
    ".",
    "/",
    "//",
    "a",
    "\\",
    "~",
    "%2e",
    "%2F",
    "%",
    "\x00",
    " ",
    "\n",
    "é",
    "\u202e",
    ":",
    "*",
    "?",
    "CON",
    "nul",
    ".kv",
    ".json",
    "k/",
    "keys/",
    "tmp/",
    "blobs/",
    "\ufeff",
)
"""Pieces of keys that break naive path mapping: traversal, separators, encodings, reserved names, and
the names the local backends give their own files."""

WIDE_CHARS = ("a", "é", "日", "😀")
"""One-, two-, three- and four-byte characters in UTF-8."""


def long_text(limit: int) -> st.SearchStrategy[str]:
    """Text whose UTF-8 length is within a character of ``limit``: each side of the limit."""

    def build(char: str, delta: int) -> str:
        width = len(char.encode("utf-8"))
        return char * max(0, limit // width + delta)

    return st.builds(build, st.sampled_from(WIDE_CHARS), st.integers(-1, 1))


def texts(max_size: int = 24) -> st.SearchStrategy[str]:
    """Arbitrary text: any code points (control characters, lone surrogates) and path-like pieces."""
    return st.one_of(
        st.text(ANY_CHAR, max_size=max_size),
        st.lists(st.sampled_from(PATH_PIECES), max_size=8).map("".join),
    )


def keys(limit: int) -> st.SearchStrategy[str]:
    """Keys for a store whose keys are at most ``limit`` bytes: arbitrary, path-like, empty, the
    reserved ``.`` and ``..``, and lengths on each side of the limit."""
    return st.one_of(
        texts(),
        st.sampled_from(["", ".", "..", "/", "../..", "./x", "a/../../b", "\x00", "..\\.."]),
        long_text(limit),
    )


def not_str() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.none(), st.booleans(), st.integers(), st.binary(max_size=4), st.floats(), st.just(["k"])
    )


def numbers() -> st.SearchStrategy[Any]:
    """Numbers and things posing as numbers: NaN, infinities, huge, negative, bools, strings."""
    return st.one_of(
        st.integers(-(2**70), 2**70),
        st.integers(-3, 200),
        st.floats(allow_nan=True, allow_infinity=True),
        st.booleans(),
        st.just("60"),
        st.none(),
    )


def datetimes_anywhere() -> st.SearchStrategy[dt.datetime]:
    """Naive and aware datetimes from year 1 to 9999, in any UTC offset (so converting some of them to
    UTC leaves the range ``datetime`` can hold)."""
    offsets = st.integers(-23 * 60 - 59, 23 * 60 + 59).map(lambda m: dt.timezone(dt.timedelta(minutes=m)))
    return st.one_of(
        st.datetimes(),
        st.datetimes(timezones=offsets),
        st.sampled_from([dt.datetime.min, dt.datetime.max]).flatmap(
            lambda moment: offsets.map(lambda tz: moment.replace(tzinfo=tz))
        ),
    )


def json_like(max_leaves: int = 8) -> st.SearchStrategy[Any]:
    """JSON-shaped values, including what JSON cannot hold: NaN, infinities, lone surrogates, huge
    integers, non-string dict keys."""
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.integers(-(2**80), 2**80),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(ANY_CHAR, max_size=12),
    )
    dict_keys = st.one_of(st.text(ANY_CHAR, max_size=6), st.integers(), st.booleans(), st.none(), st.floats())
    return st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4),
            st.dictionaries(dict_keys, inner, max_size=4),
        ),
        max_leaves=max_leaves,
    )


def json_valid(max_leaves: int = 8) -> st.SearchStrategy[Any]:
    """Values JSON holds exactly: finite numbers, text without lone surrogates, string keys."""
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**53), 2**53),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=12),
    )
    return st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner, max_size=4)
        ),
        max_leaves=max_leaves,
    )


def valid_text(min_size: int = 0, max_size: int = 24) -> st.SearchStrategy[str]:
    """Text any store must take: any code points but lone surrogates, and path-like pieces."""
    return st.one_of(
        st.text(min_size=min_size, max_size=max_size),
        st.lists(st.sampled_from(PATH_PIECES), min_size=min_size, max_size=8).map("".join),
    )


def nested(depth: int) -> list[Any]:
    """A list nested ``depth`` levels deep (past the recursion limit of naive encoders)."""
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


def cyclic() -> list[Any]:
    """A list that contains itself."""
    value: list[Any] = []
    value.append(value)
    return value


def odd_values() -> st.SearchStrategy[Any]:
    """Values no capability stores as they are: sets, objects, complex numbers, functions, tuples,
    cycles, nesting past any recursion limit, integers too long to print, lone surrogates."""
    return st.one_of(
        st.sets(st.integers(), max_size=2),
        st.just(object()),
        st.complex_numbers(max_magnitude=10),
        st.just(print),
        st.tuples(st.integers()),
        st.just(Path("/etc/passwd")),
        st.builds(cyclic),
        st.integers(150, 3000).map(nested),
        st.builds(lambda: 10**5000),
        st.sampled_from(["\ud800", {"text": "\udfff"}, ["a\ud83d"], {"\udc00": 1}]),
    )


def finite_or_none(value: object) -> float | None:
    """``value`` as a finite float when it is an int or float (not a bool); None otherwise."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None
