"""One directory, one layout: an ``fs://`` store is refused on a directory the embedded engine owns.

The other way round is the documented migration: ``.local()`` on a directory an ``fs://`` store
wrote converts it (``test_embedded_safety.py`` checks nothing is lost); after that the directory is
the engine's, and ``fs://`` is refused there too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from cap_cloudflare_kv import KvNamespace
from cap_cloudflare_r2 import R2Bucket
from cap_opendal_core import LayerSettings
from cap_opendal_core.errors import Misconfigured

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.anyio
QUIET = LayerSettings(logging=False, retry=None)


async def test_fs_kv_is_refused_on_an_engine_directory(tmp_path: Path) -> None:
    ns = KvNamespace.local(tmp_path, settings=QUIET)
    await ns.put("k", "v")
    with pytest.raises(Misconfigured, match=r"embedded store \(index\.sqlite3"):
        KvNamespace.from_url(f"fs://{tmp_path}", settings=QUIET)
    assert await ns.get("k") == "v"  # refused before anything was written
    assert not (tmp_path / "k").exists()
    await ns.aclose()


async def test_fs_r2_is_refused_on_an_engine_directory(tmp_path: Path) -> None:
    bucket = R2Bucket.local(tmp_path, settings=QUIET)
    await bucket.put("k", b"v")
    with pytest.raises(Misconfigured, match=r"embedded store \(index\.sqlite3"):
        R2Bucket.from_url(f"fs://{tmp_path}", settings=QUIET)
    body = await bucket.get("k")
    assert body is not None
    assert await body.read() == b"v"
    assert not (tmp_path / "keys").exists()


async def test_fs_is_refused_through_an_alias_of_the_directory(tmp_path: Path) -> None:
    (tmp_path / "store").mkdir()
    (tmp_path / "alias").symlink_to(tmp_path / "store")
    await KvNamespace.local(tmp_path / "store", settings=QUIET).put("k", "v")
    with pytest.raises(Misconfigured):
        KvNamespace.from_url(f"fs://{tmp_path / 'alias'}", settings=QUIET)


async def test_after_the_migration_the_directory_is_the_engines(tmp_path: Path) -> None:
    old = KvNamespace.from_url(f"fs://{tmp_path}", settings=QUIET)
    await old.put("k", "v")
    await old.aclose()
    ns = KvNamespace.local(tmp_path, settings=QUIET)
    assert await ns.get("k") == "v"  # converted when the store first opened
    with pytest.raises(Misconfigured):
        KvNamespace.from_url(f"fs://{tmp_path}", settings=QUIET)
    await ns.aclose()
