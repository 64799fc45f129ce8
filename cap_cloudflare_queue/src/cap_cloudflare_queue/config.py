"""``CloudflareQueueConfig``: how a server reaches a queue through Cloudflare's REST API.

A pydantic model so a malformed account id or a missing token fails here, naming the field, before any
client exists; the API token is a :class:`pydantic.SecretStr` (never in ``repr``, dumps or validation
errors) and is registered with :func:`cap_opendal_core.redact.register_secret`, so it is scrubbed from
any text it might leak into. This module imports pydantic; only ``from_config`` loads it.
"""

from __future__ import annotations

import re
from typing import Final

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from cap_opendal_core.redact import MIN_SECRET_LENGTH, register_secret
from cap_opendal_core.transit import check_proxy_url

__all__ = ["DEFAULT_API_BASE", "CloudflareQueueConfig"]

DEFAULT_API_BASE: Final = "https://api.cloudflare.com/client/v4"
_ID: Final = re.compile(r"^[0-9A-Za-z_-]{1,64}$")
_QUEUE_NAME: Final = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


class CloudflareQueueConfig(BaseModel):
    """``account_id`` and ``queue_id`` (the queue's id, as ``wrangler queues list`` prints it, not its
    name), an ``api_token`` with Queues read and write permission, and optionally the queue's
    ``queue_name`` (what ``batch.queue`` reports; the id otherwise). ``base_url`` is for tests;
    ``timeout`` bounds each HTTP request (seconds). Requests go direct unless ``proxy`` names an
    http(s) proxy or ``trust_env=True`` lets the environment's ``HTTP(S)_PROXY``/``SSL_CERT_FILE``
    apply; a route that would show the token in clear text to a host other than loopback is refused
    (:mod:`cap_opendal_core.transit`)."""

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    account_id: str
    queue_id: str
    api_token: SecretStr
    queue_name: str | None = None
    base_url: str = DEFAULT_API_BASE
    timeout: float = Field(default=30.0, gt=0, le=600)
    proxy: str | None = None
    trust_env: bool = False

    @field_validator("proxy")
    @classmethod
    def _proxy(cls, value: str | None) -> str | None:
        return None if value is None else check_proxy_url(value)

    @field_validator("account_id", "queue_id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not _ID.match(value):
            raise ValueError("must be the identifier Cloudflare shows (letters, digits, '-', '_')")
        return value

    @field_validator("queue_name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        if value is not None and not _QUEUE_NAME.match(value):
            raise ValueError("must be a queue name: 1-63 lower-case letters, digits and '-'")
        return value

    @field_validator("api_token")
    @classmethod
    def _token(cls, value: SecretStr) -> SecretStr:
        raw = value.get_secret_value()
        if not raw.strip():
            raise ValueError("must not be empty")
        if any(c in raw for c in "\r\n"):
            raise ValueError("must be a single line")
        return value

    @field_validator("base_url")
    @classmethod
    def _base(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")) or any(c.isspace() for c in value):
            raise ValueError("must be an http(s) URL ending in /client/v4")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _register(self) -> CloudflareQueueConfig:
        raw = self.api_token.get_secret_value()
        if len(raw) >= MIN_SECRET_LENGTH:
            register_secret(raw)
        return self

    @property
    def display_name(self) -> str:
        """The queue as batches and logs name it."""
        return self.queue_name or self.queue_id

    @property
    def messages_url(self) -> str:
        return f"{self.base_url}/accounts/{self.account_id}/queues/{self.queue_id}/messages"
