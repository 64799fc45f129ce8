"""Differential: the local queue's consumer observes what a Python handler observes on Workers.

The Workers harness runs the seeded rounds of ``tests/workers/checks/check_queue_differential.py``
over Miniflare's real queue (producer binding, the broker's batching, retries, ``max_retries`` and
dead-letter queue, batches handed to ``MessageBatch.from_js(...).process``); here the same rounds run
over ``Queue.local`` / ``QueueConsumer.local`` with the same settings and a clock the test moves, and
every message must have gone through the same deliveries: bodies and their types, attempts counts,
the calls the handler made and their refusals, what came back after a retry, a ``retry_all`` or a
raise, and what reached the dead-letter queue. Other seeds: ``CAP_DIFF_SEED=N``.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

import pytest

from tests.workers.checks.check_queue_differential import ROUNDS, make_plan, run_local, seed_from

if TYPE_CHECKING:
    from pathlib import Path

    from tests.support.workers_harness import HarnessRun

pytestmark = pytest.mark.anyio


def _comparable(record: dict[str, Any]) -> list[Any]:
    """Every round but the probe (a known difference, compared on its own)."""
    return [r for r in record["rounds"] if r["name"] != "probe"]


def _first_difference(local: list[Any], binding: list[Any]) -> str:
    for mine, theirs in zip(local, binding, strict=False):
        if mine == theirs:
            continue
        for key in mine["messages"]:
            a, b = mine["messages"][key], theirs["messages"].get(key)
            if a != b:
                return (
                    f"round {mine['name']} ({mine['policy']}), message {key}:"
                    f"\n  local:   {json.dumps(a)[:1500]}\n  binding: {json.dumps(b)[:1500]}"
                )
        return f"\n  local:   {json.dumps(mine)[:1500]}\n  binding: {json.dumps(theirs)[:1500]}"
    return f"lengths differ: local {len(local)}, binding {len(binding)}"


def _probe_attempts(record: dict[str, Any]) -> list[int]:
    (probe,) = [r for r in record["rounds"] if r["name"] == "probe"]
    return [d["attempts"] for d in probe["messages"]["probem0"]["deliveries"]]


@pytest.mark.workers
async def test_local_consumer_matches_the_workers_consumer(harness_run: HarnessRun, tmp_path: Path) -> None:
    got = harness_run.result("check_queue_differential::check_consumer_sequence")
    assert got["seed"] == seed_from(os.environ.get("CAP_DIFF_SEED"))
    binding = got["record"]
    assert binding["incomplete"] == [], "rounds Miniflare did not finish"
    assert binding["strays"] == []
    local = json.loads(json.dumps(await run_local(got["seed"], tmp_path)))
    assert local["incomplete"] == []
    assert local["strays"] == []
    assert _comparable(local) == _comparable(binding), _first_difference(
        _comparable(local), _comparable(binding)
    )
    # The known difference (docs/testing-your-flows.md): an explicit ack() followed by a raise. The local
    # queue keeps the ack (Cloudflare's documented rule); Miniflare's broker retries the whole batch.
    assert _probe_attempts(local) == [1]
    assert _probe_attempts(binding) == [1, 2], (
        "Miniflare now keeps explicit acks when a handler raises: drop the row from the known "
        "differences table and compare the probe like any other round"
    )


async def test_the_sequence_exercises_what_it_claims(tmp_path: Path) -> None:
    """Without the harness: the default seed reaches every kind of call and outcome it should."""
    seed = seed_from(None)
    record = await run_local(seed, tmp_path)
    assert record["incomplete"] == []
    assert record["strays"] == []
    assert record["operations"] >= 300, record["operations"]
    seen: set[str] = set()
    for rnd in _comparable(record):
        seen.add(f"policy:{rnd['policy']}")
        for message in rnd["messages"].values():
            assert message["one_id"], "redeliveries and the dead-letter copy keep the id"
            assert message["ids_are_32_hex"]
            assert message["one_timestamp"]
            deliveries = message["deliveries"]
            assert [d["attempts"] for d in deliveries] == list(range(1, len(deliveries) + 1))
            seen.add(f"type:{deliveries[0]['type']}")
            if message["dead_lettered"]:
                assert len(deliveries) == 4, "dead-lettered after max_retries = 3"
                assert [d["attempts"] for d in message["dead_lettered"]] == [1]
                assert message["dead_lettered"][0]["body"] == deliveries[0]["body"]
                seen.add("dead_lettered")
            elif len(deliveries) > 1:
                seen.add("redelivered_then_acked")
            for d in deliveries:
                for call in d["calls"]:
                    seen.add(f"call:{call[0]}:{call[-2] if len(call) > 3 else call[-1]}")
        for send in rnd["sends"]:
            if send[0] not in ("send", "send_batch"):
                seen.add(f"refused_send:{send[1]}")
            else:
                seen.add(send[0])
    wanted = {
        "policy:return", "policy:ack_all", "policy:retry_all", "policy:raise", "type:dict", "type:str",
        "type:bytes", "dead_lettered", "redelivered_then_acked", "call:ack:ack", "call:retry:retry",
        "call:retry:InvalidInput", "call:retry:LimitExceeded", "call:retry_all:InvalidInput",
        "send", "send_batch", "refused_send:InvalidInput",
    }  # fmt: skip
    assert not wanted - seen, sorted(wanted - seen)
    assert len(make_plan(seed)) == ROUNDS + 1
