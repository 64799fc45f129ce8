"""The demo flow (``cap_demo``) and the reference Workers host on Miniflare's bindings.

The same flow code ``caps demo`` runs on files and SQLite runs here with ``from_env`` capabilities:
R2 (``BUCKET``), KV (``KV``), the queue producer (``QUEUE``, whose JS consumer in worker.js records what
arrives in ``QUEUE_LOG``) and the Dedupe ledger (``DEDUPE``, the JS ``DedupeLedger``). The harness's
binding names differ from the manifest's, so the checks map them (``DemoBindings`` / a mapping ``env``).
Jobs are handed to the consumer side as JS-built batches through ``MessageBatch.from_js``, exactly as a
Worker's ``queue`` handler receives them, with every ``ack``/``retry`` recorded.

``check_flow_nodes_on_miniflare_bindings`` returns each node's observations, which
``tests/examples/test_workers_host.py`` compares with the same flow on the local backends.
"""

from __future__ import annotations

import json
import os
from typing import Any

import anyio
from _support import raises
from pyodide.code import run_js

from cap_demo.flow import (
    DemoBindings,
    DemoCapabilities,
    handle_jobs,
    ingest,
    read_summary,
)
from cap_demo.observe import FlowObserver, declared_nodes
from cap_opendal_core import ffi
from cap_opendal_core.errors import InvalidInput
from cap_opendal_core.scope import InvocationScope

HARNESS = DemoBindings(payloads="BUCKET", index="KV", jobs="QUEUE", dedupe="DEDUPE")

_JS_BATCH = """
(() => {
  const calls = [];
  const bodies = JSON.parse(BODIES);
  const messages = bodies.map((body, i) => ({
    id: `m${i + 1}`, body, attempts: 1, timestamp: new Date(1700000000000),
    ack() { calls.push(["ack", `m${i + 1}`]); },
    retry(options) { calls.push(["retry", `m${i + 1}`]); },
  }));
  return {
    calls,
    batch: {
      queue: "cap-queue",
      messages,
      ackAll() { calls.push(["ackAll"]); },
      retryAll(options) { calls.push(["retryAll"]); },
    },
  };
})()
"""


def _js_batch(bodies: list[Any]) -> Any:
    return run_js(_JS_BATCH.replace("BODIES", json.dumps(json.dumps(bodies))))


def _events(marker: str, count: int) -> list[dict[str, Any]]:
    kinds = ("view", "click", "purchase")
    return [
        {"id": f"w{marker}-{i}", "kind": kinds[i % 3], **({"amount_cents": 100 * i} if i % 3 == 2 else {})}
        for i in range(count)
    ]


async def _jobs_arrived(env: Any, marker: str, count: int) -> list[dict[str, Any]]:
    """The job bodies the real queue delivered (worker.js's consumer records them in QUEUE_LOG)."""
    found: dict[str, dict[str, Any]] = {}
    with anyio.fail_after(30):
        while True:
            cursor = None
            while True:
                options = {"prefix": "cap-queue/", **({"cursor": cursor} if cursor else {})}
                page = ffi.js_to_py(await env.QUEUE_LOG.list(ffi.to_js_options(options)))
                for item in page["keys"]:
                    if item["name"] not in found:
                        found[item["name"]] = json.loads(await env.QUEUE_LOG.get(item["name"]))
                if page.get("list_complete", True):
                    break
                cursor = page["cursor"]
            mine = [
                r["body"]
                for r in found.values()
                if isinstance(r["body"], dict)
                and str(r["body"].get("event_id", "")).startswith(f"w{marker}-")
            ]
            if len(mine) >= count:
                return sorted(mine, key=lambda b: b["event_id"])
            await anyio.sleep(0.05)


async def check_flow_nodes_on_miniflare_bindings(env: Any) -> list[dict[str, Any]]:
    marker = os.urandom(4).hex()
    caps = DemoCapabilities.from_env(env, HARNESS)
    assert (caps.payloads.backend, caps.index.backend, caps.jobs.backend) == ("workers", "workers", "workers")
    observer = FlowObserver()
    events = _events(marker, 6)

    with InvocationScope("fetch", subrequest_budget=1000) as fetch:
        report = await ingest(caps, events, observer)
    assert report.to_dict() == {"received": 6, "created": 6, "existing": 0, "conflicts": [], "enqueued": 6}
    assert fetch.subrequests_used == 13, "6 R2 puts, 6 KV puts, 1 send_batch"

    with InvocationScope("fetch again"):
        again = await ingest(caps, events, observer)
    assert (again.created, again.existing, again.enqueued) == (0, 6, 6), "put-if-absent kept the first copies"

    with raises(InvalidInput, match="events[1].id"):
        await ingest(caps, [{"id": "fine"}, {"id": "not fine"}], observer)

    before = (await read_summary(caps) or {}).get("events", 0)
    arrived = await _jobs_arrived(env, marker, 12)  # both ingests published every job: at least once
    assert len(arrived) == 12
    bodies = list({b["event_id"]: b for b in arrived}.values())
    assert len(bodies) == 6
    assert bodies[0] == {
        "job_id": f"job:w{marker}-0",
        "event_id": f"w{marker}-0",
        "key": f"events/w{marker}-0.json",
    }

    made = _js_batch(bodies)

    async def first_delivery() -> Any:
        from cap_cloudflare_queue import MessageBatch

        return MessageBatch.from_js(made.batch)

    jobs = await handle_jobs(caps, first_delivery, observer)
    assert (jobs.received, jobs.processed, jobs.duplicates) == (6, 6, 0), jobs
    assert ffi.js_to_py(made.calls) == [["ackAll"]], "acknowledged only after summarize counted them"

    redelivered = _js_batch(bodies)

    async def second_delivery() -> Any:
        from cap_cloudflare_queue import MessageBatch

        return MessageBatch.from_js(redelivered.batch)

    jobs = await handle_jobs(caps, second_delivery, observer)
    assert (jobs.received, jobs.processed, jobs.duplicates) == (6, 0, 6)
    assert ffi.js_to_py(redelivered.calls) == [["ack", f"m{i}"] for i in range(1, 7)]

    summary = await read_summary(caps)
    assert summary is not None
    assert summary["events"] == before + 6, "each job counted exactly once"

    reports = observer.reports()
    assert [r.alias for r in reports] == list(declared_nodes())
    for r in reports:
        assert r.ok, (r.alias, [str(d) for d in r.diagnostics])
    return [
        {
            "node": r.alias,
            "effects": r.effects.json,
            "determinism": r.determinism.json,
            "effect_hints": sorted(r.effect_hints),
            "determinism_hints": sorted(r.determinism_hints),
        }
        for r in reports
    ]


async def check_worker_entry_fetch_and_queue(env: Any) -> None:
    """The reference Worker's own ``entry.py``: its ``fetch`` and ``queue`` handlers on real bindings."""
    import entry
    import js
    from workers import DurableObject

    from cap_cloudflare_do import DedupeLedger

    assert issubclass(entry.DedupeObject, DedupeLedger)
    assert issubclass(entry.DedupeObject, DurableObject)
    assert {"put_if_absent", "forget"} <= entry.DedupeObject.__rpc_methods__

    # the manifest's binding names, over the harness's bindings
    worker_env = {"PAYLOADS": env.BUCKET, "INDEX": env.KV, "JOBS": env.QUEUE, "DEDUPE": env.DEDUPE}
    worker = entry.Default.__new__(entry.Default)  # workerd constructs it; here there is no ctx
    worker.env = worker_env
    worker.ctx = None

    async def call(method: str, path: str, body: Any = None) -> tuple[int, str]:
        init: dict[str, Any] = {"method": method}
        if body is not None:
            init["body"] = body if isinstance(body, str) else json.dumps(body)
        request = js.Request.new(f"https://caps-demo.example{path}", ffi.to_js_options(init))
        response = await worker.fetch(request)
        return int(response.status), str(await response.text())

    marker = os.urandom(4).hex()
    events = _events(marker, 3)
    status, text = await call("POST", "/events", {"events": events})
    assert status == 202, text
    assert json.loads(text)["ingest"]["enqueued"] == 3

    status, text = await call("GET", f"/events/w{marker}-2")
    assert status == 200, text
    assert json.loads(text) == events[2]
    assert (await call("GET", "/events/nobody"))[0] == 404
    status, text = await call("POST", "/events", [{"id": "bad id"}])
    assert status == 400
    assert json.loads(text)["field"] == "events[0].id"
    assert (await call("POST", "/events", "{oops"))[0] == 400
    assert (await call("DELETE", "/summary"))[0] == 404

    before = json.loads((await call("GET", "/summary"))[1]).get("events", 0)
    bodies = await _jobs_arrived(env, marker, 3)
    made = _js_batch(bodies)
    await worker.queue(made.batch, worker_env, None)  # the SDK wraps the batch; from_js unwraps it
    assert ffi.js_to_py(made.calls) == [["ackAll"]]
    status, text = await call("GET", "/summary")
    assert status == 200
    assert json.loads(text)["events"] == before + 3
