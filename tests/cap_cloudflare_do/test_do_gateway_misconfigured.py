"""Issue 13, section 3: a gateway whose token secret no request can match says so.

A ``CAPS_GATEWAY_TOKEN`` pasted with a trailing newline can never be presented (HTTP trims header
values), so the gateway used to answer every request — the right token included — with the plain
401 of a wrong token, and log nothing. It now answers 503 ``gateway_misconfigured`` (documented in
worker.js and docs/reliability.md), the client raises ``Misconfigured``, and the Worker's log names
the problem without the secret. Real gateway, in Miniflare.
"""

from __future__ import annotations

import secrets
import time

import anyio
import httpx
import pytest

from cap_cloudflare_do import DurableObjectNamespace
from cap_opendal_core.errors import Misconfigured
from cap_opendal_core.layers import LayerSettings
from tests.support.do_gateway import serve_gateway

pytestmark = pytest.mark.anyio

LOG_WAIT_S = 60.0


@pytest.mark.parametrize(
    ("stray", "problem"),
    [
        ("\n", "ends with a line break"),
        ("\r\n", "ends with a line break"),
        (" ", "ends with whitespace"),
    ],
)
async def test_an_unusable_token_secret_is_reported_not_mistaken_for_a_wrong_token(
    stray: str, problem: str
) -> None:
    token = secrets.token_urlsafe(32)
    with serve_gateway(token + stray) as (server, log):
        headers = {"authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(trust_env=False) as client:
            for presented in (headers, {"authorization": "Bearer wrong-token-123456"}, {}):
                response = await client.post(f"{server.url}/COUNTER/rpc", json={}, headers=presented)
                assert response.status_code == 503
                assert response.json()["error"]["code"] == "gateway_misconfigured"
                assert token not in response.text

        namespace = DurableObjectNamespace.from_gateway(
            server.url, binding="COUNTER", token=token, settings=LayerSettings(logging=False)
        )
        async with namespace:
            with pytest.raises(Misconfigured, match="gateway is misconfigured") as caught:
                await namespace.get_by_name("c").call("increment")
        assert not caught.value.retryable

        # The Worker's log line arrives on its own schedule: wait for it (bounded), then judge it.
        deadline = time.monotonic() + LOG_WAIT_S
        text = ""
        while problem not in text and time.monotonic() < deadline:
            await anyio.sleep(0.1)
            log.seek(0)
            text = log.read()
        assert f"the CAPS_GATEWAY_TOKEN secret {problem}" in text
        assert token not in text
        assert token[:16] not in text
