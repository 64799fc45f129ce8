"""A clock the tests move by hand: leases, delays, alarms and expirations without sleeping."""

from __future__ import annotations

__all__ = ["FakeClock"]


class FakeClock:
    """Epoch seconds that move only when a test says so (pass it as a backend's ``clock``)."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
