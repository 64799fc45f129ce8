"""The S3 backend's ``get`` in one request: a signed GET whose answer carries the body and its metadata.

Why: OpenDAL's Python API returns an object's metadata (``stat``) and its body (``read``) from
separate calls, so a ``get`` through it is two requests, the read pinned to the stat's etag. S3's
GetObject answers with both at once — etag, size, upload time, content headers and ``x-amz-meta-*``
in the headers, the body after them — and that body trivially belongs to that metadata. The request
is signed by :class:`~.s3_address.S3Address` (``UNSIGNED-PAYLOAD``, which S3 and R2 accept for a
GET) and sent on :class:`~.http1.Http1Pool`'s keep-alive connections.

How R2's arguments map onto it:

* ``range`` → ``Range: bytes=a-b`` / ``bytes=a-`` / ``bytes=-n``. The range served (``Content-Range``)
  must be what :func:`~..ranges.resolve_range` gives for the object's size; anything else — a 416, a
  server that ignored the header — returns :data:`FALLBACK`, and the caller's two-request path then
  answers exactly as it always has (an unsatisfiable range is ``InvalidInput`` there).
* ``only_if`` → ``If-Match`` / ``If-None-Match`` for one etag (``*`` is left to the local check:
  moto gets it wrong), ``If-Unmodified-Since`` only without an etag match and ``If-Modified-Since``
  only without an etag non-match (so no server's precedence rules matter), each date rounded so the
  server can only refuse what R2's rule refuses. The server's 304 or 412 is None, as R2's binding
  gives; whatever it lets through is checked again with :func:`~..conditions.condition_holds` on
  the response's own metadata, so the answer is R2's even where a server ignores a header.
* A 404 whose code is ``NoSuchKey`` (or none) is None, as before; ``NoSuchBucket`` is raised as
  ``Misconfigured``.
* Connection failures and retryable statuses (5xx, 429 …) are retried with the pipeline's
  ``RetryPolicy`` (OpenDAL's own retry layer does that for its calls), honouring ``Retry-After`` up to
  ``max_retry_after``; every wait on the network is bounded by ``io_timeout``.

Metadata is read as OpenDAL's ``stat`` reads it (content type, disposition and encoding; not
``cache_control``), so ``get`` and ``head`` describe an object the same way, plus what ``stat`` does
not report: the storage class (``x-amz-storage-class``; absent means ``STANDARD``) and the checksums
(``x-amz-checksum-mode: ENABLED`` asks for ``x-amz-checksum-sha1`` / ``-sha256`` / ``-crc32`` /
``-crc32c``).

The same signed requests serve ``head`` (HeadObject) and a single-request ``put`` (PutObject, body
``UNSIGNED-PAYLOAD``: never hashed for the signature), which OpenDAL's Python API cannot send with a
checksum or a storage class, and whose answer (the etag) makes the stored object without a HEAD.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import datetime as _dt
import enum
import random
import re
from typing import TYPE_CHECKING, Any, Final, Literal

from cap_opendal_core.errors import BackendError, CapabilityError, NotFound, Unavailable
from cap_opendal_core.translate import from_http

from ..conditions import condition_holds, epoch_ms, from_epoch_ms, normalize_etag
from ..models import R2Checksums, R2HttpMetadata, R2Object, R2ObjectBody, R2Range
from ..ranges import resolve_range
from .http1 import ProtocolFailure
from .sigv4 import UNSIGNED_PAYLOAD, canonical_query

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, AsyncIterator, Mapping

    from cap_opendal_core.layers import LayerSettings, RetryPolicy
    from cap_opendal_core.operators import S3Config

    from ..models import R2Conditional
    from .http1 import Http1Pool, Http1Response
    from .s3_address import S3Address

__all__ = [
    "FALLBACK",
    "Fallback",
    "S3Get",
    "checksum_headers",
    "condition_headers",
    "direct_get_for",
    "range_header",
    "s3_storage_class",
]


class Fallback(enum.Enum):
    """What :meth:`S3Get.get` returns when one GET cannot settle the answer exactly."""

    FALLBACK = "fallback"


FALLBACK: Final = Fallback.FALLBACK

_META_PREFIX: Final = "x-amz-meta-"
_MD5_HEX: Final = re.compile(r"[0-9a-f]{32}")
_CONTENT_RANGE: Final = re.compile(r"bytes (\d+)-(\d+)/(\d+)")
_ERROR_BODY_LIMIT: Final = 64 * 1024
_CONNECTION_ERRORS: Final = (OSError, TimeoutError, ProtocolFailure)
_CHECKSUM_MODE: Final = {"x-amz-checksum-mode": "ENABLED"}
_S3_CHECKSUMS: Final = ("sha1", "sha256", "crc32", "crc32c")
"""The checksums S3's API carries as ``x-amz-checksum-<name>`` (R2's S3 API takes SHA-1, SHA-256,
CRC32 and CRC32C; MD5 travels as ``Content-MD5`` and is the etag; S3 has no header for SHA-384 or
SHA-512)."""
_TO_S3_CLASS: Final = {"Standard": "STANDARD", "InfrequentAccess": "STANDARD_IA"}
_FROM_S3_CLASS: Final = {v: k for k, v in _TO_S3_CLASS.items()}


def s3_storage_class(storage_class: str) -> str:
    """R2's storage class as R2's S3 API names it (``InfrequentAccess`` → ``STANDARD_IA``)."""
    return _TO_S3_CLASS.get(storage_class, storage_class)


def r2_storage_class(header: str | None) -> str:
    """An ``x-amz-storage-class`` answer as R2 names it (absent: ``Standard``, as S3 omits it then);
    another store's class (``GLACIER`` …) is kept as it is."""
    if not header:
        return "Standard"
    return _FROM_S3_CLASS.get(header.strip(), header.strip())


def checksum_headers(checksums: Mapping[str, str]) -> dict[str, str]:
    """The headers that make the server verify and keep the caller's checksum (hex → base64)."""
    out: dict[str, str] = {}
    for name, hex_digest in checksums.items():
        raw = base64.b64encode(bytes.fromhex(hex_digest)).decode("ascii")
        if name == "md5":
            out["content-md5"] = raw
        elif name in _S3_CHECKSUMS:
            out[f"x-amz-checksum-{name}"] = raw
            # what AWS's SDKs send beside it; some servers (moto) keep the checksum only then
            out["x-amz-sdk-checksum-algorithm"] = name.upper()
    return out


def checksums_from_headers(headers: Mapping[str, str], etag: str) -> R2Checksums:
    """``md5`` from a plain etag, SHA-1 / SHA-256 / CRC32 / CRC32C from full-object
    ``x-amz-checksum-*`` headers (a multipart object's composite ``…-N`` value, or one S3 labels
    ``x-amz-checksum-type: COMPOSITE``, is not a digest of the body, so it is left out)."""
    found: dict[str, str] = {}
    if (headers.get("x-amz-checksum-type") or "").upper() == "COMPOSITE":
        return R2Checksums(md5=etag if _MD5_HEX.fullmatch(etag) else None)
    for name in _S3_CHECKSUMS:
        value = headers.get(f"x-amz-checksum-{name}")
        if value and "-" not in value:
            try:
                found[name] = base64.b64decode(value, validate=True).hex()
            except (binascii.Error, ValueError):
                continue
    return R2Checksums(md5=etag if _MD5_HEX.fullmatch(etag) else None, **found)


def range_header(requested: R2Range | None) -> str | None:
    """``Range`` for R2's range (already checked: offset ≥ 0, length ≥ 1, suffix ≥ 1)."""
    if requested is None:
        return None
    if requested.suffix is not None:
        return f"bytes=-{requested.suffix}"
    offset = requested.offset or 0
    if requested.length is None:
        return f"bytes={offset}-"
    return f"bytes={offset}-{offset + requested.length - 1}"


def _http_date(ms: int, *, round_up: bool) -> str | None:
    seconds = -(-ms // 1000) if round_up else ms // 1000
    if seconds < 0:
        return None  # before 1970: leave it to the local check
    try:
        moment = from_epoch_ms(seconds * 1000)
    except OverflowError:
        return None
    return moment.strftime("%a, %d %b %Y %H:%M:%S GMT") if moment.year <= 9999 else None


def _etag_header(condition: str) -> str | None:
    etag = normalize_etag(condition)
    if etag == "*" or not etag.isascii() or not etag.isprintable():
        return None
    return f'"{etag}"'


def condition_headers(only_if: R2Conditional | None) -> dict[str, str]:
    """Conditional headers that refuse only what R2's rule refuses (see the module docstring).

    ``If-Unmodified-Since`` is the upload bound rounded up to a whole second and
    ``If-Modified-Since`` the lower bound rounded down: HTTP dates carry seconds, and a server that
    refuses on them refuses an object R2's millisecond rule refuses too.
    """
    headers: dict[str, str] = {}
    if only_if is None:
        return headers
    if only_if.etag_matches is not None and (value := _etag_header(only_if.etag_matches)):
        headers["if-match"] = value
    if only_if.etag_does_not_match is not None and (value := _etag_header(only_if.etag_does_not_match)):
        headers["if-none-match"] = value
    if only_if.uploaded_before is not None and only_if.etag_matches is None:
        date = _http_date(epoch_ms(only_if.uploaded_before), round_up=True)
        if date is not None:
            headers["if-unmodified-since"] = date
    if only_if.uploaded_after is not None and only_if.etag_does_not_match is None:
        date = _http_date(epoch_ms(only_if.uploaded_after), round_up=False)
        if date is not None:
            headers["if-modified-since"] = date
    return headers


def _bare_etag(raw: str | None) -> str:
    text = (raw or "").strip()
    if text.startswith("W/"):
        text = text[2:]
    return text.strip('"')


def _last_modified(raw: str | None) -> _dt.datetime:
    if raw:
        from email.utils import parsedate_to_datetime

        try:
            moment = parsedate_to_datetime(raw)
        except (TypeError, ValueError, IndexError, OverflowError):
            pass
        else:
            return moment if moment.tzinfo is not None else moment.replace(tzinfo=_dt.UTC)
    return _dt.datetime.now(_dt.UTC)


def object_from_headers(key: str, headers: Mapping[str, str], size: int) -> R2Object:
    """The object a GetObject response describes (``headers``: lower-case names), as ``stat`` would."""
    etag = _bare_etag(headers.get("etag"))
    return R2Object(
        key=key,
        version=None,
        size=size,
        etag=etag,
        uploaded=_last_modified(headers.get("last-modified")),
        http_metadata=R2HttpMetadata(
            content_type=headers.get("content-type"),
            content_disposition=headers.get("content-disposition"),
            content_encoding=headers.get("content-encoding"),
        ),
        custom_metadata={
            name[len(_META_PREFIX) :]: value
            for name, value in headers.items()
            if name.startswith(_META_PREFIX)
        },
        checksums=checksums_from_headers(headers, etag),
        storage_class=r2_storage_class(headers.get("x-amz-storage-class")),
    )


_CONNECT_TIMEOUT: Final = 10.0
_IO_TIMEOUT: Final = 120.0


def direct_get_for(config: S3Config, settings: LayerSettings, read_chunk_size: int) -> S3Get | None:
    """The one-request ``get`` for the bucket ``config`` names, or None where it cannot stand in for
    OpenDAL exactly: keys only OpenDAL can load (``ambient_credentials``), a proxy in the way (only
    with ``trust_env=True``: :mod:`.http1` speaks to the origin only, so it steps aside for OpenDAL), or
    a ``concurrency`` limit (OpenDAL's layer counts its own requests only). No request is sent here."""
    from .s3_address import S3Address

    address = S3Address(config)
    if not address.can_sign or settings.concurrency is not None or address.route.proxy is not None:
        return None
    from .http1 import Http1Pool

    deadline = settings.deadline
    pool = Http1Pool(
        address.host_name,
        address.connect_port,
        ssl_context=address.ssl_context if address.scheme == "https" else None,
        connect_timeout=min(_CONNECT_TIMEOUT, deadline) if deadline is not None else _CONNECT_TIMEOUT,
        io_timeout=deadline if deadline is not None else _IO_TIMEOUT,
    )
    return S3Get(address, pool, retry=settings.retry, read_chunk_size=read_chunk_size)


def _served(response: Http1Response) -> tuple[int, int, int] | None:
    """(object size, offset, length) the response holds, or None when its headers do not say."""
    if response.status == 206:
        match = _CONTENT_RANGE.fullmatch(response.headers.get("content-range", "").strip())
        if match is None:
            return None
        first, last, size = (int(group) for group in match.groups())
        return (size, first, last - first + 1) if first <= last < size else None
    length = response.headers.get("content-length", "").strip()
    if not length.isdigit():
        return None
    return int(length), 0, int(length)


class S3Get:
    """``get`` as one signed GetObject (see the module docstring)."""

    __slots__ = ("_address", "_pool", "_read_chunk_size", "_retry")

    def __init__(
        self, address: S3Address, pool: Http1Pool, *, retry: RetryPolicy | None, read_chunk_size: int
    ) -> None:
        self._address = address
        self._pool = pool
        self._retry = retry
        self._read_chunk_size = read_chunk_size

    async def get(
        self, key: str, range: R2Range | None, only_if: R2Conditional | None
    ) -> R2ObjectBody | Literal[Fallback.FALLBACK] | None:
        """The object with its body, None (missing, or ``only_if`` does not hold), or
        :data:`FALLBACK` when the answer needs the two-request path."""
        headers = condition_headers(only_if) | _CHECKSUM_MODE
        wanted = range_header(range)
        if wanted is not None:
            headers["range"] = wanted
        response = await self._send("GET", key, headers)
        status = response.status
        if status in (304, 412):
            await self._discard(response)
            return None
        if status == 416:
            await self._discard(response)
            return FALLBACK
        if status not in (200, 206):
            body = await self._error_body(response)
            error = from_http(status, body, response.headers, capability="r2", operation="get", key=key)
            if status == 404 and isinstance(error, NotFound):
                return None
            raise error
        served = _served(response)
        if served is None or (status == 206 and range is None):
            response.close()
            return FALLBACK
        size, offset, length = served
        obj = object_from_headers(key, response.headers, size)
        if only_if is not None and not condition_holds(only_if, obj.etag, obj.uploaded):
            response.close()
            return None
        try:
            expected = resolve_range(range, size, key=key)  # raises for a range R2 would refuse
        except BaseException:
            response.close()
            raise
        if expected != (offset, length):
            response.close()
            return FALLBACK
        try:
            if length <= self._read_chunk_size:
                data = await response.read_whole()
                if len(data) != length:
                    raise ProtocolFailure(f"the body holds {len(data)} bytes, its headers said {length}")
                return R2ObjectBody(obj, _one(data), range=R2Range(offset=offset, length=length))
            first = await response.next_chunk()
        except _CONNECTION_ERRORS as exc:
            raise _broken(exc, key) from exc
        pieces = _Body(response, first, key, self._read_chunk_size)
        return R2ObjectBody(obj, pieces, range=R2Range(offset=offset, length=length))

    async def head(self, key: str, if_match: str | None = None) -> R2Object | None:
        """HeadObject: the object's metadata, or None when it is missing or (``if_match`` given:
        a bare etag) it is not that version any more."""
        headers = dict(_CHECKSUM_MODE)
        if if_match is not None:
            headers["if-match"] = f'"{if_match}"'
        response = await self._send("HEAD", key, headers, operation="head")
        status = response.status
        await self._discard(response)
        if status in (404, 412):
            if status == 404:
                error = from_http(status, b"", response.headers, capability="r2", operation="head", key=key)
                if not isinstance(error, NotFound):
                    raise error
            return None
        if status != 200:
            raise from_http(status, b"", response.headers, capability="r2", operation="head", key=key)
        length = response.headers.get("content-length", "").strip()
        if not length.isdigit():
            raise Unavailable("HeadObject's answer has no Content-Length", capability="r2", key=key)
        return object_from_headers(key, response.headers, int(length))

    async def put(
        self, key: str, data: bytes, headers: dict[str, str], *, retry: bool
    ) -> Mapping[str, str] | None:
        """PutObject of ``data`` with ``headers`` (metadata, checksums, conditions); the answer's
        headers (etag, checksums …), or None when a condition header did not hold (412). ``retry``:
        whether a failed attempt may be sent again (not for a conditional write, whose first
        attempt may have landed)."""
        response = await self._send("PUT", key, headers, operation="put", body=data, retry=retry)
        status = response.status
        body = await self._error_body(response)
        if status == 412:
            return None
        if status >= 300:
            raise from_http(status, body, response.headers, capability="r2", operation="put", key=key)
        return response.headers

    async def upload_part(self, key: str, upload_id: str, number: int, data: bytes | bytearray) -> str:
        """UploadPart of ``data`` on these connections (a streamed put's parts: the body goes out in
        slices, not copied whole as httpx's stream would); the part's etag. Not retried, as before."""
        query = canonical_query([("partNumber", str(number)), ("uploadId", upload_id)])
        response = await self._send(
            "PUT", key, {}, operation="upload_part", body=data, retry=False, query=query
        )
        answer = await self._error_body(response)
        if response.status >= 300:
            raise from_http(
                response.status, answer, response.headers, capability="r2", operation="upload_part", key=key
            )
        etag = response.headers.get("etag", "").strip().strip('"')
        if not etag:
            raise BackendError(
                "the service's answer to UploadPart holds no ETag",
                capability="r2",
                operation="upload_part",
                key=key,
            )
        return etag

    async def aclose(self) -> None:
        await self._pool.aclose()

    def __reduce__(self) -> Any:
        raise TypeError("S3Get cannot be pickled: it holds credentials")

    def __repr__(self) -> str:
        return f"S3Get({self._address!r})"

    async def _send(
        self,
        method: str,
        key: str,
        headers: dict[str, str],
        *,
        operation: str = "get",
        body: bytes | bytearray | None = None,
        retry: bool = True,
        query: str = "",
    ) -> Http1Response:
        """Send the request, again after a connection failure or a retryable status (per the policy)."""
        address = self._address
        path = address.path(key)
        target = f"{path}?{query}" if query else path
        attempts = self._retry.attempts if self._retry is not None and retry else 1
        attempt = 0
        while True:
            attempt += 1
            signed = address.signed(method, path, query, headers, UNSIGNED_PAYLOAD).plus(
                {"host": address.host}
            )
            try:
                response = await self._pool.request(method, target, signed, body)
                if response.status < 500 and response.status not in (408, 425, 429):
                    return response
                answer = await self._error_body(response)
            except _CONNECTION_ERRORS as exc:
                if attempt >= attempts:
                    raise _gave_up(_broken(exc, key, operation), attempt) from exc
                await asyncio.sleep(self._backoff(attempt, None))
                continue
            error = from_http(
                response.status, answer, response.headers, capability="r2", operation=operation, key=key
            )
            if not error.retryable or attempt >= attempts:
                raise _gave_up(error, attempt)
            retry_after = getattr(error, "retry_after", None)
            too_long = self._retry.max_retry_after if self._retry is not None else 0.0
            if retry_after is not None and retry_after > too_long:
                raise error  # the service asked for a longer wait than the policy allows
            await asyncio.sleep(self._backoff(attempt, retry_after))

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        policy = self._retry
        wait = policy.backoff(attempt, random.random()) if policy is not None else 0.0
        return max(wait, retry_after or 0.0)

    @staticmethod
    async def _error_body(response: Http1Response) -> bytes:
        """An error answer's body (its S3 error code refines the status), or ``b""`` if it breaks off."""
        try:
            return await response.read(_ERROR_BODY_LIMIT)
        except _CONNECTION_ERRORS:
            response.close()
            return b""

    @classmethod
    async def _discard(cls, response: Http1Response) -> None:
        """Read a small answer to its end, so its connection can be reused."""
        await cls._error_body(response)


def _gave_up(error: CapabilityError, attempt: int) -> CapabilityError:
    """``error``, noting when the retry policy's attempts were all spent on it (it stays retryable:
    a later call may well succeed)."""
    if error.retryable and attempt > 1:
        error.add_note(f"the retry policy's {attempt} attempts all failed; this is the last one's error")
    return error


def _broken(exc: BaseException, key: str, operation: str = "get") -> CapabilityError:
    if isinstance(exc, TimeoutError):
        reason = "timed out waiting for the S3 endpoint"
    elif isinstance(exc, OSError):
        reason = f"could not reach the S3 endpoint ({type(exc).__name__}: {exc.strerror or 'no detail'})"
    else:
        reason = str(exc)
    return Unavailable(reason, capability="r2", operation=operation, key=key)


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data


class _Body:
    """A streamed body: its pieces (:func:`_stream`), or all of it at once with :meth:`read_all`,
    which ``R2ObjectBody.read`` uses to have the socket fill the result in place."""

    __slots__ = ("_first", "_key", "_pieces", "_response")

    def __init__(self, response: Http1Response, first: bytes, key: str, most: int) -> None:
        self._response = response
        self._first = first
        self._key = key
        self._pieces = _stream(response, first, key, most)

    def __aiter__(self) -> _Body:
        return self

    async def __anext__(self) -> bytes:
        return await self._pieces.__anext__()

    async def read_all(self) -> bytes:
        first, self._first = self._first, b""
        try:
            return await self._response.read_whole(first)
        except _CONNECTION_ERRORS as exc:
            raise _broken(exc, self._key) from exc
        finally:
            self._response.close()  # nothing left to do once the body is complete

    async def aclose(self) -> None:
        try:
            await self._pieces.aclose()
        finally:
            self._response.close()


async def _stream(response: Http1Response, first: bytes, key: str, most: int) -> AsyncGenerator[bytes]:
    """The body as it arrives, in pieces of at most ``most`` bytes (``read_chunk_size``)."""
    try:
        chunk = first
        while chunk:
            if len(chunk) <= most:
                yield chunk
            else:
                view = memoryview(chunk)
                for start in range(0, len(chunk), most):
                    yield bytes(view[start : start + most])
            try:
                chunk = await response.next_chunk()
            except _CONNECTION_ERRORS as exc:
                raise _broken(exc, key) from exc
    finally:
        response.close()  # nothing left to do once the body is complete
