"""Limits shared across capabilities: the one place a number that is not any single service's lives.

Each capability package keeps its own service limits (value sizes, batch sizes …) in its own
``limits.py``; this module holds the platform limits every capability is charged against.
"""

from __future__ import annotations

from typing import Final

__all__ = ["WORKER_SUBREQUESTS_PER_INVOCATION", "WORKER_SUBREQUESTS_PER_INVOCATION_FREE"]

WORKER_SUBREQUESTS_PER_INVOCATION: Final = 1000
"""Sub-requests one Worker invocation may make on the Workers Paid plan (the plan this SDK targets).

Source: Cloudflare Workers platform limits, "Subrequests" row of the account plan table
(https://developers.cloudflare.com/workers/platform/limits/): 1000 per request on Workers Paid
(Standard). Calls to KV, R2, Queues and Durable Objects count as sub-requests. Hosts on Workers pass
this as :class:`~cap_opendal_core.scope.InvocationScope`'s ``subrequest_budget`` so the call that would
exceed it fails with ``LimitExceeded`` *before* it is made, rather than inside the runtime. (Cloudflare
has raised the Paid figure since; a host that knows its account's limit passes its own number.)
"""

WORKER_SUBREQUESTS_PER_INVOCATION_FREE: Final = 50
"""The same limit on the Workers Free plan (same source, same table)."""
