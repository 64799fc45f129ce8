"""Every public operation of the Durable Objects capability, declared once for the pipeline.

Hints follow ``docs/reference/hints.md``: storage reads and RPC/fetch to a method the class declares
read-only record ``resource::state::read`` (which allows Stable); storage writes and any other RPC or
fetch record ``resource::state::write`` + ``resource::state`` (BestEffort from then on). Dedupe records
``resource::dedupe::write`` + ``resource::dedupe``.

Calls to an object (RPC, fetch, resolving an id through the gateway) are sub-requests of the calling
Worker; storage calls made inside an object are not, so they cost nothing against the budget.
Read-only calls and storage writes of fixed values are safe to retry; RPC and fetch that may write are
not (a retried ``increment`` would count twice), nor is ``put_if_absent`` (its answer would flip).
"""

from __future__ import annotations

from typing import Final

from cap_opendal_core.layers import Operation

__all__ = [
    "OPERATIONS",
    "DEDUPE_FORGET",
    "DEDUPE_PUT_IF_ABSENT",
    "FETCH",
    "FETCH_READ",
    "RESOLVE_ID",
    "RPC",
    "RPC_READ",
    "STORAGE_DELETE",
    "STORAGE_DELETE_ALARM",
    "STORAGE_DELETE_ALL",
    "STORAGE_GET",
    "STORAGE_GET_ALARM",
    "STORAGE_LIST",
    "STORAGE_PUT",
    "STORAGE_SET_ALARM",
    "STORAGE_SQL_EXEC",
    "STORAGE_SQL_READ",
    "STORAGE_TRANSACTION",
    "STORAGE_BOOKMARK",
    "STORAGE_RESTORE_BOOKMARK",
]

_READ: Final = "resource::state::read"
_WRITE: Final = "resource::state::write"
_STATE: Final = "resource::state"

RPC: Final = Operation("do", "rpc", _WRITE, _STATE, idempotent=False)
RPC_READ: Final = Operation("do", "rpc", _READ, _READ, idempotent=True)
FETCH: Final = Operation("do", "fetch", _WRITE, _STATE, idempotent=False)
FETCH_READ: Final = Operation("do", "fetch", _READ, _READ, idempotent=True)
RESOLVE_ID: Final = Operation("do", "resolve_id", _READ, _READ, idempotent=True)

STORAGE_GET: Final = Operation("do", "storage.get", _READ, _READ, idempotent=True, subrequests=0)
STORAGE_LIST: Final = Operation("do", "storage.list", _READ, _READ, idempotent=True, subrequests=0)
STORAGE_GET_ALARM: Final = Operation("do", "storage.get_alarm", _READ, _READ, idempotent=True, subrequests=0)
STORAGE_PUT: Final = Operation("do", "storage.put", _WRITE, _STATE, idempotent=True, subrequests=0)
STORAGE_DELETE: Final = Operation("do", "storage.delete", _WRITE, _STATE, idempotent=True, subrequests=0)
STORAGE_DELETE_ALL: Final = Operation(
    "do", "storage.delete_all", _WRITE, _STATE, idempotent=True, subrequests=0
)
STORAGE_TRANSACTION: Final = Operation(
    "do", "storage.transaction", _WRITE, _STATE, idempotent=True, subrequests=0
)
STORAGE_SET_ALARM: Final = Operation(
    "do", "storage.set_alarm", _WRITE, _STATE, idempotent=True, subrequests=0
)
STORAGE_DELETE_ALARM: Final = Operation(
    "do", "storage.delete_alarm", _WRITE, _STATE, idempotent=True, subrequests=0
)

STORAGE_SQL_READ: Final = Operation("do", "storage.sql.exec", _READ, _READ, idempotent=True, subrequests=0)
"""``sql.exec`` of a query :func:`cap_cloudflare_do.sql.is_read_only` proves read-only."""
STORAGE_SQL_EXEC: Final = Operation("do", "storage.sql.exec", _WRITE, _STATE, idempotent=False, subrequests=0)
"""``sql.exec`` of anything else: a write (an ``INSERT`` retried would insert twice)."""
STORAGE_BOOKMARK: Final = Operation("do", "storage.bookmark", _READ, _READ, idempotent=True, subrequests=0)
STORAGE_RESTORE_BOOKMARK: Final = Operation(
    "do", "storage.restore_bookmark", _WRITE, _STATE, idempotent=True, subrequests=0
)

DEDUPE_PUT_IF_ABSENT: Final = Operation(
    "dedupe", "put_if_absent", "resource::dedupe::write", "resource::dedupe", idempotent=False
)
DEDUPE_FORGET: Final = Operation(
    "dedupe", "forget", "resource::dedupe::write", "resource::dedupe", idempotent=True
)

OPERATIONS: Final = (
    RPC_READ,
    RPC,
    FETCH_READ,
    FETCH,
    RESOLVE_ID,
    STORAGE_GET,
    STORAGE_LIST,
    STORAGE_GET_ALARM,
    STORAGE_PUT,
    STORAGE_DELETE,
    STORAGE_DELETE_ALL,
    STORAGE_TRANSACTION,
    STORAGE_SET_ALARM,
    STORAGE_DELETE_ALARM,
    STORAGE_SQL_READ,
    STORAGE_SQL_EXEC,
    STORAGE_BOOKMARK,
    STORAGE_RESTORE_BOOKMARK,
    DEDUPE_PUT_IF_ABSENT,
    DEDUPE_FORGET,
)
"""Every operation, for the package's spec (which derives the provided hints from them)."""
