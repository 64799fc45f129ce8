"""``Dedupe``: an idempotency ledger on Durable Objects — "has anyone claimed this key yet?".

``await dedupe.put_if_absent(key, ttl=3600)`` is True for exactly one caller per key while the claim
lives, however many race for it: each key belongs to one ledger object, and an object serves one
request at a time, so the check and the claim cannot interleave. Keys are spread over ``shards``
objects by a hash of the key (``<prefix>:<n>``), so the ledger scales past one object's ~1,000
requests per second; changing ``shards`` moves keys, so keep it fixed for a ledger's lifetime.

The ledger object is :class:`DedupeLedger` (shipped here, usable in a Python Worker or the local
runtime). Its RPC protocol — ``put_if_absent(key, ttl_ms) -> bool`` and ``forget(key) -> bool`` — is
small enough to write in JS as well (``tests/workers/worker.js`` has one, on key-value storage). The
Python ledger keeps its claims in one SQL table — one ``INSERT … ON CONFLICT DO UPDATE … WHERE`` per
claim, whose written-row count says whether it claimed — with their expiry in epoch ms (0: never);
expired claims are free to take again at once, and one alarm purges them in the background through an
index on the expiry (moved only when a claim expires before the alarm that is set).

Calls record ``resource::dedupe::write`` + ``resource::dedupe``, not the state hints: a dedupe check is
its own kind of effect in Flow IR.
"""

from __future__ import annotations

import hashlib
import math
from typing import TYPE_CHECKING, Any, Final

from cap_opendal_core.checks import check_at_most
from cap_opendal_core.errors import InvalidInput, LimitExceeded
from cap_opendal_core.forward import Forward
from cap_opendal_core.show import show
from cap_opendal_core.spec import hints_of

from .binding_kind import BINDING
from .limits import ALARM_MAX_EPOCH_MS
from .object import DurableObject
from .operations import DEDUPE_FORGET, DEDUPE_PUT_IF_ABSENT
from .validation import check_key

if TYPE_CHECKING:
    import os
    from collections.abc import Callable
    from types import TracebackType

    from cap_opendal_core.descriptors import Descriptor
    from cap_opendal_core.layers import LayerSettings, Pipeline

    from .backends.base import StubBackend
    from .namespace import DurableObjectNamespace
    from .sql import SqlStorage

__all__ = ["MAX_DEDUPE_KEY_BYTES", "MAX_DEDUPE_TTL_SECONDS", "Dedupe", "DedupeLedger"]

MAX_DEDUPE_KEY_BYTES: Final = 2048
"""A dedupe key's UTF-8 size; idempotency keys are ids and hashes, far below this."""
MAX_DEDUPE_TTL_SECONDS: Final = 100 * 366 * 86_400
"""The longest claim with an expiry (about 100 years; ``ttl=None`` claims until :meth:`Dedupe.forget`).
Why a bound: the expiry must be an alarm time (at most ``ALARM_MAX_EPOCH_MS``, the runtime's bound)
and fit the 15-digit expiry index."""
_MAX_EXPIRY_MS: Final = min(10**15 - 1, ALARM_MAX_EPOCH_MS)  # an alarm time the x:<15 digits> index orders
DEFAULT_SHARDS: Final = 64
_ENTRY: Final = "k:"  # the key-value ledger's entries (before SQL): adopted into the table
_EXPIRY: Final = "x:"  # and its expiry index, x:<expiry ms, 15 digits>:<key>


_SCHEMA: Final = (
    "CREATE TABLE IF NOT EXISTS dedupe_claims (key TEXT PRIMARY KEY, expires INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS dedupe_claims_by_expiry ON dedupe_claims (expires) WHERE expires > 0"
)
_CLAIM: Final = (
    "INSERT INTO dedupe_claims (key, expires) VALUES (?, ?) ON CONFLICT (key) DO UPDATE "
    "SET expires = excluded.expires WHERE dedupe_claims.expires > 0 AND dedupe_claims.expires <= ?"
)
"""One statement per claim: insert the key, or take over a claim that has expired; it writes a row
only when this call claimed it, so ``rows_written`` answers (cheaper than ``RETURNING``, which
SQLite runs as a second pass over the written rows)."""


class DedupeLedger(DurableObject):
    """One shard of the ledger: a SQL table of claims (key, expiry in epoch ms, 0: never) with the
    expiries indexed, and one alarm, at the earliest expiry, that purges the expired ones.

    Needs a SQLite-backed class (``new_sqlite_classes``, the default for new classes). Claims an
    older version kept in key-value storage (``k:<key>`` entries) are moved into the table the first
    time an instance starts.
    """

    def __init__(self, ctx: Any, env: Any) -> None:
        super().__init__(ctx, env)
        self._sql: SqlStorage | None = None
        self._alarm: int | None = None
        self._alarm_known = False  # the alarm this instance set (or read) is the one in storage

    async def _ready(self) -> SqlStorage:
        sql = self._sql
        if sql is None:
            sql = self.storage.sql
            sql.exec(_SCHEMA)
            await self._adopt_key_value_claims(sql)
            self._sql = sql
        return sql

    async def _adopt_key_value_claims(self, sql: SqlStorage) -> None:
        """Move claims kept by the key-value ledger (before SQL) into the table, then drop them."""
        while old := await self.storage.list(prefix=_ENTRY, limit=128):
            for entry, expires in old.items():
                sql.exec(
                    "INSERT OR IGNORE INTO dedupe_claims (key, expires) VALUES (?, ?)",
                    entry[len(_ENTRY) :],
                    int(expires),
                )
            await self.storage.delete(list(old))
        while index := await self.storage.list(prefix=_EXPIRY, limit=128):
            await self.storage.delete(list(index))

    async def put_if_absent(self, key: str, ttl_ms: int | None) -> bool:
        """Claim ``key`` for ``ttl_ms`` (None: until forgotten). Every argument is checked before the
        first write, and the alarm is moved before the claim is stored: a call that raises has claimed
        nothing (an alarm that finds nothing due only re-arms itself)."""
        checked_key = _check_dedupe_key(key)
        checked_ttl = _check_ttl_ms(ttl_ms)
        now_ms = int(self.now() * 1000)
        at = None if checked_ttl is None else _check_expiry(now_ms + checked_ttl)
        sql = self._sql
        if sql is None:
            sql = await self._ready()
        if at is not None:
            if not self._alarm_known:
                self._alarm = await self.storage.get_alarm()
                self._alarm_known = True
            if self._alarm is None or self._alarm > at:
                await self.storage.set_alarm(at)
                self._alarm = at
        return sql.exec(_CLAIM, checked_key, at or 0, now_ms).rows_written > 0

    async def forget(self, key: str) -> bool:
        sql = await self._ready()
        return bool(sql.exec("DELETE FROM dedupe_claims WHERE key = ? RETURNING 1", key).to_array())

    async def alarm(self) -> None:
        self._alarm, self._alarm_known = None, True  # the runtime took the alarm that fired
        now_ms = int(self.now() * 1000)
        sql = await self._ready()
        sql.exec("DELETE FROM dedupe_claims WHERE expires > 0 AND expires <= ?", now_ms)
        upcoming = sql.exec("SELECT min(expires) AS at FROM dedupe_claims WHERE expires > 0").one()["at"]
        if upcoming is not None:
            await self.storage.set_alarm(int(upcoming))
            self._alarm = int(upcoming)


class Dedupe:
    """The idempotency ledger, over a namespace whose objects speak :class:`DedupeLedger`'s protocol."""

    binding_kind: Final = BINDING.kind
    provided_hints: Final = hints_of((DEDUPE_PUT_IF_ABSENT, DEDUPE_FORGET))

    __slots__ = ("_namespace", "_pipeline", "_stubs", "prefix", "shards")

    def __init__(
        self,
        namespace: DurableObjectNamespace,
        *,
        shards: int = DEFAULT_SHARDS,
        prefix: str = "dedupe",
        settings: LayerSettings | None = None,
    ) -> None:
        from cap_opendal_core.layers import Pipeline

        from .namespace import DurableObjectNamespace

        if not isinstance(namespace, DurableObjectNamespace):
            raise InvalidInput(
                f"Dedupe needs a DurableObjectNamespace, got {type(namespace).__name__}", field="namespace"
            )
        known = namespace.object_class
        if known is not None and not {"put_if_absent", "forget"} <= known.__rpc_methods__:
            raise InvalidInput(
                f"Dedupe needs objects that speak the ledger protocol (put_if_absent, forget), such as "
                f"DedupeLedger; {known.__name__} does not",
                field="namespace",
            )
        if isinstance(shards, bool) or not isinstance(shards, int) or not 1 <= shards <= 65536:
            raise InvalidInput(f"shards must be an int from 1 to 65536, got {show(shards)}", field="shards")
        if not isinstance(prefix, str) or not prefix:
            raise InvalidInput(f"prefix must be a non-empty str, got {show(prefix)}", field="prefix")
        self._namespace = namespace
        self._pipeline: Pipeline = Pipeline("dedupe", namespace.backend, settings)
        self._stubs: dict[int, StubBackend] = {}
        self.shards = shards
        self.prefix = prefix

    @classmethod
    def local(
        cls,
        path: str | os.PathLike[str],
        *,
        clock: Callable[[], float] | None = None,
        shards: int = DEFAULT_SHARDS,
        settings: LayerSettings | None = None,
    ) -> Dedupe:
        """A ledger in the embedded runtime, in the directory ``path`` (``":memory:"`` for tests)."""
        from .namespace import DurableObjectNamespace

        namespace = DurableObjectNamespace.local(path, DedupeLedger, clock=clock, settings=settings)
        return cls(namespace, shards=shards, settings=settings)

    info: Forward[Descriptor] = Forward(
        "_namespace", "Strong, durable, and an atomic reservation: one winner per key."
    )

    @property
    def namespace(self) -> DurableObjectNamespace:
        return self._namespace

    def shard_of(self, key: str) -> str:
        """The name of the ledger object that holds ``key``."""
        return f"{self.prefix}:{self._shard_index(key)}"

    def _shard_index(self, key: str) -> int:
        shards = self.shards
        if shards == 1:  # one shard: every key is there, no need to hash
            return 0
        digest = hashlib.sha256(key.encode("utf-8")).digest()
        return int.from_bytes(digest[:8], "big") % shards

    def _stub(self, key: str) -> StubBackend:
        """The shard's stub, made once per shard (the id is a hash of the name: worth keeping)."""
        index = self._shard_index(key)
        stub = self._stubs.get(index)
        if stub is None:
            _, stub = self._namespace._backend.stub_by_name(f"{self.prefix}:{index}")
            self._stubs[index] = stub
        return stub

    async def put_if_absent(self, key: str, *, ttl: float | None = None) -> bool:
        """Claim ``key``: True for exactly one caller while the claim lives (``ttl`` seconds, or until
        :meth:`forget`), False for everyone else."""
        checked = _check_dedupe_key(key)
        ttl_ms = _check_ttl(ttl)
        stub = self._stub(checked)
        result = await self._pipeline.call(
            DEDUPE_PUT_IF_ABSENT, stub.call, "put_if_absent", [checked, ttl_ms], key=checked
        )
        return bool(result)

    async def forget(self, key: str) -> bool:
        """Release ``key`` so it can be claimed again; True if a claim was there."""
        checked = _check_dedupe_key(key)
        stub = self._stub(checked)
        return bool(await self._pipeline.call(DEDUPE_FORGET, stub.call, "forget", [checked], key=checked))

    async def __aenter__(self) -> Dedupe:
        await self._namespace.__aenter__()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._namespace.aclose()

    async def aclose(self) -> None:
        await self._namespace.aclose()

    def __repr__(self) -> str:
        return f"Dedupe(shards={self.shards}, prefix={self.prefix!r}, namespace={self._namespace!r})"


def _check_dedupe_key(key: Any) -> str:
    if type(key) is str and key.isascii() and 0 < len(key) <= MAX_DEDUPE_KEY_BYTES:
        return key  # the common case, decided without encoding: ASCII characters are bytes
    checked = check_key(key)
    if not checked:
        raise InvalidInput("a dedupe key must not be empty", field="key")
    size = len(checked.encode("utf-8"))
    check_at_most(
        size,
        MAX_DEDUPE_KEY_BYTES,
        limit="dedupe.key_bytes",
        message=f"a dedupe key may be at most {MAX_DEDUPE_KEY_BYTES} bytes, got {size}",
    )
    return checked


def _check_ttl(ttl: Any) -> int | None:
    """``ttl`` seconds as whole milliseconds (rounded up, at least 1), or None: a positive, finite
    number up to :data:`MAX_DEDUPE_TTL_SECONDS`. Ints of any size are compared, never converted."""
    if ttl is None:
        return None
    if type(ttl) is int and 0 < ttl <= MAX_DEDUPE_TTL_SECONDS:  # the common case: whole seconds
        return ttl * 1000
    if isinstance(ttl, bool) or not isinstance(ttl, int | float):
        raise InvalidInput(
            f"ttl must be a positive number of seconds or None, got {type(ttl).__name__}", field="ttl"
        )
    if (isinstance(ttl, float) and not math.isfinite(ttl)) or ttl <= 0:
        raise InvalidInput(
            f"ttl must be a positive, finite number of seconds or None, got {show(ttl)}", field="ttl"
        )
    if ttl > MAX_DEDUPE_TTL_SECONDS:
        raise LimitExceeded(
            f"ttl may be at most {MAX_DEDUPE_TTL_SECONDS} seconds (about 100 years; None claims until "
            f"forget), got {show(ttl)}",
            limit="dedupe.ttl_seconds",
            value=ttl if isinstance(ttl, float) or ttl.bit_length() <= 64 else show(ttl),
            maximum=MAX_DEDUPE_TTL_SECONDS,
        )
    return max(1, math.ceil(ttl * 1000))


def _check_ttl_ms(ttl_ms: Any) -> int | None:
    """The ledger's own check of what :meth:`Dedupe.put_if_absent` sends (any RPC caller may send
    anything): None or an int of milliseconds from 1 to ``MAX_DEDUPE_TTL_SECONDS * 1000``."""
    if ttl_ms is None or (type(ttl_ms) is int and 1 <= ttl_ms <= MAX_DEDUPE_TTL_SECONDS * 1000):
        return ttl_ms
    if (
        isinstance(ttl_ms, bool)
        or not isinstance(ttl_ms, int)
        or not 1 <= ttl_ms <= MAX_DEDUPE_TTL_SECONDS * 1000
    ):
        raise InvalidInput(
            f"ttl_ms must be None or an int from 1 to {MAX_DEDUPE_TTL_SECONDS * 1000}, got {show(ttl_ms)}",
            field="ttl_ms",
        )
    return int(ttl_ms)


def _check_expiry(at: int) -> int:
    """The claim's expiry in epoch ms: it must be a valid alarm time and fit the expiry index (the
    object's clock decides, so this is checked in the object, before anything is written)."""
    if not 0 <= at <= _MAX_EXPIRY_MS:
        raise InvalidInput(
            f"the claim would expire at {at} ms after the epoch, outside 0..{_MAX_EXPIRY_MS}; "
            "check the object's clock and ttl",
            field="ttl",
        )
    return at
