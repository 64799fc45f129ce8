"""Soak scenario: Durable Objects through the gateway Worker (Miniflare), the httpx gateway client and
the proxy (run by ``tests/conformance/test_soak.py``).

Workers each drive two ``Counter`` objects: ``increment(n)`` (an RPC that writes: not idempotent, never
retried), ``describe`` (declared read-only: retried), ``fetch`` (not idempotent) and ``resolve_id``.
Each increment adds a number unique to it, so the requests the gateway saw can be told apart: every
increment call may reach the proxy at most once, and afterwards (read directly from the gateway,
without the proxy) each object's count must be exactly the sum of the increments the gateway
received — each applied once, none lost. Reads through the proxy (``describe``, and the count an
increment returns) must show a count the object may have had while they ran, worked out from when
the gateway got each increment (:mod:`tests.reliability.soak_history`): a failed increment may have
been applied, or may be applied later, if its request was held up on the way.
"""

from __future__ import annotations

import contextlib
import json
import random
import secrets
from collections import Counter
from typing import TYPE_CHECKING, Any

from cap_cloudflare_do import DurableObjectNamespace
from cap_opendal_core.layers import LayerSettings
from tests.reliability.soak_history import Counters, applies_from
from tests.reliability.soak_support import SoakLedger, SoakScenario, SoakTask, late_requests, soak_settings

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

    from tests.support.do_gateway import GatewayServer
    from tests.support.fault_proxy import FaultProxy, ProxyRecord

SEED = 31337
WORKERS = 12
OPS_PER_WORKER = 160
DEADLINE = 1.0
SETTINGS = soak_settings(DEADLINE)


class Worker:
    def __init__(self, number: int, ns: DurableObjectNamespace, ledger: SoakLedger, run: str) -> None:
        self.rng = random.Random(SEED * 1000 + number)
        self.number = number
        self.ns = ns
        self.ledger = ledger
        self.names = [f"soak-{run}-w{number:02d}-{j}" for j in range(2)]
        self.increments: list[tuple[str, int]] = []
        self.fetches: list[str] = []
        self.seen: list[tuple[str, float, float, int, int | None]] = []
        """(object, call start, call end, count seen, the call's own increment or None)."""

    async def run(self) -> None:
        for i in range(OPS_PER_WORKER):
            await self.step(i)

    async def step(self, i: int) -> Any:
        rng, ledger = self.rng, self.ledger
        name = rng.choice(self.names)
        stub = self.ns.get_by_name(name)
        roll = rng.random()
        if roll < 0.45:
            by = self.number * 10_000 + i + 1  # unique to this call
            self.increments.append((name, by))
            out = await ledger.run("rpc/increment", lambda: stub.increment(by), bound=DEADLINE)
            if out.ok:  # the count just before its own increment
                self.seen.append((name, out.started, out.ended, out.value - by, by))
            return out.error
        if roll < 0.80:
            out = await ledger.run("rpc/describe", lambda: stub.describe("soak"), bound=DEADLINE)
            if out.ok:
                self.seen.append((name, out.started, out.ended, out.value["count"], None))
            return out.error
        if roll < 0.90:
            url = f"https://object.example/soak/{self.number}/{i}"
            self.fetches.append(url)
            out = await ledger.run("fetch", lambda: stub.fetch(url, method="POST"), bound=DEADLINE)
            if out.ok:
                got = await out.value.json()
                if got != {"path": f"/soak/{self.number}/{i}", "method": "POST"}:
                    ledger.problem(f"fetch {url} answered {got!r}")
            return out.error
        out = await ledger.run(
            "resolve_id", lambda: self.ns.resolve_id(self.ns.id_from_name(name)), bound=DEADLINE
        )
        if out.ok and (out.value.hex is None or len(out.value.hex) != 64):
            ledger.problem(f"resolve_id of {name} gave {out.value!r}")
        return out.error


def _increment(record: ProxyRecord) -> list[tuple[str, int]]:
    """The increment an RPC request carries (object, amount), if it is one."""
    if not record.path.endswith("/rpc"):
        return []
    try:
        payload = json.loads(record.body)
    except ValueError:
        return []
    if payload.get("method") != "increment":
        return []
    return [(payload["target"]["name"], payload["args"][0])]


class DoSoak(SoakScenario):
    """The DO gateway Worker under Miniflare, through its httpx client."""

    capability = "do"
    seed = SEED
    flavor = "plain"

    def __init__(self, gateway: GatewayServer) -> None:
        self.gateway = gateway
        self.run = secrets.token_hex(4)
        self.workers: list[Worker] = []

    @contextlib.contextmanager
    def upstream(self) -> Iterator[str]:
        yield self.gateway.url

    @contextlib.asynccontextmanager
    async def load(self, proxy: FaultProxy, ledger: SoakLedger) -> AsyncIterator[list[SoakTask]]:
        async with DurableObjectNamespace.from_gateway(
            proxy.rewrite(self.gateway.url),
            binding="COUNTER",
            token=self.gateway.token,
            read_only={"describe"},
            settings=SETTINGS,
            timeout=3.0,
        ) as ns:
            self.workers = [Worker(n, ns, ledger, self.run) for n in range(WORKERS)]
            yield [worker.run for worker in self.workers]

    async def judge(self, records: list[ProxyRecord], upstream: str, ledger: SoakLedger) -> str:
        workers = self.workers
        # what the gateway received, per call: increments and fetches are never repeated
        reached: Counter[tuple[str, int]] = Counter()
        received: Counter[tuple[str, int]] = Counter()
        fetched: Counter[str] = Counter()
        for record in records:
            for call in _increment(record):
                reached[call] += 1
                if record.forwarded and record.upstream_status == 200:
                    received[call] += 1
            if record.path.endswith("/fetch"):
                fetched[json.loads(record.body)["url"]] += 1
        # at most once: a call its deadline cancelled before it was sent never arrives
        for worker in workers:
            for call in worker.increments:
                if reached[call] > 1:
                    ledger.problem(f"increment {call} reached the gateway {reached[call]} times")
            for url in worker.fetches:
                if fetched[url] > 1:
                    ledger.problem(f"fetch {url} reached the gateway {fetched[url]} times")

        # the counts seen through the proxy: ones the object may have had while the call ran
        model = Counters(applies_from(records, _increment))
        for worker in workers:
            for name, a, b, count, own in worker.seen:
                possible = model.possible(name, a, b, without=None if own is None else own.__eq__)
                if possible is not None and count not in possible:
                    what = "describe" if own is None else f"increment({own})"
                    ledger.problem(f"{what} of {name} saw {count}, expected one of {sorted(possible)}")

        # each object's count, read directly: exactly the increments the gateway received, once each
        async with DurableObjectNamespace.from_gateway(
            upstream, binding="COUNTER", token=self.gateway.token, settings=LayerSettings(logging=False)
        ) as direct:
            for worker in workers:
                for name in worker.names:
                    count = (await direct.get_by_name(name).describe("verify"))["count"]
                    # the increments the gateway answered 200, once each (plus any it got but never
                    # answered: those alone may or may not count)
                    possible = model.possible(name)
                    if possible is None or count not in possible:
                        ledger.lost(
                            f"{name} counts {count}, but the increments the gateway received sum to "
                            f"{sorted(possible or ())[:8]}"
                        )
        increments = sum(len(w.increments) for w in workers)
        return f", increments={increments}, applied={sum(received.values())}, late={late_requests(records)}"
