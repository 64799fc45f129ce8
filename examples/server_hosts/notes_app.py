"""A small WSGI app (Flask) over the sync API: notes stored in R2, indexed in KV, announced on a queue
and counted by a Durable Object — the shape of a Flask or Django view that uses cap-* capabilities.

``create_app`` takes the sync capability objects, so the same app runs on the local backends
(``wsgi.py``, what gunicorn loads), on Cloudflare's services, or against the test stand-ins
(``tests/examples/test_server_hosts.py`` serves it from a threaded server to 16 concurrent clients).
The objects are shared by every request thread: the sync API is safe from many threads at once.
"""

from __future__ import annotations

import os
from typing import Any

from flask import Flask, jsonify, request

from cap_cloudflare_do import DurableObject


class Counter(DurableObject):
    """The Durable Object the app counts notes with (the gateway's COUNTER binding has the same RPC)."""

    async def increment(self, by: int = 1) -> int:
        total = int(await self.storage.get("count") or 0) + by
        await self.storage.put("count", total)
        return total


def create_app(kv: Any, bucket: Any, queue: Any, counters: Any = None) -> Flask:
    """The app: ``PUT /notes/<name>`` stores a note, ``GET /notes/<name>`` reads it back. ``counters``
    (a sync ``DurableObjectNamespace`` with an ``increment`` RPC) is optional: a pre-fork server
    reaches Durable Objects through the gateway, since a local object lives in one process."""
    app = Flask(__name__)

    @app.put("/notes/<name>")
    def put_note(name: str) -> Any:
        body = request.get_data()
        bucket.put(f"notes/{name}", body)
        kv.put(f"index/{name}", str(len(body)))
        queue.send({"note": name})
        total = counters.get_by_name("notes").increment(1) if counters is not None else None
        return jsonify(size=len(body), total=total, pid=os.getpid())

    @app.get("/notes/<name>")
    def get_note(name: str) -> Any:
        size = kv.get(f"index/{name}")
        note = bucket.get(f"notes/{name}")
        if size is None or note is None:
            return jsonify(error="no such note"), 404
        return jsonify(size=int(size), text=note.text(), pid=os.getpid())

    return app
