"""Buckets on every CPython backend: OpenDAL memory, a local directory (OpenDAL fs) and moto's S3 server."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from cap_cloudflare_r2 import R2Bucket
from tests.workers.checks.check_r2 import SETTINGS, TRANSFER

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from tests.support.moto_server import MotoS3

BACKENDS = ("memory", "local", "moto")


def make_bucket(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> R2Bucket:
    if kind == "memory":
        return R2Bucket.from_url("memory://", settings=SETTINGS, transfer=TRANSFER)
    if kind == "local":
        return R2Bucket.local(tmp_path / "bucket", settings=SETTINGS, transfer=TRANSFER)
    moto: MotoS3 = request.getfixturevalue("moto_s3")
    return R2Bucket.from_url(moto.url(moto.create_bucket()), settings=SETTINGS, transfer=TRANSFER)


@pytest.fixture(params=BACKENDS)
async def bucket(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[R2Bucket]:
    """One bucket per test, on each backend in turn."""
    async with make_bucket(request.param, request, tmp_path) as b:
        yield b
