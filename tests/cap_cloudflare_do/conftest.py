"""Fixtures for cap_cloudflare_do: a fake clock. The gateway Worker under Miniflare (``do_gateway``) is
the session-wide plugin :mod:`tests.support.do_gateway`."""

from __future__ import annotations

import pytest

from tests.support.clock import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
