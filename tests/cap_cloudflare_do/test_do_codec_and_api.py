"""The value codec (tagged JSON, shared with the gateway Worker), models, and the cheap import."""

from __future__ import annotations

import datetime as dt
import enum
import json
import math
import subprocess
import sys
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cap_cloudflare_do import Request, Response, codec
from cap_cloudflare_do.ids import DurableObjectId
from cap_opendal_core import InvalidInput

values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text()
    | st.binary()
    | st.datetimes(timezones=st.just(dt.UTC)).map(
        lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000)
    ),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=20,
)


@given(st.datetimes(timezones=st.sampled_from([dt.UTC, dt.timezone(dt.timedelta(hours=-5))])))
def test_datetimes_keep_whole_milliseconds_as_a_js_date_does(moment: dt.datetime) -> None:
    """A JS ``Date`` holds milliseconds: every home floors microseconds away, so a value read back
    locally is the value Workers would have kept (as ``toISOString`` writes it)."""
    utc = moment.astimezone(dt.UTC)
    kept = utc.replace(microsecond=utc.microsecond // 1000 * 1000)
    assert codec.decode(codec.encode(moment)) == kept
    assert codec.clone({"at": moment}) == {"at": kept}
    tagged = codec.to_tagged(moment)["$d"]
    assert (
        tagged == f"{kept.year:04d}-" + kept.strftime("%m-%dT%H:%M:%S.") + f"{kept.microsecond // 1000:03d}Z"
    )


@given(values)
def test_every_supported_value_round_trips(value: Any) -> None:
    assert codec.decode(codec.encode(value)) == value
    wire = json.loads(json.dumps(codec.to_tagged(value)))
    assert codec.from_tagged(wire) == value


@pytest.mark.parametrize(
    ("value", "tagged"),
    [
        (b"\x00\x01", {"$b": "AAE="}),
        (dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC), {"$d": "2024-01-02T03:04:05.000Z"}),
        (math.inf, {"$f": "Infinity"}),
        (-math.inf, {"$f": "-Infinity"}),
        (2**53, {"$i": "9007199254740992"}),
        (2**53 - 1, 2**53 - 1),
        ({"$b": "x"}, {"$o": {"$b": "x"}}),
        ({"$b": "x", "y": 1}, {"$b": "x", "y": 1}),
        ((1, [2]), [1, [2]]),
    ],
)
def test_tagged_form(value: Any, tagged: Any) -> None:
    assert codec.to_tagged(value) == tagged


def test_the_wire_form_matches_the_gateway_worker() -> None:
    """worker.js decodes and encodes the same tags: spot-check its source names each of them."""
    from cap_cloudflare_do.gateway import worker_source

    source = worker_source()
    for tag in sorted(codec.TAGS):
        assert f'"{tag}"' in source, tag


def test_nan_and_subclasses() -> None:
    assert math.isnan(codec.from_tagged(codec.to_tagged(math.nan)))

    class Colour(enum.IntEnum):
        RED = 1

    assert codec.to_tagged(Colour.RED) == 1
    assert type(codec.clone(Colour.RED)) is int
    naive = dt.datetime(2024, 1, 1)
    assert codec.clone(naive) == naive.replace(tzinfo=dt.UTC)


@pytest.mark.parametrize("bad", [object(), {1, 2}, frozenset(), dt.date(2024, 1, 1), 1j, {1: 2}, [lambda: 1]])
def test_unsupported_values_name_their_type_and_place(bad: Any) -> None:
    with pytest.raises(InvalidInput, match="supported:") as caught:
        codec.to_tagged({"outer": [bad]}, field="value")
    assert "value['outer'][0]" in caught.value.message
    assert caught.value.field == "value"


def test_models() -> None:
    request = Request("https://x/", method="post", headers=[("A", "1"), ("a", "2")], body="hé")
    assert (request.method, request.headers, request.body) == ("POST", {"a": "1, 2"}, "hé".encode())
    response = Response.from_json({"k": [1]}, status=404, headers={"X-Y": "z"})
    assert (response.status, response.ok, response.headers["content-type"], response.headers["x-y"]) == (
        404,
        False,
        "application/json",
        "z",
    )
    with pytest.raises(ValueError, match="status"):
        Response(status=99)


def test_ids_compare_by_hex_or_name() -> None:
    a = DurableObjectId("a" * 64, "n")
    assert a == DurableObjectId("a" * 64)
    assert hash(a) == hash(DurableObjectId("a" * 64))
    assert a.equals(DurableObjectId("a" * 64))
    assert a.to_string() == "a" * 64 == str(a)
    pending = DurableObjectId(None, "n")
    assert pending != a
    assert pending == DurableObjectId(None, "n")
    assert "n" in str(pending)


def test_importing_the_package_stays_cheap() -> None:
    code = (
        "import sys, cap_cloudflare_do; "
        "from cap_cloudflare_do import DurableObjectNamespace, DurableObject, DurableObjectStorage, Dedupe; "
        "heavy = [m for m in ('opendal', 'pydantic', 'httpx', 'structlog', 'sqlite3') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "", f"imported at import time: {out}"
