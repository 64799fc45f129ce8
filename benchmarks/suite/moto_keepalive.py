"""moto's S3 API behind a server that keeps connections alive, as R2 does.

Why: moto's own server (werkzeug's development server, which the tests use) answers every request
with ``Connection: close``, so each client opens a TCP connection per request there. R2 keeps them
open, and connection setup costs a Python asyncio client (socket, selector registration, protocol:
about 120 µs of CPU here with R2Bucket's own transport, 180 µs with asyncio's) more than a Rust one,
so a benchmark on werkzeug largely measures connecting. gunicorn's threaded worker keeps connections
alive; behind it moto answers the very same S3 API. One worker (moto keeps its state in memory),
32 threads (the suite's concurrency).
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

from tests.support.moto_server import MotoS3

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["start_keepalive_moto"]

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.contextmanager
def start_keepalive_moto(threads: int = 32) -> Iterator[MotoS3]:
    """moto's S3 on 127.0.0.1 behind gunicorn (``gthread``, keep-alive 30 s) until the block ends."""
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        env.pop(name, None)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--worker-class",
            "gthread",
            "--workers",
            "1",
            "--threads",
            str(threads),
            "--keep-alive",
            "30",
            "--timeout",
            "600",
            "--bind",
            f"127.0.0.1:{port}",
            "benchmarks.suite.moto_wsgi:app",
        ],
        cwd=REPO,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(endpoint + "/", timeout=2):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("gunicorn with moto did not start") from None
                time.sleep(0.2)
        yield MotoS3(endpoint=endpoint, pid=process.pid)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
