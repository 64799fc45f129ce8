"""The REST backend against a local stand-in of Cloudflare's API (``tests/support/cf_kv_api.py``).

The stand-in follows the documented endpoints, envelope and error codes; faults (401, 404, 429 with
``Retry-After``, 5xx, a connection dropped mid-response) are injected per request, and
``kv_api.api.requests`` records what was actually sent.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
import structlog

from cap_cloudflare_kv import CloudflareKvConfig, KvNamespace, KvWrite, limits
from cap_opendal_core import (
    InvalidInput,
    Misconfigured,
    NotFound,
    RateLimited,
    Unauthorized,
    Unavailable,
)
from cap_opendal_core.layers import LayerSettings
from tests.support.cf_api import Fault
from tests.support.cf_kv_api import NAMESPACE_ID, KvApi, KvEntry

from .conftest import FAST_RETRY, rest_config

pytestmark = pytest.mark.anyio

NO_RETRY = LayerSettings(logging=False, retry=None)


def _paths(kv_api: KvApi) -> list[str]:
    return [f"{r.method} {r.path.split('/namespaces/', 1)[1].split('/', 1)[1]}" for r in kv_api.api.requests]


# --- the endpoints --------------------------------------------------------------------------------


async def test_values_metadata_and_delete_use_the_documented_endpoints(
    rest_kv: KvNamespace, kv_api: KvApi
) -> None:
    key = "a/b c%d/../é"
    await rest_kv.put(key, "hello")
    await rest_kv.put("meta", b"\x00\xff", metadata={"owner": "cap"}, expiration_ttl=120)
    assert await rest_kv.get(key) == "hello"
    assert await rest_kv.get("meta", "bytes") == b"\x00\xff"
    got = await rest_kv.get_with_metadata("meta", "bytes")
    assert (got.value, got.metadata) == (b"\x00\xff", {"owner": "cap"})
    await rest_kv.delete(key)
    assert await rest_kv.get(key) is None

    puts = [r for r in kv_api.api.requests if r.method == "PUT"]
    # the key travels percent-encoded whole: one path segment, whatever it holds
    assert puts[0].raw_path.endswith("/values/a%2Fb%20c%25d%2F..%2F%C3%A9")
    assert puts[0].headers["content-type"] == "application/octet-stream"
    assert puts[0].body == b"hello"
    assert puts[1].headers["content-type"].startswith("multipart/form-data")
    assert puts[1].arg("expiration_ttl") == "120"
    assert kv_api.entries["meta"] == KvEntry(b"\x00\xff", kv_api.entries["meta"].expiration, {"owner": "cap"})
    assert _paths(kv_api) == [
        f"PUT values/{key}",
        "PUT values/meta",
        f"GET values/{key}",
        "GET values/meta",
        "GET metadata/meta",
        "GET values/meta",
        f"DELETE values/{key}",
        f"GET values/{key}",
    ]
    for request in kv_api.api.requests:
        assert request.headers["authorization"] == f"Bearer {kv_api.api.token}"


async def test_text_with_metadata_is_one_bulk_get(rest_kv: KvNamespace, kv_api: KvApi) -> None:
    await rest_kv.put("doc", '{"n": 1.0}', metadata={"v": 2})
    kv_api.api.clear()
    got = await rest_kv.get_with_metadata("doc", "json")
    assert (got.value, got.metadata) == ({"n": 1.0}, {"v": 2})
    assert _paths(kv_api) == ["POST bulk/get"]
    assert kv_api.api.requests[0].json() == {"keys": ["doc"], "type": "text", "withMetadata": True}
    missing = await rest_kv.get_with_metadata("nope")
    assert (missing.value, missing.metadata) == (None, None)


async def test_stream_reads_the_value_as_it_arrives(rest_kv: KvNamespace) -> None:
    data = bytes(range(256)) * 4096  # 1 MiB
    await rest_kv.put("big", data)
    stream = await rest_kv.get("big", "stream")
    assert stream is not None
    chunks = [chunk async for chunk in stream]
    assert len(chunks) > 1
    assert b"".join(chunks) == data
    assert await rest_kv.get("absent", "stream") is None


async def test_list_pages_follow_cursors_in_utf8_order(rest_kv: KvNamespace, kv_api: KvApi) -> None:
    names = [f"k/{i:03d}" for i in range(30)] + ["k/é", "k/😀", "k/\ufffd", "other"]
    await rest_kv.put_many({name: "v" for name in names})
    await rest_kv.put("k/meta", "v", metadata={"m": 1}, expiration_ttl=600)
    expected = sorted([n for n in names if n.startswith("k/")] + ["k/meta"], key=str.encode)
    kv_api.api.clear()
    listed = [k.name async for k in rest_kv.iter_keys(prefix="k/", page_size=12)]
    assert listed == expected
    assert [r.arg("limit") for r in kv_api.api.requests] == ["12", "12", "12"]
    meta = [k async for k in rest_kv.iter_keys(prefix="k/meta")]
    assert meta[0].metadata == {"m": 1}
    assert meta[0].expiration is not None


async def test_list_below_the_apis_minimum_limit_still_pages_exactly(
    rest_kv: KvNamespace, kv_api: KvApi
) -> None:
    """The API takes limit 10 to 1000, the binding 1 to 1000: limit=3 must still give pages of 3."""
    names = [f"p{i:02d}" for i in range(25)]
    await rest_kv.put_many({n: n for n in names})
    kv_api.api.clear()
    pages: list[list[str]] = []
    cursor = None
    while True:
        page = await rest_kv.list(limit=3, cursor=cursor)
        pages.append([k.name for k in page.keys])
        if page.list_complete:
            break
        cursor = page.cursor
    assert [n for p in pages for n in p] == names
    assert all(len(p) == 3 for p in pages[:-1])
    assert all(10 <= int(r.arg("limit") or 0) <= 1000 for r in kv_api.api.requests)
    with pytest.raises(InvalidInput) as caught:
        await rest_kv.list(cursor="cap~x~")
    assert caught.value.field == "cursor"


async def test_get_many_splits_into_bulk_gets_of_at_most_100(rest_kv: KvNamespace, kv_api: KvApi) -> None:
    await rest_kv.put_many({f"g{i}": json.dumps({"i": i}) for i in range(250)})
    kv_api.api.clear()
    keys = [f"g{i}" for i in range(250)] + ["missing"]
    got = await rest_kv.get_many(keys, "json")
    assert got == {**{f"g{i}": {"i": i} for i in range(250)}, "missing": None}
    sizes = [len(r.json()["keys"]) for r in kv_api.api.requests]
    assert sizes == [100, 100, 51]


async def test_put_many_of_25000_items_makes_exactly_3_bulk_requests(
    rest_kv: KvNamespace, kv_api: KvApi
) -> None:
    items = [KvWrite(f"bulk/{i:05d}", f"value {i}") for i in range(24_990)]
    items += [
        KvWrite(f"bulk/bin{i}", bytes([i, 255]), metadata={"i": i}, expiration_ttl=300) for i in range(10)
    ]
    await rest_kv.put_many(items)
    bulk = [r for r in kv_api.api.requests if r.path.endswith("/bulk")]
    assert [r.method for r in bulk] == ["PUT", "PUT", "PUT"]
    assert [len(r.json()) for r in bulk] == [10_000, 10_000, 5_000]
    assert len(kv_api.api.requests) == 3
    entries = kv_api.entries
    assert len(entries) == 25_000
    assert entries["bulk/bin3"].value == bytes([3, 255])
    assert entries["bulk/bin3"].metadata == {"i": 3}
    sent = next(item for item in bulk[2].json() if item["key"] == "bulk/bin3")
    assert sent["base64"] is True
    assert sent["expiration_ttl"] == 300

    kv_api.api.clear()
    await rest_kv.delete_many([f"bulk/{i:05d}" for i in range(24_990)])
    deletes = kv_api.api.requests
    assert [(r.method, len(r.json())) for r in deletes] == [
        ("POST", 10_000),
        ("POST", 10_000),
        ("POST", 4_990),
    ]
    assert all(r.path.endswith("/bulk/delete") for r in deletes)
    assert len(kv_api.entries) == 10


async def test_put_many_splits_by_the_100_mb_body_limit(
    rest_kv: KvNamespace, kv_api: KvApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bodies stay under the byte limit too (shrunk here so the test need not send 100 MB)."""
    monkeypatch.setattr(limits, "BULK_BODY_MAX_BYTES", 50_000)
    await rest_kv.put_many({f"big{i}": "x" * 9_000 for i in range(20)})
    bodies = [r.body for r in kv_api.api.requests]
    assert len(bodies) == 4
    assert all(len(b) <= 50_000 for b in bodies)
    assert sum(len(json.loads(b)) for b in bodies) == 20
    assert len(kv_api.entries) == 20


async def test_unsuccessful_bulk_keys_are_retried_then_reported(kv_api: KvApi) -> None:
    kv_api.fail_keys = {"b"}
    async with KvNamespace.from_config(rest_config(kv_api), settings=FAST_RETRY) as kv:
        with pytest.raises(Unavailable, match="1 key\\(s\\) were not written \\('b'\\)"):
            await kv.put_many({"a": "1", "b": "2"})
    assert kv_api.api.count("PUT", "/bulk") == 3, "retryable: tried as often as the policy allows"
    assert set(kv_api.entries) == {"a"}


# --- missing keys and errors ------------------------------------------------------------------------


async def test_missing_key_is_none_but_a_missing_namespace_is_an_error(kv_api: KvApi) -> None:
    async with KvNamespace.from_config(rest_config(kv_api), settings=NO_RETRY) as kv:
        assert await kv.get("nope") is None  # 404 with code 10009
        await kv.delete("nope")
    other = rest_config(kv_api, namespace_id="0" * 32)
    async with KvNamespace.from_config(other, settings=NO_RETRY) as kv:
        with pytest.raises(Misconfigured, match="10013") as caught:
            await kv.get("nope")
        assert (caught.value.operation, caught.value.key) == ("get", "nope")
        with pytest.raises(Misconfigured):
            await kv.put("k", "v")


async def test_a_404_without_the_key_code_is_not_taken_for_a_missing_key(
    rest_kv: KvNamespace, kv_api: KvApi
) -> None:
    kv_api.api.inject(Fault(status=404, errors=[{"code": 10025, "message": "no such endpoint"}]))
    with pytest.raises(Misconfigured):
        await rest_kv.get("k")
    kv_api.api.inject(Fault(status=404, errors=[]))
    with pytest.raises(NotFound):
        await rest_kv.get("k")


async def test_401_is_unauthorized_and_not_retried(kv_api: KvApi) -> None:
    bad = rest_config(kv_api, api_token="wrong-token-0123456789")
    async with KvNamespace.from_config(bad, settings=FAST_RETRY) as kv:
        with pytest.raises(Unauthorized) as caught:
            await kv.get("k")
    assert len(kv_api.api.requests) == 1
    assert "wrong-token-0123456789" not in str(caught.value)
    assert "wrong-token" not in repr(caught.value)


async def test_429_honours_retry_after_then_succeeds(rest_kv: KvNamespace, kv_api: KvApi) -> None:
    await rest_kv.put("k", "v")
    kv_api.api.inject(
        Fault(status=429, errors=[{"code": 10022, "message": "slow down"}], headers={"Retry-After": "0.05"})
    )
    assert await rest_kv.get("k") == "v"
    assert kv_api.api.count("GET", "/values/k") == 2


async def test_429_without_retries_reports_retry_after(kv_api: KvApi) -> None:
    async with KvNamespace.from_config(rest_config(kv_api), settings=NO_RETRY) as kv:
        kv_api.api.inject(
            Fault(status=429, errors=[{"code": 10022, "message": "slow down"}], headers={"Retry-After": "7"})
        )
        with pytest.raises(RateLimited) as caught:
            await kv.get("k")
    assert caught.value.retry_after == 7.0
    assert caught.value.retryable


async def test_5xx_is_retried_and_reported_when_it_persists(rest_kv: KvNamespace, kv_api: KvApi) -> None:
    kv_api.api.inject(Fault(status=503), Fault(status=500))
    await rest_kv.put("k", "v")
    assert kv_api.api.count("PUT") == 3
    kv_api.api.inject(*(Fault(status=502) for _ in range(3)))
    with pytest.raises(Unavailable) as caught:
        await rest_kv.get("k")
    assert caught.value.retryable
    assert "502" in caught.value.message


async def test_a_dropped_connection_is_retried(rest_kv: KvNamespace, kv_api: KvApi) -> None:
    await rest_kv.put("k", "v")
    kv_api.api.inject(Fault(drop=True))
    assert await rest_kv.get("k") == "v"
    assert kv_api.api.count("GET") == 2
    kv_api.api.inject(*(Fault(drop=True) for _ in range(3)))
    with pytest.raises(Unavailable):
        await rest_kv.list()


async def test_the_servers_own_validation_errors_arrive_translated(kv_api: KvApi) -> None:
    """Should Cloudflare refuse what validation let through, the envelope's code decides."""
    async with KvNamespace.from_config(rest_config(kv_api), settings=NO_RETRY) as kv:
        kv_api.api.inject(Fault(status=400, errors=[{"code": 10033, "message": "Invalid expiration"}]))
        with pytest.raises(InvalidInput) as caught:
            await kv.put("k", "v")
    assert caught.value.field == "expiration"


# --- the client and the token ---------------------------------------------------------------------


async def test_one_pooled_client_closed_by_async_with(kv_api: KvApi) -> None:
    kv = KvNamespace.from_config(rest_config(kv_api), settings=NO_RETRY)
    assert _client_of(kv) is None, "nothing is opened before the first call"
    async with kv:
        await kv.put("a", "1")
        client = _client_of(kv)
        await kv.get("a")
        await kv.list()
        assert _client_of(kv) is client, "one client for every call"
    assert client.is_closed
    assert _client_of(kv) is None


def _client_of(kv: KvNamespace) -> Any:
    return kv._backend._api.current_pool()  # type: ignore[attr-defined]


async def test_the_token_never_reaches_reprs_logs_or_errors(
    kv_api: KvApi, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    token = kv_api.api.token
    config = rest_config(kv_api)
    structlog.reset_defaults()
    kv = KvNamespace.from_config(config, settings=LayerSettings(retry=None))
    caplog.set_level(logging.DEBUG)
    async with kv:
        await kv.put("k", "v")
        kv_api.api.inject(Fault(status=500, errors=[{"code": 10001, "message": f"echo {token}"}]))
        with pytest.raises(Unavailable) as caught:
            await kv.get("k")
    shown = " ".join(
        [repr(kv), str(kv), repr(config), str(config), str(caught.value), repr(caught.value)]
        + [str(a) for a in caught.value.args]
    )
    out = capsys.readouterr()
    assert token not in shown + out.out + out.err + caplog.text
    assert "[REDACTED]" in str(caught.value)
    assert "capability.call" in out.out + out.err + caplog.text, "the calls were logged (without the token)"


def test_config_refuses_bad_fields_without_echoing_them() -> None:
    with pytest.raises(Misconfigured) as caught:
        CloudflareKvConfig.build(
            account_id="not-hex",
            namespace_id=NAMESPACE_ID,
            api_token="secret-token-value-123",
            base_url="https://user:pw@example.invalid",
        )
    message = str(caught.value)
    assert "account_id" in message
    assert "base_url" in message
    assert "not-hex" not in message
    assert "pw@" not in message
    assert "secret-token-value-123" not in message
    with pytest.raises(Misconfigured, match="api_token"):
        CloudflareKvConfig.build(account_id="a" * 32, namespace_id=NAMESPACE_ID, api_token="Bearer x y")


def test_config_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOUDFLARE_ACCOUNT_ID", "b" * 32)
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", "env-token-0123456789")
    config = CloudflareKvConfig.from_env(NAMESPACE_ID)
    assert config.account_id == "b" * 32
    assert config.api_token.get_secret_value() == "env-token-0123456789"
    monkeypatch.delenv("CLOUDFLARE_API_TOKEN")
    with pytest.raises(Misconfigured, match="CLOUDFLARE_API_TOKEN"):
        CloudflareKvConfig.from_env(NAMESPACE_ID)


def test_rest_refuses_an_injected_clock(kv_api: KvApi) -> None:
    with pytest.raises(Misconfigured, match="clock"):
        KvNamespace.from_config(rest_config(kv_api), clock=lambda: 0.0)


async def test_purge_expired_is_for_local_backends(rest_kv: KvNamespace, kv_api: KvApi) -> None:
    from cap_opendal_core import Unsupported

    with pytest.raises(Unsupported):
        await rest_kv.purge_expired()
    assert kv_api.api.requests == []
