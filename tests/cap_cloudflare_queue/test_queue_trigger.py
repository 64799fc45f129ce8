"""QueueTrigger: validated against Cloudflare's limits, rendered as wrangler config and flow metadata."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from typing import Any

import pytest

from cap_cloudflare_queue import QueueTrigger
from cap_opendal_core.errors import InvalidInput
from cap_opendal_core.validate import check_node


def test_wrangler_consumer_section() -> None:
    trigger = QueueTrigger(
        queue="jobs", max_batch_size=10, max_batch_timeout=5, max_retries=3, dead_letter_queue="jobs-dlq"
    )
    text = trigger.wrangler_toml(name="flow-worker", compatibility_date="2026-04-01")
    doc = tomllib.loads(text)
    assert doc["queues"]["consumers"] == [
        {
            "queue": "jobs",
            "max_batch_size": 10,
            "max_batch_timeout": 5,
            "max_retries": 3,
            "dead_letter_queue": "jobs-dlq",
        }
    ]
    assert "producers" not in doc["queues"]
    assert doc["name"] == "flow-worker"
    with_producer = tomllib.loads(QueueTrigger("jobs", max_concurrency=2).wrangler_toml(producer=True))
    assert with_producer["queues"]["producers"] == [{"binding": "JOBS", "queue": "jobs"}]
    assert with_producer["queues"]["consumers"] == [{"queue": "jobs", "max_concurrency": 2}]


def test_the_manifest_round_trips() -> None:
    manifest = QueueTrigger("ingest-logs", max_retries=0, binding="LOGS").manifest()
    spec = manifest["LOGS"]
    assert (spec.kind, spec.queue, spec.producer) == ("queue", "ingest-logs", False)
    assert spec.consumer is not None
    assert spec.consumer.max_retries == 0
    assert QueueTrigger("ingest-logs").binding_name == "INGEST_LOGS"
    assert QueueTrigger("9lives").binding_name == "QUEUE_9LIVES"


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"queue": "Jobs"}, "queue name"),
        ({"max_batch_size": 0}, "max_batch_size"),
        ({"max_batch_size": 101}, "100 messages"),
        ({"max_batch_timeout": 61}, "max_batch_timeout"),
        ({"max_batch_timeout": 1.5}, "max_batch_timeout"),
        ({"max_retries": 101}, "max_retries"),
        ({"max_retries": -1}, "max_retries"),
        ({"max_concurrency": 0}, "max_concurrency"),
        ({"max_concurrency": 251}, "max_concurrency"),
        ({"dead_letter_queue": "jobs"}, "must differ"),
        ({"dead_letter_queue": "DLQ"}, "dead_letter_queue"),
        ({"binding": "not-an-identifier"}, "binding"),
    ],
)
def test_settings_outside_the_limits_are_refused(kwargs: dict[str, Any], needle: str) -> None:
    fields: dict[str, Any] = {"queue": "jobs", **kwargs}
    with pytest.raises(Exception, match=needle) as caught:
        QueueTrigger(**fields)
    assert isinstance(caught.value, InvalidInput) or caught.value.code == "limit_exceeded"  # type: ignore[attr-defined]


def test_flow_metadata_and_node_pass_the_hint_validator() -> None:
    trigger = QueueTrigger("jobs", max_batch_size=20, max_retries=5, dead_letter_queue="jobs-dlq")
    meta = trigger.flow_metadata()
    assert meta["consumer"] == {"max_batch_size": 20, "max_retries": 5, "dead_letter_queue": "jobs-dlq"}
    assert (meta["delivery"], meta["ordering"]) == ("at_least_once", "unordered")
    node = trigger.flow_node("trigger", flow_id="flow-1")
    assert node["id"] == "flow-1::trigger"
    assert node["kind"] == "trigger"
    assert node["effectHints"] == ["resource::queue::consume"]
    assert check_node(node["alias"], node["effects"], node["determinism"], node["effectHints"]) == []
    # the claim a queue-triggered node cannot make: strict determinism while consuming a queue
    diagnostics = check_node("trigger", "read_only", "strict", node["effectHints"])
    assert [d.code for d in diagnostics] == ["DET301"]

    from cap_opendal_core.flowir import NodeIR

    parsed = NodeIR.model_validate(node)
    assert parsed.effect_hints == ("resource::queue::consume",)


def test_the_plugin_points_at_real_constructors() -> None:
    from cap_cloudflare_queue.plugin import PLUGIN

    for name in PLUGIN.constructors:
        assert callable(PLUGIN.constructor(name)), name
    assert PLUGIN.descriptor.delivery == "at_least_once"


def test_importing_the_package_is_cheap_and_pulls_no_server_dependencies() -> None:
    code = (
        "import sys, asyncio, time\n"
        "t = time.perf_counter()\n"
        "import cap_cloudflare_queue\n"
        "from cap_cloudflare_queue import Queue, QueueConsumer, MessageBatch, QueueTrigger\n"
        "elapsed = time.perf_counter() - t\n"
        "heavy = [m for m in ('opendal', 'pydantic', 'httpx', 'structlog') if m in sys.modules]\n"
        "print(heavy, 'cap_opendal_core.ffi' in sys.modules, elapsed)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out[0] == "[]", f"imported at import time: {out[0]}"
    assert out[1] == "False"
