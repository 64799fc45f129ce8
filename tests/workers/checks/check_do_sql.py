"""Point-in-time recovery through the binding's own backend, over Miniflare's storage.

(``storage.sql`` itself cannot be reached synchronously over RPC: the SQL differential,
``check_do_sql_differential``, covers it through the handle's ``sqlExec``.)
"""

from __future__ import annotations

import os
from typing import Any


async def check_current_bookmark_on_the_binding(env: Any) -> None:
    from cap_cloudflare_do import DurableObjectStorage

    ns = env.DO_PROBE
    stub = ns.get(ns.idFromName(f"do-pitr/{os.urandom(4).hex()}"))
    storage = DurableObjectStorage.from_js(await stub.storage())
    bookmark = await storage.get_current_bookmark()
    assert isinstance(bookmark, str), bookmark
    assert bookmark, bookmark
