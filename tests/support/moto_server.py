"""pytest plugin: a real S3 API (moto's standalone server) on 127.0.0.1 for the whole test session.

Why a subprocess rather than ``moto.server.ThreadedMotoServer``: the server's state then lives in
its own process, so a test that uses moto's in-process ``mock_aws`` (which resets moto's global
backends when it exits) cannot wipe the buckets other tests are using; and moto's import cost is
paid by that process, not the test run. The server binds 127.0.0.1 on a free port and is stopped
at the end of the session.

Use it through the ``moto_s3`` fixture::

    def test_something(moto_s3: MotoS3) -> None:
        bucket = moto_s3.create_bucket()       # a fresh, uniquely named bucket
        url = moto_s3.url(bucket)              # s3://bucket?endpoint=…&region=…&access_key_id=…
"""

from __future__ import annotations

import contextlib
import itertools
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["MotoS3", "moto_s3", "start_moto_server"]

_START_TIMEOUT = 30.0
_STOP_TIMEOUT = 10.0

# Runs moto's server, and ends it if the test process dies without stopping it (a killed pytest
# must not leave a server behind): a watchdog thread polls the parent's pid.
_LAUNCHER = """
import os, sys, threading, time
parent = os.getppid()
def watch():
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)
threading.Thread(target=watch, daemon=True).start()
from moto.server import main
main(sys.argv[1:])
"""


@dataclass
class MotoS3:
    """Where the session's moto S3 server listens and the (fake) credentials it accepts."""

    endpoint: str
    access_key_id: str = "moto-test-access-key"
    secret_access_key: str = "moto-test-secret-key-0123456789"
    region: str = "us-east-1"
    pid: int | None = field(default=None, repr=False)
    """The server's process (the benchmarks read its CPU time); None where it is not a child of ours."""
    _counter: Iterator[int] = field(default_factory=itertools.count, repr=False)

    def client(self) -> Any:
        """A boto3 S3 client for this server (path-style; checksums only when an API requires them)."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
            region_name=self.region,
            config=Config(
                s3={"addressing_style": "path"},
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            ),
        )

    def create_bucket(self, prefix: str = "test") -> str:
        """Create a bucket named ``<prefix>-<n>-<random>`` and return its name."""
        name = f"{prefix}-{next(self._counter)}-{uuid.uuid4().hex[:12]}".lower()
        self.client().create_bucket(Bucket=name)
        return name

    def url(self, bucket: str, root: str = "", **extra: str) -> str:
        """An ``s3://`` operator URL for ``bucket`` on this server, credentials included."""
        query = {
            "endpoint": self.endpoint,
            "region": self.region,
            "access_key_id": self.access_key_id,
            "secret_access_key": self.secret_access_key,
            **extra,
        }
        return f"s3://{bucket}{root}?{urlencode(query)}"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_until_up(process: subprocess.Popen[bytes], endpoint: str, deadline: float) -> bool:
    """True once the server answers HTTP; False if the process died (e.g. the port was taken)."""
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1.0):
                return True
        except urllib.error.HTTPError:
            return True  # it answered: up, whatever the status
        except OSError:
            time.sleep(0.05)
    return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=_STOP_TIMEOUT)


@contextlib.contextmanager
def start_moto_server() -> Iterator[MotoS3]:
    """Run moto's S3 server on 127.0.0.1 and a free port until the block ends."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    # Never let the server (or boto3 in this process) find real credentials or a real region.
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        env.pop(name, None)
    last_output = b""
    for _ in range(3):  # the free port may be taken between probing and binding: try another
        port = _free_port()
        endpoint = f"http://127.0.0.1:{port}"
        process = subprocess.Popen(
            [sys.executable, "-c", _LAUNCHER, "-H", "127.0.0.1", "-p", str(port)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env,
        )
        try:
            if _wait_until_up(process, endpoint, time.monotonic() + _START_TIMEOUT):
                # Drain stderr in the background so a chatty server never blocks on a full pipe.
                _drain(process)
                yield MotoS3(endpoint=endpoint, pid=process.pid)
                return
            _stop(process)
            last_output = process.stderr.read() if process.stderr else b""
        finally:
            _stop(process)
    raise RuntimeError(
        "moto's S3 server did not start on 127.0.0.1: " + last_output.decode(errors="replace")[-2000:]
    )


def _drain(process: subprocess.Popen[bytes]) -> None:
    import threading

    stream = process.stderr
    if stream is None:
        return

    def run() -> None:
        for _ in iter(lambda: stream.read(65536), b""):
            pass

    threading.Thread(target=run, name="moto-stderr-drain", daemon=True).start()


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[MotoS3]:
    """The session's moto S3 server; ``create_bucket()`` gives each test its own bucket."""
    with start_moto_server() as server:
        yield server
