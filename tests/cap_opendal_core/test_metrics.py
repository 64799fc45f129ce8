"""In-process metrics: counts by outcome, retries, latency percentiles, snapshot and reset."""

from __future__ import annotations

import json

import pytest

from cap_opendal_core import metrics as metrics_module
from cap_opendal_core.metrics import BUCKET_BOUNDS, Metrics, metrics


def test_a_new_instance_is_empty() -> None:
    assert Metrics().snapshot() == {}


def test_counts_by_capability_operation_and_outcome() -> None:
    m = Metrics()
    for _ in range(3):
        m.observe("kv", "get", "ok", 0.001)
    m.observe("kv", "get", "not_found", 0.002)
    m.observe("kv", "get", "unavailable", 0.5)
    m.observe("kv", "get", "cancelled", 0.1)
    m.observe("r2", "put", "ok", 0.01)
    snap = m.snapshot()
    get = snap["kv"]["get"]
    assert get["count"] == 6
    assert get["ok"] == 3
    assert get["errors"] == {"not_found": 1, "unavailable": 1}
    assert get["cancelled"] == 1
    assert get["total_seconds"] == pytest.approx(0.003 + 0.002 + 0.5 + 0.1)
    assert set(get["outcomes"]) == {"ok", "not_found", "unavailable", "cancelled"}
    assert get["outcomes"]["ok"]["count"] == 3
    assert snap["r2"]["put"]["count"] == 1


def test_retries_are_counted_per_operation() -> None:
    m = Metrics()
    m.retry("kv", "get")
    m.retry("kv", "get", 2)
    m.observe("kv", "get", "ok", 0.001)
    assert m.snapshot()["kv"]["get"]["retries"] == 3


def test_an_operation_with_only_retries_still_shows() -> None:
    m = Metrics()
    m.retry("queue", "send")
    assert m.snapshot()["queue"]["send"]["retries"] == 1
    assert m.snapshot()["queue"]["send"]["count"] == 0
    assert m.snapshot()["queue"]["send"]["p50"] is None


def test_percentiles_of_identical_durations_are_that_duration() -> None:
    m = Metrics()
    for _ in range(100):
        m.observe("kv", "get", "ok", 0.004)
    get = m.snapshot()["kv"]["get"]
    assert get["p50"] == pytest.approx(0.004)
    assert get["p99"] == pytest.approx(0.004)


def test_percentiles_separate_a_slow_tail() -> None:
    m = Metrics()
    for _ in range(95):
        m.observe("kv", "get", "ok", 0.001)
    for _ in range(5):
        m.observe("kv", "get", "ok", 1.0)
    get = m.snapshot()["kv"]["get"]
    # estimates stay within the bucket holding the true value (four buckets per decade)
    assert 0.001 / 1.8 <= get["p50"] <= 0.001 * 1.8
    assert 0.001 / 1.8 <= get["p90"] <= 0.001 * 1.8
    assert 1.0 / 1.8 <= get["p99"] <= 1.0


def test_percentiles_are_ordered_and_within_observed_range() -> None:
    m = Metrics()
    durations = [0.0001 * 1.37**i for i in range(40)]
    for d in durations:
        m.observe("kv", "list", "ok", d)
    ok = m.snapshot()["kv"]["list"]["outcomes"]["ok"]
    assert min(durations) <= ok["p50"] <= ok["p90"] <= ok["p99"] <= max(durations)
    assert (ok["min"], ok["max"]) == (min(durations), max(durations))


def test_durations_beyond_the_last_bucket_are_kept() -> None:
    m = Metrics()
    m.observe("do", "alarm", "ok", 1_000.0)
    ok = m.snapshot()["do"]["alarm"]["outcomes"]["ok"]
    assert ok["histogram"] == [[None, 1]]
    assert ok["p50"] == pytest.approx(1_000.0)


def test_histogram_lists_only_non_empty_buckets() -> None:
    m = Metrics()
    m.observe("kv", "get", "ok", 0.0)
    m.observe("kv", "get", "ok", 0.003)
    hist = m.snapshot()["kv"]["get"]["outcomes"]["ok"]["histogram"]
    assert [count for _, count in hist] == [1, 1]
    assert hist[0][0] == BUCKET_BOUNDS[0]
    assert all(bound is not None and bound >= 0.003 for bound, _ in hist[1:])


def test_snapshot_is_plain_data() -> None:
    m = Metrics()
    m.observe("kv", "get", "ok", 0.001)
    m.retry("kv", "get")
    snap = m.snapshot()
    assert json.loads(json.dumps(snap)) == snap


def test_a_snapshot_does_not_change_with_later_calls() -> None:
    m = Metrics()
    m.observe("kv", "get", "ok", 0.001)
    snap = m.snapshot()
    m.observe("kv", "get", "ok", 0.001)
    assert snap["kv"]["get"]["count"] == 1


def test_reset_forgets_everything() -> None:
    m = Metrics()
    m.observe("kv", "get", "ok", 0.001)
    m.retry("kv", "get")
    m.reset()
    assert m.snapshot() == {}


def test_the_process_wide_instance_and_module_functions_agree() -> None:
    metrics_module.reset()
    metrics.observe("kv", "get", "ok", 0.001)
    assert metrics_module.snapshot()["kv"]["get"]["count"] == 1
    metrics_module.reset()
    assert metrics.snapshot() == {}


@pytest.mark.parametrize("bounds", [(), (0.0, 1.0), (1.0, 0.5), (1.0, 1.0)])
def test_bad_bucket_bounds_are_refused(bounds: tuple[float, ...]) -> None:
    with pytest.raises(ValueError, match="bucket bounds"):
        Metrics(bounds)
