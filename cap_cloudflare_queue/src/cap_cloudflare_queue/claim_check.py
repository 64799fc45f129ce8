"""Claim-check: bodies larger than a message may carry travel through blob storage instead.

The producer stores the encoded body under a fresh key and sends a small JSON reference in its place;
the consumer side verifies the reference, fetches and checks the body (size and SHA-256), and hands the
handler the original value — and once the message is acknowledged the stored body is deleted. So
128 KB stops being a limit on what a flow can enqueue, and nothing is left behind for acked messages.

A reference is trusted only when this SDK's producer made it: it carries an HMAC-SHA256 over the queue's
name and every reference field, under a key the ``ClaimCheck`` holds and that never travels with the
message, and its storage key must have the exact shape the producer generates (``<prefix><queue>/<32
hex>``). Anything else — a forged, tampered, replayed or foreign reference — is an ordinary JSON body:
nothing is read, nothing is deleted, and no error says anything about storage. Without a key a
``ClaimCheck`` cannot be built (``Misconfigured``).

Storage is anything with ``async put(key, bytes)``, ``async get(key)`` and ``async delete(key)``
(:class:`BlobStore`) — ``cap_cloudflare_r2.R2Bucket`` has exactly that shape (its ``get`` returns a body
with ``async read()`` or ``None``) — or an ``opendal.AsyncOperator`` (``write``/``read``/``delete``),
which :class:`ClaimCheck` wraps itself. Nothing here imports either library.

Left behind: the body of a message that is *dropped* after ``max_retries`` with no dead-letter queue
(the queue does not tell the producer), or acked without its body having been fetched; give the bucket
a lifecycle rule for ``prefix``.
"""

from __future__ import annotations

import hashlib
import hmac
import inspect
import json
import os
import re
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, Final, Protocol, runtime_checkable

from cap_opendal_core.errors import BackendError, CapabilityError, InvalidInput, Misconfigured, NotFound
from cap_opendal_core.redact import MIN_SECRET_LENGTH, Secret, register_secret

from .limits import CONTENT_TYPES, MAX_BODY_BYTES, ContentType

__all__ = [
    "KEY_ENV_VAR",
    "MIN_KEY_BYTES",
    "REFERENCE_KEY",
    "BlobStore",
    "ClaimCheck",
    "ClaimReference",
    "OpendalBlobStore",
]

REFERENCE_KEY: Final = "cap.claim_check"
"""The marker key of a reference body; its value is the reference format's version."""

REFERENCE_VERSION: Final = 2
"""Version 2 references carry ``mac``; version 1 (unauthenticated) references are no longer trusted."""

KEY_ENV_VAR: Final = "CAPS_CLAIM_CHECK_KEY"
"""Where :meth:`ClaimCheck.from_env` looks for the key: a Worker secret or an environment variable."""

MIN_KEY_BYTES: Final = 32
"""The shortest key accepted: 256 bits, the HMAC-SHA256 output size (``secrets.token_hex(32)``)."""

_REFERENCE_FIELDS: Final = frozenset({REFERENCE_KEY, "key", "content_type", "size", "sha256", "mac"})
_HEX64: Final = re.compile(r"[0-9a-f]{64}")
_HEX32: Final = re.compile(r"[0-9a-f]{32}")
_STORABLE: Final = frozenset(CONTENT_TYPES) - {"v8"}  # only the runtime encodes v8: never stored
_MAC_CONTEXT: Final = b"cap.claim_check/2\x00"  # domain separation: this key signs nothing else


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
    """A reference body: where the real body is, its content type, size, digest and authenticator.

    Build one with :meth:`ClaimCheck.reference` (producer) or :meth:`ClaimCheck.verify` (consumer);
    a reference that did not come from either is never acted on.
    """

    __slots__ = ("content_type", "key", "mac", "sha256", "size")

    def __init__(self, key: str, content_type: ContentType, size: int, sha256: str, mac: str) -> None:
        self.key = key
        self.content_type = content_type
        self.size = size
        self.sha256 = sha256
        self.mac = mac

    def to_body(self) -> dict[str, Any]:
        return {
            REFERENCE_KEY: REFERENCE_VERSION,
            "key": self.key,
            "content_type": self.content_type,
            "size": self.size,
            "sha256": self.sha256,
            "mac": self.mac,
        }

    @classmethod
    def parse(cls, body: object) -> ClaimReference | None:
        """The reference ``body`` has the *shape* of, or ``None``. Shape only: nothing is verified."""
        if not isinstance(body, Mapping) or set(body) != _REFERENCE_FIELDS:
            return None
        version, key, content_type = body[REFERENCE_KEY], body["key"], body["content_type"]
        size, digest, mac = body["size"], body["sha256"], body["mac"]
        if (
            type(version) is not int
            or version != REFERENCE_VERSION
            or not isinstance(key, str)
            or content_type not in _STORABLE
            or type(size) is not int
            or size < 0
            or not isinstance(digest, str)
            or not _HEX64.fullmatch(digest)
            or not isinstance(mac, str)
            or not _HEX64.fullmatch(mac)
        ):
            return None
        return cls(key, content_type, size, digest, mac)

    def __repr__(self) -> str:
        return f"ClaimReference(key={self.key!r}, content_type={self.content_type!r}, size={self.size})"


class ClaimCheck:
    """Blob storage, a key and a threshold: encoded bodies over ``threshold`` bytes go to ``store``.

    ``key`` (at least 32 bytes; ``str``, ``bytes`` or a ``Secret``) authenticates references: give the
    producer and every consumer of the queue a ``ClaimCheck`` with the same key and ``prefix``. It is
    never sent, stored, logged or shown. :meth:`from_env` reads it from a Worker secret or an
    environment variable (``CAPS_CLAIM_CHECK_KEY``). Without a key the constructor raises
    ``Misconfigured``: an unauthenticated reference would let anyone who can enqueue JSON make the
    consumer read and delete any object of ``store``.

    ``threshold`` defaults to the largest body a message can carry (so only bodies that could not be
    sent otherwise are moved); ``prefix`` starts every stored key (``<prefix><queue>/<32 hex>``), and
    a consumer acts only on keys of that shape for its own queue. A consumer of a dead-letter queue
    names the queues whose dead letters it receives in ``dead_letters_of``: references made for them
    are accepted there too. To rotate the key, sign with the new ``key`` and keep the old one in
    ``previous_keys`` (verification only) until the queue holds no reference made with it.
    """

    def __init__(
        self,
        store: BlobStore | Any,
        *,
        key: str | bytes | Secret | None = None,
        previous_keys: Iterable[str | bytes | Secret] = (),
        threshold: int = MAX_BODY_BYTES,
        prefix: str = "cap-queue/",
        dead_letters_of: Iterable[str] = (),
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
        origins = _queue_names(dead_letters_of)
        self._key = _key_bytes(key, source="key")
        if isinstance(previous_keys, str | bytes | Secret) or not isinstance(previous_keys, Iterable):
            raise InvalidInput("previous_keys: must be a list of keys", field="previous_keys")
        self._verifying_keys = (
            self._key,
            *(_key_bytes(k, source=f"previous_keys[{i}]") for i, k in enumerate(previous_keys)),
        )
        self.blobs: BlobStore = store
        self.threshold = threshold
        self.prefix = prefix
        self.dead_letters_of = origins

    @classmethod
    def from_env(
        cls,
        store: BlobStore | Any,
        env: Any = None,
        *,
        name: str = KEY_ENV_VAR,
        previous_keys: Iterable[str | bytes | Secret] = (),
        threshold: int = MAX_BODY_BYTES,
        prefix: str = "cap-queue/",
        dead_letters_of: Iterable[str] = (),
    ) -> ClaimCheck:
        """A ``ClaimCheck`` whose key is the secret ``name``: in a Python Worker pass its ``env`` (set the
        key with ``wrangler secret put CAPS_CLAIM_CHECK_KEY``); on a server ``env`` defaults to
        ``os.environ``. A missing or short key raises ``Misconfigured`` naming ``name``, never its value."""
        if not isinstance(name, str) or not name:
            raise InvalidInput(f"name: must be the secret's name, got {name!r}", field="name")
        source = os.environ if env is None else env
        if isinstance(source, Mapping):
            value = source.get(name)
        else:
            try:
                value = getattr(source, name, None)
            except Exception:  # a JS env may throw on an odd name
                value = None
        return cls(
            store,
            key=_key_bytes(value, source=name),
            previous_keys=previous_keys,
            threshold=threshold,
            prefix=prefix,
            dead_letters_of=dead_letters_of,
        )

    def needs(self, encoded_size: int) -> bool:
        """Whether a body of ``encoded_size`` bytes goes to storage."""
        return encoded_size > self.threshold

    def reference(self, queue: str, data: bytes, content_type: ContentType) -> ClaimReference:
        """The reference a body will travel as on ``queue`` (a fresh key, its size, digest and MAC);
        nothing is stored yet, so a batch can be checked completely before any I/O."""
        digest = hashlib.sha256(data).hexdigest()
        key = f"{self.prefix}{queue}/{uuid.uuid4().hex}"
        mac = self._mac(queue, key, content_type, len(data), digest)
        return ClaimReference(key, content_type, len(data), digest, mac)

    def verify(self, queue: str, body: object) -> ClaimReference | None:
        """The reference ``body`` is, when this SDK's producer made it for ``queue`` (or a queue in
        ``dead_letters_of``) with this key; else ``None`` and the body is an ordinary one.

        Pure: no I/O, so a forged reference costs the consumer nothing and learns nothing."""
        reference = ClaimReference.parse(body)
        if reference is None:
            return None
        for origin in (queue, *self.dead_letters_of):
            if not _is_generated_key(reference.key, self.prefix, origin):
                continue
            for secret in self._verifying_keys:
                expected = _mac(
                    secret, origin, reference.key, reference.content_type, reference.size, reference.sha256
                )
                if hmac.compare_digest(expected, reference.mac):
                    return reference
        return None

    def _mac(self, queue: str, key: str, content_type: str, size: int, sha256: str) -> str:
        return _mac(self._key, queue, key, content_type, size, sha256)

    async def store(self, key: str, data: bytes) -> None:
        """Write a body under the key of its :meth:`reference`."""
        await _call(lambda: self.blobs.put(key, data), "send", key)

    async def get(self, reference: ClaimReference) -> bytes:
        """The stored body of a verified reference, checked against its size and digest."""
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
        if len(data) != reference.size or not hmac.compare_digest(
            hashlib.sha256(data).hexdigest(), reference.sha256
        ):
            raise BackendError(
                f"claim-checked body {reference.key!r} does not match its reference (size or SHA-256 "
                "differ: the stored object was changed)",
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


def _mac(secret: bytes, queue: str, key: str, content_type: str, size: int, sha256: str) -> str:
    """HMAC-SHA256 over the queue's name and every reference field, as one unambiguous JSON array."""
    fields = json.dumps([queue, key, content_type, size, sha256], separators=(",", ":"))
    return hmac.new(secret, _MAC_CONTEXT + fields.encode(), hashlib.sha256).hexdigest()


def _key_bytes(value: object, *, source: str) -> bytes:
    """The HMAC key from ``value``; ``Misconfigured`` naming ``source`` (never showing the value)."""
    how = (
        f"set {source} to a random secret of at least {MIN_KEY_BYTES} bytes, the same for the producer and "
        "every consumer (e.g. python -c 'import secrets; print(secrets.token_hex(32))'; in a Worker: "
        f"wrangler secret put {KEY_ENV_VAR}, then ClaimCheck.from_env(store, env))"
    )
    if (
        value is None
        or (isinstance(value, str | bytes) and not value)
        or (isinstance(value, Secret) and not value.reveal())
    ):
        raise Misconfigured(
            f"claim-check key {source!r} is not set: references could not be authenticated, so a "
            f"ClaimCheck is refused without one; {how}",
            capability="queue",
            operation="claim_check",
        )
    if isinstance(value, Secret):
        value = value.reveal()
    if isinstance(value, str):
        if len(value) >= MIN_SECRET_LENGTH:
            register_secret(value)  # scrubbed from any text it might leak into
        raw = value.encode()
    elif isinstance(value, bytes | bytearray):
        raw = bytes(value)
    else:
        raise Misconfigured(
            f"claim-check key {source!r} must be a str, bytes or Secret, got {type(value).__name__}",
            capability="queue",
            operation="claim_check",
        )
    if len(raw) < MIN_KEY_BYTES:
        raise Misconfigured(
            f"claim-check key {source!r} is too short ({len(raw)} bytes); {how}",
            capability="queue",
            operation="claim_check",
        )
    return raw


def _queue_names(names: object) -> tuple[str, ...]:
    from .validation import check_queue_name

    if isinstance(names, str) or not isinstance(names, Iterable):
        raise InvalidInput(
            f"dead_letters_of: must be a list of queue names, got {type(names).__name__}",
            field="dead_letters_of",
        )
    return tuple(check_queue_name(n, field="dead_letters_of") for n in names)


def _is_generated_key(key: str, prefix: str, queue: str) -> bool:
    """Whether ``key`` has exactly the shape :meth:`ClaimCheck.reference` generates for ``queue``."""
    stem = f"{prefix}{queue}/"
    return key.startswith(stem) and _HEX32.fullmatch(key, len(stem)) is not None


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
