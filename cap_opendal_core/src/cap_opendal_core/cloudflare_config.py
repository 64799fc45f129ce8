"""``CloudflareApiConfig``: what every capability needs to reach Cloudflare's REST API, checked once.

A pydantic base that KV's and Queues' configurations extend with their own resource ids, so the
account id rule, the token's handling, the base URL, the route options and ``from_env()`` are the
same everywhere:

* ``account_id`` — Cloudflare's API reference describes the account identifier as a 32-character
  tag (``maxLength: 32``; every example, and every id the dashboard shows, is 32 lower-case hex
  digits): https://developers.cloudflare.com/api/ and
  https://developers.cloudflare.com/fundamentals/account/find-account-and-zone-ids/ ;
* ``api_token`` — a :class:`pydantic.SecretStr` registered with
  :func:`cap_opendal_core.redact.register_secret`, so ``repr``, dumps, validation errors and any text
  it leaks into never show it; the client adds it to each request (:mod:`cap_opendal_core.http_client`);
* ``from_env()`` reads the variables wrangler reads — ``CLOUDFLARE_ACCOUNT_ID``,
  ``CLOUDFLARE_API_TOKEN`` and, when set, ``CLOUDFLARE_API_BASE_URL``
  (https://developers.cloudflare.com/workers/wrangler/system-environment-variables/).

Imports pydantic: only servers load this module.
"""

from __future__ import annotations

import os
import re
from typing import Annotated, Any, ClassVar, Final, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from .errors import Misconfigured
from .operators.config import misconfigured_from, url_root
from .redact import MIN_SECRET_LENGTH, register_secret
from .transit import check_proxy_url, split_http_url

__all__ = [
    "DEFAULT_BASE_URL",
    "ENV_ACCOUNT_ID",
    "ENV_API_TOKEN",
    "ENV_BASE_URL",
    "CloudflareApiConfig",
    "check_account_id",
    "check_api_token",
    "check_base_url",
    "matching",
]

DEFAULT_BASE_URL: Final = "https://api.cloudflare.com/client/v4"
ENV_ACCOUNT_ID: Final = "CLOUDFLARE_ACCOUNT_ID"
ENV_API_TOKEN: Final = "CLOUDFLARE_API_TOKEN"
ENV_BASE_URL: Final = "CLOUDFLARE_API_BASE_URL"

_ACCOUNT_ID: Final = re.compile(r"[0-9a-f]{32}")


def check_account_id(value: str) -> str:
    """``value`` if it is a Cloudflare account id (32 lower-case hex digits), else ``ValueError``."""
    if not isinstance(value, str) or not _ACCOUNT_ID.fullmatch(value):
        raise ValueError("must be the 32 lower-case hex digits of a Cloudflare account id")
    return value


def check_api_token(value: str) -> str:
    """``value`` if it can be a bearer token (not empty, no whitespace), else ``ValueError``; never
    echoes it."""
    if not value.strip():
        raise ValueError("must not be empty")
    if any(c.isspace() for c in value):
        raise ValueError("must not contain whitespace (paste the token alone, without 'Bearer ')")
    return value


def check_base_url(value: str) -> str:
    """An http(s) API root without credentials, query or fragment, trailing ``/`` removed; never
    echoes the value (a URL pasted with credentials in it must not reach a log)."""
    return url_root(value, split_http_url(value), credentials="; pass the token as api_token")


def matching(pattern: re.Pattern[str], rule: str) -> AfterValidator:
    """A field check for a capability's configuration: the value must match ``pattern`` (from its
    start; anchor the end in the pattern), else ``ValueError(rule)`` — which never echoes it."""

    def check(value: str) -> str:
        if not pattern.match(value):
            raise ValueError(rule)
        return value

    return AfterValidator(check)


class CloudflareApiConfig(BaseModel):
    """An account on Cloudflare's REST API (see the module docstring).

    ``base_url`` is the API root (tests point it at a local stand-in); ``timeout`` bounds each
    request (seconds). Requests go direct unless ``proxy`` names an http(s) proxy or
    ``trust_env=True`` lets the environment's ``HTTP(S)_PROXY``/``SSL_CERT_FILE`` apply; a route
    that would show the token in clear text to a host other than loopback is refused
    (:mod:`cap_opendal_core.transit`). Subclasses set ``capability`` and ``described_as``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    capability: ClassVar[str] = "cloudflare"
    described_as: ClassVar[str] = "Cloudflare REST API configuration"

    account_id: Annotated[str, AfterValidator(check_account_id)]
    api_token: SecretStr
    base_url: Annotated[str, AfterValidator(check_base_url)] = DEFAULT_BASE_URL
    timeout: float = Field(default=30.0, gt=0, le=600)
    proxy: Annotated[str, AfterValidator(check_proxy_url)] | None = None
    trust_env: bool = False

    @field_validator("api_token")
    @classmethod
    def _api_token(cls, value: SecretStr) -> SecretStr:
        token = check_api_token(value.get_secret_value())
        if len(token) >= MIN_SECRET_LENGTH:
            register_secret(token)
        return value

    @property
    def account_url(self) -> str:
        """``{base_url}/accounts/{account_id}``: where every account-scoped endpoint starts."""
        return f"{self.base_url}/accounts/{self.account_id}"

    @classmethod
    def build(cls, **fields: Any) -> Self:
        """Like the constructor, but raises ``Misconfigured`` (naming each bad field, never its value)
        instead of pydantic's ``ValidationError``."""
        try:
            return cls(**fields)
        except ValidationError as exc:
            raise misconfigured_from(exc, cls.described_as, capability=cls.capability) from None

    @classmethod
    def from_env(cls, **fields: Any) -> Self:
        """Fields not given are read from ``CLOUDFLARE_ACCOUNT_ID`` and ``CLOUDFLARE_API_TOKEN``
        (required) and ``CLOUDFLARE_API_BASE_URL`` (optional) — the names wrangler reads.

        Raises :class:`~cap_opendal_core.errors.Misconfigured` naming what is missing or invalid.
        """
        data: dict[str, Any] = dict(fields)
        for field, env in (("account_id", ENV_ACCOUNT_ID), ("api_token", ENV_API_TOKEN)):
            if field not in data:
                value = os.environ.get(env)
                if not value:
                    raise Misconfigured(f"{env} is not set (or pass {field}=…)", capability=cls.capability)
                data[field] = value
        if "base_url" not in data and os.environ.get(ENV_BASE_URL):
            data["base_url"] = os.environ[ENV_BASE_URL]
        return cls.build(**data)
