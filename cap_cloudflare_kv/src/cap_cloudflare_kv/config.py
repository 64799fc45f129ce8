"""``CloudflareKvConfig``: where the REST backend reaches a namespace, checked before any request.

A model rather than keyword arguments so that a malformed account id, an empty token or a base URL
with credentials in it is refused here, naming the field, and so the API token lives in a
``SecretStr`` (registered with :func:`cap_opendal_core.redact.register_secret`) that ``repr``, logs and
validation errors never show. Imports pydantic: only servers load this module.
"""

from __future__ import annotations

import os
import re
from typing import Any, Final
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from cap_opendal_core.errors import Misconfigured
from cap_opendal_core.operators.config import misconfigured_from
from cap_opendal_core.redact import MIN_SECRET_LENGTH, register_secret
from cap_opendal_core.transit import check_proxy_url

__all__ = ["DEFAULT_BASE_URL", "CloudflareKvConfig"]

DEFAULT_BASE_URL: Final = "https://api.cloudflare.com/client/v4"
_ID: Final = re.compile(r"[0-9a-f]{32}")
_ENV_ACCOUNT: Final = "CLOUDFLARE_ACCOUNT_ID"
_ENV_TOKEN: Final = "CLOUDFLARE_API_TOKEN"


class CloudflareKvConfig(BaseModel):
    """A Workers KV namespace reached through Cloudflare's REST API.

    ``account_id`` and ``namespace_id`` are the 32-hex-digit ids from the dashboard (or
    ``wrangler kv namespace list``); ``api_token`` needs the "Workers KV Storage" permission.
    ``base_url`` is the API root (tests point it at a local stand-in); ``timeout`` bounds each request.
    Requests go direct unless ``proxy`` names an http(s) proxy or ``trust_env=True`` lets the
    environment's ``HTTP(S)_PROXY``/``SSL_CERT_FILE`` apply; a route that would show the token in
    clear text to a host other than loopback is refused (:mod:`cap_opendal_core.transit`).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    account_id: str
    namespace_id: str
    api_token: SecretStr
    base_url: str = DEFAULT_BASE_URL
    timeout: float = Field(default=30.0, gt=0, le=600)
    proxy: str | None = None
    trust_env: bool = False

    @field_validator("proxy")
    @classmethod
    def _proxy(cls, value: str | None) -> str | None:
        return None if value is None else check_proxy_url(value)

    @field_validator("account_id", "namespace_id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not _ID.fullmatch(value):
            raise ValueError("must be the 32 lower-case hex digits of a Cloudflare id")
        return value

    @field_validator("api_token")
    @classmethod
    def _token(cls, value: SecretStr) -> SecretStr:
        token = value.get_secret_value()
        if not token.strip():
            raise ValueError("must not be empty")
        if any(c.isspace() for c in token):
            raise ValueError("must not contain whitespace (paste the token alone, without 'Bearer ')")
        if len(token) >= MIN_SECRET_LENGTH:
            register_secret(token)
        return value

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        # never echoed: a URL pasted with credentials in it must not reach a log
        try:
            parts = urlsplit(value)
            _ = parts.port
        except ValueError:
            raise ValueError("is not a valid URL") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL with a host")
        if parts.username is not None or parts.password is not None:
            raise ValueError("must not carry credentials; pass the token as api_token")
        if parts.query or parts.fragment:
            raise ValueError("must not have a query string or fragment")
        return value.rstrip("/")

    @classmethod
    def from_env(cls, namespace_id: str, **overrides: Any) -> CloudflareKvConfig:
        """Read ``CLOUDFLARE_ACCOUNT_ID`` and ``CLOUDFLARE_API_TOKEN`` (the names wrangler uses).

        Raises :class:`~cap_opendal_core.errors.Misconfigured` naming what is missing or invalid.
        """
        data: dict[str, Any] = {"namespace_id": namespace_id, **overrides}
        for field, env in (("account_id", _ENV_ACCOUNT), ("api_token", _ENV_TOKEN)):
            if field not in data:
                value = os.environ.get(env)
                if not value:
                    raise Misconfigured(f"{env} is not set (or pass {field}=…)", capability="kv")
                data[field] = value
        return cls.build(**data)

    @classmethod
    def build(cls, **fields: Any) -> CloudflareKvConfig:
        """Like the constructor, but raises ``Misconfigured`` (naming each bad field, never its value)
        instead of pydantic's ``ValidationError``."""
        try:
            return cls(**fields)
        except ValidationError as exc:
            raise misconfigured_from(exc, "Workers KV REST configuration", capability="kv") from None

    @property
    def namespace_url(self) -> str:
        """The namespace's REST root: ``…/accounts/{account_id}/storage/kv/namespaces/{namespace_id}``."""
        return f"{self.base_url}/accounts/{self.account_id}/storage/kv/namespaces/{self.namespace_id}"

    def describe(self) -> str:
        """One line, safe to log."""
        return f"rest account={self.account_id} namespace={self.namespace_id} base_url={self.base_url!r}"
