"""The reference Workers host: the demo flow in a Python Worker (``main`` in ``wrangler.toml``).

``fetch`` serves ``POST /events``, ``GET /summary`` and ``GET /events/{id}``; ``queue`` consumes the
jobs the flow publishes on ``JOBS`` — both through ``caps_demo_worker``, which runs the same flow
code as ``caps demo`` and the server host, with every capability built by ``from_env``.
``DedupeObject`` is the Durable Object class behind the ``DEDUPE`` binding: cap-cloudflare-do's
``DedupeLedger``, exported as a Workers Durable Object.
"""

from typing import Any

from caps_demo_worker import handle_fetch, handle_queue
from workers import DurableObject, Response, WorkerEntrypoint

from cap_cloudflare_do import DedupeLedger


class DedupeObject(DedupeLedger, DurableObject):
    """One shard of the Dedupe ledger (``put_if_absent`` / ``forget`` over RPC)."""


class Default(WorkerEntrypoint):
    async def fetch(self, request: Any) -> Response:
        body = (await request.text()).encode("utf-8") if request.method in ("POST", "PUT") else None
        status, headers, payload = await handle_fetch(self.env, request.method, request.url, body)
        return Response(payload, status=status, headers=headers)

    async def queue(self, batch: Any, *_runtime_args: Any) -> None:
        # env and ctx are on self; older runtimes also pass them here, hence *_runtime_args
        await handle_queue(self.env, batch)
