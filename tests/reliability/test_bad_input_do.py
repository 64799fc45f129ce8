"""Every public method of ``DurableObjectNamespace``, its stubs and ``DurableObjectStorage`` (with its
transactions), with arbitrary arguments, on the local runtime in memory and on disk.

Arguments: names and storage keys (control characters, lone surrogates, ``..`` and ``/`` runs, empty,
either side of the 2 MB entry limit, not strings); values a Durable Object cannot hold (sets, objects,
cycles, nesting past 200 levels, integers too long to print, datetimes whose UTC form leaves the
calendar) and values around the entry limit; batches either side of 128 keys; list bounds; alarm
times (negative, NaN, far past any date); ids (not hex, wrong length, another namespace's); RPC
method names (private, reserved, not identifiers, not on the class) and arguments; ``fetch`` URLs,
methods, headers and bodies; jurisdictions.

The rule: a call succeeds and does what Cloudflare documents (the value read back is the value
stored, as structured clone copies it; RPC returns its arguments' clone; batches and transactions are
all-or-nothing), or raises ``InvalidInput`` / ``LimitExceeded`` before any I/O — no pipeline call, no
row or alarm changed, and a refused RPC never ran in the object. On disk, nothing exists outside the
namespace's directory.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cap_cloudflare_do import DurableObject, DurableObjectNamespace, Request, Response, codec
from cap_cloudflare_do import limits as do
from cap_cloudflare_do.backends.sqlite_store import KV_TABLE
from cap_cloudflare_do.validation import RESERVED_NAMES
from cap_opendal_core.layers import LayerSettings, RetryPolicy

from . import bad_input_strategies as inputs
from .bad_input_judging import PROPERTY, Outcome, PropertyEnv, attempt, confined_tree, encodable, utf8_len

if TYPE_CHECKING:
    from pathlib import Path

    from cap_cloudflare_do.storage import DurableObjectStorage

pytestmark = pytest.mark.anyio

SETTINGS = LayerSettings(logging=False, retry=RetryPolicy(attempts=1))
BACKENDS = ("memory", "local")
JS_DATE_MAX_MS = 8_640_000_000_000_000


class Echo(DurableObject):
    """Returns what it is sent and counts, in its storage, every RPC that reached it."""

    read_only = frozenset({"echo"})

    async def echo(self, *args: Any) -> list[Any]:
        return list(args)

    async def record(self, *args: Any) -> int:
        count = int((await self.storage.get("@calls")) or 0) + 1
        await self.storage.put("@calls", count)
        return count

    async def fetch(self, request: Request) -> Response:
        return Response(await request.read(), headers={"x-method": request.method})

    async def alarm(self) -> None:
        """Alarms set by the properties are never run (the scheduler is not started)."""


@dataclass
class DoEnv(PropertyEnv):
    DIRECTORY = "objects"

    namespace: DurableObjectNamespace

    def state(self) -> Any:
        """Every stored row and alarm of the namespace; on disk, nothing outside its directory."""
        if self.kind == "local":
            confined_tree(self.parent, self.root)
        runtime = self.namespace.runtime
        assert runtime is not None
        store = runtime.store
        objects = set(store.sql._memory)  # each object's own database (its key-value table)
        if store.sql.folder is not None and store.sql.folder.exists():
            objects |= {path.name.removesuffix(".sqlite3") for path in store.sql.folder.glob("*.sqlite3")}
        entries = []
        for object_id in sorted(objects):
            db = store.sql.get(object_id)
            if db.internal_execute(f"SELECT 1 FROM sqlite_master WHERE name = '{KV_TABLE}'").fetchone():
                rows = db.internal_execute(f"SELECT key, value FROM {KV_TABLE} ORDER BY key").fetchall()
                entries += [(object_id, key, value) for key, value in rows]
        alarms = store._db.execute("SELECT object_id, at_ms, retries FROM alarms ORDER BY object_id")
        return entries, alarms.fetchall()

    def storage(self, name: str = "subject") -> DurableObjectStorage:
        runtime = self.namespace.runtime
        assert runtime is not None
        return runtime.storage(self.namespace.id_from_name(name))

    def refused_quietly(self, before: Any, outcome: Outcome) -> None:
        outcome.assert_refused_before_io()
        assert self.state() == before, "a refused call changed storage"


@pytest.fixture(params=BACKENDS)
async def env(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[DoEnv]:
    parent = tmp_path / "parent"
    parent.mkdir()
    where = ":memory:" if request.param == "memory" else parent / "objects"
    namespace = DurableObjectNamespace.local(where, Echo, settings=SETTINGS)
    try:
        yield DoEnv(request.param, parent, namespace)
    finally:
        await namespace.aclose()


# --- the oracle ------------------------------------------------------------------------------


def key_ok(key: object) -> bool:
    size = utf8_len(key) if isinstance(key, str) else None
    return size is not None and size <= do.MAX_ENTRY_BYTES


def storable(value: object, depth: int = 0, *, rpc: bool = False) -> bool:
    """Whether a Durable Object can hold ``value`` (the structured-clone subset this package takes).
    ``rpc``: as an RPC argument, which is copied, not stored as UTF-8 — a JS string may hold a lone
    surrogate, and so may an argument."""
    if value is None or isinstance(value, bool | float | bytes | bytearray | memoryview):
        return True
    if isinstance(value, int):
        try:
            str(value)  # past Python's 4300 digits an int has no decimal (nor JSON) form
        except ValueError:
            return False
        return True
    if isinstance(value, str):
        return rpc or encodable(value)
    if isinstance(value, dt.datetime):
        try:
            (value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)).astimezone(dt.UTC)
        except OverflowError:
            return False
        return True
    if depth >= do.MAX_NESTING:
        return False
    if isinstance(value, list | tuple):
        return all(storable(v, depth + 1, rpc=rpc) for v in value)
    if isinstance(value, dict):
        return all(
            type(k) is str and (rpc or encodable(k)) and storable(v, depth + 1, rpc=rpc)
            for k, v in value.items()
        )
    return False


def cloned(value: Any) -> Any:
    """What the receiver of ``value`` gets (tuples become lists, naive datetimes UTC, bytes-likes bytes)."""
    if isinstance(value, tuple | list):
        return [cloned(v) for v in value]
    if isinstance(value, dict):
        return {k: cloned(v) for k, v in value.items()}
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    if isinstance(value, dt.datetime):
        moment = (value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)).astimezone(dt.UTC)
        return moment.replace(microsecond=moment.microsecond // 1000 * 1000)  # a JS Date's milliseconds
    return value


def same(a: Any, b: Any) -> bool:
    """Equality that holds NaN equal to itself (a stored NaN reads back as NaN)."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def entry_size(key: str, value: Any) -> int:
    return len(key.encode()) + codec.encoded_size(codec.encode(value))


# --- strategies ------------------------------------------------------------------------------

STORE_KEYS = st.one_of(
    inputs.keys(200),
    inputs.not_str(),
    st.builds(lambda n: "k" * n, st.sampled_from([do.MAX_ENTRY_BYTES, do.MAX_ENTRY_BYTES + 1])),
)
GOOD_STORE_KEYS = st.one_of(inputs.valid_text(), inputs.long_text(300)).filter(key_ok)
GOOD_VALUES = st.one_of(
    inputs.json_valid(),
    st.binary(max_size=40),
    st.datetimes(timezones=st.just(dt.UTC)),
    st.floats(),
    st.integers(),
    st.lists(st.tuples(st.integers(), st.text(max_size=3)), max_size=2),
)
VALUES = st.one_of(
    st.recursive(
        st.one_of(
            st.none(),
            st.integers(),
            st.floats(),
            inputs.texts(),
            st.binary(max_size=8),
            inputs.datetimes_anywhere(),
        ),
        lambda inner: st.one_of(
            st.lists(inner, max_size=3),
            st.dictionaries(st.one_of(inputs.texts(), st.integers()), inner, max_size=3),
        ),
        max_leaves=6,
    ),
    inputs.odd_values(),
    st.sampled_from([do.MAX_ENTRY_BYTES - 20, do.MAX_ENTRY_BYTES]).map(bytes),
)


# --- storage ---------------------------------------------------------------------------------


@PROPERTY
@given(
    args=inputs.mixed(key=(GOOD_STORE_KEYS, STORE_KEYS), value=(GOOD_VALUES, VALUES)),
    in_transaction=st.booleans(),
)
async def test_put_and_get(env: DoEnv, args: dict[str, Any], in_transaction: bool) -> None:
    key, value = args["key"], args["value"]
    storage = env.storage()
    before = env.state()
    if in_transaction:
        outcome = await attempt(_in_transaction(storage, key, value))
    else:
        outcome = await attempt(storage.put(key, value))
    valid = key_ok(key) and storable(value) and entry_size(key, value) <= do.MAX_ENTRY_BYTES
    assert outcome.ok == valid, outcome
    if not outcome.ok:
        env.refused_quietly(before, outcome)
        return
    assert same(await storage.get(key), cloned(value))
    assert same((await storage.get([key]))[key], cloned(value))
    await storage.delete(key)


async def _in_transaction(storage: DurableObjectStorage, key: Any, value: Any) -> None:
    async with storage.transaction() as txn:
        await txn.put(key, value)


BATCH_KEYS = st.one_of(
    st.lists(st.one_of(GOOD_STORE_KEYS, STORE_KEYS), max_size=5),
    st.integers(do.MAX_BATCH_KEYS - 1, do.MAX_BATCH_KEYS + 1).map(lambda n: [f"k{i}" for i in range(n)]),
    st.sets(st.text(max_size=2), max_size=2),
    inputs.not_str(),
)


@PROPERTY
@given(
    entries=st.one_of(
        st.dictionaries(
            st.one_of(GOOD_STORE_KEYS, STORE_KEYS.filter(lambda k: not isinstance(k, list))),
            st.one_of(GOOD_VALUES, VALUES),
            max_size=4,
        ),
        st.dictionaries(GOOD_STORE_KEYS, GOOD_VALUES, max_size=4),
        st.integers(do.MAX_BATCH_KEYS - 1, do.MAX_BATCH_KEYS + 1).map(
            lambda n: {f"k{i}": i for i in range(n)}
        ),
        st.lists(st.tuples(GOOD_STORE_KEYS, GOOD_VALUES), max_size=2),
        inputs.not_str(),
    ),
    via=st.sampled_from(["put", "transaction"]),
)
async def test_put_batch_is_all_or_nothing(env: DoEnv, entries: Any, via: str) -> None:
    storage = env.storage()
    before = env.state()
    if via == "put":
        outcome = await attempt(storage.put(entries))
    else:
        outcome = await attempt(_transaction_put(storage, entries))
    valid = (
        isinstance(entries, Mapping)
        and len(entries) <= do.MAX_BATCH_KEYS
        and all(
            key_ok(k) and storable(v) and entry_size(k, v) <= do.MAX_ENTRY_BYTES for k, v in entries.items()
        )
    )
    assert outcome.ok == valid, outcome
    if not outcome.ok:
        env.refused_quietly(before, outcome)
        return
    stored = await storage.list()
    for k, v in entries.items():
        assert same(stored[k], cloned(v))
    await storage.delete_all()


async def _transaction_put(storage: DurableObjectStorage, entries: Any) -> None:
    async with storage.transaction() as txn:
        await txn.put(entries)


@PROPERTY
@given(target=st.one_of(STORE_KEYS, BATCH_KEYS), read=st.booleans(), in_transaction=st.booleans())
async def test_get_and_delete(env: DoEnv, target: Any, read: bool, in_transaction: bool) -> None:
    storage = env.storage()
    await storage.put({"seed": 1, "k1": 2})
    before = env.state()
    if in_transaction:
        outcome = await attempt(_txn_get_or_delete(storage, target, read))
    else:
        outcome = await attempt(storage.get(target) if read else storage.delete(target))
    batch = isinstance(target, list | tuple)
    valid = (len(target) <= do.MAX_BATCH_KEYS and all(key_ok(k) for k in target)) if batch else key_ok(target)
    assert outcome.ok == valid, outcome
    if not outcome.ok:
        env.refused_quietly(before, outcome)
        return
    if read:
        expected = {"seed": 1, "k1": 2}
        if batch:
            assert outcome.value == {
                k: expected[k] for k in sorted(set(target), key=str.encode) if k in expected
            }
        else:
            assert outcome.value == expected.get(target)
        assert env.state() == before
    else:
        gone = target if batch else [target]
        left = await storage.list()
        assert all(k not in left for k in gone)


async def _txn_get_or_delete(storage: DurableObjectStorage, target: Any, read: bool) -> Any:
    async with storage.transaction() as txn:
        return await (txn.get(target) if read else txn.delete(target))


@PROPERTY
@given(
    args=inputs.mixed(
        prefix=(st.one_of(st.none(), inputs.valid_text()), st.one_of(inputs.texts(), inputs.not_str())),
        start=(st.one_of(st.none(), inputs.valid_text()), st.one_of(inputs.texts(), inputs.not_str())),
        start_after=(st.none(), st.one_of(inputs.texts(), inputs.not_str())),
        end=(st.one_of(st.none(), inputs.valid_text()), st.one_of(inputs.texts(), inputs.not_str())),
        limit=(st.one_of(st.none(), st.integers(1, 10)), st.one_of(inputs.numbers(), st.integers(-1, 0))),
        reverse=(st.booleans(), st.one_of(inputs.numbers(), st.just("true"))),
    ),
    in_transaction=st.booleans(),
)
async def test_list(env: DoEnv, args: dict[str, Any], in_transaction: bool) -> None:
    storage = env.storage()
    seeded = {"a": 1, "a/b": 2, "b": 3, "é": 4, "\x00": 5}
    await storage.put(seeded)
    before = env.state()
    if in_transaction:
        outcome = await attempt(_txn_list(storage, args))
    else:
        outcome = await attempt(storage.list(**args))
    if not outcome.ok:
        env.refused_quietly(before, outcome)
        return
    names = list(outcome.value)
    order = sorted(names, key=str.encode, reverse=args["reverse"])
    assert names == order
    prefix, start, after, end = args["prefix"], args["start"], args["start_after"], args["end"]
    expected = [
        k
        for k in sorted(seeded, key=str.encode, reverse=args["reverse"])
        if k.startswith(prefix or "")
        and (start is None or k.encode() >= start.encode())
        and (after is None or k.encode() > after.encode())
        and (end is None or k.encode() < end.encode())
    ]
    assert names == expected[: args["limit"]]
    assert env.state() == before


async def _txn_list(storage: DurableObjectStorage, args: dict[str, Any]) -> Any:
    async with storage.transaction() as txn:
        return await txn.list(**args)


@PROPERTY
@given(
    when=st.one_of(
        st.integers(0, JS_DATE_MAX_MS),
        st.floats(0, 1e15),
        inputs.datetimes_anywhere(),
        inputs.numbers(),
        st.integers(JS_DATE_MAX_MS - 1, JS_DATE_MAX_MS + 1),
        st.integers(do.ALARM_MAX_EPOCH_MS - 1, do.ALARM_MAX_EPOCH_MS + 1),
        st.integers(min_value=2**63 - 2, max_value=2**70),
        st.integers(min_value=2**1024, max_value=2**1100),
        st.floats(1e15, 1e300),
    ),
    then_delete=st.booleans(),
)
async def test_alarms(env: DoEnv, when: Any, then_delete: bool) -> None:
    storage = env.storage()
    before = env.state()
    outcome = await attempt(storage.set_alarm(when))
    if not outcome.ok:
        env.refused_quietly(before, outcome)
        return
    at = await storage.get_alarm()
    assert isinstance(at, int)
    assert -JS_DATE_MAX_MS <= at <= JS_DATE_MAX_MS, "an alarm time is a JS Date"
    if isinstance(when, int | float) and not isinstance(when, bool):
        assert at == int(when)
    if then_delete:
        await storage.delete_alarm()
        assert await storage.get_alarm() is None
    else:
        await storage.delete_all()
        assert await storage.get_alarm() is None, "delete_all drops the alarm, as Workers does"


# --- namespaces, ids, stubs --------------------------------------------------------------------

NAMES = st.one_of(inputs.texts(), inputs.not_str(), st.just(""))
HEXISH = st.one_of(
    st.text("0123456789abcdefABCDEF", min_size=63, max_size=65),
    inputs.texts(),
    inputs.not_str(),
    st.just("0" * do.ID_HEX_LENGTH),
)


@PROPERTY
@given(
    name=NAMES,
    hex_id=HEXISH,
    jurisdiction=st.one_of(st.none(), st.sampled_from(["eu", "fedramp", "EU", "us", ""]), inputs.not_str()),
)
async def test_ids(env: DoEnv, name: Any, hex_id: Any, jurisdiction: Any) -> None:
    namespace = env.namespace
    before = env.state()
    by_name = await attempt(_sync(namespace.id_from_name, name))
    assert by_name.ok == encodable(name), by_name
    if by_name.ok:
        assert by_name.value == namespace.id_from_name(name), "a name always gives the same id"
        again = await attempt(_sync(namespace.id_from_string, by_name.value.to_string()))
        assert again.ok
        assert again.value == by_name.value
    from_string = await attempt(_sync(namespace.id_from_string, hex_id))
    assert not from_string.ok, "only ids this namespace made are accepted"
    unique = await attempt(_sync(namespace.new_unique_id, jurisdiction=jurisdiction))
    resolved = await attempt(namespace.resolve_id(jurisdiction=jurisdiction))
    assert unique.ok == resolved.ok == (jurisdiction in (None, "eu", "fedramp", "fedramp-high"))
    for outcome in (by_name, from_string, unique, resolved):
        if not outcome.ok:
            outcome.assert_refused_before_io()
    assert env.state() == before
    stub = await attempt(_sync(namespace.get, hex_id))
    assert not stub.ok, "get() takes a DurableObjectId"


async def _sync(fn: Any, *args: Any, **kwargs: Any) -> Any:
    return fn(*args, **kwargs)


METHOD_NAMES = st.one_of(
    st.sampled_from(["echo", "record"]),
    st.sampled_from(sorted(RESERVED_NAMES)),
    st.sampled_from(["_private", "__init__", "storage", "now", "ctx", "nope", "echo ", "1echo"]),
    inputs.texts(),
    inputs.not_str(),
)
RPC_ARGS = st.lists(st.one_of(GOOD_VALUES, VALUES), max_size=3)


@PROPERTY
@given(
    args=inputs.mixed(
        method=(st.sampled_from(["echo", "record"]), METHOD_NAMES),
        values=(st.lists(GOOD_VALUES, max_size=3), RPC_ARGS),
    ),
    by_name=st.booleans(),
)
async def test_rpc(env: DoEnv, args: dict[str, Any], by_name: bool) -> None:
    method, values = args["method"], args["values"]
    namespace = env.namespace
    stub = namespace.get_by_name("rpc") if by_name else namespace.get(namespace.id_from_name("rpc"))
    calls_before = await env.storage("rpc").get("@calls")
    before = env.state()
    outcome = await attempt(stub.call(method, *values))
    valid = method in ("echo", "record") and all(storable(v, rpc=True) for v in values)
    assert outcome.ok == valid, outcome
    if not outcome.ok:
        env.refused_quietly(before, outcome)
        assert await env.storage("rpc").get("@calls") == calls_before, "a refused call never ran"
        return
    if method == "echo":
        assert same(outcome.value, cloned(list(values)))
    else:
        assert outcome.value == (calls_before or 0) + 1


@PROPERTY
@given(
    args=inputs.mixed(
        url=(
            st.sampled_from(["https://do/x", "http://h/p?q=1"]),
            st.one_of(
                inputs.texts(),
                inputs.not_str(),
                st.sampled_from(["ftp://h/", "https://", "/relative", "https:/x"]),
            ),
        ),
        method=(
            st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE"]),
            st.one_of(inputs.texts(), inputs.not_str(), st.sampled_from(["GET /x", "PO ST", ""])),
        ),
        headers=(
            st.one_of(
                st.none(),
                st.dictionaries(
                    st.from_regex(r"[a-zA-Z][a-zA-Z0-9-]{0,10}", fullmatch=True),
                    st.text(st.characters(exclude_characters="\r\n", exclude_categories=["Cs"]), max_size=10),
                    max_size=3,
                ),
            ),
            st.one_of(
                st.dictionaries(inputs.texts(), st.one_of(inputs.texts(), inputs.numbers()), max_size=2),
                st.lists(
                    st.tuples(st.sampled_from(["a", "A"]), st.one_of(st.integers(), st.text(max_size=3))),
                    max_size=3,
                ),
                st.lists(inputs.texts(), max_size=2),
                inputs.not_str(),
            ),
        ),
        body=(
            st.one_of(st.none(), st.binary(max_size=20), st.text(max_size=10)),
            st.one_of(
                inputs.texts(), inputs.not_str(), inputs.odd_values(), st.binary(min_size=1, max_size=4)
            ),
        ),
    )
)
async def test_fetch(env: DoEnv, args: dict[str, Any]) -> None:
    stub = env.namespace.get_by_name("fetch")
    before = env.state()
    outcome = await attempt(
        stub.fetch(args["url"], method=args["method"], headers=args["headers"], body=args["body"])
    )
    if not outcome.ok:
        env.refused_quietly(before, outcome)
        return
    body = args["body"]
    assert outcome.value.headers["x-method"] == args["method"].upper()  # the local runtime upper-cases it
    expected = b"" if body is None else body.encode() if isinstance(body, str) else bytes(body)
    assert await outcome.value.read() == expected
    assert isinstance(args["url"], str)
    assert args["url"].lower().startswith(("http://", "https://"))
    headers = args["headers"] or {}
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    assert all(isinstance(n, str) and isinstance(v, str) for n, v in pairs), "headers are pairs of str"
