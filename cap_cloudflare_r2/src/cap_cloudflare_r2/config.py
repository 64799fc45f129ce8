"""``R2Config``: R2's S3 API for one account and bucket, as a typed model (server side only).

It checks what it can before anything is built (a 32-hex account id, a valid bucket name, both
halves of a key pair) and turns into ``cap_opendal_core``'s ``S3Config.for_r2`` — the S3 endpoint
``https://<account_id>[.<jurisdiction>].r2.cloudflarestorage.com``, region ``auto``, no append.
Keys are :class:`pydantic.SecretStr`: ``repr``, ``str`` and dumps never show them. Without keys, the
``R2_ACCESS_KEY_ID`` / ``R2_SECRET_ACCESS_KEY`` (then ``AWS_*``) environment variables are used.

This module imports pydantic; ``cap_cloudflare_r2`` loads it only when ``R2Config`` is used.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError

from cap_opendal_core.errors import Misconfigured
from cap_opendal_core.operators import S3Config
from cap_opendal_core.operators.config import misconfigured_from
from cap_opendal_core.redact import MIN_SECRET_LENGTH, register_secret

__all__ = ["R2Config"]


class R2Config(BaseModel):
    """Where an R2 bucket is and how to sign requests to it (R2's S3 API)."""

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    account_id: str
    bucket: str
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

    def to_s3_config(self) -> S3Config:
        """The ``S3Config`` OpenDAL's ``s3`` service is built from. Raises ``Misconfigured``."""
        try:
            return S3Config.for_r2(
                self.account_id,
                self.bucket,
                jurisdiction=self.jurisdiction,
                root=self.root,
                access_key_id=self.access_key_id,
                secret_access_key=self.secret_access_key,
            )
        except Misconfigured as err:
            raise err.with_context(operation="from_config") from err.__cause__
