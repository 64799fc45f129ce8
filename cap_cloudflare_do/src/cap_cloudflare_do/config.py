"""Typed configuration for the gateway backend (pydantic; imported only when a config is built).

``GatewayConfig`` catches a bad URL, binding name or empty token with the field named, before any
client exists; the token is a :class:`pydantic.SecretStr` (never in ``repr``/dumps/validation errors)
and is registered for scrubbing.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from cap_opendal_core.plugins import BINDING_NAME
from cap_opendal_core.redact import MIN_SECRET_LENGTH, register_secret
from cap_opendal_core.transit import check_proxy_url

__all__ = ["GatewayConfig"]


class GatewayConfig(BaseModel):
    """Where the gateway Worker is, which binding to reach through it, and its bearer token."""

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    url: str = Field(description="The gateway Worker's base URL (https; http only to loopback).")
    binding: str = Field(description="The Durable Object binding name, as in the gateway's env.")
    token: SecretStr = Field(description="The gateway's bearer token (its CAPS_GATEWAY_TOKEN secret).")
    read_only: frozenset[str] = Field(default=frozenset(), description="RPC methods that only read.")
    timeout: float = Field(default=30.0, gt=0, description="Seconds per HTTP request.")
    proxy: str | None = Field(default=None, description="An http(s) proxy to send requests through.")
    trust_env: bool = Field(default=False, description="Let HTTP(S)_PROXY and SSL_CERT_FILE apply.")

    @field_validator("proxy")
    @classmethod
    def _proxy(cls, value: str | None) -> str | None:
        return None if value is None else check_proxy_url(value)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be an absolute http(s) URL")
        return value

    @field_validator("binding")
    @classmethod
    def _binding(cls, value: str) -> str:
        if BINDING_NAME.match(value) is None:
            raise ValueError("must be an identifier (letters, digits, '_')")
        return value

    @field_validator("token")
    @classmethod
    def _token(cls, value: SecretStr) -> SecretStr:
        raw = value.get_secret_value()
        if not raw.strip():
            raise ValueError("must not be empty")
        if len(raw) >= MIN_SECRET_LENGTH:
            register_secret(raw)
        return value
