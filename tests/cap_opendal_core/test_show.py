"""``show``: an error message's rendering of a caller's value never raises and stays short."""

from __future__ import annotations

import enum
from typing import Any

import pytest

from cap_opendal_core.show import MAX_SHOWN_CHARS, show


class _Level(enum.IntEnum):
    HIGH = 10**5000


class _Hostile:
    def __repr__(self) -> str:
        raise RuntimeError("repr refuses")


CASES: list[tuple[Any, str]] = [
    (10**5000, "an int of 5,001 digits"),
    (-(10**5000), "a negative int of 5,001 digits"),
    (10**100 - 1, "an int of 100 digits"),
    (2**128, "an int of 39 digits"),
    (12, "12"),
    (True, "True"),
    (1.5, "1.5"),
    (float("nan"), "nan"),
    (None, "None"),
    ("\ud800", "'\\ud800'"),
    ([1, 10**5000], "[1, an int of 5,001 digits]"),
    ({"a": 10**5000}, "{'a': an int of 5,001 digits}"),
    (_Level.HIGH, "an int of 5,001 digits"),
    (_Hostile(), "<_Hostile>"),
]


@pytest.mark.parametrize(("value", "shown"), CASES, ids=[type(c[0]).__name__ for c in CASES])
def test_show(value: Any, shown: str) -> None:
    assert show(value) == shown


def test_the_values_repr_itself_fails_for() -> None:
    """The reason for the helper: these are the values ``{value!r}`` cannot print."""
    for value in (10**5000, [10**5000], _Hostile()):
        with pytest.raises((ValueError, RuntimeError)):
            repr(value)


def test_long_values_are_cut() -> None:
    for value in ("x" * 10**6, b"y" * 10**6, list(range(10**5)), 2 ** (1 << 22)):
        assert len(show(value)) <= MAX_SHOWN_CHARS
    assert show(2 ** (1 << 22)).startswith("an int of about ")
