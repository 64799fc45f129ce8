"""Where one bucket's objects live on an S3-compatible endpoint, and how a request to them is signed.

The requests this package sends itself — S3's multipart calls (:mod:`.s3_multipart`) and the one-
request ``get`` (:mod:`.s3_get`) — must address the very objects OpenDAL's operator does, so both are
built from the same ``S3Config``: endpoint, bucket, path- or virtual-host-style addressing, ``root``
and region. Credentials are the config's explicit keys (or none, for an anonymous bucket); keys that
only OpenDAL can load (``ambient_credentials=True``) are not visible here, and :attr:`can_sign` says so.

The secret key stays inside :class:`~.sigv4.Credentials` (hidden from ``repr``); this object's
``repr`` names only the endpoint and bucket, and it refuses to be pickled.
"""

from __future__ import annotations

import datetime as _dt
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from cap_opendal_core.redact import SealedHeaders
from cap_opendal_core.transit import Route, route, ssl_context

from .sigv4 import Credentials, encode_path, sign

if TYPE_CHECKING:
    import ssl
    from collections.abc import Mapping

    from cap_opendal_core.operators import S3Config

__all__ = ["S3Address"]


class S3Address:
    """One bucket of an S3-compatible service: URL parts of an object, and SigV4 headers for it."""

    __slots__ = (
        "_base_path",
        "_root",
        "anonymous",
        "bucket",
        "credentials",
        "host",
        "host_name",
        "port",
        "region",
        "route",
        "scheme",
        "virtual_host",
    )

    def __init__(self, config: S3Config) -> None:
        self.route: Route = route(
            config.endpoint,
            trust_env=config.trust_env,
            credential=None if config.anonymous else "the S3 signature",
            capability="r2",
        )
        """How requests travel: direct, or through the environment's proxy when ``trust_env=True``."""
        endpoint = urlsplit(config.endpoint)
        self.scheme = endpoint.scheme
        self.bucket = config.bucket
        self.region = config.region
        self.virtual_host = config.virtual_host_style
        host = endpoint.hostname or ""
        default_port = 443 if endpoint.scheme == "https" else 80
        self.port: int | None = endpoint.port if endpoint.port and endpoint.port != default_port else None
        """The port to connect to when it is not the scheme's default (None: the default)."""
        self.host_name = f"{config.bucket}.{host}" if self.virtual_host else host
        shown = f"[{self.host_name}]" if ":" in self.host_name else self.host_name  # IPv6
        self.host = f"{shown}:{self.port}" if self.port else shown
        """The ``Host`` header (and the signed host): the name, plus the port when not the default."""
        self._base_path = endpoint.path.rstrip("/")
        root = config.root.strip("/")
        self._root = f"{root}/" if root else ""
        self.anonymous = config.anonymous
        self.credentials: Credentials | None = None
        if config.access_key_id is not None and config.secret_access_key is not None:
            self.credentials = Credentials(
                config.access_key_id.get_secret_value(),
                config.secret_access_key.get_secret_value(),
                config.session_token.get_secret_value() if config.session_token is not None else None,
            )

    @property
    def can_sign(self) -> bool:
        """Whether requests can be sent from here: explicit keys, or a bucket that needs none."""
        return self.credentials is not None or self.anonymous

    def ssl_context(self) -> ssl.SSLContext:
        """Certificate trust for this endpoint (the environment's only with ``trust_env=True``)."""
        return ssl_context(self.route.trust_env)

    @property
    def connect_port(self) -> int:
        return self.port or (443 if self.scheme == "https" else 80)

    def path(self, key: str) -> str:
        """The encoded request path of ``key`` (``root`` applied, bucket in it unless virtual-host)."""
        object_path = encode_path(self._root + key)
        if self.virtual_host:
            return f"{self._base_path}/{object_path}"
        return f"{self._base_path}/{self.bucket}/{object_path}"

    def signed(
        self,
        method: str,
        path: str,
        query: str,
        headers: Mapping[str, str],
        payload_sha256: str,
        *,
        now: _dt.datetime | None = None,
    ) -> SealedHeaders:
        """``headers`` plus what makes S3 accept the request (``x-amz-date``, ``x-amz-content-sha256``,
        ``authorization`` …); unchanged for an anonymous bucket. Every header in ``headers`` is signed.
        Sealed (:class:`~cap_opendal_core.redact.SealedHeaders`): no frame holding them shows them."""
        if self.credentials is None:
            return SealedHeaders(headers)
        return SealedHeaders(headers).plus(
            sign(
                method=method,
                host=self.host,
                path=path,
                query=query,
                headers=headers,
                payload_sha256=payload_sha256,
                credentials=self.credentials,
                region=self.region,
                now=now or _dt.datetime.now(_dt.UTC),
            )
        )

    def __repr__(self) -> str:
        return f"S3Address(scheme={self.scheme!r}, host={self.host!r}, bucket={self.bucket!r})"

    def __reduce__(self) -> Any:
        raise TypeError("S3Address cannot be pickled: it holds credentials")
