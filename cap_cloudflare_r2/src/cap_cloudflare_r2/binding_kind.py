"""The ``r2_bucket`` binding kind: its manifest keys and its ``[[r2_buckets]]`` wrangler section.

Keys per docs/preflight-and-wrangler.md; bucket names per developers.cloudflare.com/r2/buckets/create-buckets/
(3-63 lower-case letters, digits and '-'); the section per
developers.cloudflare.com/r2/api/workers/workers-api-usage/ (``binding``, ``bucket_name``).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Final

from cap_opendal_core.binding_kinds import BindingKindSpec

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from cap_opendal_core.manifest import BindingSpec, ManifestReader

__all__ = ["BINDING"]

_R2_BUCKET: Final = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
_RULE: Final = "3-63 lower-case letters, digits and '-', starting and ending with a letter or digit"


def _parse(r: ManifestReader) -> Mapping[str, Any]:
    return {key: r.string(key, _R2_BUCKET, _RULE) for key in ("bucket_name", "preview_bucket_name")}


def _render(specs: Sequence[BindingSpec], source: str) -> list[str]:
    from cap_opendal_core.wrangler import need, table

    lines: list[str] = []
    for spec in specs:
        lines.extend(
            table(
                "r2_buckets",
                [
                    ("binding", spec.name),
                    ("bucket_name", need(spec, "bucket_name")),
                    ("preview_bucket_name", spec.details["preview_bucket_name"]),
                ],
            )
        )
    return lines


BINDING: Final = BindingKindSpec(
    kind="r2_bucket",
    keys=("bucket_name", "preview_bucket_name"),
    parse=_parse,
    render=_render,
    wrangler_order=20,
)
