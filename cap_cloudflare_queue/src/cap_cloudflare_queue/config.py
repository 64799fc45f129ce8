"""``CloudflareQueueConfig``: how a server reaches a queue through Cloudflare's REST API.

The account, token, base URL and route options — and ``from_env()`` — come from core's
:class:`~cap_opendal_core.cloudflare_config.CloudflareApiConfig`, the same for every capability; this
adds the queue's id and name. A malformed field fails here, named, before any client exists; the
token never shows in ``repr``, dumps or validation errors. Imports pydantic; only ``from_config``
loads it.
"""

from __future__ import annotations

import re
from typing import Annotated, ClassVar, Final

from cap_opendal_core.cloudflare_config import DEFAULT_BASE_URL, CloudflareApiConfig, matching

__all__ = ["DEFAULT_API_BASE", "DEFAULT_BASE_URL", "CloudflareQueueConfig"]

DEFAULT_API_BASE: Final = DEFAULT_BASE_URL
"""The former name of :data:`~cap_opendal_core.cloudflare_config.DEFAULT_BASE_URL`, kept as an alias."""

_ID: Final = re.compile(r"^[0-9A-Za-z_-]{1,64}$")
_QUEUE_NAME: Final = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_ID_CHECK: Final = matching(_ID, "must be the identifier Cloudflare shows (letters, digits, '-', '_')")
_NAME_CHECK: Final = matching(_QUEUE_NAME, "must be a queue name: 1-63 lower-case letters, digits and '-'")


class CloudflareQueueConfig(CloudflareApiConfig):
    """``queue_id`` (the queue's id, as ``wrangler queues list`` prints it, not its name), an
    ``api_token`` with Queues read and write permission, and optionally the queue's ``queue_name``
    (what ``batch.queue`` reports; the id otherwise). The other fields are
    :class:`~cap_opendal_core.cloudflare_config.CloudflareApiConfig`'s."""

    capability: ClassVar[str] = "queue"
    described_as: ClassVar[str] = "CloudflareQueueConfig"

    queue_id: Annotated[str, _ID_CHECK]
    queue_name: Annotated[str, _NAME_CHECK] | None = None

    @property
    def display_name(self) -> str:
        """The queue as batches and logs name it."""
        return self.queue_name or self.queue_id

    @property
    def messages_path(self) -> str:
        """The queue's messages endpoint under the account: ``/queues/{queue_id}/messages``."""
        return f"/queues/{self.queue_id}/messages"

    @property
    def messages_url(self) -> str:
        return self.account_url + self.messages_path
