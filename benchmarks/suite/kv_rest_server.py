"""The KV REST stand-in (``tests/support/cf_kv_api.py``) in a process of its own, for row 6.

Run as ``python -m benchmarks.suite.kv_rest_server``: prints one JSON line (base URL, token, account
and namespace ids) and serves on 127.0.0.1 until stdin closes. In its own process the server does
not share the benchmark client's interpreter lock or CPU time, so the client's figures are its own.
Two routes are added for the benchmark: ``GET /bench/requests`` (how many KV requests arrived, by
method) and ``POST /bench/reset`` (empty the namespace and the request log).
"""

from __future__ import annotations

import http.server
import json
import sys
from typing import TYPE_CHECKING

from tests.support.cf_api import json_response
from tests.support.cf_kv_api import ACCOUNT_ID, NAMESPACE_ID, kv_api_server

if TYPE_CHECKING:
    from tests.support.cf_api import ApiRequest, ApiResponse
    from tests.support.cf_kv_api import KvApi

KV_PATH = "/storage/kv/"


def add_bench_routes(state: KvApi) -> None:
    api = state.api

    def count(_req: ApiRequest) -> ApiResponse:
        by_method: dict[str, int] = {}
        for method in ("GET", "PUT", "POST", "DELETE"):
            by_method[method] = api.count(method, KV_PATH)
        return json_response({"total": sum(by_method.values()), **by_method})

    def reset(_req: ApiRequest) -> ApiResponse:
        state.reset()
        return json_response({"reset": True})

    api.route("GET", "/bench/requests", count)
    api.route("POST", "/bench/reset", reset)


def main() -> int:
    # The stand-in's handler leaves Nagle's algorithm on, so a response written as headers then body
    # waits for the client's delayed ACK (~40 ms) before the body leaves: a loop of 25,000 single puts
    # would time the kernel's ACK timer, not the client. This process only serves the benchmark.
    http.server.BaseHTTPRequestHandler.disable_nagle_algorithm = True
    with kv_api_server() as state:
        add_bench_routes(state)
        print(
            json.dumps(
                {
                    "base_url": state.api.base_url,
                    "token": state.api.token,
                    "account_id": ACCOUNT_ID,
                    "namespace_id": NAMESPACE_ID,
                }
            ),
            flush=True,
        )
        sys.stdin.read()  # until the benchmark closes the pipe
    return 0


if __name__ == "__main__":
    sys.exit(main())
