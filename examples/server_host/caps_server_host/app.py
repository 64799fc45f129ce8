"""The reference server host: the demo flow over HTTP, as an ASGI application (Starlette).

Start-up (the lifespan): read :class:`~caps_server_host.config.HostConfig` from the environment, build
the capabilities, put them in a :class:`~cap_opendal_core.bag.CapabilityBag`, validate the flow and run
:func:`~cap_opendal_core.preflight` against the flow's manifest. Any diagnostic — ``CAP101`` (a binding
or hint provider missing), ``CAP102`` (a binding that does not meet a requirement), or a validation
finding — is logged, one event per diagnostic, and the application refuses to start (uvicorn exits).
Nothing effectful has happened by then.

Every request runs inside its own :class:`~cap_opendal_core.scope.InvocationScope` (an ASGI middleware),
and every node execution inside a nested one (:class:`~cap_demo.observe.FlowObserver`):
the request's log event says how many capability calls it made and what they did.

Routes:

==========================  ==================================================================
``POST /events``            ingest a batch (a JSON array of events, or ``{"events": [...]}``)
``GET  /summary``           the running totals (``summary.json``), 404 before the first job
``GET  /events/{id}``       the stored payload, streamed from R2
``GET  /events/{id}/index`` the event's index entry from KV
``POST /jobs/drain``        consume every visible job now (for hosts with ``CAPS_CONSUMER=off``)
``GET  /nodes``             each node's declared effects/determinism against what it did
``GET  /healthz``           bindings, backends, and the background consumer's figures
==========================  ==================================================================
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from starlette.applications import Starlette
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from cap_opendal_core.errors import CapabilityError, InvalidInput, LimitExceeded, NotFound, RateLimited

from .config import BINDINGS, HostConfig, OpenedCapabilities, open_capabilities

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Mapping

    from starlette.requests import Request
    from starlette.types import ASGIApp, Receive, Scope, Send

    from cap_cloudflare_queue import MessageBatch
    from cap_demo.flow import JobsReport
    from cap_demo.observe import FlowObserver
    from cap_opendal_core.bag import CapabilityBag
    from cap_opendal_core.diagnostics import Diagnostic

__all__ = ["Host", "StartupRefused", "create_app"]

REQUEST_TIMEOUT_S: Final = 30.0
"""Each request's invocation scope has this deadline: capability calls past it raise DeadlineExceeded."""
CONSUMER_WAIT_S: Final = 1.0
"""How long one background pull waits for a batch to fill before handling what it has."""
CONSUMER_BACKOFF_S: Final = (0.5, 30.0)
"""The background consumer's wait after a failure: doubling from the first to the second figure."""


def _logger() -> Any:
    import structlog

    return structlog.get_logger("caps_server_host")


class StartupRefused(Exception):
    """Raised from the lifespan when preflight or validation found something: the host does not start."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = diagnostics
        codes = ", ".join(sorted({d.code for d in diagnostics}))
        super().__init__(f"refusing to start: {len(diagnostics)} diagnostic(s) ({codes}); see the log")


@dataclass
class Host:
    """What the application holds while it runs."""

    config: HostConfig
    opened: OpenedCapabilities
    bag: CapabilityBag
    observer: FlowObserver
    consumed: JobsReport
    consumer_errors: int = 0
    backends: dict[str, str] = field(default_factory=dict)


def create_app(environ: Mapping[str, str] | None = None) -> Starlette:
    """The ASGI application; configuration is read from ``environ`` (default ``os.environ``) at start-up."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        import anyio

        host = _start(environ)
        app.state.host = host
        async with host.bag, anyio.create_task_group() as group:
            if host.config.consumer:
                group.start_soon(_consume_forever, host)
            _logger().info("host.started", bindings=host.backends, consumer=host.config.consumer)
            yield
            group.cancel_scope.cancel()
        await host.opened.consumer.aclose()
        _logger().info("host.stopped")

    routes = [
        Route("/events", _post_events, methods=["POST"]),
        Route("/summary", _get_summary, methods=["GET"]),
        Route("/events/{event_id}", _get_event, methods=["GET"]),
        Route("/events/{event_id}/index", _get_index, methods=["GET"]),
        Route("/jobs/drain", _post_drain, methods=["POST"]),
        Route("/nodes", _get_nodes, methods=["GET"]),
        Route("/healthz", _get_health, methods=["GET"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.add_middleware(InvocationScopeMiddleware)
    return app


def _start(environ: Mapping[str, str] | None) -> Host:
    """Build everything and preflight it; log and raise on any finding (no effectful work yet)."""
    from cap_demo.flow import JobsReport
    from cap_demo.observe import FlowObserver, declared_nodes
    from cap_opendal_core.layers import LayerSettings
    from cap_opendal_core.preflight_check import preflight
    from cap_opendal_core.validate import validate_flow

    log = _logger()
    try:
        config = HostConfig.from_environ(environ)
        log.info("host.configuring", **config.describe())
        manifest = config.manifest()
        flow = config.flow()
        # per-call events at debug: CAPS_LOG_LEVEL=debug shows them, the default keeps the log readable
        settings = LayerSettings(log_level="debug")
        opened = open_capabilities(config, manifest, environ=environ, settings=settings)
    except CapabilityError as err:
        log.error("host.misconfigured", error=err.code, detail=err.message)
        raise
    bag = opened.caps.to_bag(BINDINGS)
    diagnostics = [*validate_flow(flow), *preflight(manifest, bag, flow=flow)]
    if diagnostics:
        for d in diagnostics:
            log.error(
                "preflight.diagnostic",
                code=d.code,
                node=d.node,
                hint=d.hint,
                declared=d.declared,
                required=d.required,
                detail=d.message,
            )
        raise StartupRefused(diagnostics)
    log.info("preflight.passed", bindings=list(bag.names()), nodes=len(flow.get("nodes", ())))
    backends = {name: f"{type(cap).__name__}({_backend_of(cap)})" for name, cap in bag.items()}
    backends["JOBS consumer"] = f"QueueConsumer({opened.consumer.backend})"
    return Host(config, opened, bag, FlowObserver(declared_nodes(flow)), JobsReport(), backends=backends)


def _backend_of(capability: Any) -> str:
    value = getattr(capability, "backend", None)
    if isinstance(value, str):
        return value
    namespace = getattr(capability, "namespace", None)
    return str(getattr(namespace, "backend", "?"))


class InvocationScopeMiddleware:
    """Runs each HTTP request inside its own :class:`InvocationScope` and logs what the scope saw.

    Pure ASGI (not ``BaseHTTPMiddleware``), so the scope — a context variable — is the one the endpoint
    and a streamed response body both run in.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        from cap_opendal_core.scope import InvocationScope

        status = {"code": 500}

        async def send_status(message: Any) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        name = f"{scope['method']} {scope['path']}"
        with InvocationScope(name, timeout=REQUEST_TIMEOUT_S) as invocation:
            try:
                await self.app(scope, receive, send_status)
            finally:
                _logger().info(
                    "http.request",
                    method=scope["method"],
                    path=scope["path"],
                    status=status["code"],
                    calls=invocation.calls,
                    effects=invocation.observed_effects.json,
                    determinism=invocation.observed_determinism.json,
                    subrequests=invocation.subrequests_used,
                )


# --- routes -----------------------------------------------------------------------------------------


def _host(request: Request) -> Host:
    host: Host = request.app.state.host
    return host


def _error(err: CapabilityError) -> JSONResponse:
    """A capability error as an HTTP answer: bad input 400, too much 413, missing 404, else 503/502."""
    body: dict[str, Any] = {"error": err.code, "message": err.message}
    headers = {}
    if isinstance(err, InvalidInput):
        status = 400
        body["field"] = err.field
    elif isinstance(err, LimitExceeded):
        status = 413
        body.update(limit=err.limit, maximum=err.maximum)
    elif isinstance(err, NotFound):
        status = 404
    elif err.retryable:
        status = 503
        retry_after = getattr(err, "retry_after", None) if isinstance(err, RateLimited) else None
        headers["retry-after"] = str(int(retry_after or 1))
    else:
        status = 502
    return JSONResponse(body, status_code=status, headers=headers)


async def _post_events(request: Request) -> Response:
    from cap_demo.flow import ingest

    try:
        payload = json.loads(await request.body())
    except ValueError as exc:
        return JSONResponse({"error": "invalid_input", "message": f"the body is not JSON: {exc}"}, 400)
    host = _host(request)
    try:
        report = await ingest(host.opened.caps, payload, host.observer)
    except CapabilityError as err:
        return _error(err)
    return JSONResponse({"ingest": report.to_dict()}, status_code=202)


async def _get_summary(request: Request) -> Response:
    from cap_demo.flow import read_summary

    try:
        summary = await read_summary(_host(request).opened.caps)
    except CapabilityError as err:
        return _error(err)
    if summary is None:
        return JSONResponse({"error": "not_found", "message": "no job has been counted yet"}, 404)
    return JSONResponse(summary)


async def _get_event(request: Request) -> Response:
    """The payload, streamed chunk by chunk from the bucket (never read whole into memory here)."""
    from cap_demo.flow import open_payload

    try:
        body = await open_payload(_host(request).opened.caps, request.path_params["event_id"])
    except CapabilityError as err:
        return _error(err)
    if body is None:
        return JSONResponse({"error": "not_found", "message": "no such event"}, 404)

    async def chunks() -> AsyncIterator[bytes]:
        try:
            async for chunk in body:
                yield chunk
        finally:
            await body.aclose()

    headers = {"etag": body.http_etag, "content-length": str(body.size)}
    media_type = body.http_metadata.content_type or "application/octet-stream"
    return StreamingResponse(chunks(), media_type=media_type, headers=headers)


async def _get_index(request: Request) -> Response:
    from cap_demo.flow import read_index_entry

    try:
        entry = await read_index_entry(_host(request).opened.caps, request.path_params["event_id"])
    except CapabilityError as err:
        return _error(err)
    if entry is None:
        return JSONResponse({"error": "not_found", "message": "no index entry for this event"}, 404)
    return JSONResponse(entry)


async def _post_drain(request: Request) -> Response:
    from cap_demo.flow import JobsReport

    host = _host(request)
    total = JobsReport()
    try:
        while True:
            report = await _pull_and_handle(host, wait_time=0.0)
            total.add(report)
            if report.received < host.opened.batch_size:
                break
    except CapabilityError as err:
        return _error(err)
    host.consumed.add(total)
    return JSONResponse({"jobs": total.to_dict()})


async def _pull_and_handle(host: Host, *, wait_time: float) -> JobsReport:
    """Pull one batch; if it has jobs, run ``consume_jobs`` and ``summarize`` on it.

    The pull happens in the caller's scope, not the node's, so an idle host's empty pulls do not show
    up as executions of ``consume_jobs``. Cancelling interrupts the pull, never a received batch.
    """
    import anyio

    from cap_demo.flow import JobsReport, handle_jobs

    opened = host.opened
    batch = await opened.consumer.pull(batch_size=opened.batch_size, wait_time=wait_time)
    if not batch.messages:
        return JobsReport()

    async def receive() -> MessageBatch:
        return batch

    # Once received, a batch is finished even while the host shuts down: a job claimed in the Dedupe
    # ledger but never counted would stay uncounted. Each call inside still has its deadline.
    with anyio.CancelScope(shield=True):
        report = await handle_jobs(opened.caps, receive, host.observer)
    return report


async def _get_nodes(request: Request) -> Response:
    return JSONResponse({"nodes": [r.to_dict() for r in _host(request).observer.reports()]})


async def _get_health(request: Request) -> Response:
    host = _host(request)
    return JSONResponse(
        {
            "ok": True,
            "bindings": host.backends,
            "consumer": {
                "running": host.config.consumer,
                "errors": host.consumer_errors,
                **host.consumed.to_dict(),
            },
        }
    )


# --- the background consumer ------------------------------------------------------------------------


async def _consume_forever(host: Host) -> None:
    """Pull and handle batches until the application stops; each batch is one invocation scope."""
    import anyio

    from cap_opendal_core.scope import InvocationScope

    log = _logger()
    backoff = CONSUMER_BACKOFF_S[0]
    while True:
        try:
            with InvocationScope("consumer", timeout=REQUEST_TIMEOUT_S + CONSUMER_WAIT_S):
                report = await _pull_and_handle(host, wait_time=CONSUMER_WAIT_S)
        except CapabilityError as err:
            host.consumer_errors += 1
            log.warning("consumer.failed", error=err.code, detail=err.message, retry_in_s=backoff)
            await anyio.sleep(backoff)
            backoff = min(backoff * 2, CONSUMER_BACKOFF_S[1])
            continue
        backoff = CONSUMER_BACKOFF_S[0]
        host.consumed.add(report)
        if report.received:
            log.info("consumer.batch", **report.to_dict())
