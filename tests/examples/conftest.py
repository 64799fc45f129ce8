"""The examples' tests: the server host (a subprocess serving on 127.0.0.1) and the Workers host.

``examples/server_host`` is not an installed package: its folder goes on ``sys.path`` here (and on
``PYTHONPATH`` for the server subprocesses), as ``python -m caps_server_host`` run from that folder
would have it.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SERVER_HOST = REPO / "examples" / "server_host"
WORKERS_HOST = REPO / "examples" / "workers_host"

if str(SERVER_HOST) not in sys.path:
    sys.path.insert(0, str(SERVER_HOST))
