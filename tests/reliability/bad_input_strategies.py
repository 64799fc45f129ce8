"""What the bad-input properties throw at every capability.

Strategies aim at what breaks storage code: keys with control characters, lone surrogates, ``..`` and
``/`` runs, percent signs, reserved names, lengths around each limit (in bytes of UTF-8, with one- to
four-byte characters), values of the wrong type, JSON that is not JSON (NaN, sets, huge integers,
cycles), times that are naive, far away or not numbers. Each limit comes from the package's own
``limits.py``, so when Cloudflare changes a number the properties follow. How an answer is judged is
in :mod:`.bad_input_judging`.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

__all__ = [
    "cyclic",
    "datetimes_anywhere",
    "json_like",
    "json_valid",
    "keys",
    "long_text",
    "mixed",
    "nested",
    "not_str",
    "numbers",
    "odd_values",
    "texts",
    "valid_text",
]


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
