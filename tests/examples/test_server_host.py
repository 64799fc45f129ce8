"""The reference server host, served by uvicorn in a subprocess on 127.0.0.1 and driven through httpx.

Each server runs in its own working directory with its own data; its log (stderr) goes to a file the
tests read, which is how the refusal to start is checked: the diagnostics must be in the log and the
process must exit without ever serving.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio
import httpx
import pytest

from tests.examples.conftest import SERVER_HOST

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping
    from pathlib import Path

START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0


@dataclass
class Server:
    url: str
    proc: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _environment(extra: Mapping[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CAPS_", "CLOUDFLARE_", "R2_"))}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(SERVER_HOST), env.get("PYTHONPATH", "")) if p)
    env.update(extra)
    return env


def _launch(cwd: Path, extra: Mapping[str, str]) -> tuple[subprocess.Popen[bytes], Path, str]:
    port = _free_port()
    log_path = cwd / "server.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "caps_server_host", "--host", "127.0.0.1", "--port", str(port)],
            cwd=cwd,
            env=_environment(extra),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return proc, log_path, f"http://127.0.0.1:{port}"


@contextlib.contextmanager
def serving(cwd: Path, **extra: str) -> Iterator[Server]:
    """A server that answers ``/healthz``; stopped (SIGTERM, then SIGKILL) on the way out."""
    proc, log_path, url = _launch(cwd, extra)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                pytest.fail(
                    f"the server exited with {proc.returncode}:\n{log_path.read_text()}", pytrace=False
                )
            try:
                if httpx.get(f"{url}/healthz", timeout=1.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the server did not start in {START_TIMEOUT_S} s:\n{log_path.read_text()}")
            time.sleep(0.05)
        yield Server(url, proc, log_path)
    finally:
        proc.terminate()
        try:
            proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _refused(cwd: Path, **extra: str) -> tuple[int, str]:
    """Start a server that must refuse to start; its exit status and log."""
    proc, log_path, url = _launch(cwd, extra)
    try:
        code = proc.wait(START_TIMEOUT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{url}/healthz", timeout=1.0)
    return code, log_path.read_text(encoding="utf-8", errors="replace")


def _events(first: int, count: int) -> list[dict[str, object]]:
    from cap_demo.events import make_events

    return make_events(count, start=first)


def _wait_for(predicate: object, what: str, timeout: float = 20.0) -> None:
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


# --- serving ----------------------------------------------------------------------------------------


def test_background_consumer_counts_each_event_once(tmp_path: Path) -> None:
    with serving(tmp_path) as server, httpx.Client(base_url=server.url, timeout=10.0) as http:
        batch = _events(1, 25)
        answer = http.post("/events", json=batch)
        assert answer.status_code == 202, answer.text
        assert answer.json()["ingest"] == {
            "received": 25,
            "created": 25,
            "existing": 0,
            "conflicts": [],
            "enqueued": 25,
        }

        def counted(n: int) -> bool:
            got = http.get("/summary")
            return got.status_code == 200 and got.json()["events"] == n

        _wait_for(lambda: counted(25), "the consumer to count 25 events")

        # the same events again: stored already, jobs published again, every one a Dedupe duplicate
        again = http.post("/events", json={"events": batch})
        assert again.json()["ingest"]["existing"] == 25
        _wait_for(lambda: http.get("/healthz").json()["consumer"]["duplicates"] == 25, "25 duplicates")
        summary = http.get("/summary").json()
        assert summary["events"] == 25, "nothing counted twice"
        assert sum(summary["by_kind"].values()) == 25
        health = http.get("/healthz").json()
        assert health["consumer"]["processed"] == 25
        assert health["bindings"]["PAYLOADS"] == "R2Bucket(local)"

        # the payload, streamed back byte for byte as stored
        from cap_demo.events import encode_event

        with http.stream("GET", "/events/evt-000007") as streamed:
            assert streamed.status_code == 200
            assert streamed.headers["content-type"] == "application/json"
            assert b"".join(streamed.iter_bytes()) == encode_event(batch[6])
        index = http.get("/events/evt-000007/index").json()
        assert index["key"] == "events/evt-000007.json"
        assert index["size"] == len(encode_event(batch[6]))

    log = server.log()
    assert "preflight.passed" in log
    # one InvocationScope per request: the request log says what the request did
    posted = [line for line in log.splitlines() if "http.request" in line and "path=/events " in line]
    assert posted, log
    assert "effects=effectful" in posted[0]
    assert "calls=51" in posted[0], "25 R2 puts, 25 KV puts, 1 send_batch"
    assert "capability.call" not in log, "per-call events are at debug level"


def test_requests_and_drain_with_the_consumer_off(tmp_path: Path) -> None:
    from cap_demo.observe import declared_nodes

    with (
        serving(tmp_path, CAPS_CONSUMER="off", CAPS_DATA_DIR=str(tmp_path / "data")) as server,
        httpx.Client(base_url=server.url, timeout=10.0) as http,
    ):
        assert http.get("/summary").status_code == 404
        assert http.post("/events", json=_events(1, 12)).status_code == 202
        drained = http.post("/jobs/drain").json()["jobs"]
        assert (drained["received"], drained["processed"], drained["duplicates"]) == (12, 12, 0)
        assert http.post("/events", json=_events(1, 12)).status_code == 202
        drained = http.post("/jobs/drain").json()["jobs"]
        assert (drained["received"], drained["processed"], drained["duplicates"]) == (12, 0, 12)
        assert http.get("/summary").json()["events"] == 12

        nodes = {n["node"]: n for n in http.get("/nodes").json()["nodes"]}
        assert set(nodes) == set(declared_nodes())
        for alias, node in nodes.items():
            assert node["diagnostics"] == [], alias
        assert nodes["store_payload"]["runs"] == 24
        assert nodes["summarize"]["runs"] == 2, "the second drain had nothing new to count"
        assert nodes["store_payload"]["effect_hints"] == ["resource::blob::write", "resource::blob::read"]

        # bad input: refused before anything is stored, naming what was wrong
        bad = http.post("/events", json=[{"id": "ok-1"}, {"id": "has space"}])
        assert bad.status_code == 400
        assert bad.json()["field"] == "events[1].id"
        assert http.get("/events/ok-1").status_code == 404, "nothing of a refused batch is stored"
        assert http.post("/events", content=b"{not json").status_code == 400
        too_many = http.post("/events", json=[{"id": f"e{i}"} for i in range(101)])
        assert too_many.status_code == 413
        assert too_many.json()["maximum"] == 100
        assert http.get("/events/nope").status_code == 404
        assert http.get("/events/bad%20id").status_code == 400

        # an id that already holds a different payload is reported, not overwritten or enqueued
        changed = {**_events(3, 1)[0], "kind": "view", "amount_cents": 1}
        clash = http.post("/events", json=[changed]).json()["ingest"]
        assert clash["conflicts"] == ["evt-000003"]
        assert clash["enqueued"] == 0
        assert http.post("/jobs/drain").json()["jobs"]["received"] == 0


# --- refusing to start ------------------------------------------------------------------------------


def test_refuses_to_start_on_cap102(tmp_path: Path) -> None:
    code, log = _refused(tmp_path, CAPS_PAYLOADS_URL="memory://")
    assert code == 3, log
    (line,) = [line for line in log.splitlines() if "preflight.diagnostic" in line]
    assert "code=CAP102" in line
    assert "node=PAYLOADS" in line
    assert "ephemeral" in line
    assert "refusing to start" in log
    assert "host.started" not in log


def test_refuses_to_start_on_cap101(tmp_path: Path) -> None:
    from cap_demo.observe import MANIFEST_FILE, _resource

    manifest = tmp_path / "needs-more.toml"
    manifest.write_text(
        _resource(MANIFEST_FILE) + '\n[bindings.ARCHIVE]\nkind = "r2_bucket"\nbucket_name = "archive"\n'
    )
    code, log = _refused(tmp_path, CAPS_MANIFEST=str(manifest))
    assert code == 3, log
    lines = [line for line in log.splitlines() if "preflight.diagnostic" in line]
    assert len(lines) == 1, log
    assert "code=CAP101" in lines[0]
    assert "node=ARCHIVE" in lines[0]
    assert "missing from the capability bag" in lines[0]


def test_refuses_to_start_when_cloudflare_credentials_are_missing(tmp_path: Path) -> None:
    token = "cfut_do-not-log-this-token-0123456789abcdef"
    code, log = _refused(tmp_path, CAPS_BACKEND="cloudflare", CLOUDFLARE_API_TOKEN=token)
    assert code == 3, log
    assert "host.misconfigured" in log
    for name in ("CLOUDFLARE_ACCOUNT_ID", "CAPS_KV_NAMESPACE_ID", "CAPS_QUEUE_ID", "CAPS_GATEWAY_URL"):
        assert name in log
    assert "CLOUDFLARE_API_TOKEN," not in log, "the token is set, so it is not listed as missing"
    assert token not in log


# --- configuration, in process ----------------------------------------------------------------------


@pytest.mark.anyio
async def test_cloudflare_mode_builds_every_capability_from_the_environment() -> None:
    from cap_opendal_core.preflight_check import preflight
    from caps_server_host.config import HostConfig, open_capabilities

    secrets = {
        "CLOUDFLARE_API_TOKEN": "cfut_secret-token-abcdefghijklmnopqrstuvwxyz012345",
        "R2_SECRET_ACCESS_KEY": "r2-secret-0123456789abcdef0123456789abcdef",
        "CAPS_GATEWAY_TOKEN": "gateway-secret-0123456789abcdef0123456789",
    }
    environ = {
        "CAPS_BACKEND": "cloudflare",
        "CLOUDFLARE_ACCOUNT_ID": "0123456789abcdef0123456789abcdef",
        "CAPS_KV_NAMESPACE_ID": "fedcba9876543210fedcba9876543210",
        "CAPS_QUEUE_ID": "00112233445566778899aabbccddeeff",
        "R2_ACCESS_KEY_ID": "0123456789abcdef0123456789abcdef",
        "CAPS_GATEWAY_URL": "https://gateway.invalid/do",
        **secrets,
    }
    config = HostConfig.from_environ(environ)
    manifest = config.manifest()
    opened = open_capabilities(config, manifest, environ=environ)
    caps = opened.caps
    assert (caps.payloads.backend, caps.index.backend, caps.jobs.backend) == ("opendal", "rest", "rest")
    assert caps.dedupe.namespace.backend == "gateway"
    assert opened.consumer.backend == "rest"
    bag = caps.to_bag()
    assert preflight(manifest, bag, flow=config.flow()) == []
    shown = repr(config) + repr(bag) + json.dumps(config.describe())
    shown += "".join(repr(c) for c in (caps.payloads, caps.index, caps.jobs, caps.dedupe, opened.consumer))
    for secret in secrets.values():
        assert secret not in shown
    async with bag:
        pass
    await opened.consumer.aclose()


def test_configuration_errors_name_the_variable() -> None:
    from cap_opendal_core.errors import Misconfigured
    from caps_server_host.config import HostConfig

    for environ, variable in (
        ({"CAPS_BACKEND": "cloud"}, "CAPS_BACKEND"),
        ({"CAPS_CONSUMER": "maybe"}, "CAPS_CONSUMER"),
        ({"CAPS_LOG_LEVEL": "loud"}, "CAPS_LOG_LEVEL"),
        ({"CAPS_BACKEND": "cloudflare", "CAPS_INDEX_URL": "memory://"}, "CAPS_INDEX_URL"),
    ):
        with pytest.raises(Misconfigured, match=variable):
            HostConfig.from_environ(environ)
    config = HostConfig.from_environ({"CAPS_DATA_DIR": "/srv/caps", "CAPS_JOBS_URL": "memory://jobs"})
    assert (config.backend, str(config.data_dir), dict(config.urls)) == (
        "local",
        "/srv/caps",
        {"JOBS": "memory://jobs"},
    )


def test_local_overrides_reach_the_capabilities(tmp_path: Path) -> None:
    from caps_server_host.config import HostConfig, open_capabilities

    environ = {
        "CAPS_DATA_DIR": str(tmp_path),
        "CAPS_INDEX_URL": "memory://",
        "CAPS_JOBS_URL": f"file://{tmp_path}/q/caps-demo-jobs",
        "CAPS_DEDUPE_URL": "memory://",
    }
    config = HostConfig.from_environ(environ)
    opened = open_capabilities(config, config.manifest(), environ=environ)
    caps = opened.caps
    assert caps.index.info.durability == "ephemeral"
    assert caps.dedupe.info.durability == "ephemeral"
    assert caps.payloads.info.durability == "durable", "not overridden: the local default"
    assert opened.consumer.queue == "caps-demo-jobs"

    async def close() -> None:
        async with caps.to_bag():
            pass
        await opened.consumer.aclose()

    anyio.run(close)
