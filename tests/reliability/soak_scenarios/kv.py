"""Soak scenario: Workers KV's REST backend through the fault proxy, a few thousand mixed operations
(run by ``tests/conformance/test_soak.py``).

Workers each own a small set of keys and run a seeded sequence of puts (with and without metadata),
gets of every type (text, bytes, json, stream), get_with_metadata (text and bytes), bulk puts, gets
and deletes, deletes and listings. What each key may hold at a moment is worked out afterwards from
the requests the stand-in got and when (:mod:`tests.reliability.soak_history`): a failed write may
have landed, or may land later — over a newer value — if its request was held up on the way; a
retried write may land twice. Every acknowledged write must have reached the stand-in inside its
call; every read through the proxy must have seen a state the key may have had while it ran; and
every key, read back directly (no proxy), must hold a state it may end in — otherwise it is a lost
write. KV writes are last-writer-wins, so every operation is idempotent and the pipeline retries all
of them.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from cap_cloudflare_kv import CloudflareKvConfig, KvNamespace, KvWrite
from cap_opendal_core.layers import LayerSettings
from tests.reliability.soak_history import Registers, applies_from, check
from tests.reliability.soak_support import (
    RegisterWorker,
    SoakLedger,
    SoakScenario,
    SoakTask,
    late_requests,
    quicken,
    soak_settings,
)
from tests.support.cf_kv_api import kv_api_server

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

    from cap_cloudflare_kv import ValueType
    from tests.support.cf_kv_api import KvApi
    from tests.support.fault_proxy import FaultProxy, ProxyRecord

SEED = 9001
WORKERS = 8
OPS_PER_WORKER = 260
KEYS_PER_WORKER = 12
DEADLINE = 0.5
HTTP_TIMEOUT = 1.5
"""httpx's per-request timeout: what bounds a stalled *stream* read, which happens after get() returned."""
SETTINGS = soak_settings(DEADLINE)

Version = tuple[str, str | None] | None
"""A key's state: (value text, metadata as JSON) or None for absent."""


def _config(base_url: str, state: KvApi) -> CloudflareKvConfig:
    return state.config(base_url=base_url, timeout=HTTP_TIMEOUT)


MARK = re.compile(r"~w\d\d\.\d{4}~")
"""The mark every value carries (plain ASCII: the same in a raw body, a form part and bulk JSON)."""


def _value_only(state: Version) -> str | None:
    return None if state is None else state[0]


def _as_json(state: Version) -> str | None:
    return None if state is None else json.dumps(json.loads(state[0]))


class Worker(RegisterWorker):
    """One client's seeded sequence of operations on its own keys, and what it saw."""

    def __init__(self, number: int, kv: KvNamespace, ledger: SoakLedger) -> None:
        keys = [f"w{number:02d}/k{j:02d}" for j in range(KEYS_PER_WORKER - 1)] + [f"w{number:02d}/ü ß/ key"]
        super().__init__(number, ledger, seed=SEED, ops=OPS_PER_WORKER, keys=keys)
        self.kv = kv
        self.versions: dict[str, tuple[str, Version]] = {}
        """mark → (key, the state a write of it leaves)."""

    def _version(self, key: str) -> tuple[str, Any, Version]:
        self.counter += 1
        mark = f"~w{self.number:02d}.{self.counter:04d}~"
        value = json.dumps({"key": key, "mark": mark, "w": self.number, "pad": "x" * self.rng.randrange(200)})
        metadata = {"n": self.counter, "tag": "ä"} if self.rng.random() < 0.5 else None
        version: Version = (value, None if metadata is None else json.dumps(metadata, sort_keys=True))
        self.versions[mark] = (key, version)
        return value, metadata, version

    async def step(self) -> None:
        rng, kv, ledger = self.rng, self.kv, self.ledger
        key = rng.choice(self.keys)
        roll = rng.random()
        if roll < 0.30:
            value, metadata, version = self._version(key)
            out = await ledger.run("put", lambda: kv.put(key, value, metadata=metadata), bound=DEADLINE)
            self._written(key, version, out, "put")
        elif roll < 0.48:
            kind: ValueType = rng.choice(["text", "bytes", "json", "stream"])

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
                self._read(key, out, out.value, f"get/{kind}", _as_json if kind == "json" else _value_only)
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
                self._read(key, out, seen, "get_with_metadata")
        elif roll < 0.66:
            out = await ledger.run("delete", lambda: kv.delete(key), bound=DEADLINE)
            self._written(key, None, out, "delete")
        elif roll < 0.76:
            chosen = rng.sample(self.keys, rng.randint(2, 5))
            writes = []
            versions: dict[str, Version] = {}
            for k in chosen:
                value, metadata, version = self._version(k)
                writes.append(KvWrite(k, value, metadata=metadata))
                versions[k] = version
            out = await ledger.run("put_many", lambda: kv.put_many(writes), bound=DEADLINE)
            for k, version in versions.items():
                self._written(k, version, out, "put_many")
        elif roll < 0.84:
            chosen = rng.sample(self.keys, rng.randint(1, 6))
            out = await ledger.run("get_many", lambda: kv.get_many(chosen), bound=DEADLINE)
            if out.ok:
                for k in chosen:
                    self._read(k, out, out.value.get(k), "get_many", _value_only)
        elif roll < 0.89:
            chosen = rng.sample(self.keys, rng.randint(1, 4))
            out = await ledger.run("delete_many", lambda: kv.delete_many(chosen), bound=DEADLINE)
            for k in chosen:
                self._written(k, None, out, "delete_many")
        else:
            out = await ledger.run("list", lambda: kv.list(prefix=self.prefix), bound=DEADLINE)
            self._listed(out, lambda page: (k.name for k in page.keys))


def _classifier(versions: dict[str, tuple[str, Version]], ledger: SoakLedger) -> Any:
    """What a request the stand-in got would leave in which key (nothing for reads)."""

    def effect(key: str, text: str, record: ProxyRecord) -> tuple[str, Version]:
        marks = MARK.findall(text)
        if len(marks) != 1 or marks[0] not in versions or versions[marks[0]][0] != key:
            ledger.problem(f"the stand-in got a write of {key!r} no call made: {record.target}")
            return key, ("?", None)
        return key, versions[marks[0]][1]

    def classify(record: ProxyRecord) -> list[tuple[str, Version]]:
        path = record.path
        if "/values/" in path:
            key = unquote(path.split("/values/", 1)[1])
            if record.method == "PUT":
                return [effect(key, record.body.decode("utf-8", "replace"), record)]
            if record.method == "DELETE":
                return [(key, None)]
            return []
        if path.endswith("/bulk") and record.method == "PUT":
            out = []
            for item in json.loads(record.body):
                value = item["value"]
                text = base64.b64decode(value).decode() if item.get("base64") else value
                out.append(effect(item["key"], text, record))
            return out
        if path.endswith("/bulk/delete") and record.method == "POST":
            return [(key, None) for key in json.loads(record.body)]
        return []

    return classify


class KvSoak(SoakScenario):
    """KV's REST backend against the Cloudflare API stand-in."""

    capability = "kv"
    seed = SEED
    flavor = "cloudflare"

    def __init__(self) -> None:
        self.workers: list[Worker] = []
        self.state: KvApi | None = None

    @contextlib.contextmanager
    def upstream(self) -> Iterator[str]:
        with kv_api_server() as state:
            quicken(state.api)
            self.state = state
            yield state.api.base_url

    @contextlib.asynccontextmanager
    async def load(self, proxy: FaultProxy, ledger: SoakLedger) -> AsyncIterator[list[SoakTask]]:
        assert self.state is not None
        config = _config(proxy.rewrite(self.state.api.base_url), self.state)
        async with KvNamespace.from_config(config, settings=SETTINGS) as kv:
            self.workers = [Worker(n, kv, ledger) for n in range(WORKERS)]
            yield [worker.run for worker in self.workers]

    async def judge(self, records: list[ProxyRecord], upstream: str, ledger: SoakLedger) -> str:
        assert self.state is not None
        workers = self.workers
        # what each key may have held when, from what the stand-in got: judge reads and writes
        versions = {mark: v for w in workers for mark, v in w.versions.items()}
        model: Registers[Version] = Registers(applies_from(records, _classifier(versions, ledger)), None)
        for worker in workers:
            check(model, worker.reads, worker.writes, ledger.problem, ledger.lost)

        # every key, read back directly (no proxy, no faults): a state it may end in
        async with KvNamespace.from_config(
            _config(upstream, self.state), settings=LayerSettings(logging=False)
        ) as direct:
            expected_keys = set()
            for worker in workers:
                for key in worker.keys:
                    possible = model.possible(key)
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
            ledger.check_listing("the namespace", listed, expected_keys)
        return f", late={late_requests(records)}, reads_judged={sum(len(w.reads) for w in workers)}"
