"""R2's list paging (prefix, delimiter, start after, limit), as one algorithm the emulating backends share.

Input is the store's keys in ascending order (UTF-8 byte order, which is code point order), each
with whatever payload the backend keeps. Output is one page in R2's shape: keys and delimited
prefixes in key order, each prefix standing for the contiguous run of keys under it, ``limit``
counting both, and — when more follows — the last key the page covered (for a group, its greatest
key), which becomes the next cursor. That is what Miniflare (the runtime's local R2) computes with
SQL; the local and S3 backends compute it here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

__all__ = ["Page", "page_of"]

E = TypeVar("E")


@dataclass
class Page(Generic[E]):
    objects: list[E] = field(default_factory=list)
    delimited_prefixes: list[str] = field(default_factory=list)
    truncated: bool = False
    last_key: str | None = None


async def page_of(
    entries: AsyncIterator[E],
    key_of: Callable[[E], str],
    *,
    prefix: str,
    delimiter: str | None,
    start_after: str | None,
    limit: int,
) -> Page[E]:
    """Build one page from ``entries`` (ascending keys; keys outside ``prefix`` or not after
    ``start_after`` are skipped). A group's keys are read through to its last one, so the cursor
    lands after the whole group."""
    page: Page[E] = Page()
    count = 0
    group: str | None = None
    async for entry in entries:
        key = key_of(entry)
        if not key.startswith(prefix):
            if key > prefix:
                break  # sorted: nothing later can start with prefix
            continue
        if start_after is not None and key <= start_after:
            continue
        if group is not None and key.startswith(group):
            page.last_key = key
            continue
        if count == limit:
            page.truncated = True
            break
        group = None
        if delimiter:
            found = key.find(delimiter, len(prefix))
            if found >= 0:
                group = key[: found + len(delimiter)]
        if group is not None:
            page.delimited_prefixes.append(group)
        else:
            page.objects.append(entry)
        count += 1
        page.last_key = key
    if not page.truncated:
        page.last_key = None
    return page
