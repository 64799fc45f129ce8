"""Core's shared argument checks: one calling convention, the right error class and field, short
messages that never echo a huge value."""

from __future__ import annotations

import math
import re

import pytest

from cap_opendal_core.checks import (
    check_int_range,
    check_name,
    check_number_range,
    check_utf8_size,
    finite_float,
    is_int,
    is_number,
    utf8_size,
)
from cap_opendal_core.errors import InvalidInput, LimitExceeded

CONTEXT = {"capability": "kv", "operation": "put", "key": "k"}


def test_bools_are_not_numbers_and_only_finite_numbers_are_floats() -> None:
    assert is_int(3)
    assert not is_int(True)
    assert not is_int(3.0)
    assert is_number(3.5)
    assert is_number(3)
    assert not is_number(False)
    assert not is_number("3")
    assert finite_float(2) == 2.0
    for bad in (math.nan, math.inf, -math.inf, 10**400, True, "1", None):
        assert finite_float(bad) is None


def test_utf8_size_counts_bytes_and_refuses_a_lone_surrogate() -> None:
    assert utf8_size("abc", field="key") == 3
    assert utf8_size("é€😀", field="key") == 2 + 3 + 4
    with pytest.raises(InvalidInput, match="lone surrogate") as caught:
        utf8_size("a\ud800", field="keys[2]", **CONTEXT)
    assert (caught.value.field, caught.value.capability, caught.value.operation) == ("keys[2]", "kv", "put")


def test_utf8_size_limit_is_a_limit_exceeded_with_value_and_maximum() -> None:
    assert check_utf8_size("€" * 4, field="key", high=12, limit="kv.key_bytes") == 12
    with pytest.raises(LimitExceeded, match="13 bytes of UTF-8; keys are short") as caught:
        check_utf8_size(
            "€" * 4 + "a", field="key", high=12, limit="kv.key_bytes", why="keys are short", **CONTEXT
        )
    assert (caught.value.limit, caught.value.value, caught.value.maximum) == ("kv.key_bytes", 13, 12)
    with pytest.raises(InvalidInput) as plain:
        check_utf8_size("abcd", field="name", high=3)
    assert plain.value.field == "name"


def test_int_range_refuses_kind_below_and_above() -> None:
    assert check_int_range(5, field="n", low=1, high=10) == 5
    for bad in (True, 2.0, "3", None, 0):
        with pytest.raises(InvalidInput, match="n: must be an integer from 1 to 10") as caught:
            check_int_range(bad, field="n", low=1, high=10, **CONTEXT)
        assert caught.value.field == "n"
    with pytest.raises(InvalidInput):
        check_int_range(11, field="n", low=1, high=10)  # no documented limit: still bad input
    with pytest.raises(LimitExceeded, match="n: 11 s is over the 10 s a wait may take") as over:
        check_int_range(11, field="n", low=1, high=10, limit="q.wait", unit="s", why="a wait may take")
    assert (over.value.limit, over.value.value, over.value.maximum) == ("q.wait", 11, 10)
    assert check_int_range(10**30, field="n", low=0) == 10**30  # no upper bound


def test_a_huge_int_is_described_not_printed() -> None:
    with pytest.raises(LimitExceeded) as caught:
        check_int_range(10**5000, field="n", low=0, high=10, limit="x.n")
    assert len(str(caught.value)) < 200
    assert "5,001 digits" in str(caught.value)


def test_number_range_takes_finite_numbers_only() -> None:
    assert check_number_range(0.5, field="t", low=0, high=1, low_inclusive=False) == 0.5
    for bad in (0, -1, math.nan, math.inf, 10**400, True, "1"):
        with pytest.raises(InvalidInput, match="t: must be a finite number > 0") as caught:
            check_number_range(bad, field="t", low=0, high=1, low_inclusive=False)
        assert caught.value.field == "t"
    with pytest.raises(LimitExceeded, match=r"1\.5 s is over the 1 s") as over:
        check_number_range(1.5, field="t", low=0, high=1, limit="q.t", unit="s")
    assert over.value.maximum == 1


def test_names_match_whole() -> None:
    pattern = re.compile(r"[a-z]+")
    assert check_name("jobs", field="name", pattern=pattern, rule="lower-case letters") == "jobs"
    for bad in ("jobs\n", "Jobs", "", None, 3):
        with pytest.raises(InvalidInput, match="is not a valid queue name: lower-case letters") as caught:
            check_name(bad, field="name", pattern=pattern, rule="lower-case letters", what="queue name")
        assert caught.value.field == "name"
