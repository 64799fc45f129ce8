"""Each bug the bad-input properties found, pinned as a plain example (see ``docs/reliability.md``).

Every case was, before its fix, an exception other than ``InvalidInput``/``LimitExceeded`` (an
``OverflowError``, a ``TypeError``, a ``RecursionError``, a ``ValueError`` from printing an int, a
``BackendError`` from SQLite), a refusal that came only from inside the backend, input that was
accepted although it breaks the documented contract, or a batch that held one message twice.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import TYPE_CHECKING, Any

import pytest

from cap_cloudflare_do import DurableObjectNamespace
from cap_cloudflare_do.limits import ALARM_MAX_EPOCH_MS
from cap_cloudflare_kv import CloudflareKvConfig, KvNamespace
from cap_cloudflare_queue import CloudflareQueueConfig, MessageSendRequest, Queue, QueueConsumer
from cap_cloudflare_queue.limits import MAX_VISIBILITY_TIMEOUT_S
from cap_opendal_core.errors import InvalidInput
from cap_opendal_core.layers import LayerSettings
from tests.support.cf_api import CloudflareApi
from tests.support.cf_kv_api import ACCOUNT_ID as KV_ACCOUNT
from tests.support.cf_kv_api import NAMESPACE_ID as KV_NAMESPACE
from tests.support.cf_kv_api import kv_api_server
from tests.support.cf_queue_api import QueueApi

from . import bad_input_strategies as inputs
from .bad_input_judging import Outcome, answer_at_once, attempt
from .test_bad_input_do import Echo

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterator
    from pathlib import Path

pytestmark = pytest.mark.anyio

QUIET = LayerSettings(logging=False)
TOO_BIG_FOR_A_FLOAT = 2**1100
UTC_BEFORE_YEAR_1 = dt.datetime(1, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=5)))
UTC_AFTER_9999 = dt.datetime.max.replace(tzinfo=dt.timezone(dt.timedelta(hours=-5)))


def refused(outcome: Outcome, field: str) -> None:
    """Refused with ``InvalidInput`` naming ``field``, before the call reached the pipeline."""
    assert isinstance(outcome.error, InvalidInput), outcome
    assert outcome.error.field == field, outcome.error
    outcome.assert_refused_before_io()


# --- KV ----------------------------------------------------------------------------------------

KV_CASES: list[tuple[str, Callable[[KvNamespace], Awaitable[Any]], str]] = [
    (
        "ttl too big for a float",
        lambda kv: kv.put("k", "v", expiration_ttl=TOO_BIG_FOR_A_FLOAT),
        "expiration_ttl",
    ),
    (
        "expiration too big for a float",
        lambda kv: kv.put("k", "v", expiration=TOO_BIG_FOR_A_FLOAT),
        "expiration",
    ),
    ("cache_ttl too big for a float", lambda kv: kv.get("k", cache_ttl=TOO_BIG_FOR_A_FLOAT), "cache_ttl"),
    ("metadata with a lone surrogate", lambda kv: kv.put("k", "v", metadata={"a": "\ud800"}), "metadata"),
    (
        "metadata nested past the recursion limit",
        lambda kv: kv.put("k", "v", metadata=inputs.nested(5000)),
        "metadata",
    ),
]


@pytest.mark.parametrize(("name", "call", "field"), KV_CASES, ids=[c[0] for c in KV_CASES])
async def test_kv(
    name: str, call: Callable[[KvNamespace], Awaitable[Any]], field: str, tmp_path: Path
) -> None:
    async with KvNamespace.local(tmp_path / "kv", settings=QUIET) as kv:
        refused(await attempt(call(kv)), field)
        assert await kv.get("k") is None


async def test_kv_rest_next_page_after_a_short_one_never_asks_for_over_1000_keys() -> None:
    """A page under 10 keys continues from a cursor of the SDK's own (``cap~<skip>~…``); the next page
    asked Cloudflare for skip + limit keys — over the API's 1000 for a full page (HTTP 400)."""
    with kv_api_server() as state:
        answer_at_once(state.api)
        config = CloudflareKvConfig(
            account_id=KV_ACCOUNT,
            namespace_id=KV_NAMESPACE,
            api_token=state.api.token,
            base_url=state.api.base_url,
        )
        async with KvNamespace.from_config(config, settings=QUIET) as kv:
            await kv.put_many({f"k{i:02}": "v" for i in range(15)})
            first = await kv.list(limit=3)
            assert first.cursor is not None
            rest = await kv.list(limit=1000, cursor=first.cursor)
        assert [k.name for k in first.keys + rest.keys] == [f"k{i:02}" for i in range(15)]
        assert rest.list_complete
        limits_asked = [int(r.arg("limit") or 0) for r in state.api.requests if r.path.endswith("/keys")]
        assert max(limits_asked) <= 1000


# --- Queues ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("option", "field"),
    [
        ({"visibility_timeout": TOO_BIG_FOR_A_FLOAT}, "visibility_timeout"),
        ({"wait_time": TOO_BIG_FOR_A_FLOAT}, "wait_time"),
    ],
)
async def test_queue_pull_options_too_big_for_a_float(
    option: dict[str, Any], field: str, tmp_path: Path
) -> None:
    async with QueueConsumer.local(tmp_path, "q", settings=QUIET) as consumer:
        refused(await attempt(consumer.pull(**option)), field)


@pytest.mark.parametrize("option", ["poll_interval", "visibility_timeout"])
def test_queue_consumer_settings_too_big_for_a_float(option: str, tmp_path: Path) -> None:
    options: dict[str, Any] = {option: TOO_BIG_FOR_A_FLOAT}
    with pytest.raises(InvalidInput) as caught:
        QueueConsumer.local(tmp_path, "q", settings=QUIET, **options)
    assert caught.value.field == option


@pytest.mark.parametrize("junk", [None, 42, 1.5])
async def test_queue_settling_something_that_is_not_a_list_of_messages(junk: Any, tmp_path: Path) -> None:
    async with QueueConsumer.local(tmp_path, "q", settings=QUIET) as consumer:
        refused(await attempt(consumer.ack(junk)), "messages")
        refused(await attempt(consumer.retry(junk)), "messages")


class SteppingClock:
    """Epoch seconds that move one second each time they are read: every claim of a pull sees the
    leases of the claims before it run out."""

    def __init__(self) -> None:
        self.now = time.time() + 3600  # after the messages were sent (on the real clock)

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


async def test_a_pull_never_holds_one_message_twice(tmp_path: Path) -> None:
    """A pull that waits to fill its batch claims again; a message whose first lease ran out meanwhile
    came back a second time in the same batch (with two leases). It now appears once, newest lease."""
    async with Queue.local(tmp_path, "q", settings=QUIET) as producer:
        await producer.send_batch([MessageSendRequest(i) for i in range(3)])
    async with QueueConsumer.local(
        tmp_path, "q", settings=QUIET, clock=SteppingClock(), poll_interval=0.005
    ) as c:
        batch = await c.pull(batch_size=10, visibility_timeout=0.001, wait_time=0.05)
    ids = [m.id for m in batch]
    assert sorted(m.body for m in batch) == [0, 1, 2]
    assert len(ids) == len(set(ids))
    assert all(m.attempts > 1 for m in batch), "each was claimed again, and only its newest lease is kept"


@pytest.fixture
def queue_api() -> Iterator[tuple[CloudflareApi, QueueApi]]:
    with CloudflareApi() as api:
        answer_at_once(api)
        yield api, QueueApi(api)


async def test_a_waiting_pull_never_asks_for_a_lease_over_12_hours(
    queue_api: tuple[CloudflareApi, QueueApi],
) -> None:
    """The lease of a waiting pull is stretched by the time left to wait; at the 12-hour maximum that
    asked Cloudflare for more than it allows (HTTP 400)."""
    api, _ = queue_api
    config = CloudflareQueueConfig(
        account_id=api.account_id,
        queue_id="0123456789abcdef0123456789abcdef",
        api_token=api.token,
        base_url=api.base_url,
    )
    async with QueueConsumer.from_config(config, settings=QUIET, poll_interval=0.01) as consumer:
        batch = await consumer.pull(visibility_timeout=MAX_VISIBILITY_TIMEOUT_S, wait_time=0.05)
    assert len(batch) == 0
    pulls = [json.loads(r.body) for r in api.requests if r.path.endswith("/pull")]
    assert pulls
    assert all(p["visibility_timeout_ms"] <= MAX_VISIBILITY_TIMEOUT_S * 1000 for p in pulls)


# --- Durable Objects ---------------------------------------------------------------------------


@pytest.mark.parametrize("when", [ALARM_MAX_EPOCH_MS + 1, 2**63, TOO_BIG_FOR_A_FLOAT, 1e300])
async def test_do_alarm_past_any_js_date(when: Any) -> None:
    async with DurableObjectNamespace.local(":memory:", Echo, settings=QUIET) as ns:
        runtime = ns.runtime
        assert runtime is not None
        storage = runtime.storage(ns.id_from_name("a"))
        refused(await attempt(storage.set_alarm(when)), "scheduled_time")
        assert await storage.get_alarm() is None


@pytest.mark.parametrize(
    "value",
    [UTC_BEFORE_YEAR_1, UTC_AFTER_9999, 10**5000, {"deep": [UTC_BEFORE_YEAR_1]}],
    ids=["utc-before-year-1", "utc-after-9999", "int-of-5001-digits", "nested"],
)
async def test_do_values_with_no_wire_form(value: Any) -> None:
    async with DurableObjectNamespace.local(":memory:", Echo, settings=QUIET) as ns:
        runtime = ns.runtime
        assert runtime is not None
        storage = runtime.storage(ns.id_from_name("a"))
        refused(await attempt(storage.put("k", value)), "value")
        refused(await attempt(ns.get_by_name("a").call("echo", value)), "args")
        assert await storage.list() == {}


@pytest.mark.parametrize("jurisdiction", [["eu"], {"eu": 1}])
async def test_do_unhashable_jurisdiction(jurisdiction: Any) -> None:
    async with DurableObjectNamespace.local(":memory:", Echo, settings=QUIET) as ns:
        with pytest.raises(InvalidInput):
            ns.new_unique_id(jurisdiction=jurisdiction)
        refused(await attempt(ns.resolve_id(jurisdiction=jurisdiction)), "jurisdiction")


async def test_do_fetch_body_with_a_lone_surrogate() -> None:
    """A str body is sent as UTF-8; one that cannot be raised UnicodeEncodeError."""
    async with DurableObjectNamespace.local(":memory:", Echo, settings=QUIET) as ns:
        refused(await attempt(ns.get_by_name("a").fetch("https://do/", method="POST", body="\ud800")), "body")


async def test_do_fetch_header_values_must_be_str_even_when_repeated() -> None:
    """Repeating a header name joined its values into one string, so non-str values passed."""
    async with DurableObjectNamespace.local(":memory:", Echo, settings=QUIET) as ns:
        headers: Any = [("a", 0), ("A", 1)]
        outcome = await attempt(ns.get_by_name("a").fetch("https://do/", headers=headers))
        refused(outcome, "headers")
