"""What a process forked from this one must not reuse, and how code finds out it was forked.

Pre-fork servers (gunicorn ``--preload``, Celery's prefork pool, ``multiprocessing`` with ``fork``)
build objects in the parent and then ``fork()``: the child gets a copy of the parent's memory but only
the thread that forked. Sockets, pools, locks held by other threads and the event-loop thread of the
sync API would be shared with the parent or dead in the child. Two things live here:

* :func:`generation` — a number that changes in every forked child. A pool compares it with the
  one it was filled in (one int compare per use) and, when it differs, *forgets* the parent's
  connections without closing them: closing a TLS connection sends bytes on a socket the parent
  still uses.
* :func:`opendal_runtime_lost` — OpenDAL's ``AsyncOperator`` runs on a Rust (tokio) runtime whose
  worker threads start at its first call and do not survive a fork; a child that calls it then
  waits forever. The runtime cannot be restarted from Python, so a call that needs it in such a
  child is refused with a clear error instead (``Pipeline.call``). Building the capability before
  the fork and calling it only in the children is fine: the runtime starts in each child.
"""

from __future__ import annotations

import os
import sys

__all__ = ["generation", "opendal_runtime_lost"]

_generation = 0
_runtime_started = False
_runtime_lost = False


def generation() -> int:
    """0 in the process that imported this module; one more in each process forked from it."""
    return _generation


def opendal_runtime_lost() -> bool:
    """True in a child forked after OpenDAL's async runtime had started in the parent."""
    return _runtime_lost


def _tokio_threads_running() -> bool:
    if "opendal" not in sys.modules:
        return False
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:  # not Linux: assume the worst once OpenDAL is loaded
        return True
    for task in tasks:
        try:
            with open(f"/proc/self/task/{task}/comm", encoding="utf-8", errors="replace") as comm:
                if comm.read().startswith("tokio"):
                    return True
        except OSError:
            continue
    return False


def _before_fork() -> None:
    global _runtime_started
    _runtime_started = _tokio_threads_running()


def _after_fork_in_child() -> None:
    global _generation, _runtime_lost
    _generation += 1
    _runtime_lost = _runtime_lost or _runtime_started


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child)
