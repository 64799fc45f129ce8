"""The Workers binding and the local queue deliver the same bodies for the same content types.

The Pyodide check sends bodies through Miniflare's producer binding and returns what the JS consumer
received; here the same bodies go through the local queue and must come out equal (``v8`` exists only
on Workers, so the local queue refuses it instead).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from cap_cloudflare_queue import Queue, QueueConsumer
from cap_opendal_core.errors import Unsupported

if TYPE_CHECKING:
    from pathlib import Path

    from cap_opendal_core.layers import LayerSettings
    from tests.support.workers_harness import HarnessRun

pytestmark = [pytest.mark.workers, pytest.mark.anyio]


def _as_sent(case: dict[str, Any]) -> Any:
    return bytes(case["body"]) if case["content_type"] == "bytes" else case["body"]


async def test_local_queue_matches_what_the_workers_consumer_received(
    harness_run: HarnessRun, tmp_path: Path, quiet: LayerSettings
) -> None:
    cases: list[dict[str, Any]] = harness_run.result("check_queue::check_content_types_reach_the_js_consumer")
    assert [c["content_type"] for c in cases] == ["json", "text", "bytes"]
    for case in cases:
        assert case["received"] == case["body"], f"Workers changed a {case['content_type']} body"
    async with (
        Queue.local(tmp_path, "diff", settings=quiet) as q,
        QueueConsumer.local(tmp_path, "diff", settings=quiet) as c,
    ):
        for case in cases:
            await q.send(_as_sent(case), content_type=case["content_type"])
        with pytest.raises(Unsupported, match="v8"):
            await q.send({"when": "now"}, content_type="v8")
        batch = await c.pull(batch_size=10)
        local = {m.content_type: m.body for m in batch}
    for case in cases:
        assert local[case["content_type"]] == _as_sent(case)
    assert {c["type"] for c in cases} == {"Object", "String", "ArrayBuffer"}
