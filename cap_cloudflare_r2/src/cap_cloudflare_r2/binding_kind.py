"""The ``r2_bucket`` binding kind: its manifest keys and its ``[[r2_buckets]]`` wrangler section.

Keys per docs/preflight-and-wrangler.md; bucket names per developers.cloudflare.com/r2/buckets/create-buckets/
(3-63 lower-case letters, digits and '-'); the section per
developers.cloudflare.com/r2/api/workers/workers-api-usage/ (``binding``, ``bucket_name``).
"""

from __future__ import annotations

import re
from typing import Final

from cap_opendal_core.binding_kinds import section_kind

__all__ = ["BINDING"]

BINDING: Final = section_kind(
    "r2_bucket",
    section="r2_buckets",
    keys=("bucket_name", "preview_bucket_name"),
    pattern=re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$"),
    rule="3-63 lower-case letters, digits and '-', starting and ending with a letter or digit",
    required=("bucket_name",),
    wrangler_order=20,
)
