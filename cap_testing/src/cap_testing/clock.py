"""``CapsClock``: the one clock a test's capabilities share, moved by hand instead of sleeping."""

from __future__ import annotations

import math

__all__ = ["DEFAULT_START", "CapsClock"]

DEFAULT_START = 1_800_000_000.0
"""Epoch seconds the clock starts at (2027-01-15): fixed, so a test's times do not depend on today."""


class CapsClock:
    """Epoch seconds that move only when the test says so; pass it as a backend's ``clock=``.

    Every fixture of this plugin builds its backends on the same clock, so one ``advance`` moves KV
    expiry, queue delays, visibility timeouts and retries, Durable Object alarms and Dedupe claim TTLs
    together. Alarms still fire only when asked: ``await caps.run_due_alarms()`` after advancing.
    """

    __slots__ = ("_now",)

    def __init__(self, start: float = DEFAULT_START) -> None:
        self._now = _seconds(start, "start")

    def __call__(self) -> float:
        return self._now

    @property
    def now(self) -> float:
        """The current time, epoch seconds."""
        return self._now

    def advance(self, seconds: float) -> float:
        """Move the clock forward by ``seconds`` (>= 0; time never runs backwards); returns the new time."""
        step = _seconds(seconds, "seconds")
        if step < 0:
            raise ValueError(
                f"CapsClock.advance: seconds must be >= 0 (time never runs backwards), got {seconds!r}"
            )
        self._now += step
        return self._now

    def __repr__(self) -> str:
        return f"CapsClock(now={self._now!r})"


def _seconds(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"CapsClock: {what} must be a finite number of seconds, got {value!r}")
    return float(value)
