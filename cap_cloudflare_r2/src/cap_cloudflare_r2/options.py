"""Validated requests handed from :class:`~cap_cloudflare_r2.R2Bucket` to a backend.

The public class checks every argument (see :mod:`~cap_cloudflare_r2.validation`) and packs the
result here, so a backend receives values it can trust and never re-parses user input.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from cap_opendal_core.errors import InvalidInput

from .limits import LIST_INCLUDE_PAGE_MAX
from .models import R2Conditional, R2HttpMetadata

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["ListOptions", "PutOptions", "decode_cursor", "encode_cursor", "stored_storage_class"]


@dataclass(frozen=True, slots=True)
class PutOptions:
    """What to store with an object and when to store it (``put`` and ``create_multipart_upload``).

    ``checksums`` maps an algorithm (``md5``, ``sha256`` …) to the lower-case hex digest the caller
    expects; the backend must refuse to make the object visible when the body does not match.
    ``storage_class`` is ``Standard``, ``InfrequentAccess`` or None (the bucket's default).
    """

    http_metadata: R2HttpMetadata = field(default_factory=R2HttpMetadata)
    custom_metadata: Mapping[str, str] = field(default_factory=dict)
    checksums: Mapping[str, str] = field(default_factory=dict)
    only_if: R2Conditional | None = None
    storage_class: str | None = None

    def stored_http(self) -> dict[str, Any]:
        """The ``http`` document the local backends keep: the HTTP metadata, plus ``storage_class``
        when it is not ``Standard`` (kept there, not in a column or field of its own, so stores and
        records written before storage classes read as ``Standard`` with no migration)."""
        doc: dict[str, Any] = dict(self.http_metadata.to_dict())
        if self.storage_class is not None and self.storage_class != "Standard":
            doc[STORED_CLASS] = self.storage_class
        return doc


STORED_CLASS: Final = "storage_class"


def stored_storage_class(http_doc: Mapping[str, Any]) -> str:
    """The storage class an ``http`` document from :meth:`PutOptions.stored_http` holds."""
    value = http_doc.get(STORED_CLASS)
    return value if isinstance(value, str) else "Standard"


@dataclass(frozen=True, slots=True)
class ListOptions:
    """One ``list`` page request. ``cursor`` is what a previous page of the same backend returned."""

    prefix: str = ""
    delimiter: str | None = None
    cursor: str | None = None
    start_after: str | None = None
    limit: int = 1000
    include_http_metadata: bool = False
    include_custom_metadata: bool = False

    @property
    def includes_metadata(self) -> bool:
        return self.include_http_metadata or self.include_custom_metadata

    def effective_start_after(self) -> str | None:
        """The later of ``start_after`` and the cursor's position (emulating backends' cursors)."""
        after = self.start_after
        if self.cursor is not None:
            position = decode_cursor(self.cursor)
            if after is None or position > after:
                after = position
        return after

    def emulated_page(self) -> tuple[str | None, int]:
        """``(start_after, limit)`` of one page for a backend that emulates R2's listing: the cursor
        folded into ``start_after`` (``InvalidInput`` when it is not one of ours), and at most
        :data:`~cap_cloudflare_r2.limits.LIST_INCLUDE_PAGE_MAX` entries when metadata is included."""
        try:
            start_after = self.effective_start_after()
        except ValueError as exc:
            raise InvalidInput(str(exc), field="cursor", capability="r2", operation="list") from None
        limit = min(self.limit, LIST_INCLUDE_PAGE_MAX) if self.includes_metadata else self.limit
        return start_after, limit


def encode_cursor(last_key: str) -> str:
    """The cursor the emulating backends return: the last key listed, base64url-encoded."""
    return base64.urlsafe_b64encode(last_key.encode("utf-8")).decode("ascii")


def decode_cursor(cursor: str) -> str:
    """Inverse of :func:`encode_cursor`; ``ValueError`` when ``cursor`` was not made by it."""
    try:
        return base64.urlsafe_b64decode(cursor.encode("ascii")).decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError):
        raise ValueError("cursor is not one this backend returned") from None
