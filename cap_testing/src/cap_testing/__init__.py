"""cap-testing: a pytest plugin for testing flows built on cap-*.

Installed, it registers itself with pytest (the ``pytest11`` entry point ``caps``) and gives every test:

- ``caps`` (one factory) and ``caps_kv``, ``caps_r2``, ``caps_queue``, ``caps_do``: each capability on
  its embedded backend in the test's ``tmp_path``, closed when the test ends;
- ``caps_clock``: the one clock those backends share, moved with ``advance(seconds)`` — KV expiry,
  queue delays and retries, Durable Object alarms and Dedupe claims move without sleeping;
- :func:`assert_node` and :func:`checked_node`: fail a test when a node did more (or less
  deterministically) than its Flow IR declaration says, with the validator's diagnostics;
- ``workers_env``: the user's Python Worker run under Pyodide against Miniflare's real bindings,
  declared by the project's ``wrangler.toml``.

See ``docs/testing-your-flows.md``.
"""

from __future__ import annotations

from .clock import CapsClock
from .factory import Caps
from .scope import assert_node, checked_node, declared_of
from .workers import WorkerError, WorkerResponse, WorkersEnv

__version__ = "0.1.0"

__all__ = [
    "Caps",
    "CapsClock",
    "WorkerError",
    "WorkerResponse",
    "WorkersEnv",
    "__version__",
    "assert_node",
    "checked_node",
    "declared_of",
]
