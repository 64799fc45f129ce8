"""``CloudflareKvConfig``: where the REST backend reaches a namespace, checked before any request.

The account, token, base URL and route options — and ``from_env()`` — come from core's
:class:`~cap_opendal_core.cloudflare_config.CloudflareApiConfig`, the same for every capability;
this adds the namespace id. Imports pydantic: only servers load this module.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar, Final, Self

from cap_opendal_core.cloudflare_config import DEFAULT_BASE_URL, CloudflareApiConfig, matching

__all__ = ["DEFAULT_BASE_URL", "CloudflareKvConfig"]

_ID: Final = re.compile(r"[0-9a-f]{32}\Z")


class CloudflareKvConfig(CloudflareApiConfig):
    """A Workers KV namespace reached through Cloudflare's REST API.

    ``account_id`` and ``namespace_id`` are the 32-hex-digit ids from the dashboard (or
    ``wrangler kv namespace list``); ``api_token`` needs the "Workers KV Storage" permission.
    The other fields are :class:`~cap_opendal_core.cloudflare_config.CloudflareApiConfig`'s.
    """

    capability: ClassVar[str] = "kv"
    described_as: ClassVar[str] = "Workers KV REST configuration"

    namespace_id: Annotated[str, matching(_ID, "must be the 32 lower-case hex digits of a Cloudflare id")]

    @classmethod
    def from_env(cls, namespace_id: str | None = None, /, **fields: Any) -> Self:
        """Read ``CLOUDFLARE_ACCOUNT_ID``, ``CLOUDFLARE_API_TOKEN`` (and ``CLOUDFLARE_API_BASE_URL``
        when set) for the fields not given — the names wrangler uses.

        Raises :class:`~cap_opendal_core.errors.Misconfigured` naming what is missing or invalid.
        """
        if namespace_id is not None:
            fields["namespace_id"] = namespace_id
        return super().from_env(**fields)

    @property
    def namespace_url(self) -> str:
        """The namespace's REST root: ``…/accounts/{account_id}/storage/kv/namespaces/{namespace_id}``."""
        return f"{self.account_url}/storage/kv/namespaces/{self.namespace_id}"

    @property
    def namespace_path(self) -> str:
        """The namespace's path under the account: ``/storage/kv/namespaces/{namespace_id}``."""
        return f"/storage/kv/namespaces/{self.namespace_id}"

    def describe(self) -> str:
        """One line, safe to log."""
        return f"rest account={self.account_id} namespace={self.namespace_id} base_url={self.base_url!r}"
