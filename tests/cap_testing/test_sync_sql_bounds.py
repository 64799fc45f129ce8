"""``harness/sync_sql.mjs`` never lets a test hang: the synchronous SQL call of ``workers_env`` waits in
``Atomics.wait`` for at most its timeout, and a request that fails comes back as an error naming it.

Run in Node directly: an HTTP server on the blocked main thread is one that never answers (the wait
ends by the timeout, bounded to 1 s here), and a closed port is a request that fails.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

import cap_testing

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="needs Node 20+")

SYNC_SQL = Path(cap_testing.__file__).parent / "harness" / "sync_sql.mjs"

SCRIPT = """
import { createServer } from "node:http";
import { SyncSql } from "%s";

const outcome = (fn) => {
  try { return { returned: fn() }; } catch (error) { return { name: error.name, message: error.message }; }
};
const server = createServer(() => {});  // never answers: its thread is the one waiting
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
const silent = new SyncSql(`http://127.0.0.1:${server.address().port}/`, "t", 1000);
const timedOut = outcome(() => silent.forObject("NOTES", "ab", () => false).exec("SELECT 1"));
const refused = outcome(() => silent.forObject("NOTES", "ab", () => true).exec("SELECT 1"));
server.close();
server.closeAllConnections();
const closed = new SyncSql("http://127.0.0.1:9/", "t", 30000);
const failed = outcome(() => closed.forObject("NOTES", "ab", () => false).databaseSize);
process.stdout.write(JSON.stringify({ timedOut, refused, failed }));
process.exit(0);
"""


def test_a_call_that_gets_no_answer_times_out_and_a_failed_request_is_named(tmp_path: Path) -> None:
    script = tmp_path / "bounds.mjs"
    script.write_text(SCRIPT % SYNC_SQL.as_uri(), encoding="utf-8")
    node = shutil.which("node")
    assert node is not None
    done = subprocess.run([node, str(script)], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert "got no answer within 1 s (exec on NOTES ab)" in result["timedOut"]["message"]
    assert result["refused"]["name"] == "NotSupportedError"
    assert "inside an open transaction()" in result["refused"]["message"]
    assert "the SQL request failed" in result["failed"]["message"]
