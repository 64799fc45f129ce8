"""Issue 13, section 3: credentials go only where the configuration says, never in clear text off-host.

Every HTTP client the SDK builds — KV's and Queues' REST clients, the Durable Object gateway client,
R2's multipart client and its one-request GET, OpenDAL's operator — takes its proxy from the
configuration (``proxy=``), the environment's ``HTTP(S)_PROXY``/``ALL_PROXY`` only with
``trust_env=True``, and a route that would show a bearer token or an S3 signature in clear text to a
host other than loopback is refused with ``Misconfigured`` before any I/O.

The proxy here is real (:class:`tests.support.recording_proxy.RecordingProxy` on 127.0.0.1): it
records the head of every request it receives and forwards it. Targets are a loopback port with
nothing listening (a bound socket that never listens), so a request that goes direct fails to
connect and one that goes through the proxy is recorded there.
"""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest

from cap_cloudflare_do import DurableObjectNamespace
from cap_cloudflare_kv import CloudflareKvConfig, KvNamespace
from cap_cloudflare_queue import CloudflareQueueConfig, Queue
from cap_cloudflare_r2 import R2Bucket
from cap_opendal_core.errors import CapabilityError, Misconfigured
from cap_opendal_core.layers import LayerSettings
from cap_opendal_core.operators import OperatorConfig, S3Config, build_operator
from tests.support.recording_proxy import RecordingProxy

pytestmark = pytest.mark.anyio

TOKEN = "transit-token-0123456789abcdefghij"
KEY_ID = "AKIDTRANSIT0123456789"
SECRET_KEY = "transit-secret-key-0123456789abcdefghij"
ACCOUNT = "0" * 32
NO_RETRY = LayerSettings(logging=False, retry=None, deadline=10.0)
PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


@pytest.fixture
def dead_port() -> Iterator[int]:
    """A loopback port that refuses connections: bound, never listening."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@pytest.fixture
def proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[RecordingProxy]:
    for name in (*PROXY_VARS, "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    with RecordingProxy() as running:
        yield running


def _env_proxy(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    for name in PROXY_VARS:
        monkeypatch.setenv(name, url)


# -- one operation per client, against http://127.0.0.1:{port} ------------------------------------


async def _kv(base: str, **transit: Any) -> None:
    config = CloudflareKvConfig(
        account_id=ACCOUNT, namespace_id=ACCOUNT, api_token=TOKEN, base_url=base, timeout=10, **transit
    )
    async with KvNamespace.from_config(config, settings=NO_RETRY) as kv:
        await kv.get("some-key")


async def _queue(base: str, **transit: Any) -> None:
    config = CloudflareQueueConfig(
        account_id=ACCOUNT, queue_id="q1", api_token=TOKEN, base_url=base, timeout=10, **transit
    )
    async with Queue.from_config(config, settings=NO_RETRY) as queue:
        await queue.send({"n": 1})


async def _do(base: str, **transit: Any) -> None:
    namespace = DurableObjectNamespace.from_gateway(
        base, binding="COUNTER", token=TOKEN, settings=NO_RETRY, timeout=10, **transit
    )
    async with namespace:
        await namespace.get_by_name("counter-1").call("increment")


def _s3(base: str, **extra: Any) -> S3Config:
    return S3Config(
        bucket="transit", endpoint=base, access_key_id=KEY_ID, secret_access_key=SECRET_KEY, **extra
    )


async def _r2_multipart(base: str, **transit: Any) -> None:
    async with R2Bucket.from_config(_s3(base, **transit), settings=NO_RETRY) as bucket:
        await bucket.create_multipart_upload("big-object")


async def _r2_get(base: str, **transit: Any) -> None:
    async with R2Bucket.from_config(_s3(base, **transit), settings=NO_RETRY) as bucket:
        await bucket.get("some-object")


Call = Callable[..., Awaitable[None]]
HTTPX_CLIENTS: dict[str, Call] = {"kv": _kv, "queue": _queue, "do": _do}
ALL_CLIENTS: dict[str, Call] = {**HTTPX_CLIENTS, "r2_multipart": _r2_multipart, "r2_get": _r2_get}


@pytest.mark.parametrize("name", ALL_CLIENTS)
async def test_environment_proxies_are_ignored_without_trust_env(
    name: str, proxy: RecordingProxy, dead_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With HTTP(S)_PROXY set and no opt-in, nothing reaches the proxy: httpx clients go direct
    (and fail to connect); OpenDAL, which would honour the variables anyway, is refused up front."""
    _env_proxy(monkeypatch, proxy.url)
    with pytest.raises(CapabilityError) as caught:
        await ALL_CLIENTS[name](f"http://127.0.0.1:{dead_port}")
    assert proxy.heads == []
    if name.startswith("r2"):
        assert isinstance(caught.value, Misconfigured)
        assert "trust_env=True" in str(caught.value)
    else:
        assert not isinstance(caught.value, Misconfigured)


@pytest.mark.parametrize("name", HTTPX_CLIENTS)
async def test_an_explicit_proxy_is_used(name: str, proxy: RecordingProxy, dead_port: int) -> None:
    with pytest.raises(CapabilityError):
        await HTTPX_CLIENTS[name](f"http://127.0.0.1:{dead_port}", proxy=proxy.url)
    assert f"127.0.0.1:{dead_port}" in proxy.seen.splitlines()[0]


@pytest.mark.parametrize("name", [*HTTPX_CLIENTS, "r2_multipart"])
async def test_trust_env_lets_the_environment_proxy_in(
    name: str, proxy: RecordingProxy, dead_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    _env_proxy(monkeypatch, proxy.url)
    with pytest.raises(CapabilityError):
        await ALL_CLIENTS[name](f"http://127.0.0.1:{dead_port}", trust_env=True)
    assert f"127.0.0.1:{dead_port}" in proxy.seen


# -- clear text off-host is refused before any I/O --------------------------------------------------

REMOTE_PROXY = "http://proxy.invalid:3128"


def _refusals() -> Iterator[tuple[str, str, dict[str, Any], str | None]]:
    """(client, base URL, transit options, environment proxy) that must each be refused."""
    for name in ALL_CLIENTS:
        yield name, "http://api.invalid:8080", {}, None
        if name in HTTPX_CLIENTS:
            yield name, "http://127.0.0.1:9", {"proxy": REMOTE_PROXY}, None
        yield name, "http://localhost:9", {"trust_env": True}, REMOTE_PROXY


@pytest.mark.parametrize(("name", "base", "transit", "env"), list(_refusals()))
async def test_clear_text_off_loopback_is_refused_before_any_io(
    name: str,
    base: str,
    transit: dict[str, Any],
    env: str | None,
    proxy: RecordingProxy,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if env is not None:
        _env_proxy(monkeypatch, env)
    with pytest.raises(Misconfigured) as caught:
        await ALL_CLIENTS[name](base, **transit)
    text = str(caught.value)
    assert "clear text" in text
    for secret in (TOKEN, KEY_ID, SECRET_KEY):
        assert secret not in text


@pytest.mark.parametrize("name", HTTPX_CLIENTS)
async def test_https_through_a_remote_proxy_is_a_tunnel_and_allowed(name: str) -> None:
    """Only the configuration is checked here: the proxy host does not exist, so the call fails to
    connect — but it is not refused as misconfigured (CONNECT shows the proxy only the host name)."""
    with pytest.raises(CapabilityError) as caught:
        await HTTPX_CLIENTS[name]("https://api.invalid", proxy=REMOTE_PROXY)
    assert not isinstance(caught.value, Misconfigured)


def test_an_anonymous_bucket_may_use_plain_http_and_a_signed_one_may_not() -> None:
    anonymous = S3Config(bucket="transit", endpoint="http://s3.invalid:9000", anonymous=True)
    build_operator(anonymous)
    with pytest.raises(Misconfigured, match="clear text"):
        build_operator(_s3("http://s3.invalid:9000"))


def test_any_opendal_service_with_an_http_endpoint_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    """An OperatorConfig's URL-valued options are endpoints too: the same rules apply."""
    for name in PROXY_VARS:
        monkeypatch.delenv(name, raising=False)
    signed = {"endpoint": "http://dav.invalid", "password": "dav-password-123456"}
    with pytest.raises(Misconfigured, match="clear text"):
        build_operator(OperatorConfig(scheme="webdav", options=signed))
    _env_proxy(monkeypatch, "http://127.0.0.1:9")
    local = {"endpoint": "http://127.0.0.1:8", "password": "dav-password-123456"}
    with pytest.raises(Misconfigured, match="trust_env"):
        build_operator(OperatorConfig(scheme="webdav", options=local))
    build_operator(OperatorConfig(scheme="webdav", options=local, trust_env=True))
    with pytest.raises(Misconfigured, match="trust_env"):  # no credential: the opt-in still counts
        build_operator(OperatorConfig(scheme="webdav", options={"endpoint": "http://127.0.0.1:8"}))


def test_an_explicit_proxy_with_credentials_is_refused_without_echoing_them() -> None:
    """They would sit in the configuration's repr; an authenticating proxy goes in HTTPS_PROXY."""
    from pydantic import ValidationError

    password = "proxy-password-0123456789"
    with pytest.raises(ValidationError) as caught:
        CloudflareKvConfig(
            account_id=ACCOUNT,
            namespace_id=ACCOUNT,
            api_token=TOKEN,
            proxy=f"http://user:{password}@127.0.0.1:3128",
        )
    assert "must not carry credentials" in str(caught.value)
    assert password not in str(caught.value)
    with pytest.raises(Misconfigured, match="must not carry credentials") as refused:
        DurableObjectNamespace.from_gateway(
            "https://gateway.invalid",
            binding="COUNTER",
            token=TOKEN,
            proxy=f"http://u:{password}@p.invalid:1",
        )
    assert password not in str(refused.value)


async def test_an_environment_proxy_with_credentials_is_used_and_not_shown(
    proxy: RecordingProxy, dead_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    password = "proxy-password-9876543210"
    _env_proxy(monkeypatch, proxy.url.replace("http://", f"http://user:{password}@"))
    with pytest.raises(CapabilityError) as caught:
        await _kv(f"http://127.0.0.1:{dead_port}", trust_env=True)
    assert f"127.0.0.1:{dead_port}" in proxy.seen
    assert password not in str(caught.value)
