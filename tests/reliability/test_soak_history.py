"""The soaks' history model (:mod:`tests.reliability.soak_history`), on made-up timelines and on the
failure one loaded CI run showed: a put that failed its deadline reached the service after a later
put had succeeded, and overwrote it (issue 12).

Each timeline is small enough to check by hand; each test also shows the model refusing what did
not happen, so a judge that accepted everything could not pass.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import pytest

from cap_cloudflare_r2 import R2Bucket
from cap_opendal_core.errors import DeadlineExceeded
from cap_opendal_core.layers import LayerSettings, RetryPolicy
from tests.reliability.soak_history import INF, Apply, Counters, Read, Registers, Write, applies_from, check
from tests.support.fault_proxy import FaultPlan, FaultProxy, ProxyRecord, ProxyRequest

if TYPE_CHECKING:
    from collections.abc import Callable

    from tests.support.moto_server import MotoS3


def _put(
    key: str, effect: str | None, start: float, end: float, *, certain: bool = True
) -> Apply[str | None]:
    return Apply(key, effect, start, end, certain)


def test_an_acknowledged_write_is_the_only_state_until_the_next() -> None:
    model = Registers([_put("k", "a", 1, 2), _put("k", "b", 5, 6)], None)
    assert model.possible("k", 0, 0.5) == {None}
    assert model.possible("k", 3, 4) == {"a"}  # not None: "a" certainly came between
    assert model.possible("k", 5.5, 7) == {"a", "b"}  # "b" overlaps the read
    assert model.possible("k") == {"b"}
    assert model.possible("other") == {None}


def test_a_late_failed_write_overwrites_a_newer_acknowledged_one() -> None:
    """The CI failure: put "old" failed (its call ended at 2) but its request reached the service at
    10, after put "new" (4-5) was acknowledged. "old" is the only possible end state; "new" only
    while it may still have been the latest."""
    late = _put("k", "old", 10, 11)  # the client gave up at 2: 2xx from the service all the same
    model = Registers([_put("k", "new", 4, 5), late], None)
    assert model.possible("k", 6, 7) == {"new"}
    assert model.possible("k", 6, 10.5) == {"new", "old"}
    assert model.possible("k") == {"old"}


def test_a_stale_retry_of_an_acknowledged_write_lands_again() -> None:
    """Attempt 1 of "a" was slow, attempt 2 was acknowledged at 2; "b" followed (3-4); then the slow
    attempt 1 landed (6-7): "a" again."""
    model = Registers([_put("k", "a", 1, 2), _put("k", "b", 3, 4), _put("k", "a", 6, 7)], None)
    assert model.possible("k", 4.5, 5) == {"b"}
    assert model.possible("k") == {"a"}


def test_unanswered_and_5xx_requests_stay_possible_but_never_fence() -> None:
    model = Registers([_put("k", "a", 1, 2), _put("k", "lost", 3, INF, certain=False)], None)
    assert model.possible("k", 100, 101) == {"a", "lost"}
    model = Registers([_put("k", None, 1, 2, certain=False), _put("k", "b", 3, 4)], None)
    assert model.possible("k", 1.5, 1.8) == {None}  # nothing certain yet: still the initial state
    assert model.possible("k", 5, 6) == {"b"}  # the uncertain delete (1-2) cannot follow "b"


def test_check_reports_unconfirmed_writes_and_impossible_reads() -> None:
    model = Registers([_put("k", "a", 1, 2), _put("k", None, 5, 6)], None)
    problems: list[str] = []
    lost: list[str] = []
    check(
        model,
        [
            Read("k", 3, 4, "a", "get"),  # fine
            Read("k", 7, 8, "a", "get"),  # deleted at 5-6: impossible
            Read("k", 7, 8, False, "list", lambda s: s is not None),  # fine: not listed
            Read("k", 3, 4, False, "list", lambda s: s is not None),  # "a" existed
        ],
        [
            Write("k", "a", 0.5, 2.5, "put"),  # fine
            Write("k", None, 4.5, 6.5, "delete"),  # fine
            Write("k", "a", 3, 4, "put"),  # acknowledged, but no request of it in 3-4
            Write("k", "c", 0, 10, "put"),  # never reached the service
        ],
        problems.append,
        lost.append,
    )
    assert len(problems) == 2
    assert "get of 'k' saw 'a'" in problems[0]
    assert "list" in problems[1]
    assert len(lost) == 2


def test_counters_sum_what_may_have_been_applied() -> None:
    model = Counters(
        [
            Apply("o", 1, 1, 2, True),
            Apply("o", 10, 3, 4, True),
            Apply("o", 100, 20, 21, True),  # a failed increment that arrived late
            Apply("o", 1000, 5, INF, False),  # got by the gateway, never answered
        ]
    )
    assert model.possible("o", 0, 0.5) == {0}
    assert model.possible("o", 5, 6) == {11, 1011}
    assert model.possible("o", 2.5, 3.5) == {1, 11}
    assert model.possible("o", 3.5, 6, without=(10).__eq__) == {1, 1001}
    assert model.possible("o") == {111, 1111}


# --- the CI failure, reproduced through the real proxy and moto ------------------------------------


def _first_put_of(body: bytes) -> Callable[[ProxyRequest], bool]:
    def eligible(req: ProxyRequest) -> bool:
        return req.method == "PUT" and req.body == body

    return eligible


def _classify(record: ProxyRecord) -> list[tuple[str, str | None]]:
    if record.method == "PUT" and not record.query:
        return [(record.path.rsplit("/", 1)[1], record.body.decode())]
    return []


@pytest.mark.anyio
async def test_a_put_that_timed_out_lands_after_a_newer_one(moto_s3: MotoS3) -> None:
    """The proxy holds put "old" until the client gave up, lets put "new" through, then releases "old"
    to moto. moto ends with "old": the ledger before issue 12 (a successful put leaves exactly its
    value) called that a lost write; the history model expects exactly it."""
    name = moto_s3.create_bucket("late")
    plan = FaultPlan(3, {"delay_request": 1.0}, flavor="s3", eligible=_first_put_of(b"old"))
    gives_up = LayerSettings(logging=False, deadline=0.5, retry=RetryPolicy(attempts=1))
    patient = LayerSettings(logging=False, deadline=60.0)  # no deadline of its own fires under load
    with FaultProxy(moto_s3.endpoint, plan) as proxy:
        proxy.gate = threading.Event()  # "old" waits in the proxy until the gate opens
        url = moto_s3.url(name, endpoint=proxy.origin)
        async with (
            R2Bucket.from_url(url, settings=gives_up) as hasty,
            R2Bucket.from_url(url, settings=patient) as bucket,
        ):
            with pytest.raises(DeadlineExceeded):
                await hasty.put("k", b"old")
            await bucket.put("k", b"new")
            got = await bucket.get("k")
            assert got is not None
            assert await got.read() == b"new"
        proxy.gate.set()
        await proxy.wait_quiet()
        model = Registers(applies_from(proxy.snapshot(), _classify), None)
    assert moto_s3.client().get_object(Bucket=name, Key="k")["Body"].read() == b"old"
    assert model.possible("k") == {"old"}
