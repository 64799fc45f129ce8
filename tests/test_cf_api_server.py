"""The REST stand-in itself: auth, envelope, routing, faults and the request log."""

from __future__ import annotations

import httpx
import pytest

from tests.support.cf_api import CloudflareApi, Fault, json_response


def test_routes_auth_faults_and_log() -> None:
    with CloudflareApi() as api:
        api.route("GET", "/accounts/{account}/things/{name:path}", lambda r: json_response(r.params))
        auth = {"Authorization": f"Bearer {api.token}"}
        with httpx.Client(base_url=api.base_url) as client:
            ok = client.get("/accounts/a1/things/x%2Fy/z", headers=auth)
            assert ok.json() == {
                "success": True,
                "errors": [],
                "messages": [],
                "result": {"account": "a1", "name": "x/y/z"},
            }
            denied = client.get("/accounts/a1/things/x", headers={"Authorization": "Bearer wrong"})
            assert denied.status_code == 401
            assert denied.json()["errors"][0]["code"] == 10000
            assert client.get("/nowhere", headers=auth).status_code == 404

            api.inject(
                Fault(status=429, headers={"Retry-After": "3"}, errors=[{"code": 971, "message": "slow"}])
            )
            limited = client.get("/accounts/a1/things/x", headers=auth)
            assert (limited.status_code, limited.headers["retry-after"]) == (429, "3")
            assert client.get("/accounts/a1/things/x", headers=auth).status_code == 200

            api.inject(Fault(drop=True))
            with pytest.raises(httpx.TransportError):
                client.get("/accounts/a1/things/x", headers=auth)
        assert api.count("GET", "/things/") == 5
