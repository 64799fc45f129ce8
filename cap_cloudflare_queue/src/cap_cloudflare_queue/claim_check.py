"""Claim-check: bodies larger than a message may carry travel through blob storage instead.

The producer stores the encoded body under a fresh key and sends a small JSON reference in its place;
the consumer side sees the reference, fetches and verifies the body (size and SHA-256), and hands the
handler the original value — and once the message is acknowledged the stored body is deleted. So
128 KB stops being a limit on what a flow can enqueue, and nothing is left behind for acked messages.

Storage is anything with ``async put(key, bytes)``, ``async get(key)`` and ``async delete(key)``
(:class:`BlobStore`) — ``cap_cloudflare_r2.R2Bucket`` has exactly that shape (its ``get`` returns a body
with ``async read()`` or ``None``) — or an ``opendal.AsyncOperator`` (``write``/``read``/``delete``),
which :class:`ClaimCheck` wraps itself. Nothing here imports either library.

Left behind: the body of a message that is *dropped* after ``max_retries`` with no dead-letter queue
(the queue does not tell the producer); give the bucket a lifecycle rule for ``prefix``.
"""

from __future__ import annotations

import hashlib
import inspect
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final, Protocol, runtime_checkable

from cap_opendal_core.errors import BackendError, CapabilityError, InvalidInput, NotFound

from .limits import CONTENT_TYPES, MAX_BODY_BYTES, ContentType

__all__ = ["REFERENCE_KEY", "BlobStore", "ClaimCheck", "ClaimReference", "OpendalBlobStore"]

REFERENCE_KEY: Final = "cap.claim_check"
"""The marker key of a reference body; its value is the reference format's version (1)."""

_REFERENCE_FIELDS: Final = frozenset({REFERENCE_KEY, "key", "content_type", "size", "sha256"})


@runtime_checkable
class BlobStore(Protocol):
    """Where claim-checked bodies go: ``R2Bucket`` satisfies this as it is."""

    async def put(self, key: str, value: bytes, /) -> object: ...

    async def get(self, key: str, /) -> object:
        """The stored bytes, or an object with ``read()`` (an R2 body), or ``None`` when missing."""
        ...

    async def delete(self, key: str, /) -> object: ...


class OpendalBlobStore:
    """An ``opendal.AsyncOperator`` seen as a :class:`BlobStore` (``write``/``read``/``delete``)."""

    def __init__(self, operator: Any) -> None:
        self.operator = operator

    async def put(self, key: str, value: bytes, /) -> None:
        await self.operator.write(key, value)

    async def get(self, key: str, /) -> bytes | None:
        try:
            data = await self.operator.read(key)
        except Exception as exc:
            if type(exc).__name__ == "NotFound":  # opendal.exceptions.NotFound, without importing opendal
                return None
            raise
        return bytes(data)

    async def delete(self, key: str, /) -> None:
        await self.operator.delete(key)

    def __repr__(self) -> str:
        return f"OpendalBlobStore({self.operator!r})"


def _is_opendal_operator(obj: object) -> bool:
    module = type(obj).__module__ or ""
    return module.partition(".")[0] == "opendal" and all(
        callable(getattr(obj, name, None)) for name in ("write", "read", "delete")
    )


class ClaimReference:
    """A decoded reference body: where the real body is, its content type, size and digest."""

    __slots__ = ("content_type", "key", "sha256", "size")

    def __init__(self, key: str, content_type: ContentType, size: int, sha256: str) -> None:
        self.key = key
        self.content_type = content_type
        self.size = size
        self.sha256 = sha256

    def to_body(self) -> dict[str, Any]:
        return {
            REFERENCE_KEY: 1,
            "key": self.key,
            "content_type": self.content_type,
            "size": self.size,
            "sha256": self.sha256,
        }

    @classmethod
    def from_body(cls, body: object) -> ClaimReference | None:
        """The reference ``body`` holds, or ``None`` when it is an ordinary body."""
        if not isinstance(body, Mapping) or body.get(REFERENCE_KEY) != 1 or set(body) != _REFERENCE_FIELDS:
            return None
        key, content_type, size, digest = body["key"], body["content_type"], body["size"], body["sha256"]
        if (
            not isinstance(key, str)
            or content_type not in CONTENT_TYPES
            or not isinstance(size, int)
            or not isinstance(digest, str)
        ):
            return None
        return cls(key, content_type, size, digest)

    def __repr__(self) -> str:
        return f"ClaimReference(key={self.key!r}, content_type={self.content_type!r}, size={self.size})"


class ClaimCheck:
    """Blob storage plus a threshold: encoded bodies over ``threshold`` bytes go to ``store``.

    ``threshold`` defaults to the largest body a message can carry (so only bodies that could not be
    sent otherwise are moved); ``prefix`` starts every stored key (``<prefix><queue>/<uuid>``).
    Give the same kind of ``ClaimCheck`` (same store) to the consumer so it can resolve references.
    """

    def __init__(
        self, store: BlobStore | Any, *, threshold: int = MAX_BODY_BYTES, prefix: str = "cap-queue/"
    ) -> None:
        if _is_opendal_operator(store):
            store = OpendalBlobStore(store)
        elif not isinstance(store, BlobStore):
            raise InvalidInput(
                "claim_check store must have async put(key, bytes), get(key) and delete(key) (an R2Bucket) "
                f"or be an opendal.AsyncOperator; got {type(store).__name__}",
                field="store",
            )
        if (
            isinstance(threshold, bool)
            or not isinstance(threshold, int)
            or not 1 <= threshold <= MAX_BODY_BYTES
        ):
            raise InvalidInput(
                f"threshold: must be an integer from 1 to {MAX_BODY_BYTES} bytes (what a message can carry), "
                f"got {threshold!r}",
                field="threshold",
            )
        if not isinstance(prefix, str) or "\x00" in prefix or ".." in prefix.split("/"):
            raise InvalidInput(f"prefix: must be a plain key prefix, got {prefix!r}", field="prefix")
        self.blobs: BlobStore = store
        self.threshold = threshold
        self.prefix = prefix

    def needs(self, encoded_size: int) -> bool:
        """Whether a body of ``encoded_size`` bytes goes to storage."""
        return encoded_size > self.threshold

    def reference(self, queue: str, data: bytes, content_type: ContentType) -> ClaimReference:
        """The reference a body will travel as (a fresh key, its size and digest); nothing is stored yet,
        so a batch can be checked completely before any I/O."""
        digest = hashlib.sha256(data).hexdigest()
        return ClaimReference(f"{self.prefix}{queue}/{uuid.uuid4().hex}", content_type, len(data), digest)

    async def store(self, key: str, data: bytes) -> None:
        """Write a body under the key of its :meth:`reference`."""
        await _call(lambda: self.blobs.put(key, data), "send", key)

    async def get(self, reference: ClaimReference) -> bytes:
        """The stored body, checked against the reference's size and digest."""
        result = await _call(lambda: self.blobs.get(reference.key), "pull", reference.key)
        if result is None:
            raise NotFound(
                f"claim-checked body {reference.key!r} is missing from storage (deleted after an earlier "
                "ack, or never written)",
                capability="queue",
                operation="pull",
                key=reference.key,
            )
        data = await _read(result)
        if len(data) != reference.size or hashlib.sha256(data).hexdigest() != reference.sha256:
            raise BackendError(
                f"claim-checked body {reference.key!r} does not match its reference "
                f"({len(data)} bytes, expected {reference.size} with the recorded SHA-256)",
                capability="queue",
                operation="pull",
                key=reference.key,
                retryable=False,
            )
        return data

    async def delete(self, key: str) -> None:
        await _call(lambda: self.blobs.delete(key), "ack", key)

    def __repr__(self) -> str:
        return f"ClaimCheck({self.blobs!r}, threshold={self.threshold}, prefix={self.prefix!r})"


async def _call(start: Callable[[], Awaitable[Any]], operation: str, key: str) -> Any:
    """Make a storage call; whatever it raises leaves as a ``CapabilityError`` of the queue."""
    try:
        return await start()
    except CapabilityError:
        raise
    except Exception as exc:
        from cap_opendal_core.translate import from_exception

        raise from_exception(exc, capability="queue", operation=operation, key=key) from exc


async def _read(result: object) -> bytes:
    """Bytes from what a store's ``get`` returned: bytes, or a body object with ``read()``."""
    if isinstance(result, bytes | bytearray | memoryview):
        return bytes(result)
    read = getattr(result, "read", None)
    if callable(read):
        data = read()
        if inspect.isawaitable(data):
            data = await data
        if isinstance(data, bytes | bytearray | memoryview):
            return bytes(data)
    raise BackendError(
        f"claim-check store returned {type(result).__name__} from get(); "
        "expected bytes or a body with read()",
        capability="queue",
        operation="pull",
        retryable=False,
    )
