"""A seeded random sequence of Durable Object storage operations, and what each one observably did.

:func:`run_sequence` drives any :class:`DurableObjectStorage` — single and batched get/put/delete,
``list`` with every option (prefix, start, start_after, end, limit, reverse), transactions that
commit, roll back or raise, alarms (set, get, delete, out of range) and refused input — and records
every result, failures as their error class and field. The harness runs it over the real
``ctx.storage`` of Miniflare's ``StorageProbe`` (:func:`check_storage_sequence`);
``tests/cap_cloudflare_do/test_do_differential.py`` runs it over the local runtime and requires the
same record. The seed is ``CAP_DIFF_SEED`` (environment, handed to the harness as ``env``) or
:data:`DEFAULT_SEED`; the check returns the seed it used, so the local replay uses the same one.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import random
from typing import TYPE_CHECKING, Any

from cap_opendal_core.errors import CapabilityError

if TYPE_CHECKING:
    from cap_cloudflare_do import DurableObjectStorage

DEFAULT_SEED = 20260501
STEPS = 320
KEYS = ("a", "a/b", "a/c", "b", "ab", "é", "😀", "0", "10", "z~", "A", "a b")
BOUNDS = (None, None, "", "a", "a/", "a/c", "b", "é", "0", "zz")
OPS: tuple[str, ...] = ("put", "put", "put_many", "get", "get_many", "delete", "delete_many", "list")
OPS += ("list", "transaction", "alarm", "bad")
_BASE = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)


def seed_from(value: Any) -> int:
    """The seed to run: ``value`` (``CAP_DIFF_SEED``) when given, else :data:`DEFAULT_SEED`."""
    text = None if value is None else str(value).strip()
    return int(text) if text else DEFAULT_SEED


def _value(rng: random.Random, step: int) -> Any:
    kind = rng.randrange(9)
    if kind == 0:
        return step
    if kind == 1:
        return f"s{step}-é"
    if kind == 2:
        return rng.choice((1.5, -2.25, 1e-300, math.inf))  # integral floats: see docs (known differences)
    if kind == 3:
        return rng.randbytes(rng.randrange(0, 6))
    if kind == 4:  # microseconds: a JS Date keeps milliseconds, so must every home
        return _BASE + dt.timedelta(microseconds=rng.randrange(10**9))
    if kind == 5:
        return {"n": step, "list": [1, None, "x"], "nested": {"ok": rng.random() < 0.5}}
    if kind == 6:
        return [step, "two", [3]]
    if kind == 7:
        return None
    return rng.choice((True, False, 2**53 - 1, -(2**31)))


def plain(value: Any) -> Any:
    """A JSON form of a stored value that keeps what JSON would lose (bytes, datetimes, floats)."""
    if isinstance(value, bytes):
        return {"bytes": value.hex()}
    if isinstance(value, dt.datetime):
        return {"datetime": value.isoformat()}
    if isinstance(value, float):
        return {"float": repr(value)}
    if isinstance(value, dict):
        return {"dict": [[k, plain(v)] for k, v in value.items()]}  # order is observable
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def _error(exc: CapabilityError) -> dict[str, Any]:
    return {"error": type(exc).__name__, "field": getattr(exc, "field", None)}


def _list_options(rng: random.Random) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for name in ("prefix", "start", "start_after", "end"):
        if rng.random() < 0.3:
            options[name] = rng.choice(BOUNDS[2:])
    if rng.random() < 0.5:
        options["limit"] = rng.choice((1, 2, 3, 5, 0, -1))
    if rng.random() < 0.4:
        options["reverse"] = True
    return options


async def _transaction(storage: DurableObjectStorage, rng: random.Random, step: int) -> Any:
    seen: list[Any] = []
    ending = rng.choice(("commit", "commit", "rollback", "raise"))
    try:
        async with storage.transaction() as txn:
            for _ in range(rng.randrange(1, 5)):
                key = rng.choice(KEYS)
                kind = rng.randrange(4)
                if kind == 0:
                    await txn.put(key, _value(rng, step))
                    seen.append(["put", key])
                elif kind == 1:
                    seen.append(["get", key, plain(await txn.get(key))])
                elif kind == 2:
                    seen.append(["delete", key, await txn.delete(key)])
                else:
                    seen.append(["list", plain(await txn.list(**_list_options(rng)))])
            if ending == "rollback":
                txn.rollback()
            elif ending == "raise":
                raise LookupError("abandon")
    except LookupError:
        pass
    return [ending, seen]


async def run_sequence(storage: DurableObjectStorage, seed: int) -> list[Any]:
    """Apply the sequence for ``seed`` to an empty storage; the record of what each step observed."""
    rng = random.Random(seed)
    log: list[Any] = []
    for step in range(STEPS):
        rare = "delete_all" if rng.random() < 0.1 else "get"
        op = rng.choice((*OPS, rare))
        detail: Any = None
        try:
            if op == "put":
                key = rng.choice(KEYS)
                detail = key
                await storage.put(key, _value(rng, step))
                result: Any = "ok"
            elif op == "put_many":
                entries = {rng.choice(KEYS): _value(rng, step) for _ in range(rng.randrange(1, 5))}
                detail = sorted(entries)
                await storage.put(entries)
                result = "ok"
            elif op == "get":
                key = rng.choice(KEYS)
                detail = key
                result = plain(await storage.get(key))
            elif op == "get_many":
                keys = [rng.choice(KEYS) for _ in range(rng.randrange(1, 5))] + ["absent"]
                detail = keys
                result = plain(await storage.get(keys))
            elif op == "delete":
                key = rng.choice(KEYS)
                detail = key
                result = await storage.delete(key)
            elif op == "delete_many":
                keys = sorted({rng.choice(KEYS) for _ in range(rng.randrange(1, 4))})
                detail = keys
                result = await storage.delete(keys)
            elif op == "list":
                options = _list_options(rng)
                detail = options
                result = plain(await storage.list(**options))
            elif op == "transaction":
                result = await _transaction(storage, rng, step)
            elif op == "alarm":
                action = rng.choice(("set", "set", "get", "delete", "too_late"))
                detail = action
                if action == "set":  # far ahead: never fires during the run
                    await storage.set_alarm(_BASE + dt.timedelta(microseconds=rng.randrange(10**12)))
                elif action == "delete":
                    await storage.delete_alarm()
                elif action == "too_late":
                    await storage.set_alarm(dt.datetime(2262, 4, 12, tzinfo=dt.UTC))
                result = await storage.get_alarm()
            elif op == "bad":
                kind = rng.randrange(3)
                detail = kind
                if kind == 0:
                    await storage.put("bad", {1, 2})  # type: ignore[call-overload]
                elif kind == 1:
                    await storage.get([f"k{i}" for i in range(129)])
                else:
                    await storage.put("", "empty keys are refused by Workers")
                result = "accepted"
            else:  # deleteAll drops the alarm too (compatibility date 2026-02-24+): before and after
                before = await storage.get_alarm()
                await storage.delete_all()
                result = ["ok", before, await storage.get_alarm()]
        except CapabilityError as exc:
            result = _error(exc)
        log.append([step, op, detail, result])
    log.append(["final", plain(await storage.list()), await storage.get_alarm()])
    await storage.delete_alarm()
    return log


async def check_storage_sequence(env: Any) -> dict[str, Any]:
    from cap_cloudflare_do import DurableObjectStorage

    seed = seed_from(getattr(env, "CAP_DIFF_SEED", None))
    ns = env.DO_PROBE
    stub = ns.get(ns.idFromName(f"do-diff/{os.urandom(4).hex()}"))
    # the probe's storage with the runtime's transaction(closure): _support.probe_storage
    storage = DurableObjectStorage.from_js(env.CAPS_TXN_BRIDGE.storage(await stub.storage(), stub))
    return {"seed": seed, "record": await run_sequence(storage, seed)}
