"""The Durable Object gateway Worker that cap_cloudflare_do ships, served by Miniflare: a pytest plugin
(registered in ``tests/conftest.py``), so the whole session shares one server.

``do_gateway`` starts ``node tests/workers/harness.mjs --serve`` (Miniflare with worker.js and the
package's gateway Worker, on 127.0.0.1 and a free port) once per session, with a random bearer token
passed in the environment, and stops it by closing its stdin. ``serve_gateway`` starts one with a
token of the caller's choosing.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING

import pytest

from tests.support.workers_harness import HARNESS, HERE, NODE_PACKAGES

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["GatewayServer", "do_gateway", "serve_gateway"]

START_TIMEOUT_S = 60


@dataclass(frozen=True)
class GatewayServer:
    url: str
    """The gateway's base URL (``http://127.0.0.1:PORT/caps-gateway``)."""
    token: str


@pytest.fixture(scope="session")
def do_gateway() -> Iterator[GatewayServer]:
    with serve_gateway(secrets.token_urlsafe(32)) as (server, _log):
        yield server


@contextlib.contextmanager
def serve_gateway(token: str) -> Iterator[tuple[GatewayServer, IO[str]]]:
    """The gateway in Miniflare with ``token`` as its ``CAPS_GATEWAY_TOKEN`` secret (any string, a
    stray newline included), and the file its Workers' log (stderr) goes to."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed; the gateway test needs Node 20+ and Miniflare")
    missing = [n for n in NODE_PACKAGES if not (HERE / "node_modules" / n / "package.json").is_file()]
    if missing:
        pytest.fail(f"tests/workers/node_modules lacks {', '.join(missing)}: run ./dev test", pytrace=False)
    # stderr to a file, not a pipe: a chatty workerd cannot block on a full pipe
    with tempfile.TemporaryFile(mode="w+") as errors:
        proc = subprocess.Popen(
            [node, str(HARNESS), "--serve"],
            cwd=HERE,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
            env={**os.environ, "CAPS_GATEWAY_TEST_TOKEN": token},
        )
        stdin, stdout = proc.stdin, proc.stdout
        assert stdin is not None
        assert stdout is not None
        line: list[str] = []
        reader = threading.Thread(target=lambda: line.append(stdout.readline()), daemon=True)
        reader.start()
        reader.join(START_TIMEOUT_S)
        try:
            if not line or not line[0].startswith("{"):
                proc.kill()
                proc.wait(timeout=10)
                errors.seek(0)
                pytest.fail(f"the gateway server did not start:\n{errors.read()[-3000:]}", pytrace=False)
            address = json.loads(line[0])
            yield GatewayServer(url=address["gateway"], token=token), errors
        finally:
            if proc.poll() is None:
                stdin.close()  # harness.mjs --serve disposes Miniflare when its stdin closes
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=5)
            stdout.close()
