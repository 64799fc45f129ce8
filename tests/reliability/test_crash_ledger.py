"""The crash tests' judges catch what they claim to: each failure they look for, shown on a made-up run.

Without this, a judge that accepted everything would make every crash test pass. Each case feeds
:meth:`Ledger.judge` (or the queue's ``judge``) the events of an imaginary writer and the state an
imaginary restart found.
"""

from __future__ import annotations

from typing import Any

import pytest

from .crash_writers.harness import CrashStats, Ledger, Op, WriterRun
from .test_crash_queue import judge as judge_queue


def _run(*ops: Op, notes: list[Any] | None = None) -> WriterRun:
    return WriterRun(list(ops), list(notes or []), 0.0, "")


def _op(
    seq: int,
    *,
    puts: tuple[str, ...] = (),
    deletes: tuple[str, ...] = (),
    atomic: bool = False,
    acked: bool = True,
    name: str = "op",
) -> Op:
    return Op(seq, name, puts, deletes, atomic, acked)


def _judge(ledger: Ledger, run: WriterRun, actual: dict[str, int]) -> list[str]:
    return ledger.judge(run, actual, CrashStats("test"))


def test_the_last_acknowledged_write_or_the_one_in_flight_is_accepted() -> None:
    run = _run(_op(1, puts=("a",)), _op(2, puts=("a",), acked=False))
    assert _judge(Ledger(), run, {"a": 1}) == []
    assert _judge(Ledger(), run, {"a": 2}) == []


@pytest.mark.parametrize(
    ("actual", "complaint"),
    [
        ({}, "acknowledged write is missing"),
        ({"a": 0}, "not the acknowledged write 1"),
        ({"a": 1, "zzz": 7}, "phantom"),
    ],
)
def test_lost_stale_and_phantom_writes_are_caught(actual: dict[str, int], complaint: str) -> None:
    ledger = Ledger({"a": 0})
    problems = _judge(ledger, _run(_op(1, puts=("a",))), actual)
    assert len(problems) == 1
    assert complaint in problems[0]


def test_a_value_resurrected_after_an_acknowledged_delete_is_caught() -> None:
    problems = _judge(Ledger({"a": 0}), _run(_op(1, deletes=("a",))), {"a": 0})
    assert problems
    assert "acknowledged delete" in problems[0]


def test_state_carries_over_to_the_next_life() -> None:
    ledger = Ledger()
    assert _judge(ledger, _run(_op(1, puts=("a",))), {"a": 1}) == []
    assert _judge(ledger, _run(), {}) != [], "a restart that lost a key is caught one life later"


def test_an_atomic_batch_in_flight_must_be_all_or_nothing() -> None:
    batch = _op(5, puts=("a", "b"), deletes=("c",), atomic=True, acked=False)
    before = {"c": 1}
    assert _judge(Ledger(dict(before)), _run(batch), {"c": 1}) == []
    assert _judge(Ledger(dict(before)), _run(batch), {"a": 5, "b": 5}) == []
    problems = _judge(Ledger(dict(before)), _run(batch), {"a": 5, "c": 1})
    assert any("is torn" in p for p in problems)
    loose = _op(5, puts=("a", "b"), acked=False)
    assert _judge(Ledger(), _run(loose), {"a": 5}) == [], "a non-atomic batch may be half done"


def test_queue_judge_catches_redelivery_loss_torn_batches_and_bad_attempts() -> None:
    sent = _op(1, puts=("m1", "m2", "m3"), atomic=True, name="send_batch")
    acked = _op(2, deletes=("m1",), atomic=True, name="ack")
    pulled = [{"pulled": ["m1", "m2"]}]
    ok = judge_queue(_run(sent, acked, notes=pulled), [("m2", 2), ("m3", 1)], CrashStats("q"))
    assert ok == []

    def complaints(drained: list[tuple[str, int]], *extra: Op) -> str:
        return "\n".join(judge_queue(_run(sent, acked, *extra, notes=pulled), drained, CrashStats("q")))

    assert "acked, yet delivered again" in complaints([("m1", 2), ("m2", 2), ("m3", 1)])
    assert "never acked, yet is gone" in complaints([("m2", 2)])
    assert "came back 2 times" in complaints([("m2", 2), ("m2", 2), ("m3", 1)])
    assert "attempts 1 after 1 reported pulls" in complaints([("m2", 1), ("m3", 1)])
    in_flight = _op(3, puts=("m4", "m5"), atomic=True, acked=False, name="send_batch")
    assert "is torn" in complaints([("m2", 2), ("m3", 1), ("m4", 1)], in_flight)
    assert complaints([("m2", 2), ("m3", 1), ("m4", 1), ("m5", 1)], in_flight) == ""
    assert "never sent" in complaints([("m2", 2), ("m3", 1), ("m9", 1)])
