"""AWS Signature Version 4 for S3 requests, for the few calls OpenDAL's Python API does not expose.

OpenDAL signs everything else itself. Its Python binding has no multipart-upload API (only a chunked
writer that keeps the upload id to itself), so ``create_multipart_upload`` / ``upload_part`` /
``complete`` / ``abort`` / ``resume_multipart_upload`` — where the upload id must outlive the
process — are sent by :mod:`.s3_multipart`, signed here. The algorithm follows AWS's published
SigV4 description; ``tests/cap_cloudflare_r2/test_sigv4.py`` checks it against botocore's signer.

Nothing here logs or returns the secret key; the ``Authorization`` header holds only the signature.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import hmac
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote

from cap_opendal_core.redact import SealedHeaders

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

__all__ = ["EMPTY_SHA256", "UNSIGNED_PAYLOAD", "Credentials", "canonical_query", "encode_path", "sign"]

UNSIGNED_PAYLOAD: Final = "UNSIGNED-PAYLOAD"
EMPTY_SHA256: Final = hashlib.sha256(b"").hexdigest()
_ALGORITHM: Final = "AWS4-HMAC-SHA256"


@dataclass(frozen=True, slots=True)
class Credentials:
    """A key pair (and session token). Its ``repr`` shows none of them, the key id included: it is a
    credential's public half, but a traceback rendered with locals must not print it either."""

    access_key_id: str = field(repr=False)
    secret_access_key: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)
    _keys: dict[tuple[str, str, str], bytes] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )
    """Signing keys derived from the secret, by (day, region, service): deriving one takes four
    HMACs, and a key is the same for every request of that day (AWS's SigV4 description says to
    cache it so)."""

    def signing_key(self, day: str, region: str, service: str) -> bytes:
        """The SigV4 signing key for ``day`` (``YYYYMMDD``), ``region`` and ``service``."""
        scope = (day, region, service)
        key = self._keys.get(scope)
        if key is None:
            key = _hmac(("AWS4" + self.secret_access_key).encode("utf-8"), day)
            for part in (region, service, "aws4_request"):
                key = _hmac(key, part)
            if len(self._keys) >= 8:  # yesterday's keys are of no more use
                self._keys.clear()
            self._keys[scope] = key
        return key

    def __reduce__(self) -> Any:
        raise TypeError("Credentials cannot be pickled")


def encode_path(path: str) -> str:
    """URI-encode an object path the way S3 expects it, once: every byte but ``A-Za-z0-9-._~/``."""
    return quote(path, safe="/~")


def canonical_query(params: Iterable[tuple[str, str]]) -> str:
    """Query parameters encoded and sorted (``uploads`` becomes ``uploads=``)."""
    encoded = sorted((quote(k, safe="~"), quote(v, safe="~")) for k, v in params)
    return "&".join(f"{k}={v}" for k, v in encoded)


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).digest()


def _canonical_value(value: str) -> str:
    return " ".join(value.strip().split())


def sign(
    *,
    method: str,
    host: str,
    path: str,
    query: str,
    headers: Mapping[str, str],
    payload_sha256: str,
    credentials: Credentials,
    region: str,
    now: _dt.datetime,
    service: str = "s3",
) -> SealedHeaders:
    """The headers to add to a request so S3 accepts it: ``x-amz-date``, ``x-amz-content-sha256``,
    ``x-amz-security-token`` (with a session token) and ``Authorization``.

    ``path`` is already encoded (:func:`encode_path`), ``query`` canonical (:func:`canonical_query`);
    ``host`` includes a non-default port. Every header in ``headers`` is signed. The result is
    :class:`~cap_opendal_core.redact.SealedHeaders`, and the signing key and signature live only in
    this frame, which no exception outlives once it has returned.
    """
    moment = now.astimezone(_dt.UTC)
    amz_date = moment.strftime("%Y%m%dT%H%M%SZ")
    day = amz_date[:8]
    added = {"x-amz-date": amz_date, "x-amz-content-sha256": payload_sha256}
    if credentials.session_token:
        added["x-amz-security-token"] = credentials.session_token
    signed = {name.lower(): _canonical_value(value) for name, value in headers.items()}
    signed.update(added)
    signed["host"] = host
    names = sorted(signed)
    canonical_request = "\n".join(
        [
            method,
            path or "/",
            query,
            "".join(f"{name}:{signed[name]}\n" for name in names),
            ";".join(names),
            payload_sha256,
        ]
    )
    scope = f"{day}/{region}/{service}/aws4_request"
    string_to_sign = "\n".join(
        [_ALGORITHM, amz_date, scope, hashlib.sha256(canonical_request.encode("utf-8")).hexdigest()]
    )
    signature = hmac.new(
        credentials.signing_key(day, region, service), string_to_sign.encode("utf-8"), hashlib.sha256
    ).hexdigest()
    added["authorization"] = (
        f"{_ALGORITHM} Credential={credentials.access_key_id}/{scope}, "
        f"SignedHeaders={';'.join(names)}, Signature={signature}"
    )
    return SealedHeaders(added)
