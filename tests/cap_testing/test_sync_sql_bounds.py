"""``harness/sync_sql.mjs`` never lets a test hang: the synchronous SQL call of ``workers_env`` waits in
``Atomics.wait`` for at most its timeout, and a request that fails comes back as an error naming it.

Run in Node directly: an HTTP server on the blocked main thread is one that never answers (the wait
ends by the timeout, bounded to 1 s here), and a closed port is a request that fails. Inside an open
transaction whose object never asks for its next call the wait is bounded the same way, and the
transaction channel's server refuses a request without this run's token.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

import cap_testing

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="needs Node 20+")

HARNESS = Path(cap_testing.__file__).parent / "harness"

SCRIPT = """
import { createServer } from "node:http";
import { SyncSql, SQL_TOKEN_HEADER } from "%s";
import { TransactionBridge } from "%s";

const outcome = (fn) => {
  try { return { returned: fn() }; } catch (error) { return { name: error.name, message: error.message }; }
};
const server = createServer(() => {});  // never answers: its thread is the one waiting
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
const bridge = new TransactionBridge();
const silent = await SyncSql.start(bridge, "t", 1000);
silent.url = `http://127.0.0.1:${server.address().port}/`;
const timedOut = outcome(() => silent.forObject("NOTES", "ab", () => undefined).exec("SELECT 1"));
// a transaction whose object never asks for its next call (its start never settles)
const storage = bridge.storage({}, { capsTestingTransaction: () => new Promise(() => {}) });
storage.transaction(async () => {});
const session = [...bridge.sessions.values()][0];
const inTxn = outcome(() => silent.forObject("NOTES", "ab", () => session).exec("SELECT 1"));
const leftQueued = session.calls.length;  // the timed-out call is not run later
const stranger = await fetch(silent.txnUrl, {
  method: "POST", headers: { [SQL_TOKEN_HEADER]: "nope" }, body: "{}",
});
server.close();
server.closeAllConnections();
const closed = await SyncSql.start(bridge, "t", 30000);
closed.url = "http://127.0.0.1:9/";
const failed = outcome(() => closed.forObject("NOTES", "ab", () => undefined).databaseSize);
process.stdout.write(JSON.stringify({ timedOut, inTxn, leftQueued, stranger: stranger.status, failed }));
process.exit(0);
"""


def test_a_call_that_gets_no_answer_times_out_and_a_failed_request_is_named(tmp_path: Path) -> None:
    script = tmp_path / "bounds.mjs"
    script.write_text(
        SCRIPT % ((HARNESS / "sync_sql.mjs").as_uri(), (HARNESS / "txn_bridge.mjs").as_uri()),
        encoding="utf-8",
    )
    node = shutil.which("node")
    assert node is not None
    done = subprocess.run([node, str(script)], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert "got no answer within 1 s (exec on NOTES ab)" in result["timedOut"]["message"]
    assert "inside a transaction got no answer within 1 s (exec on NOTES ab)" in result["inTxn"]["message"]
    assert result["leftQueued"] == 0
    assert result["stranger"] == 403
    assert "the SQL request failed" in result["failed"]["message"]
