"""The reference server host of cap-*: the demo flow served over HTTP by an ASGI application.

``python -m caps_server_host`` runs it with uvicorn on 127.0.0.1:8787; ``create_app()`` returns the
Starlette application for any ASGI server. Configuration comes from the environment (see
:mod:`caps_server_host.config`); the flow code is ``cap_demo`` — the same modules
``caps demo`` and the Workers host run.
"""

from __future__ import annotations

from .app import Host, StartupRefused, create_app
from .config import HostConfig

__all__ = ["Host", "HostConfig", "StartupRefused", "create_app"]
