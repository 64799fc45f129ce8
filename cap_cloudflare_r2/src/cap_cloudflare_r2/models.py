"""The values :class:`~cap_cloudflare_r2.R2Bucket` takes and returns, named after R2's JS types.

Plain frozen dataclasses (no pydantic): they are used on the Workers path too. Every backend builds
the same types, so flow code never sees which backend answered. :class:`R2ObjectBody` is the one
stateful type: it holds the object's body as a stream that is read once.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import AsyncIterable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal, NoReturn, Protocol, TypeAlias

from cap_opendal_core.closing import ClosesOnExit
from cap_opendal_core.forward import Forward

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Mapping

__all__ = [
    "CHECKSUM_ALGORITHMS",
    "CRC_CHECKSUM_ALGORITHMS",
    "HTTP_METADATA_FIELDS",
    "PresignedRequest",
    "R2Checksums",
    "R2Conditional",
    "R2HttpMetadata",
    "R2Object",
    "R2ObjectBody",
    "R2Objects",
    "R2PutValue",
    "R2Range",
    "R2UploadedPart",
    "STORAGE_CLASSES",
    "SupportsRead",
]


class SupportsRead(Protocol):
    """A binary file (``open(path, "rb")``, ``io.BytesIO``): what ``put`` streams from ``read``."""

    def read(self, size: int = -1, /) -> bytes: ...


R2PutValue: TypeAlias = (
    bytes | bytearray | memoryview | str | AsyncIterable[bytes] | Iterable[bytes] | SupportsRead | None
)
"""What ``put`` and ``upload_part`` store: bytes-like, ``str`` (as UTF-8), None (an empty object), an
async or sync iterable of bytes, or a binary file — R2's ``ReadableStream | ArrayBuffer |
ArrayBufferView | string | null`` in Python. Anything else is refused by mypy, and at run time with
``InvalidInput``."""

CHECKSUM_ALGORITHMS: Final = ("md5", "sha1", "sha256", "sha384", "sha512")
"""The digests R2 verifies on ``put`` and reports in ``R2Object.checksums``, in R2's order."""

CRC_CHECKSUM_ALGORITHMS: Final = ("crc32", "crc32c")
"""The CRCs R2's S3 API (and S3) verifies on ``put`` besides those: the Workers binding has none, so
they are taken on the S3 API and the local backends only (``Unsupported`` on the binding)."""

_ALL_CHECKSUMS: Final = CHECKSUM_ALGORITHMS + CRC_CHECKSUM_ALGORITHMS

STORAGE_CLASSES: Final = ("Standard", "InfrequentAccess")
"""R2's storage classes (``storageClass``), as the binding names them. R2's S3 API calls them
``STANDARD`` and ``STANDARD_IA``; an object stored without one gets the bucket's default."""

HTTP_METADATA_FIELDS: Final = (
    ("content_type", "contentType"),
    ("content_language", "contentLanguage"),
    ("content_disposition", "contentDisposition"),
    ("content_encoding", "contentEncoding"),
    ("cache_control", "cacheControl"),
    ("cache_expiry", "cacheExpiry"),
)
"""(Python name, JS name) of every ``R2HTTPMetadata`` field."""

_EPOCH: Final = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)


def _utc(moment: _dt.datetime) -> _dt.datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=_dt.UTC)


@dataclass(frozen=True, slots=True)
class R2HttpMetadata:
    """The HTTP headers R2 stores with an object and serves it with (``R2HTTPMetadata``)."""

    content_type: str | None = None
    content_language: str | None = None
    content_disposition: str | None = None
    content_encoding: str | None = None
    cache_control: str | None = None
    cache_expiry: _dt.datetime | None = None

    def is_empty(self) -> bool:
        return all(getattr(self, name) is None for name, _ in HTTP_METADATA_FIELDS)

    def set_fields(self) -> tuple[str, ...]:
        """Python names of the fields that hold a value."""
        return tuple(name for name, _ in HTTP_METADATA_FIELDS if getattr(self, name) is not None)

    def to_dict(self) -> dict[str, str | int]:
        """Snake-case, JSON-ready (``cache_expiry`` as epoch milliseconds); unset fields left out."""
        out: dict[str, str | int] = {}
        for name, _ in HTTP_METADATA_FIELDS:
            value = getattr(self, name)
            if isinstance(value, _dt.datetime):
                out[name] = (_utc(value) - _EPOCH) // _dt.timedelta(milliseconds=1)
            elif value is not None:
                out[name] = value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> R2HttpMetadata:
        """Inverse of :meth:`to_dict`; also reads the JS (camelCase) names a binding returns."""
        values: dict[str, Any] = {}
        for name, js_name in HTTP_METADATA_FIELDS:
            value = data.get(name, data.get(js_name))
            if value is None:
                continue
            if name == "cache_expiry":
                if isinstance(value, int) and not isinstance(value, bool):
                    value = _EPOCH + _dt.timedelta(milliseconds=value)
                elif isinstance(value, _dt.datetime):
                    value = _utc(value)
                else:
                    continue
            elif not isinstance(value, str):
                continue
            values[name] = value
        return cls(**values)


@dataclass(frozen=True, slots=True)
class R2Checksums:
    """Hex digests R2 knows for an object. ``md5`` is there for every single-part upload.
    ``crc32`` / ``crc32c`` are the big-endian 4-byte CRC as 8 hex digits (S3's base64 value is
    ``base64.b64encode(bytes.fromhex(crc32c))``), None where the object was stored without one."""

    md5: str | None = None
    sha1: str | None = None
    sha256: str | None = None
    sha384: str | None = None
    sha512: str | None = None
    crc32: str | None = None
    crc32c: str | None = None

    def to_dict(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in _ALL_CHECKSUMS if getattr(self, name)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> R2Checksums:
        return cls(**{n: data[n] for n in _ALL_CHECKSUMS if isinstance(data.get(n), str)})


@dataclass(frozen=True, slots=True)
class R2Range:
    """Which bytes to read: ``offset`` (+ ``length``), or the last ``suffix`` bytes.

    As a ``get`` argument either form may be given; on a returned body it is the resolved
    ``offset`` and ``length`` actually served.
    """

    offset: int | None = None
    length: int | None = None
    suffix: int | None = None


@dataclass(frozen=True, slots=True)
class R2Conditional:
    """``onlyIf``: the call happens only when every given condition holds.

    ``etag_matches`` / ``etag_does_not_match`` take one etag (bare, or quoted as ``http_etag`` is) or
    ``*`` for "any object". The upload times compare with millisecond precision unless
    ``seconds_granularity``.
    """

    etag_matches: str | None = None
    etag_does_not_match: str | None = None
    uploaded_before: _dt.datetime | None = None
    uploaded_after: _dt.datetime | None = None
    seconds_granularity: bool = False

    def is_empty(self) -> bool:
        return (
            self.etag_matches is None
            and self.etag_does_not_match is None
            and self.uploaded_before is None
            and self.uploaded_after is None
        )


class _Deferred:
    """Lets a backend hand out an object whose fields are read on first use (see :func:`deferred`).

    ``__getattr__`` runs only when normal lookup fails — for a slot never set — so objects built the
    ordinary way pay nothing for it; a deferred one asks its loader to set the field (and the fields
    read with it) once, after which reads are plain slot reads.
    """

    __slots__ = ("_load",)

    if not TYPE_CHECKING:  # mypy keeps checking attribute names: only the dataclass fields exist

        def __getattr__(self, name: str) -> Any:
            try:
                load = object.__getattribute__(self, "_load")
            except AttributeError:
                raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}") from None
            load(self, name)
            return object.__getattribute__(self, name)


@dataclass(frozen=True, slots=True)
class R2Object(_Deferred):
    """An object's metadata (``R2Object``): what ``head``, ``put`` and ``list`` return.

    ``version`` is None where the backend cannot know it (the S3 API does not expose R2's), and so
    is ``storage_class`` (``Standard`` or ``InfrequentAccess``) where the answer does not carry it:
    an S3 listing read through OpenDAL. On the Workers binding, fields are read from the binding's
    result on first use, as its JS getters are (equality, ``repr``, pickling read them all).
    """

    key: str
    size: int
    etag: str
    uploaded: _dt.datetime
    version: str | None = None
    http_metadata: R2HttpMetadata = field(default_factory=R2HttpMetadata)
    custom_metadata: Mapping[str, str] = field(default_factory=dict)
    checksums: R2Checksums = field(default_factory=R2Checksums)
    storage_class: str | None = "Standard"

    @property
    def http_etag(self) -> str:
        """The etag quoted, as an ``ETag`` header carries it."""
        return f'"{self.etag}"'


def deferred(key: str, load: Callable[[R2Object, str], None]) -> R2Object:
    """An ``R2Object`` whose fields other than ``key`` are read on first use: ``load(obj, name)``
    sets field ``name`` (and any read with it) with ``object.__setattr__``. For the Workers
    backend, whose results are JS objects with a getter per field."""
    obj = object.__new__(R2Object)
    object.__setattr__(obj, "key", key)
    object.__setattr__(obj, "_load", load)
    return obj


@dataclass(frozen=True, slots=True)
class R2Objects:
    """One page of ``list``: objects, the prefixes rolled up by the delimiter, and where to go on."""

    objects: tuple[R2Object, ...]
    truncated: bool
    cursor: str | None = None
    delimited_prefixes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class R2UploadedPart:
    """What ``upload_part`` returns and ``complete`` takes back (``R2UploadedPart``)."""

    part_number: int
    etag: str


@dataclass(frozen=True, slots=True)
class PresignedRequest:
    """A request anyone holding it may send until it expires: method, URL and headers to send.

    The URL carries a signature, so treat it as a credential: ``repr`` shows it without its query.
    """

    method: Literal["GET", "PUT"]
    url: str = field(repr=False)
    headers: Mapping[str, str] = field(default_factory=dict)
    expires_in: int = 0

    def __repr__(self) -> str:
        from urllib.parse import urlsplit, urlunsplit  # only here: importing it costs a cold start ~2 ms

        parts = urlsplit(self.url)
        shown = urlunsplit((parts.scheme, parts.netloc, parts.path, "…" if parts.query else "", ""))
        return (
            f"PresignedRequest(method={self.method!r}, url={shown!r}, headers={dict(self.headers)!r}, "
            f"expires_in={self.expires_in!r})"
        )


class R2ObjectBody(ClosesOnExit):
    """An object with its body (``R2ObjectBody``), streamed: the body is read once, chunk by chunk.

    ``async for chunk in body`` streams it; :meth:`read`, :meth:`text` and :meth:`json` collect it
    (so only use them for objects that fit in memory). Use ``async with`` (or :meth:`aclose`) when
    the body may be left unread, so the backend can release the stream early.
    """

    __slots__ = ("_chunks", "_closer", "_object", "_range", "_used")

    def __init__(
        self,
        obj: R2Object,
        chunks: AsyncIterator[bytes],
        *,
        range: R2Range | None = None,
        closer: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._object = obj
        self._chunks = chunks
        self._range = range  # None: the whole object, resolved when first read (the size may be lazy)
        self._closer = closer
        self._used = False

    # -- metadata ------------------------------------------------------------------------------

    @property
    def object(self) -> R2Object:
        return self._object

    key: Forward[str] = Forward("_object")
    version: Forward[str | None] = Forward("_object")
    size: Forward[int] = Forward(
        "_object", "The whole object's size (the body may be a range of it: see :attr:`range`)."
    )
    etag: Forward[str] = Forward("_object")
    http_etag: Forward[str] = Forward("_object")
    uploaded: Forward[_dt.datetime] = Forward("_object")
    http_metadata: Forward[R2HttpMetadata] = Forward("_object")
    custom_metadata: Forward[Mapping[str, str]] = Forward("_object")
    checksums: Forward[R2Checksums] = Forward("_object")
    storage_class: Forward[str | None] = Forward("_object")

    @property
    def range(self) -> R2Range:
        """The bytes this body holds: resolved ``offset`` and ``length``."""
        if self._range is None:
            self._range = R2Range(offset=0, length=self._object.size)
        return self._range

    @property
    def body_used(self) -> bool:
        return self._used

    # -- body ----------------------------------------------------------------------------------

    def __aiter__(self) -> AsyncIterator[bytes]:
        if self._used:
            raise RuntimeError(f"the body of {self.key!r} was already read; get the object again")
        self._used = True
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[bytes]:
        # try/finally written out, not a context manager: an async-generator context manager is a
        # second async generator, and a loop shutting down closes live generators in any order,
        # so the inner one could be closed before this one (the close then fails with a RuntimeError)
        try:
            async for chunk in self._chunks:
                if chunk:
                    yield chunk
        except Exception as exc:
            self._raise_translated(exc)
        finally:
            await self.aclose()

    def _raise_translated(self, exc: Exception) -> NoReturn:
        """The body streams after get() returned, outside the pipeline: a failure is translated
        here, so that only CapabilityError leaves the capability whenever it happens."""
        from cap_opendal_core.translate import from_exception

        error = from_exception(exc, capability="r2", operation="get", key=self.key)
        if error is exc:
            raise exc
        raise error from exc

    async def read(self) -> bytes:
        """The whole body as bytes (held in memory)."""
        read_all = getattr(self._chunks, "read_all", None)
        if read_all is None or self._used:
            return b"".join([chunk async for chunk in self])
        # a backend that can put the whole body in place at once (S3's one-request get) saves a copy
        self._used = True
        try:
            data: bytes = await read_all()
        except Exception as exc:
            self._raise_translated(exc)
        finally:
            await self.aclose()
        return data

    async def text(self, encoding: str = "utf-8") -> str:
        return (await self.read()).decode(encoding)

    async def json(self) -> Any:
        import json  # loaded on first use, not at import (a Worker pays for every import at cold start)

        return json.loads(await self.read())

    async def aclose(self) -> None:
        """Release the body's stream without reading the rest (safe to call more than once)."""
        self._used = True
        closer, self._closer = self._closer, None
        aclose = getattr(self._chunks, "aclose", None)
        try:
            if aclose is not None:
                await aclose()
        finally:
            if closer is not None:
                await closer()

    def __repr__(self) -> str:
        return (
            f"R2ObjectBody(key={self.key!r}, size={self.size!r}, etag={self.etag!r}, "
            f"range={self.range!r}, body_used={self._used!r})"
        )
