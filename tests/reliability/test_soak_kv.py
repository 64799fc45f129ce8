"""Soak: Workers KV's REST backend through the fault proxy, a few thousand mixed operations.

Workers each own a small set of keys and run a seeded sequence of puts (with and without metadata),
gets of every type (text, bytes, json, stream), get_with_metadata (text and bytes), bulk puts, gets
and deletes, deletes and listings. For every key the test keeps the set of states the namespace may
be in: a successful write leaves exactly its value; a failed one may or may not have landed (the
proxy may have lost the answer after the service applied it), so it adds its value to the
possibilities. Every read through the proxy must return one of them; afterwards every key is read
back directly (no proxy) and must hold one of them too — a key that does not is a lost write. KV
writes are last-writer-wins, so every operation is idempotent and the pipeline retries all of them.
"""

from __future__ import annotations

import json
import random
from typing import TYPE_CHECKING, Any

import anyio
import pytest

from cap_cloudflare_kv import CloudflareKvConfig, KvNamespace, KvWrite
from cap_opendal_core.errors import DeadlineExceeded
from cap_opendal_core.layers import LayerSettings, RetryPolicy
from tests.reliability.soak_support import SoakLedger, quicken
from tests.support.cf_kv_api import ACCOUNT_ID, NAMESPACE_ID, kv_api_server
from tests.support.fault_proxy import FaultPlan, FaultProxy

if TYPE_CHECKING:
    from tests.support.cf_kv_api import KvApi

pytestmark = pytest.mark.anyio

SEED = 9001
WORKERS = 8
OPS_PER_WORKER = 260
KEYS_PER_WORKER = 12
DEADLINE = 0.5
HTTP_TIMEOUT = 1.5
"""httpx's per-request timeout: what bounds a stalled *stream* read, which happens after get() returned."""
SETTINGS = LayerSettings(
    logging=False, deadline=DEADLINE, retry=RetryPolicy(attempts=4, base=0.005, cap=0.05)
)

Version = tuple[str, str | None] | None
"""A key's state: (value text, metadata as JSON) or None for absent."""


def _config(base_url: str, state: KvApi) -> CloudflareKvConfig:
    return CloudflareKvConfig(
        account_id=ACCOUNT_ID,
        namespace_id=NAMESPACE_ID,
        api_token=state.api.token,
        base_url=base_url,
        timeout=HTTP_TIMEOUT,
    )


class Worker:
    """One client's seeded sequence of operations on its own keys, and what each key may hold."""

    def __init__(self, number: int, kv: KvNamespace, ledger: SoakLedger, proxy: FaultProxy) -> None:
        self.rng = random.Random(SEED * 1000 + number)
        self.kv = kv
        self.ledger = ledger
        self.proxy = proxy
        self.keys = [f"w{number:02d}/k{j:02d}" for j in range(KEYS_PER_WORKER - 1)] + [
            f"w{number:02d}/ü ß/ key"
        ]
        self.possible: dict[str, set[Version]] = {key: {None} for key in self.keys}
        self.counter = 0
        self.number = number

    def _version(self, key: str) -> tuple[str, Any]:
        self.counter += 1
        value = json.dumps(
            {"key": key, "n": self.counter, "w": self.number, "pad": "x" * self.rng.randrange(200)}
        )
        metadata = {"n": self.counter, "tag": "ä"} if self.rng.random() < 0.5 else None
        return value, metadata

    def _written(self, key: str, version: Version, ok: bool) -> None:
        if ok:
            self.possible[key] = {version}
        else:
            self.possible[key].add(version)

    def _check(self, key: str, seen: Version, what: str) -> None:
        if seen not in self.possible[key]:
            self.ledger.problem(
                f"{what} of {key!r} returned {seen!r}, expected one of {self.possible[key]!r}"
            )

    async def _after(self, outcome_error: object) -> None:
        # A call cancelled by its deadline may leave a request the proxy is still forwarding; let it
        # land before the next operation on the same keys, so the model stays exact.
        if isinstance(outcome_error, DeadlineExceeded):
            await self.proxy.wait_idle()

    async def run(self) -> None:
        for _ in range(OPS_PER_WORKER):
            await self.step()

    async def step(self) -> None:
        rng, kv, ledger = self.rng, self.kv, self.ledger
        key = rng.choice(self.keys)
        roll = rng.random()
        if roll < 0.30:
            value, metadata = self._version(key)
            out = await ledger.run("put", lambda: kv.put(key, value, metadata=metadata), bound=DEADLINE)
            meta_json = None if metadata is None else json.dumps(metadata, sort_keys=True)
            self._written(key, (value, meta_json), out.ok)
        elif roll < 0.48:
            kind = rng.choice(["text", "bytes", "json", "stream"])

            async def read() -> str | None:
                got: Any = await kv.get(key, kind)
                if got is None:
                    return None
                if kind == "stream":
                    streamed: bytes = await got.read()
                    return streamed.decode()
                if kind == "bytes":
                    return bytes(got).decode()
                if kind == "json":
                    return json.dumps(got)
                return str(got)

            bound = DEADLINE + (HTTP_TIMEOUT if kind == "stream" else 0.0)
            out = await ledger.run(f"get/{kind}", read, bound=bound)
            if out.ok:
                values = {
                    None if v is None else (json.dumps(json.loads(v[0])) if kind == "json" else v[0])
                    for v in self.possible[key]
                }
                if out.value not in values:
                    ledger.problem(
                        f"get/{kind} of {key!r} returned {out.value!r}, expected one of {values!r}"
                    )
        elif roll < 0.58:
            # text is one bulk/get request; bytes is two (metadata, then the value)
            as_bytes = rng.random() < 0.4
            out = await ledger.run(
                "get_with_metadata",
                lambda: kv.get_with_metadata(key, "bytes" if as_bytes else "text"),
                bound=DEADLINE,
            )
            if out.ok:
                got = out.value
                value = bytes(got.value).decode() if as_bytes and got.value is not None else got.value
                seen: Version = (
                    None
                    if value is None
                    else (value, None if got.metadata is None else json.dumps(got.metadata, sort_keys=True))
                )
                self._check(key, seen, "get_with_metadata")
        elif roll < 0.66:
            out = await ledger.run("delete", lambda: kv.delete(key), bound=DEADLINE)
            self._written(key, None, out.ok)
        elif roll < 0.76:
            chosen = rng.sample(self.keys, rng.randint(2, 5))
            writes = []
            versions: dict[str, Version] = {}
            for k in chosen:
                value, metadata = self._version(k)
                writes.append(KvWrite(k, value, metadata=metadata))
                versions[k] = (value, None if metadata is None else json.dumps(metadata, sort_keys=True))
            out = await ledger.run("put_many", lambda: kv.put_many(writes), bound=DEADLINE)
            for k, version in versions.items():
                self._written(k, version, out.ok)
        elif roll < 0.84:
            chosen = rng.sample(self.keys, rng.randint(1, 6))
            out = await ledger.run("get_many", lambda: kv.get_many(chosen), bound=DEADLINE)
            if out.ok:
                for k in chosen:
                    values = {None if v is None else v[0] for v in self.possible[k]}
                    if out.value.get(k) not in values:
                        ledger.problem(
                            f"get_many of {k!r} returned {out.value.get(k)!r}, expected one of {values!r}"
                        )
        elif roll < 0.89:
            chosen = rng.sample(self.keys, rng.randint(1, 4))
            out = await ledger.run("delete_many", lambda: kv.delete_many(chosen), bound=DEADLINE)
            for k in chosen:
                self._written(k, None, out.ok)
        else:
            prefix = f"w{self.number:02d}/"
            out = await ledger.run("list", lambda: kv.list(prefix=prefix), bound=DEADLINE)
            if out.ok:
                listed = {k.name for k in out.value.keys}
                for k in self.keys:
                    if None not in self.possible[k] and k not in listed:
                        ledger.problem(f"list missed {k!r}, which must exist")
                    if self.possible[k] == {None} and k in listed:
                        ledger.problem(f"list showed {k!r}, which must not exist")
        await self._after(out.error)


async def test_kv_rest_soak_through_faults(capsys: pytest.CaptureFixture[str]) -> None:
    with kv_api_server() as state:
        quicken(state.api)
        upstream = state.api.base_url
        plan = FaultPlan.mixed(SEED, total=0.12, stall_share=0.1, flavor="cloudflare", stall_seconds=5.0)
        with FaultProxy(upstream, plan) as proxy:
            ledger = SoakLedger("kv")
            async with KvNamespace.from_config(
                _config(proxy.rewrite(upstream), state), settings=SETTINGS
            ) as kv:
                workers = [Worker(n, kv, ledger, proxy) for n in range(WORKERS)]
                with anyio.fail_after(120):
                    async with anyio.create_task_group() as group:
                        for worker in workers:
                            group.start_soon(worker.run)
            await proxy.wait_idle()

            # every key, read back directly (no proxy, no faults): one of the states it may be in
            async with KvNamespace.from_config(
                _config(upstream, state), settings=LayerSettings(logging=False)
            ) as direct:
                expected_keys = set()
                for worker in workers:
                    for key, possible in worker.possible.items():
                        got = await direct.get_with_metadata(key)
                        seen: Version = (
                            None
                            if got.value is None
                            else (
                                got.value,
                                None if got.metadata is None else json.dumps(got.metadata, sort_keys=True),
                            )
                        )
                        if seen not in possible:
                            ledger.lost(f"{key!r} holds {seen!r}, expected one of {possible!r}")
                        if seen is not None:
                            expected_keys.add(key)
                listed = {k.name async for k in direct.iter_keys()}
                if listed != expected_keys:
                    ledger.problem(f"the namespace lists {sorted(listed ^ expected_keys)} unexpectedly")
            ledger.report(proxy, capsys, seed=SEED)
