"""cap_cloudflare_kv's workers backend against Miniflare's real KV binding (``env.FLOW_KV``).

The behaviour checks run the very scenarios CPython runs against the memory and local backends
(``check_kv_scenarios.py``), through ``KvNamespace.from_env``; the rest covers what only the binding
path has: the raw and the ``workers``-SDK-wrapped ``env``, streams read chunk by chunk, errors from the
binding, and the differential run whose observations CPython compares with the local backend.
"""

from __future__ import annotations

import os
from typing import Any

from _support import raises
from check_kv_scenarios import SCENARIOS, Ctx, random_ops, seed_from

from cap_cloudflare_kv import KvNamespace
from cap_opendal_core import InvocationScope, Misconfigured

BINDING = "FLOW_KV"


def _kv(env: Any) -> KvNamespace:
    return KvNamespace.from_env(env, BINDING)


def _ctx() -> Ctx:
    return Ctx(prefix=f"check/{os.urandom(4).hex()}/")


async def _scenario(env: Any, name: str) -> None:
    async with _kv(env) as kv:
        await SCENARIOS[name](kv, _ctx())


async def check_behaviour_put_get_delete(env: Any) -> None:
    await _scenario(env, "put_get_delete")


async def check_behaviour_every_type(env: Any) -> None:
    await _scenario(env, "every_type")


async def check_behaviour_metadata(env: Any) -> None:
    await _scenario(env, "metadata")


async def check_behaviour_expiration(env: Any) -> None:
    await _scenario(env, "expiration")


async def check_behaviour_list_order_and_paging(env: Any) -> None:
    await _scenario(env, "list_order_and_paging")


async def check_behaviour_keys_round_trip(env: Any) -> None:
    await _scenario(env, "keys_round_trip")


async def check_behaviour_bulk(env: Any) -> None:
    await _scenario(env, "bulk")


async def check_behaviour_bad_input(env: Any) -> None:
    await _scenario(env, "bad_input")


async def check_behaviour_bulk_errors_and_odd_keys(env: Any) -> None:
    await _scenario(env, "bulk_errors_and_odd_keys")


async def check_differential_random_ops(env: Any) -> dict[str, Any]:
    """The seeded sequence on the binding; CPython replays it on the local backend and compares."""
    seed = seed_from(getattr(env, "CAP_DIFF_SEED", None))
    async with _kv(env) as kv:
        return {"seed": seed, "steps": await random_ops(kv, prefix=f"diff/{os.urandom(4).hex()}/", seed=seed)}


async def check_from_env_accepts_raw_and_sdk_wrapped_env(env: Any) -> None:
    from workers.rpc import _EnvWrapper

    key = f"env/{os.urandom(4).hex()}"
    raw = _kv(env)
    wrapped = KvNamespace.from_env(_EnvWrapper(env), BINDING)
    await raw.put(key, "from raw", metadata={"via": "raw"})
    got = await wrapped.get_with_metadata(key)
    assert (got.value, got.metadata) == ("from raw", {"via": "raw"})
    assert await env.FLOW_KV.get(key) == "from raw", "the capability wrote to the binding itself"
    assert wrapped.backend == raw.backend == "workers"
    assert wrapped.info.consistency == "eventual"
    assert wrapped.info.durability == "durable"
    with raises(Misconfigured, match="NO_SUCH_KV"):
        KvNamespace.from_env(env, "NO_SUCH_KV")


async def check_stream_reads_chunk_by_chunk(env: Any) -> None:
    key = f"stream/{os.urandom(4).hex()}"
    data = os.urandom(3 * 1024 * 1024)
    kv = _kv(env)
    await kv.put(key, data)
    stream = await kv.get(key, "stream")
    assert stream is not None
    first = await stream.__anext__()
    assert 0 < len(first) < len(data), "the first chunk arrives before the whole value"
    rest = await stream.read()
    assert first + rest == data
    # stopping early releases the stream; the value is still readable afterwards
    early = await kv.get(key, "stream")
    assert early is not None
    await early.__anext__()
    await early.aclose()
    assert await kv.get(key, "bytes") == data


async def check_hints_recorded_in_scope(env: Any) -> None:
    kv = _kv(env)
    key = f"hints/{os.urandom(4).hex()}"
    with InvocationScope("node") as scope:
        await kv.get(key)
    assert scope.effect_hints == ("resource::kv::read",)
    with InvocationScope("node") as scope:
        await kv.put(key, "v")
        await kv.list(prefix=key)
    assert set(scope.effect_hints) == {"resource::kv::write", "resource::kv::read"}
    assert set(scope.determinism_hints) == {"resource::kv"}


async def check_binding_errors_become_capability_errors(env: Any) -> None:
    """What the binding itself refuses leaves the pipeline as a CapabilityError with its context.

    Validation normally stops bad input first, so this calls the backend through the pipeline
    directly with a write validation would have refused: the binding's own TypeError must arrive
    translated, with the JS error as its cause.
    """
    from cap_cloudflare_kv.models import PreparedWrite
    from cap_cloudflare_kv.operations import PUT
    from cap_opendal_core import InvalidInput

    kv = _kv(env)
    write = PreparedWrite(key="", data=b"v", text="v")
    with raises(InvalidInput, match="Key name cannot be empty") as caught:
        await kv.pipeline.call(PUT, kv._backend.put, write, key="")
    err = caught.value
    assert isinstance(err, InvalidInput)
    assert (err.capability, err.operation) == ("kv", "put")
    assert type(err.__cause__).__name__ == "JsException"
