"""``R2Config``: R2's S3 API for one bucket, as a typed model (server side only).

It checks what it can before anything is built (a 32-hex account id, a valid bucket name, both
halves of a key pair) and turns into ``cap_opendal_core``'s ``S3Config``. The endpoint is
``endpoint`` when given, else derived from the account id as R2 documents it —
``https://<account_id>[.<jurisdiction>].r2.cloudflarestorage.com``
(https://developers.cloudflare.com/r2/api/s3/api/); the region is ``auto`` unless set. Keys are
:class:`pydantic.SecretStr`: ``repr``, ``str`` and dumps never show them. Without keys, the
``R2_ACCESS_KEY_ID`` / ``R2_SECRET_ACCESS_KEY`` (then ``AWS_*``) environment variables are used.

:meth:`R2Config.from_url` reads ``r2://bucket[/root]?account_id=<32 hex>[&jurisdiction=eu]`` (and
``access_key_id``/``secret_access_key`` in the query): R2's own URL scheme, parsed here rather than in
``cap_opendal_core``, which knows no particular service.

:meth:`R2Config.from_env` reads what the AWS tools read — ``AWS_ENDPOINT_URL_S3`` then
``AWS_ENDPOINT_URL``, ``AWS_REGION`` then ``AWS_DEFAULT_REGION``
(https://docs.aws.amazon.com/cli/latest/userguide/cli-configure-envvars.html and
https://docs.aws.amazon.com/sdkref/latest/guide/feature-ss-endpoints.html) — plus wrangler's
``CLOUDFLARE_ACCOUNT_ID``; the keys as above.

This module imports pydantic; ``cap_cloudflare_r2`` loads it only when ``R2Config`` is used.
"""

from __future__ import annotations

import os
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError, field_validator, model_validator

from cap_opendal_core.cloudflare_config import ENV_ACCOUNT_ID, check_account_id
from cap_opendal_core.errors import Misconfigured
from cap_opendal_core.operators import S3Config
from cap_opendal_core.operators.config import R2_ENDPOINT_SUFFIX, misconfigured_from
from cap_opendal_core.redact import MIN_SECRET_LENGTH, register_secret

__all__ = ["R2Config", "r2_endpoint"]

_URL_OPTIONS: Final = frozenset({"account_id", "jurisdiction", "access_key_id", "secret_access_key"})
_JURISDICTIONS: Final = (None, "eu", "fedramp")


def r2_endpoint(account_id: str, jurisdiction: str | None = None) -> str:
    """R2's S3 endpoint for an account: ``https://<account_id>[.<jurisdiction>].r2.cloudflarestorage.com``
    (https://developers.cloudflare.com/r2/api/s3/api/). Raises ``Misconfigured`` naming what is wrong."""
    try:
        check_account_id(account_id)
    except ValueError:
        raise Misconfigured(
            "R2 account_id must be the 32 lower-case hex digits of a Cloudflare account id",
            capability="r2",
        ) from None
    if jurisdiction not in _JURISDICTIONS:
        raise Misconfigured(
            f"R2 jurisdiction must be 'eu', 'fedramp' or None, got {jurisdiction!r}", capability="r2"
        )
    host = f"{account_id}.{jurisdiction}" if jurisdiction else account_id
    return f"https://{host}{R2_ENDPOINT_SUFFIX}"


_ENV_ENDPOINTS: Final = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")
_ENV_REGIONS: Final = ("AWS_REGION", "AWS_DEFAULT_REGION")


class R2Config(BaseModel):
    """Where an R2 bucket is and how to sign requests to it (R2's S3 API): ``account_id`` or
    ``endpoint`` (or both: the endpoint wins), ``bucket``, optionally the keys."""

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    account_id: str | None = None
    bucket: str
    endpoint: str | None = None
    region: str = "auto"
    access_key_id: SecretStr | None = None
    secret_access_key: SecretStr | None = None
    jurisdiction: Literal["eu", "fedramp"] | None = None
    root: str = "/"

    def __init__(self, **data: Any) -> None:
        """Raises ``Misconfigured`` naming each invalid field (never its value)."""
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise misconfigured_from(exc, "R2Config", capability="r2") from None
        for secret in (self.access_key_id, self.secret_access_key):
            if secret is not None and len(secret.get_secret_value()) >= MIN_SECRET_LENGTH:
                register_secret(secret.get_secret_value())  # scrubbed from any text it leaks into

    @field_validator("account_id")
    @classmethod
    def _account_id(cls, value: str | None) -> str | None:
        return None if value is None else check_account_id(value)

    @model_validator(mode="after")
    def _where(self) -> R2Config:
        if self.account_id is None and self.endpoint is None:
            raise ValueError("needs account_id or endpoint (the endpoint is derived from account_id)")
        return self

    @classmethod
    def from_url(cls, url: str) -> R2Config:
        """``r2://bucket[/root]?account_id=<32 hex>[&jurisdiction=eu|fedramp]``, optionally with
        ``access_key_id`` and ``secret_access_key`` (percent-encoded; else the environment's, as for
        the model). Raises ``Misconfigured`` naming the wrong part, never echoing the URL."""
        from cap_opendal_core.operators.url import only_options, split_url

        scheme, parts, query, path, hostname, port = split_url(url, capability="r2")

        def fail(message: str) -> Misconfigured:
            return Misconfigured(message, capability="r2", operation="from_url")

        if scheme != "r2":
            raise fail(f"R2Config.from_url reads r2:// URLs, not {scheme}://")
        if not hostname:
            raise fail("an r2 URL names the bucket as its host: r2://bucket-name?account_id=…")
        if port is not None:
            raise fail("an r2 URL names a bucket, not a host:port")
        only_options(query, _URL_OPTIONS, scheme, capability="r2")
        if "account_id" not in query:
            raise fail("an r2 URL needs account_id=<your 32-hex-digit Cloudflare account id>")
        jurisdiction = query.get("jurisdiction")
        if jurisdiction not in _JURISDICTIONS:
            raise fail(f"r2 jurisdiction must be 'eu' or 'fedramp', got {jurisdiction!r}")
        r2_endpoint(query["account_id"], jurisdiction)  # the account id's own message, before the model's
        return cls(bucket=parts.netloc, root=path or "/", **query)

    @classmethod
    def from_env(cls, bucket: str, **fields: Any) -> R2Config:
        """Fields not given are read from the environment (see the module docstring); an
        ``endpoint`` found there wins over a derived one, so the account id may then be unset.

        Raises :class:`~cap_opendal_core.errors.Misconfigured` naming what is missing or invalid.
        """
        data: dict[str, Any] = {"bucket": bucket, **fields}
        if "endpoint" not in data:
            endpoint = next((os.environ[n] for n in _ENV_ENDPOINTS if os.environ.get(n)), None)
            if endpoint is not None:
                data["endpoint"] = endpoint
        if "region" not in data:
            region = next((os.environ[n] for n in _ENV_REGIONS if os.environ.get(n)), None)
            if region is not None:
                data["region"] = region
        if "account_id" not in data and os.environ.get(ENV_ACCOUNT_ID):
            data["account_id"] = os.environ[ENV_ACCOUNT_ID]
        if data.get("account_id") is None and data.get("endpoint") is None:
            raise Misconfigured(
                f"{ENV_ACCOUNT_ID} is not set and neither is {' nor '.join(_ENV_ENDPOINTS)} "
                "(or pass account_id=… or endpoint=…)",
                capability="r2",
            )
        return cls(**data)

    def to_s3_config(self) -> S3Config:
        """The ``S3Config`` OpenDAL's ``s3`` service is built from. Raises ``Misconfigured``."""
        try:
            endpoint = self.endpoint
            if endpoint is None:
                assert self.account_id is not None  # the model validator saw to it
                endpoint = r2_endpoint(self.account_id, self.jurisdiction)
            data: dict[str, Any] = {
                "bucket": self.bucket,
                "endpoint": endpoint,
                "region": self.region,
                "root": self.root,
            }
            if self.access_key_id is not None:
                data["access_key_id"] = self.access_key_id
            if self.secret_access_key is not None:
                data["secret_access_key"] = self.secret_access_key
            try:
                return S3Config.model_validate(data)
            except ValidationError as exc:
                raise misconfigured_from(exc, "R2 configuration", capability="r2") from None
        except Misconfigured as err:
            raise err.with_context(operation="from_config") from err.__cause__
