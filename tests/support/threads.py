"""Run one function in many threads at once and bring what they raised back to the test's thread."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable


def run_in_threads(work: Callable[[int], None], count: int) -> list[BaseException]:
    """``work(n)`` for n in ``range(count)``, each in a thread of its own, all started before any is
    joined; what each raised (an assertion included), for the test to assert on: an exception in a
    thread would otherwise only be printed."""
    errors: list[BaseException] = []

    def guarded(n: int) -> None:
        try:
            work(n)
        except BaseException as exc:  # reported in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(n,)) for n in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors
