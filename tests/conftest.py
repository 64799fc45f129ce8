"""Shared pytest setup: async tests run on asyncio through anyio's plugin."""

from __future__ import annotations

import pytest

# Shared fixtures: `moto_s3` (moto's S3 server on 127.0.0.1, one per session).
# pytester: cap_testing's own tests run sample user projects from the outside
pytest_plugins = [
    "tests.support.moto_server",
    "tests.support.workers_harness",
    "tests.support.do_gateway",
    "pytester",
]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
