"""Moving bodies without holding them whole: what a value becomes, digests, parts, bounded uploads.

A ``put`` value is either bytes (known up front: checked against the limits and the caller's
checksum before any I/O) or a stream — an async iterable of bytes, a sync iterable of bytes, or a
binary file — read chunk by chunk. Streams are cut into parts of ``part_size`` where a backend
uploads in parts, at most ``concurrency`` in flight, and the next part is read only once one of
them is done, so memory stays at about ``concurrency * part_size`` whatever the object's size.

Nothing here does I/O of its own except reading the caller's file (in a worker thread on CPython,
directly under Pyodide, which has no threads).
"""

from __future__ import annotations

import inspect
import io
import sys
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol, TypeVar

from cap_opendal_core.errors import CapabilityError, InvalidInput, LimitExceeded

from . import limits

__all__ = [
    "BytesPayload",
    "Digests",
    "StreamPayload",
    "TransferSettings",
    "multipart_etag",
    "prepare_value",
    "read_up_to",
    "split_parts",
    "upload_parts",
]

T = TypeVar("T")
P = TypeVar("P", bound=bytes | bytearray)
MiB: Final = 1024 * 1024
_PYODIDE: Final = sys.platform == "emscripten"


@dataclass(frozen=True, slots=True)
class TransferSettings:
    """How bodies move. ``part_size``: a stream larger than this is uploaded in parts of this size
    (5 MiB-5 GiB, R2's part bounds); ``concurrency``: parts in flight at once; ``read_chunk_size``:
    how much a ``get`` asks the backend for at a time (server-side backends)."""

    part_size: int = 8 * MiB
    concurrency: int = 4
    read_chunk_size: int = 1 * MiB

    def __post_init__(self) -> None:
        def bad(name: str, rule: str) -> ValueError:
            return ValueError(f"TransferSettings.{name} must be {rule}, got {getattr(self, name)!r}")

        for name in ("part_size", "concurrency", "read_chunk_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise bad(name, "an int")
        if not limits.PART_MIN_BYTES <= self.part_size <= limits.PART_MAX_BYTES:
            raise bad("part_size", f"between {limits.PART_MIN_BYTES} and {limits.PART_MAX_BYTES} bytes")
        if not 1 <= self.concurrency <= 64:
            raise bad("concurrency", "between 1 and 64")
        if not 4096 <= self.read_chunk_size <= 64 * MiB:
            raise bad("read_chunk_size", "between 4096 and 64 MiB")


@dataclass(frozen=True, slots=True)
class BytesPayload:
    """A body known in full before the call."""

    data: bytes


@dataclass(slots=True)
class StreamPayload:
    """A body read as it is sent; ``size`` when it can be known up front (a regular file)."""

    chunks: AsyncIterator[bytes]
    size: int | None = None


Payload = BytesPayload | StreamPayload


def _invalid(message: str, operation: str, field: str = "value") -> InvalidInput:
    return InvalidInput(message, field=field, capability="r2", operation=operation)


def prepare_value(value: object, *, operation: str = "put", max_bytes: int | None = None) -> Payload:
    """Classify a ``put``/``upload_part`` value without reading a stream yet.

    bytes-like, ``str`` (stored as UTF-8) and None (an empty object) are bytes payloads, checked
    against ``max_bytes`` here; async iterables, iterables of bytes and binary files (anything
    with ``read``) are streams. Anything else is ``InvalidInput``.
    """
    data: bytes | None = None
    if value is None:
        data = b""
    elif isinstance(value, bytes):
        data = value
    elif isinstance(value, bytearray | memoryview):
        data = bytes(value)
    elif isinstance(value, str):
        try:
            data = value.encode("utf-8")
        except UnicodeEncodeError:
            raise _invalid("value is a str that is not valid Unicode (lone surrogate)", operation) from None
    if data is not None:
        if max_bytes is not None and len(data) > max_bytes:
            raise LimitExceeded(
                f"value is {len(data)} bytes; one {operation} takes at most {max_bytes} "
                "(pass a stream or file to have it uploaded in parts)",
                limit="r2.single_upload_bytes" if operation == "put" else "r2.part_bytes",
                value=len(data),
                maximum=max_bytes,
                capability="r2",
                operation=operation,
            )
        return BytesPayload(data)
    if isinstance(value, AsyncIterable):
        return StreamPayload(_checked(value.__aiter__(), operation))
    if isinstance(value, io.TextIOBase):
        raise _invalid("the file was opened in text mode; open it in binary mode ('rb')", operation)
    read = getattr(value, "read", None)
    if callable(read):
        return StreamPayload(_read_file(value, read, operation), _remaining_size(value))
    if isinstance(value, Iterable) and not isinstance(value, Mapping):
        return StreamPayload(_from_sync(value, operation))
    raise _invalid(
        f"value must be bytes, str, an async iterable of bytes, or a binary file; got {type(value).__name__}",
        operation,
    )


def _as_bytes(chunk: object, operation: str) -> bytes:
    if isinstance(chunk, bytes):
        return chunk
    if isinstance(chunk, bytearray | memoryview):
        return bytes(chunk)
    raise _invalid(f"a stream yielded {type(chunk).__name__}; streams must yield bytes", operation)


async def _checked(chunks: AsyncIterator[Any], operation: str) -> AsyncIterator[bytes]:
    async for chunk in chunks:
        yield _as_bytes(chunk, operation)


async def _from_sync(chunks: Iterable[Any], operation: str) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield _as_bytes(chunk, operation)


def _remaining_size(file: object) -> int | None:
    """Bytes left in a regular file (None for pipes, sockets and objects without a descriptor)."""
    import os
    import stat

    try:
        fileno = file.fileno()  # type: ignore[attr-defined]
        info = os.fstat(fileno)
        if not stat.S_ISREG(info.st_mode):
            return None
        position = file.tell()  # type: ignore[attr-defined]
        return max(0, int(info.st_size) - int(position))
    except Exception:  # no descriptor, not seekable: size unknown
        return None


async def _read_file(file: object, read: Callable[[int], Any], operation: str) -> AsyncIterator[bytes]:
    chunk_size = 1 * MiB
    is_async = inspect.iscoroutinefunction(read)
    while True:
        if is_async:
            chunk = await read(chunk_size)
        elif _PYODIDE:
            chunk = read(chunk_size)
        else:
            import anyio.to_thread

            chunk = await anyio.to_thread.run_sync(read, chunk_size)
        if inspect.isawaitable(chunk):
            chunk = await chunk
        if isinstance(chunk, str):
            raise _invalid("the file was opened in text mode; open it in binary mode ('rb')", operation)
        data = _as_bytes(chunk, operation)
        if not data:
            return
        yield data


# -- digests ------------------------------------------------------------------------------------


class Digests:
    """Digests of a body as it passes: MD5 (the etag, for backends that make their own; ``md5=False``
    where the server's etag stands for it), plus the algorithm the caller gave a checksum for.
    :meth:`verify` raises ``InvalidInput`` when the body does not match."""

    __slots__ = ("_expected", "_hashes", "size")
    _hashes: dict[str, _Running]

    def __init__(self, expected: Mapping[str, str] | None = None, *, md5: bool = True) -> None:
        import hashlib  # on first use: importing it at import time would cost every cold start ~1 ms

        self._expected = dict(expected or {})
        self._hashes = {"md5": hashlib.md5(usedforsecurity=False)} if md5 else {}
        for name in self._expected:
            if name not in self._hashes:
                self._hashes[name] = _new_digest(name)
        self.size = 0

    def update(self, chunk: bytes | bytearray) -> None:
        self.size += len(chunk)
        for h in self._hashes.values():
            h.update(chunk)

    def update_part(self, chunk: bytes, max_bytes: int | None) -> None:
        """:meth:`update`, refusing a streamed part that grows past ``max_bytes`` (None: no bound)."""
        self.update(chunk)
        if max_bytes is not None and self.size > max_bytes:
            raise LimitExceeded(
                f"the stream is over {max_bytes} bytes, the most one part may hold",
                limit="r2.part_bytes",
                value=self.size,
                maximum=max_bytes,
                capability="r2",
            )

    @property
    def md5(self) -> str:
        return self._hashes["md5"].hexdigest()

    def computed(self) -> dict[str, str]:
        """Hex digest of every algorithm computed (``md5`` and the one the caller gave, if any)."""
        return {name: h.hexdigest() for name, h in self._hashes.items()}

    def verify(self, *, operation: str = "put") -> None:
        for name, expected in self._expected.items():
            actual = self._hashes[name].hexdigest()
            if actual != expected:
                raise _invalid(
                    f"the body's {name} is {actual}, not the {expected} given; nothing was stored",
                    operation,
                    field=name,
                )

    @classmethod
    def of(cls, data: bytes, expected: Mapping[str, str] | None = None, *, md5: bool = True) -> Digests:
        digests = cls(expected, md5=md5)
        digests.update(data)
        return digests


class _Running(Protocol):
    """What :class:`Digests` uses of a hashlib object (and of a :mod:`.crc` one)."""

    def update(self, data: bytes | bytearray, /) -> None: ...

    def hexdigest(self) -> str: ...


def _new_digest(name: str) -> _Running:
    """A running digest for ``name``: hashlib's, or a CRC (:mod:`.crc`) for ``crc32`` / ``crc32c``."""
    if name.startswith("crc"):
        from .crc import new_crc

        return new_crc(name)
    import hashlib

    return hashlib.new(name)


OFF_LOOP_BYTES: Final = 256 * 1024
"""A body at least this large is hashed in a worker thread (on CPython), not on the event loop:
hashing 8 MiB takes ~10-20 ms, during which no other task would run."""


async def verify_off_loop(data: bytes, expected: Mapping[str, str], *, operation: str = "put") -> None:
    """Check ``data`` against the caller's checksum (``InvalidInput`` when it does not match), in a
    worker thread when the body is large (hashlib releases the GIL for large buffers; the pure-Python
    CRC32C holds it, but the interpreter switches threads every few ms, so the loop keeps running)."""
    if not expected:
        return
    if len(data) < OFF_LOOP_BYTES or _PYODIDE:
        Digests.of(data, expected, md5=False).verify(operation=operation)
        return
    import anyio.to_thread

    digests = await anyio.to_thread.run_sync(lambda: Digests.of(data, expected, md5=False))
    digests.verify(operation=operation)


async def hash_off_loop(digests: Digests, data: bytes | bytearray) -> None:
    """``digests.update(data)``, in a worker thread when ``data`` is large (see :data:`OFF_LOOP_BYTES`).
    Awaited in order, so the digests see the stream's bytes in order."""
    if len(data) < OFF_LOOP_BYTES or _PYODIDE:
        digests.update(data)
        return
    import anyio.to_thread

    await anyio.to_thread.run_sync(digests.update, data)


Progress = Callable[[int, int | None], object]
"""``on_progress(bytes so far, total or None)``: called as a body moves (a large transfer's progress)."""


async def with_progress(
    chunks: AsyncIterator[bytes], total: int | None, on_progress: Progress
) -> AsyncIterator[bytes]:
    """``chunks`` unchanged, reporting the running byte count after each one is handed on (so the
    count is what the backend has taken, which it sends before asking for more)."""
    done = 0
    on_progress(0, total)
    async for chunk in chunks:
        yield chunk
        done += len(chunk)
        on_progress(done, total)


def multipart_etag(part_md5s: Iterable[str]) -> str:
    """S3's (and R2's) etag of a multipart object: MD5 of the parts' binary MD5s, ``-`` part count."""
    import hashlib

    md5s = list(part_md5s)
    joined = hashlib.md5(b"".join(bytes.fromhex(m) for m in md5s), usedforsecurity=False)
    return f"{joined.hexdigest()}-{len(md5s)}"


# -- parts --------------------------------------------------------------------------------------


async def read_up_to(chunks: AsyncIterator[bytes], size: int, carry: bytearray) -> bytes:
    """Up to ``size`` bytes from ``carry`` then ``chunks`` (fewer only at the end of the stream);
    what is read beyond ``size`` stays in ``carry`` for the next call."""
    while len(carry) < size:
        try:
            chunk = await chunks.__anext__()
        except StopAsyncIteration:
            break
        carry += chunk
    if len(carry) <= size:
        out = bytes(carry)
        carry.clear()
        return out
    with memoryview(carry) as view, view[:size] as head:
        out = bytes(head)  # one copy (``bytes(carry[:size])`` would make two)
    del carry[:size]
    return out


async def split_parts(chunks: AsyncIterator[bytes], part_size: int) -> AsyncIterator[bytes]:
    """Re-cut a stream into parts of exactly ``part_size`` bytes (the last may be shorter; an empty
    stream yields no part)."""
    carry = bytearray()
    while True:
        part = await read_up_to(chunks, part_size, carry)
        if not part:
            return
        yield part
        if len(part) < part_size:
            return


async def upload_parts(
    parts: AsyncIterator[P],
    upload: Callable[[int, P], Awaitable[T]],
    *,
    concurrency: int,
    first_number: int = 1,
) -> list[T]:
    """Upload each part with ``upload(number, data)``, at most ``concurrency`` at a time, in order of
    part number in the result. The next part is read only once a slot is free, so memory holds at most
    ``concurrency`` parts. The first failure cancels the rest and is raised as itself."""
    import anyio

    results: dict[int, T] = {}
    slots = anyio.Semaphore(concurrency)

    async def run(number: int, data: P) -> None:
        try:
            results[number] = await upload(number, data)
        finally:
            slots.release()

    number = first_number - 1
    pending = parts.__aiter__()
    try:
        async with anyio.create_task_group() as group:
            while True:
                await slots.acquire()  # a free slot before the next part is read: at most concurrency held
                try:
                    part = await pending.__anext__()
                except StopAsyncIteration:
                    slots.release()
                    break
                number += 1
                if number > limits.MULTIPART_MAX_PARTS:
                    raise LimitExceeded(
                        f"the stream needs more than {limits.MULTIPART_MAX_PARTS} parts of {len(part)} "
                        "bytes; raise TransferSettings.part_size",
                        limit="r2.multipart_parts",
                        value=number,
                        maximum=limits.MULTIPART_MAX_PARTS,
                        capability="r2",
                    )
                group.start_soon(run, number, part)
                del part  # the task holds it now
    except BaseExceptionGroup as group_error:
        raise first_failure(group_error) from None
    return [results[n] for n in range(first_number, number + 1)]


def first_failure(group: BaseExceptionGroup[Any]) -> BaseException:
    """The error to raise for a task group's failure: a CapabilityError if there is one."""
    flat: list[BaseException] = []

    def walk(error: BaseException) -> None:
        if isinstance(error, BaseExceptionGroup):
            for inner in error.exceptions:
                walk(inner)
        else:
            flat.append(error)

    walk(group)
    for error in flat:
        if isinstance(error, CapabilityError):
            return error
    for error in flat:
        if isinstance(error, Exception):
            return error
    return flat[0] if flat else group
