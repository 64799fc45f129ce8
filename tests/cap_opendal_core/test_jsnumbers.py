"""The JS-safe-number check shared by every value that crosses into JSON Cloudflare parses in JS."""

from __future__ import annotations

from typing import Any

import pytest

from cap_opendal_core.errors import InvalidInput
from cap_opendal_core.jsnumbers import MAX_SAFE_INTEGER, check_js_safe, first_unsafe_int


@pytest.mark.parametrize(
    "value",
    [None, True, MAX_SAFE_INTEGER, -MAX_SAFE_INTEGER, 1e308, "12345678901234567890", {"a": [1, 2.5]}],
)
def test_values_javascript_holds_exactly_pass(value: Any) -> None:
    assert first_unsafe_int(value) is None
    check_js_safe(value, field="metadata")


def test_the_first_unsafe_int_in_document_order_is_named() -> None:
    value = {"a": [1, {"b": 2**53}], "c": -(2**60)}
    assert first_unsafe_int(value, "m") == ("m['a'][1]['b']", 2**53)
    with pytest.raises(InvalidInput, match=r"m\['a'\]\[1\]\['b'\] is 9007199254740992") as caught:
        check_js_safe(value, field="m", capability="kv", operation="put", key="k")
    assert (caught.value.field, caught.value.capability, caught.value.key) == ("m", "kv", "k")


def test_a_deep_value_does_not_exhaust_the_stack() -> None:
    deep: Any = 2**70
    for _ in range(5000):
        deep = [deep]
    found = first_unsafe_int(deep)
    assert found is not None
    assert found[1] == 2**70


def test_a_huge_int_is_described_not_printed() -> None:
    with pytest.raises(InvalidInput, match="int of 5,000 digits"):
        check_js_safe({"n": 10**4999}, field="body")
