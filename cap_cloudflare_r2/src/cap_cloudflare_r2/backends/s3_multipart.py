"""S3's multipart-upload API (R2's too), sent with httpx and signed with :mod:`.sigv4`.

Why not OpenDAL: its Python binding exposes no multipart API — only a chunked writer that hides its
upload id — and ``resume_multipart_upload`` needs the id to outlive the writer (another process may
upload the remaining parts). Everything else on the S3 backend goes through OpenDAL.

Requests are addressed and signed by :class:`~.s3_address.S3Address`, built from the same
``S3Config`` as the operator (endpoint, bucket, region, root, addressing style, credentials), so
both see the same objects. HTTP goes through core's :class:`~cap_opendal_core.http_client.HttpClient`
(a pool per event loop, made on first use; :meth:`S3Multipart.aclose` closes the running loop's).
Connection failures are retried by httpx's transport (safe for any request: nothing was sent);
HTTP errors become ``CapabilityError`` through ``from_http``.
Credentials loaded by OpenDAL itself (``ambient_credentials=True``) are not visible here, so
multipart then needs explicit keys or the ``R2_*``/``AWS_*`` environment variables.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any, Final
from xml.etree import ElementTree

from cap_opendal_core.errors import BackendError, Unsupported
from cap_opendal_core.http_client import HttpClient
from cap_opendal_core.translate import from_http

from .s3_address import S3Address
from .sigv4 import EMPTY_SHA256, UNSIGNED_PAYLOAD, canonical_query

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Mapping

    import httpx

    from cap_opendal_core.operators import S3Config

__all__ = ["S3Multipart"]

_NS: Final = "{http://s3.amazonaws.com/doc/2006-03-01/}"
_CONNECT_RETRIES: Final = 2


def _quote_etag(etag: str) -> str:
    return etag if etag.startswith('"') else f'"{etag}"'


def _find_text(root: ElementTree.Element, name: str) -> str | None:
    for candidate in (f"{_NS}{name}", name):
        found = root.find(candidate)
        if found is not None and found.text:
            return found.text
    return None


class S3Multipart:
    """Create / upload part / complete / abort on one bucket of an S3-compatible service."""

    def __init__(self, config: S3Config, *, timeout: float | None = None) -> None:
        import httpx

        self._address = S3Address(config)
        self._http = HttpClient(
            config.endpoint,
            token=None,  # every request is signed by S3Address
            credential=None if config.anonymous else "the S3 signature",
            capability="r2",
            timeout=httpx.Timeout(timeout if timeout is not None else 120.0, connect=10.0),
            trust_env=config.trust_env,
            transport_retries=_CONNECT_RETRIES,
        )

    # -- plumbing ------------------------------------------------------------------------------

    def _check_can_sign(self) -> None:
        if not self._address.can_sign:
            raise Unsupported(
                "multipart uploads on the S3 backend sign their own requests and need the keys: pass "
                "access_key_id/secret_access_key or set R2_*/AWS_* variables (ambient credentials that "
                "only OpenDAL can load are not visible to them)",
                capability="r2",
            )

    async def _send(
        self,
        method: str,
        key: str,
        params: list[tuple[str, str]],
        *,
        operation: str,
        headers: Mapping[str, str] | None = None,
        content: bytes | AsyncIterator[bytes] = b"",
        length: int | None = None,
        payload_sha256: str | None = None,
    ) -> httpx.Response:
        import httpx

        self._check_can_sign()
        address = self._address
        path = address.path(key)
        query = canonical_query(params)
        if isinstance(content, bytes):
            length = len(content)
            digest = payload_sha256 or (hashlib.sha256(content).hexdigest() if content else EMPTY_SHA256)
        else:
            if length is None:
                raise BackendError("a streamed request needs its length", capability="r2")  # pragma: no cover
            digest = UNSIGNED_PAYLOAD
        send_headers = address.signed(method, path, query, dict(headers or {}), digest).plus(
            {"content-length": str(length)}
        )
        raw_path = f"{path}?{query}" if query else path
        url = httpx.URL(
            scheme=address.scheme,
            host=address.host_name,
            port=address.port,
            raw_path=raw_path.encode("ascii"),
        )
        response = await self._http.request(method, url, headers=send_headers, content=content)
        body = await response.aread()
        if response.status_code >= 300:
            raise from_http(
                response.status_code,
                body,
                dict(response.headers),
                capability="r2",
                operation=operation,
                key=key,
            )
        return response

    # -- the API -------------------------------------------------------------------------------

    async def create(self, key: str, headers: Mapping[str, str]) -> str:
        response = await self._send(
            "POST", key, [("uploads", "")], operation="create_multipart_upload", headers=headers
        )
        upload_id = _find_text(self._parse(response.content, key, "create_multipart_upload"), "UploadId")
        if not upload_id:
            raise BackendError(
                "the service's answer to CreateMultipartUpload holds no UploadId",
                capability="r2",
                operation="create_multipart_upload",
                key=key,
            )
        return upload_id

    async def upload_part(
        self, key: str, upload_id: str, part_number: int, content: bytes | AsyncIterator[bytes], length: int
    ) -> str:
        response = await self._send(
            "PUT",
            key,
            [("partNumber", str(part_number)), ("uploadId", upload_id)],
            operation="upload_part",
            content=content,
            length=length,
            payload_sha256=UNSIGNED_PAYLOAD if isinstance(content, bytes) else None,
        )
        etag: str | None = response.headers.get("etag")
        if not etag:
            raise BackendError(
                "the service's answer to UploadPart holds no ETag",
                capability="r2",
                operation="upload_part",
                key=key,
            )
        return etag.strip('"')

    async def complete(self, key: str, upload_id: str, parts: list[tuple[int, str]]) -> str:
        body = "".join(
            f"<Part><PartNumber>{number}</PartNumber><ETag>{_xml_escape(_quote_etag(etag))}</ETag></Part>"
            for number, etag in parts
        )
        document = (
            '<?xml version="1.0" encoding="UTF-8"?>'
            f'<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">{body}'
            "</CompleteMultipartUpload>"
        ).encode()
        response = await self._send(
            "POST",
            key,
            [("uploadId", upload_id)],
            operation="complete_multipart_upload",
            headers={"content-type": "application/xml"},
            content=document,
        )
        root = self._parse(response.content, key, "complete_multipart_upload")
        return (_find_text(root, "ETag") or "").strip('"')

    async def abort(self, key: str, upload_id: str) -> None:
        await self._send("DELETE", key, [("uploadId", upload_id)], operation="abort_multipart_upload")

    @staticmethod
    def _parse(content: bytes, key: str, operation: str) -> ElementTree.Element:
        try:
            root = ElementTree.fromstring(content)
        except ElementTree.ParseError as exc:
            raise BackendError(
                f"the service answered {operation} with malformed XML",
                capability="r2",
                operation=operation,
                key=key,
            ) from exc
        if root.tag in ("Error", f"{_NS}Error"):  # S3 may report a failed completion with status 200
            raise from_http(500, content, None, capability="r2", operation=operation, key=key)
        return root

    async def aclose(self) -> None:
        await self._http.aclose()

    def __reduce__(self) -> Any:
        raise TypeError("S3Multipart cannot be pickled: it holds credentials")


def _xml_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
