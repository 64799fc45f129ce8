"""The Workers host's request and batch handling — the demo flow with ``from_env`` capabilities.

Kept apart from ``entry.py`` (which only adapts the Workers runtime's ``fetch`` and ``queue`` calls)
so it can run wherever Pyodide can reach Workers bindings: the project's test harness imports this
module under Pyodide and drives it against Miniflare's real KV, R2, Queue and Durable Object bindings.

Every invocation runs in an :class:`~cap_opendal_core.scope.InvocationScope` holding the Worker's
sub-request budget (a call that would exceed it fails with ``LimitExceeded`` before it is made), and
every node execution in a nested one; a node that did something it did not declare is logged.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote, urlsplit

from cap_demo.flow import (
    DemoBindings,
    DemoCapabilities,
    handle_jobs,
    ingest,
    open_payload,
    read_summary,
)
from cap_demo.observe import FlowObserver
from cap_opendal_core.errors import CapabilityError, InvalidInput, LimitExceeded, NotFound
from cap_opendal_core.limits import WORKER_SUBREQUESTS_PER_INVOCATION
from cap_opendal_core.scope import InvocationScope

__all__ = ["Answer", "handle_fetch", "handle_queue"]

Answer = tuple[int, dict[str, str], bytes]
"""``(status, headers, body)``: what ``entry.py`` turns into a ``Response``."""

_JSON = {"content-type": "application/json"}


def _json(status: int, value: Any) -> Answer:
    return status, dict(_JSON), json.dumps(value, separators=(",", ":")).encode("utf-8")


def _error(err: CapabilityError) -> Answer:
    if isinstance(err, InvalidInput):
        return _json(400, {"error": err.code, "message": err.message, "field": err.field})
    if isinstance(err, LimitExceeded):
        return _json(413, {"error": err.code, "message": err.message, "maximum": err.maximum})
    if isinstance(err, NotFound):
        return _json(404, {"error": err.code, "message": err.message})
    return _json(503 if err.retryable else 502, {"error": err.code, "message": err.message})


def _report(observer: FlowObserver, invocation: InvocationScope) -> None:
    """One log line per invocation (Workers Logs keep stdout), and one per node diagnostic."""
    for d in observer.diagnostics():
        print(json.dumps({"event": "node.diagnostic", **d.to_dict()}))
    print(
        json.dumps(
            {
                "event": "invocation",
                "name": invocation.node_name,
                "calls": invocation.calls,
                "subrequests": invocation.subrequests_used,
                "effects": invocation.observed_effects.json,
                "determinism": invocation.observed_determinism.json,
            }
        )
    )


async def handle_fetch(
    env: Any, method: str, url: str, body: bytes | None, *, bindings: DemoBindings | None = None
) -> Answer:
    """``POST /events``, ``GET /summary``, ``GET /events/{id}`` — as the server host serves them."""
    path = urlsplit(url).path
    observer = FlowObserver()
    with InvocationScope(f"{method} {path}", subrequest_budget=WORKER_SUBREQUESTS_PER_INVOCATION) as scope:
        try:
            caps = DemoCapabilities.from_env(env, bindings)
            answer = await _route(caps, observer, method, path, body)
        except CapabilityError as err:
            answer = _error(err)
    _report(observer, scope)
    return answer


async def _route(
    caps: DemoCapabilities, observer: FlowObserver, method: str, path: str, body: bytes | None
) -> Answer:
    if path == "/events" and method == "POST":
        try:
            events = json.loads(body or b"")
        except ValueError as exc:
            return _json(400, {"error": "invalid_input", "message": f"the body is not JSON: {exc}"})
        report = await ingest(caps, events, observer)
        return _json(202, {"ingest": report.to_dict()})
    if path == "/summary" and method == "GET":
        summary = await read_summary(caps)
        if summary is None:
            return _json(404, {"error": "not_found", "message": "no job has been counted yet"})
        return _json(200, summary)
    if path.startswith("/events/") and method == "GET":
        found = await open_payload(caps, unquote(path.removeprefix("/events/")))
        if found is None:
            return _json(404, {"error": "not_found", "message": "no such event"})
        # Demo payloads are small; a Worker serving large objects would hand the binding's stream on.
        data = await found.read()
        content_type = found.http_metadata.content_type or "application/octet-stream"
        return 200, {"content-type": content_type, "etag": found.http_etag}, data
    return _json(404, {"error": "not_found", "message": f"no route for {method} {path}"})


async def handle_queue(env: Any, js_batch: Any, *, bindings: DemoBindings | None = None) -> dict[str, Any]:
    """One pushed batch of jobs: ``consume_jobs`` then ``summarize`` (see ``handle_jobs``).

    A failure re-raises after the claimed jobs were released and marked for retry, so the runtime
    redelivers them; duplicates and malformed jobs were already acked or retried individually.
    """
    from cap_cloudflare_queue import MessageBatch

    observer = FlowObserver()
    with InvocationScope("queue", subrequest_budget=WORKER_SUBREQUESTS_PER_INVOCATION) as scope:
        caps = DemoCapabilities.from_env(env, bindings)

        async def receive() -> MessageBatch:
            return MessageBatch.from_js(js_batch)

        try:
            report = await handle_jobs(caps, receive, observer)
        finally:
            _report(observer, scope)
    return report.to_dict()
