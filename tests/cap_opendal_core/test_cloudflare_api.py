"""Core's Cloudflare API layer: one config base for every capability, one client (token per request,
envelope unwrapped, a translator the capability may pass, an injectable transport)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from cap_cloudflare_kv import CloudflareKvConfig
from cap_cloudflare_queue import CloudflareQueueConfig
from cap_opendal_core.cloudflare_api import ApiClient
from cap_opendal_core.cloudflare_config import DEFAULT_BASE_URL, CloudflareApiConfig
from cap_opendal_core.errors import BackendError, CapabilityError, Misconfigured, NotFound
from cap_opendal_core.http_client import HttpClient
from cap_opendal_core.redact import Secret

pytestmark = pytest.mark.anyio

ACCOUNT = "0123456789abcdef0123456789abcdef"
TOKEN = "core-api-token-0123456789abcdefghij"


@pytest.fixture
def cloudflare_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("CLOUDFLARE_ACCOUNT_ID", "CLOUDFLARE_API_TOKEN", "CLOUDFLARE_API_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


# --- the config base ---------------------------------------------------------------------------


def test_every_capability_reads_wranglers_variables(cloudflare_env: pytest.MonkeyPatch) -> None:
    cloudflare_env.setenv("CLOUDFLARE_ACCOUNT_ID", ACCOUNT)
    cloudflare_env.setenv("CLOUDFLARE_API_TOKEN", TOKEN)
    queue = CloudflareQueueConfig.from_env(queue_id="q1", queue_name="jobs")
    kv = CloudflareKvConfig.from_env("f" * 32)
    for config in (queue, kv):
        assert config.account_id == ACCOUNT
        assert config.api_token.get_secret_value() == TOKEN
        assert config.base_url == DEFAULT_BASE_URL
    cloudflare_env.setenv("CLOUDFLARE_API_BASE_URL", "http://127.0.0.1:8787/client/v4/")
    assert CloudflareQueueConfig.from_env(queue_id="q1").base_url == "http://127.0.0.1:8787/client/v4"
    # what is passed wins over the environment
    assert CloudflareQueueConfig.from_env(queue_id="q1", account_id="a" * 32).account_id == "a" * 32


def test_from_env_names_the_missing_variable(cloudflare_env: pytest.MonkeyPatch) -> None:
    with pytest.raises(Misconfigured, match="CLOUDFLARE_ACCOUNT_ID") as caught:
        CloudflareQueueConfig.from_env(queue_id="q1")
    assert caught.value.capability == "queue"
    cloudflare_env.setenv("CLOUDFLARE_ACCOUNT_ID", ACCOUNT)
    with pytest.raises(Misconfigured, match="CLOUDFLARE_API_TOKEN"):
        CloudflareKvConfig.from_env("f" * 32)
    cloudflare_env.setenv("CLOUDFLARE_API_TOKEN", TOKEN)
    cloudflare_env.setenv("CLOUDFLARE_API_BASE_URL", "ftp://example.com")
    with pytest.raises(Misconfigured, match="base_url") as bad:
        CloudflareQueueConfig.from_env(queue_id="q1")
    assert "ftp://" not in str(bad.value)


@pytest.mark.parametrize("account_id", ["acc0123", "A" * 32, "0" * 31, "0" * 33, "g" * 32])
def test_one_account_id_rule_for_every_capability(account_id: str) -> None:
    for model, extra in (
        (CloudflareKvConfig, {"namespace_id": "f" * 32}),
        (CloudflareQueueConfig, {"queue_id": "q"}),
    ):
        with pytest.raises(Misconfigured, match="account_id"):
            model.build(account_id=account_id, api_token=TOKEN, **extra)


def test_one_token_rule_for_every_capability() -> None:
    for model, extra in (
        (CloudflareKvConfig, {"namespace_id": "f" * 32}),
        (CloudflareQueueConfig, {"queue_id": "q"}),
    ):
        for token in ("", "Bearer abc", "abc\ndef"):
            with pytest.raises(Misconfigured, match="api_token"):
                model.build(account_id=ACCOUNT, api_token=token, **extra)


# --- the client ----------------------------------------------------------------------------------


def _recording(answer: httpx.Response) -> tuple[list[httpx.Request], httpx.MockTransport]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answer

    return seen, httpx.MockTransport(handler)


def _config() -> CloudflareApiConfig:
    return CloudflareApiConfig(account_id=ACCOUNT, api_token=TOKEN)


async def test_the_token_goes_on_each_request_and_never_into_the_client() -> None:
    envelope = {"success": True, "errors": [], "result": {"n": 1}, "result_info": {"cursor": "c"}}
    seen, transport = _recording(httpx.Response(200, json=envelope))
    api = ApiClient.for_config(_config(), "/things", capability="kv", transport=transport)
    unwrapped = await api.call("GET", "/one", operation="get", params={"a": "b"})
    assert (unwrapped.result, unwrapped.info) == ({"n": 1}, {"cursor": "c"})
    assert str(seen[0].url) == f"{DEFAULT_BASE_URL}/accounts/{ACCOUNT}/things/one?a=b"
    assert seen[0].headers["authorization"] == f"Bearer {TOKEN}"
    pool = api.current_pool()
    assert pool is not None
    assert "authorization" not in pool.headers
    assert TOKEN not in repr(api)
    await api.aclose()
    assert pool.is_closed


def test_default_headers_cannot_carry_a_credential() -> None:
    with pytest.raises(Misconfigured, match="Authorization"):
        HttpClient(
            "https://api.example.com",
            token=None,
            credential=None,
            capability="kv",
            timeout=5,
            headers={"Authorization": f"Bearer {TOKEN}"},
        )


def test_clear_text_to_another_host_is_refused_before_any_request() -> None:
    with pytest.raises(Misconfigured, match="clear text"):
        ApiClient("http://api.example.com/client/v4", token=Secret(TOKEN), capability="kv", timeout=5)


async def test_a_capability_passes_its_own_translator() -> None:
    calls: list[tuple[int, Any, str | None]] = []

    def translate(
        status: int,
        body: Any = None,
        headers: Any = None,
        *,
        capability: str | None,
        operation: str | None,
        key: str | None = None,
        cause: BaseException | None = None,
    ) -> CapabilityError:
        calls.append((status, body, operation))
        return NotFound("by the capability's own table", capability=capability, operation=operation, key=key)

    failure = {"success": False, "errors": [{"code": 99999, "message": "nope"}], "result": None}
    _, transport = _recording(httpx.Response(404, json=failure))
    api = ApiClient.for_config(_config(), capability="queue", transport=transport, translate=translate)
    with pytest.raises(NotFound, match="own table") as caught:
        await api.call("POST", "/x", operation="send", key="q")
    assert caught.value.capability == "queue"
    assert calls[0][0] == 404
    assert json.loads(calls[0][1])["errors"][0]["code"] == 99999
    # a 200 whose envelope says it failed is the translator's to judge too
    _, transport = _recording(httpx.Response(200, json=failure))
    api = ApiClient.for_config(_config(), capability="queue", transport=transport, translate=translate)
    with pytest.raises(NotFound):
        await api.call("POST", "/x", operation="send")
    assert calls[1][:1] == (200,)
    assert calls[1][1]["success"] is False


async def test_a_body_that_is_not_the_envelope_is_a_backend_error() -> None:
    _, transport = _recording(httpx.Response(200, content=b"<html>gateway</html>"))
    api = ApiClient.for_config(_config(), capability="kv", transport=transport)
    with pytest.raises(BackendError, match="not JSON") as caught:
        await api.call("GET", "/x", operation="get")
    assert caught.value.retryable is False
