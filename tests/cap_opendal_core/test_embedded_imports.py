"""The embedded path loads neither pydantic, OpenDAL nor httpx — building a store or using it.

``KvNamespace.local`` and ``R2Bucket.local`` are the default for development and tests; they must
start fast and work where those packages are absent. A fresh interpreter per check, so nothing this
test process already imported hides a regression.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

HEAVY = ("pydantic", "opendal", "httpx")

PROBE = """
import asyncio, json, sys
from cap_cloudflare_kv import KvNamespace
from cap_cloudflare_r2 import R2Bucket

kv = KvNamespace.local(sys.argv[1])
r2 = R2Bucket.local(sys.argv[2])
after_build = sorted(m for m in sys.modules if m.split(".")[0] in HEAVY)
anyio_at_build = "anyio" in sys.modules

async def use():
    await kv.put("k", b"v" * 100)
    assert await kv.get("k", "bytes") == b"v" * 100
    await r2.put("k", b"w" * 100)
    body = await r2.get("k")
    assert body is not None and await body.read() == b"w" * 100
    assert [o.key for o in (await r2.list()).objects] == ["k"]
    assert [k.name for k in (await kv.list()).keys] == ["k"]

asyncio.run(use())
after_use = sorted(m for m in sys.modules if m.split(".")[0] in HEAVY)
print(json.dumps({"build": after_build, "use": after_use, "anyio_at_build": anyio_at_build}))
"""


def test_local_stores_load_no_heavy_module(tmp_path: Path) -> None:
    code = f"HEAVY = {HEAVY!r}\n" + PROBE
    proc = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "kv"), str(tmp_path / "r2")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    found = json.loads(proc.stdout.strip().splitlines()[-1])
    assert found["build"] == [], f"building the local stores loaded {found['build']}"
    assert found["use"] == [], f"using the local stores loaded {found['use']}"
    # anyio (~25 ms to import) waits for the first operation: .local() itself stays cheap
    assert found["anyio_at_build"] is False
