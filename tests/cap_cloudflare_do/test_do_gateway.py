"""The shipped gateway Worker, run by Miniflare, reached over real HTTP by the httpx client."""

from __future__ import annotations

import datetime as dt
import secrets
import subprocess
import sys
from typing import TYPE_CHECKING, Any

import anyio
import httpx
import pytest

from cap_cloudflare_do import DurableObjectNamespace
from cap_cloudflare_do.gateway import TOKEN_SECRET, render_gateway_wrangler, worker_source
from cap_opendal_core import (
    BackendError,
    Forbidden,
    InvalidInput,
    Misconfigured,
    NotFound,
    Unauthorized,
    Unsupported,
)
from cap_opendal_core.redact import scrub
from cap_opendal_core.scope import InvocationScope

if TYPE_CHECKING:
    from tests.support.do_gateway import GatewayServer

pytestmark = [pytest.mark.anyio, pytest.mark.workers]


def _ns(gateway: GatewayServer, **kwargs: Any) -> DurableObjectNamespace:
    return DurableObjectNamespace.from_gateway(gateway.url, binding="COUNTER", token=gateway.token, **kwargs)


def _name() -> str:
    return f"gw/{secrets.token_hex(4)}"


async def test_rpc_and_fetch_through_the_gateway(do_gateway: GatewayServer) -> None:
    async with _ns(do_gateway, read_only={"describe"}) as ns:
        stub = ns.get_by_name(_name())
        assert await stub.increment(2) == 2
        assert await stub.call("increment", 3) == 5
        label = {"blob": b"\x00\xfe", "when": dt.datetime(2024, 3, 4, 5, 6, 7, tzinfo=dt.UTC), "big": 2**60}
        described = await stub.describe(label)
        assert described == {
            "label": label,
            "count": 5,
            "missing": None,
            "nested": {"empty": None, "list": [1, None, {"deep": None}]},
        }
        response = await stub.fetch("https://object.example/a/b", method="DELETE", headers={"X-A": "1"})
        assert response.status == 200
        assert await response.json() == {"path": "/a/b", "method": "DELETE"}
        assert "x-caps-gateway-origin" not in response.headers

        with InvocationScope("server") as scope:
            await stub.describe("read")
            assert scope.observed_determinism.json == "stable"
            await stub.increment(1)
            assert scope.observed_determinism.json == "best_effort"


async def test_200_concurrent_increments_through_the_gateway(do_gateway: GatewayServer) -> None:
    async with _ns(do_gateway) as ns:
        stub = ns.get_by_name(_name())
        async with anyio.create_task_group() as group:
            for _ in range(200):
                group.start_soon(stub.increment, 1)
        assert (await stub.describe("x"))["count"] == 200


async def test_ids_through_the_gateway(do_gateway: GatewayServer) -> None:
    async with _ns(do_gateway) as ns:
        name = _name()
        by_name = ns.id_from_name(name)
        assert by_name.hex is None
        assert by_name.name == name
        with pytest.raises(Unsupported, match="resolve_id"):
            by_name.to_string()
        resolved = await ns.resolve_id(by_name)
        assert resolved.hex is not None
        assert len(resolved.hex) == 64
        assert resolved.name == name
        assert await ns.resolve_id(by_name) == resolved  # deterministic, as idFromName is
        await ns.get(by_name).increment(4)
        assert (await ns.get(ns.id_from_string(resolved.hex)).describe("x"))["count"] == 4
        unique = await ns.resolve_id()
        assert unique.hex is not None
        assert unique != resolved
        assert await ns.get(unique).increment(1) == 1
        with pytest.raises(Unsupported, match="resolve_id"):
            ns.new_unique_id()
        with pytest.raises(InvalidInput, match="not an id of this namespace"):
            await ns.get(ns.id_from_string("0" * 64)).increment(1)


async def test_errors_come_back_translated(do_gateway: GatewayServer) -> None:
    async with _ns(do_gateway) as ns:
        stub = ns.get_by_name(_name())
        with pytest.raises(BackendError, match=r"boom.*inside the Durable Object"):
            await stub.fail("boom")
        with pytest.raises(NotFound, match="does not implement"):
            await stub.no_such_method()
    other = DurableObjectNamespace.from_gateway(do_gateway.url, binding="KV", token=do_gateway.token)
    with pytest.raises(Forbidden, match="not fronted"):
        await other.get_by_name("x").call("anything")
    await other.aclose()


@pytest.mark.parametrize("token", ["wrong-token-value", "TRUNCATED", ""])
async def test_a_wrong_token_gets_401_and_learns_nothing(do_gateway: GatewayServer, token: str) -> None:
    if token == "TRUNCATED":
        token = do_gateway.token[:-1]
    async with httpx.AsyncClient() as client:
        bodies = set()
        for path, payload in (
            ("COUNTER/rpc", {"target": {"name": "x"}, "method": "increment", "args": [1]}),
            ("NOT_FRONTED/rpc", {}),
            ("nonsense", None),
        ):
            headers = {"authorization": f"Bearer {token}"} if token else {}
            response = await client.post(f"{do_gateway.url}/{path}", json=payload, headers=headers)
            assert response.status_code == 401
            assert response.headers["www-authenticate"] == "Bearer"
            bodies.add(response.text)
        assert bodies == {'{"error":{"code":"unauthorized","message":"unauthorized"}}'}
    if token:
        ns = DurableObjectNamespace.from_gateway(do_gateway.url, binding="COUNTER", token=token)
        with pytest.raises(Unauthorized) as caught:
            await ns.get_by_name("x").increment(1)
        assert token not in str(caught.value)
        assert token not in repr(caught.value)
        await ns.aclose()


async def test_the_gateway_answers_other_routes_only_when_authenticated(do_gateway: GatewayServer) -> None:
    headers = {"authorization": f"Bearer {do_gateway.token}"}
    async with httpx.AsyncClient() as client:
        wrong_method = await client.get(f"{do_gateway.url}/COUNTER/rpc", headers=headers)
        assert wrong_method.status_code == 405
        not_json = await client.post(f"{do_gateway.url}/COUNTER/rpc", content=b"{", headers=headers)
        assert not_json.status_code == 400
        private = await client.post(
            f"{do_gateway.url}/COUNTER/rpc",
            json={"target": {"name": "x"}, "method": "_private", "args": []},
            headers=headers,
        )
        assert private.status_code == 400


# -- client-side checks (no server needed) -----------------------------------------------------------


async def test_the_client_refuses_bad_configuration_before_any_io() -> None:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(500)

    transport = httpx.MockTransport(record)
    for url in ("http://gateway.example.com/do", "ftp://x/", "https://user:pw@x/", "https://x/?a=1", ""):
        with pytest.raises(Misconfigured):
            DurableObjectNamespace.from_gateway(url, binding="X", token="a-long-token", transport=transport)
    with pytest.raises(Misconfigured, match="binding"):
        DurableObjectNamespace.from_gateway("https://x/", binding="not a name", token="a-long-token")
    with pytest.raises(Misconfigured, match="token"):
        DurableObjectNamespace.from_gateway("https://x/", binding="X", token=" ")
    ns = DurableObjectNamespace.from_gateway(
        "http://127.0.0.1:9/do", binding="X", token="a-long-secret-token", transport=transport
    )
    stub = ns.get_by_name("n")
    with pytest.raises(InvalidInput):
        await stub.call("_private")
    with pytest.raises(InvalidInput):
        await stub.echo(object())
    with pytest.raises(InvalidInput):
        ns.id_from_string("xyz")
    assert seen == []
    assert "a-long-secret-token" not in repr(ns._backend)
    assert scrub("Authorization: a-long-secret-token") == "Authorization: [REDACTED]"
    await ns.aclose()


async def test_non_gateway_answers_are_judged_by_status() -> None:
    def proxy_error(request: httpx.Request) -> httpx.Response:
        assert request.headers["authorization"] == "Bearer a-long-secret-token"
        return httpx.Response(503, text="upstream down")

    async with DurableObjectNamespace.from_gateway(
        "https://gw.example/do",
        binding="X",
        token="a-long-secret-token",
        transport=httpx.MockTransport(proxy_error),
    ) as ns:
        from cap_opendal_core import Unavailable

        with pytest.raises(Unavailable):
            await ns.get_by_name("n").call("increment", 1)


def test_the_wrangler_snippet_names_the_secret_but_holds_no_value() -> None:
    text = render_gateway_wrangler(
        {"FLOW_DO": "FlowObject", "DEDUPE": "DedupeLedger"}, script_name="flow-worker"
    )
    assert 'name = "FLOW_DO"\nclass_name = "FlowObject"\nscript_name = "flow-worker"' in text
    assert 'CAPS_GATEWAY_BINDINGS = "FLOW_DO,DEDUPE"' in text
    assert f'required = ["{TOKEN_SECRET}"]' in text
    assert "[[migrations]]" not in text  # the classes live (and migrate) in the other Worker
    assert 'main = "worker.js"' in text
    import tomllib

    parsed = tomllib.loads(text)
    assert parsed["name"] == "caps-do-gateway"
    assert parsed["secrets"] == {"required": [TOKEN_SECRET]}
    with pytest.raises(InvalidInput):
        render_gateway_wrangler({}, script_name="x")
    assert "timingSafeEqual" in worker_source()
    assert "CAPS_GATEWAY_TOKEN" in worker_source()


def test_the_gateway_module_cli() -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "cap_cloudflare_do.gateway",
            "wrangler",
            "--binding",
            "A=Alpha",
            "--script-name",
            "w",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert 'class_name = "Alpha"' in out
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "cap_cloudflare_do.gateway",
            "wrangler",
            "--binding",
            "A",
            "--script-name",
            "w",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 2
    assert "NAME=CLASS" in bad.stderr


async def test_gateway_config_validates_and_hides_the_token() -> None:
    from pydantic import ValidationError

    from cap_cloudflare_do import GatewayConfig

    config = GatewayConfig(
        url="https://gw.example/do", binding="FLOW_DO", token="config-secret-token", read_only={"peek"}
    )
    assert "config-secret-token" not in repr(config)
    assert "config-secret-token" not in config.model_dump_json()
    ns = DurableObjectNamespace.from_config(config)
    assert ns.backend == "gateway"
    assert "peek" in ns._read_only
    await ns.aclose()
    for bad in ({"url": "gw.example"}, {"binding": "not-a-name"}, {"token": " "}, {"timeout": 0}):
        fields = {"url": "https://gw.example", "binding": "B", "token": "config-secret-token", **bad}
        with pytest.raises(ValidationError) as caught:
            GatewayConfig(**fields)
        assert "config-secret-token" not in str(caught.value)
