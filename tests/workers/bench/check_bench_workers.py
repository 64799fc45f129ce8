"""Benchmarks on the Workers path: the capabilities against the raw bindings, from the same Pyodide.

Not part of the test suite (``test_workers.py`` runs ``checks/`` only): ``benchmarks/run_all.py``
runs these (rows 5 and 9) with ``node harness.mjs --bench``, sizing them through
``env.CAP_BENCH_WORKERS`` (JSON; the harness sets it when the variable of that name is in its
environment). Each check returns its timings; the assertions check behaviour, never a timing.

* ``check_bench_imports`` — each package imported fresh (every module the previous import added is
  forgotten first) and built with ``from_env``, as a Worker's cold start does; and which of opendal,
  pydantic, httpx, structlog that loaded (none may be: the row reports a MISS).
* ``check_bench_<kv|r2_get|r2_put|queue|do>`` — per-operation time of a capability call and of the
  raw binding call that does the same thing (with the conversions a hand-written Python Worker
  needs), alternating call by call; per repeat, each side's median in µs. Both sides look the binding
  up in ``env`` once, outside the timing: under Miniflare every ``env.X`` read is a slow proxy round
  trip (about 10 ms) that a deployed Worker does not pay, and the capability holds its binding anyway.
  After the timing, one more call of each side runs on bindings wrapped by the harness's crossing
  counter (``env.CAPS_CROSSINGS``, as ``checks/check_crossings.py`` uses it): how many operations
  each side makes on the binding and its results — under Miniflare, round trips to workerd. The row
  divides the µs the capability adds by the crossings it adds: the profile of what is left.

This module imports no capability at the top: ``check_bench_imports`` must see them unloaded.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    Call = Callable[[], Awaitable[Any]]
    Cases = dict[str, tuple[Call, Call]]

DEFAULTS = {"ops": 2, "repeats": 1, "import_repeats": 1}
HEAVY = ("opendal", "pydantic", "httpx", "structlog")
FORGET = ("cap_opendal_core", "cap_cloudflare_", "workers", "anyio", "structlog", "sniffio", "idna")
"""Module prefixes a fresh import must find unloaded (the capabilities, the SDK and their deps)."""

PACKAGES = (
    ("from cap_cloudflare_kv import KvNamespace", 'KvNamespace.from_env(env, "KV")'),
    ("from cap_cloudflare_r2 import R2Bucket", 'R2Bucket.from_env(env, "BUCKET")'),
    ("from cap_cloudflare_queue import Queue", 'Queue.from_env(env, "QUEUE")'),
    (
        "from cap_cloudflare_do import DurableObjectNamespace",
        'DurableObjectNamespace.from_env(env, "COUNTER")',
    ),
)
VALUE_TEXT = "v" * 1024
VALUE_BYTES = bytes(range(256)) * 4


def unique_key(prefix: str) -> str:
    """A key no other run uses (as ``checks/_support.unique_key``; this module stands alone)."""
    return f"{prefix}/{os.urandom(4).hex()}"


def _options(env: Any) -> dict[str, int]:
    raw = getattr(env, "CAP_BENCH_WORKERS", None)
    options = dict(DEFAULTS)
    if isinstance(raw, str) and raw:
        options.update({k: int(v) for k, v in json.loads(raw).items() if k in DEFAULTS})
    return options


def _ms_since(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000.0


async def check_bench_imports(env: Any) -> dict[str, Any]:
    options = _options(env)
    saved = dict(sys.modules)
    keep = {name for name in saved if not name.startswith(FORGET)}

    def forget() -> None:
        for name in list(sys.modules):
            if name not in keep:
                del sys.modules[name]

    results: list[dict[str, Any]] = [
        {"code": code, "import_ms": [], "from_env_ms": [], "heavy": []} for code, _ in PACKAGES
    ]
    sdk_ms: list[float] = []
    try:
        for repeat in range(options["import_repeats"]):
            order = list(range(len(PACKAGES)))
            order = order[repeat % len(order) :] + order[: repeat % len(order)]
            for i in order:
                code, build = PACKAGES[i]
                forget()
                namespace: dict[str, Any] = {"env": env}
                t0 = time.perf_counter()
                exec(code, namespace)
                results[i]["import_ms"].append(_ms_since(t0))
                t0 = time.perf_counter()
                capability = eval(build, namespace)
                results[i]["from_env_ms"].append(_ms_since(t0))
                assert capability is not None
                loaded = [m for m in HEAVY if m in sys.modules]
                results[i]["heavy"] = sorted(set(results[i]["heavy"]) | set(loaded))
            forget()
            t0 = time.perf_counter()
            import workers  # type: ignore[import-not-found]  # noqa: F401 - the SDK every Worker imports

            sdk_ms.append(_ms_since(t0))
    finally:
        forget()
        sys.modules.update(saved)
    return {"packages": results, "workers_sdk_ms": sdk_ms}


async def _interleaved(ops: int, raw: Any, cap: Any) -> tuple[float, float]:
    """Each side's median µs over ``ops`` calls, the two alternating call by call."""
    clock = time.perf_counter_ns
    raw_ns: list[int] = []
    cap_ns: list[int] = []
    for i in range(ops):
        first, second = (raw, cap) if i % 2 == 0 else (cap, raw)
        t0 = clock()
        await first()
        t1 = clock()
        await second()
        t2 = clock()
        (raw_ns if first is raw else cap_ns).append(t1 - t0)
        (raw_ns if second is raw else cap_ns).append(t2 - t1)
    return statistics.median(raw_ns) / 1000, statistics.median(cap_ns) / 1000


async def _compare(
    env: Any, build: Callable[[Any], Awaitable[Cases]], names: tuple[str, ...]
) -> dict[str, Any]:
    """Time the cases ``build`` makes on ``env``'s bindings, then count each side's crossings once on
    the bindings ``names`` wrapped by the crossing counter (``build`` runs again on those)."""
    options = _options(env)
    out: dict[str, Any] = {}
    cases = await build(env)
    for name, (raw, cap) in cases.items():
        await _interleaved(min(options["ops"], 5), raw, cap)  # warm up: first calls load code
        raw_us: list[float] = []
        cap_us: list[float] = []
        for _ in range(options["repeats"]):
            r, c = await _interleaved(options["ops"], raw, cap)
            raw_us.append(r)
            cap_us.append(c)
        out[name] = {"raw_us": raw_us, "cap_us": cap_us}
    counter = env.CAPS_CROSSINGS.counter()
    counted = SimpleNamespace(**{n: counter.wrap(getattr(env, n), n) for n in names})
    for name, (raw, cap) in (await build(counted)).items():
        crossings = {}
        for side, call in (("raw", raw), ("cap", cap)):
            counter.take()
            await call()
            crossings[side] = len(counter.take())
        out[name]["crossings"] = crossings
    return {"ops": options["ops"], "repeats": options["repeats"], "cases": out}


async def check_bench_kv(env: Any) -> dict[str, Any]:
    from cap_cloudflare_kv import KvNamespace

    key, raw_key = unique_key("bench/kv"), unique_key("bench/kv-raw")

    async def build(bindings: Any) -> Cases:
        kv = KvNamespace.from_env(bindings, "KV")
        binding = bindings.KV
        await kv.put(key, VALUE_TEXT)
        assert await binding.get(key) == VALUE_TEXT
        assert await kv.get(key) == VALUE_TEXT

        async def raw_get() -> None:
            assert await binding.get(key) == VALUE_TEXT

        async def cap_get() -> None:
            assert await kv.get(key) == VALUE_TEXT

        return {
            "KV get 1 KiB text": (raw_get, cap_get),
            "KV put 1 KiB text": (lambda: binding.put(raw_key, VALUE_TEXT), lambda: kv.put(key, VALUE_TEXT)),
        }

    return await _compare(env, build, ("KV",))


R2_FIELDS = (
    "size",
    "etag",
    "version",
    "uploaded",
    "storageClass",
    "httpMetadata",
    "customMetadata",
    "checksums",
)
"""Every field of an R2 result besides its key (the capability reads them on first use, by group)."""


def _r2_fields(obj: Any) -> None:
    """Read every field of an R2 result in one ``ffi.read_fields``: the raw counterpart of a
    capability result whose fields are all used (it reads them group by group, one ``read_fields``
    each). Under Miniflare each property read of a result is a round trip to workerd, and the
    checksums' about ten (in a deployed Worker they are local reads)."""
    from cap_opendal_core import ffi

    ffi.read_fields(obj, R2_FIELDS)


def _every_field(obj: Any) -> None:
    """Use every field of a capability result (``repr`` reads them all)."""
    repr(obj)


async def check_bench_r2_get(env: Any) -> dict[str, Any]:
    from cap_cloudflare_r2 import R2Bucket
    from cap_opendal_core import ffi

    key = unique_key("bench/r2")

    async def build(bindings: Any) -> Cases:
        bucket = R2Bucket.from_env(bindings, "BUCKET")
        binding = bindings.BUCKET
        await bucket.put(key, VALUE_BYTES)

        async def raw_get() -> None:
            obj = await binding.get(key)
            assert (await obj.arrayBuffer()).to_bytes() == VALUE_BYTES

        async def raw_get_as_capability() -> None:
            obj = await binding.get(key)
            assert await ffi.read_stream(obj.body) == VALUE_BYTES

        async def raw_get_every_field() -> None:
            obj = await binding.get(key)
            _r2_fields(obj)
            assert await ffi.read_stream(obj.body) == VALUE_BYTES

        async def cap_get() -> None:
            body = await bucket.get(key)
            assert body is not None
            assert await body.read() == VALUE_BYTES

        async def cap_get_every_field() -> None:
            body = await bucket.get(key)
            assert body is not None
            assert await body.read() == VALUE_BYTES
            _every_field(body.object)

        return {
            "R2 get 1 KiB": (raw_get, cap_get),
            "R2 get 1 KiB; reading the body the same way": (raw_get_as_capability, cap_get),
            "R2 get 1 KiB, then every field; reading them in one go and the body the same way": (
                raw_get_every_field,
                cap_get_every_field,
            ),
        }

    return await _compare(env, build, ("BUCKET",))


async def check_bench_r2_put(env: Any) -> dict[str, Any]:
    from pyodide.ffi import to_js

    from cap_cloudflare_r2 import R2Bucket

    key, raw_key = unique_key("bench/r2"), unique_key("bench/r2-raw")

    async def build(bindings: Any) -> Cases:
        bucket = R2Bucket.from_env(bindings, "BUCKET")
        binding = bindings.BUCKET

        async def raw_put() -> None:
            await binding.put(raw_key, to_js(VALUE_BYTES))

        async def raw_put_every_field() -> None:
            _r2_fields(await binding.put(raw_key, to_js(VALUE_BYTES)))

        async def cap_put() -> None:
            await bucket.put(key, VALUE_BYTES)

        async def cap_put_every_field() -> None:
            _every_field(await bucket.put(key, VALUE_BYTES))

        return {
            "R2 put 1 KiB": (raw_put, cap_put),
            "R2 put 1 KiB, then every field; reading them in one go": (
                raw_put_every_field,
                cap_put_every_field,
            ),
        }

    return await _compare(env, build, ("BUCKET",))


async def check_bench_queue(env: Any) -> dict[str, Any]:
    from js import Object
    from pyodide.ffi import to_js

    from cap_cloudflare_queue import Queue

    body = {"bench": "queue", "n": 1}

    async def build(bindings: Any) -> Cases:
        queue = Queue.from_env(bindings, "QUEUE")
        binding = bindings.QUEUE

        async def raw_send() -> None:
            await binding.send(to_js(body, dict_converter=Object.fromEntries))

        async def cap_send() -> None:
            await queue.send(body)

        return {"Queue send (JSON body)": (raw_send, cap_send)}

    return await _compare(env, build, ("QUEUE",))


async def check_bench_do(env: Any) -> dict[str, Any]:
    from cap_cloudflare_do import DurableObjectNamespace

    name, raw_name = unique_key("bench/do"), unique_key("bench/do-raw")

    async def build(bindings: Any) -> Cases:
        stub = DurableObjectNamespace.from_env(bindings, "COUNTER").get_by_name(name)
        binding = bindings.COUNTER
        raw_stub = binding.get(binding.idFromName(raw_name))
        assert await stub.increment(1) >= 1
        assert await raw_stub.increment(1) >= 1
        return {"DO RPC increment": (lambda: raw_stub.increment(1), lambda: stub.increment(1))}

    return await _compare(env, build, ("COUNTER",))
