"""Issue 17: the sync API in the hosts of docs/server-hosts.md, against real servers.

* the notes app (``examples/server_hosts/notes_app.py``, Flask) under a threaded WSGI server, 16
  clients at once, over KV (the REST stand-in), R2 (moto's S3), Queues (the REST stand-in) and
  Durable Objects (the gateway Worker in Miniflare): every note is stored, indexed, announced and
  counted exactly once;
* a script that builds its capabilities once and then calls ``asyncio.run`` many times, mixing
  async calls with sync ones;
* a script that exits leaving sync objects, a listing and a body open: the portal closes them at
  exit, with no warning.

docs/server-hosts.md's own blocks (FastAPI, Flask on local backends, Celery, a real gunicorn with two
pre-forked workers) run in tests/test_docs.py.
"""

from __future__ import annotations

import asyncio
import importlib
import subprocess
import sys
import threading
from typing import TYPE_CHECKING, Any

import httpx
from werkzeug.serving import make_server

from cap_cloudflare_do.sync import DurableObjectNamespace
from cap_cloudflare_kv import KvNamespace as AsyncKvNamespace
from cap_cloudflare_kv.sync import KvNamespace
from cap_cloudflare_queue.sync import Queue, QueueConsumer
from cap_cloudflare_r2.sync import R2Bucket
from cap_opendal_core.layers import LayerSettings
from tests.support.cf_api import CloudflareApi
from tests.support.cf_kv_api import kv_api_server
from tests.support.cf_queue_api import QueueApi
from tests.support.threads import run_in_threads

from .conftest import REPO

if TYPE_CHECKING:
    from tests.support.do_gateway import GatewayServer
    from tests.support.moto_server import MotoS3

sys.path.insert(0, str(REPO / "examples" / "server_hosts"))
create_app: Any = importlib.import_module("notes_app").create_app  # an example, not a package

CLIENTS = 16
NOTES_PER_CLIENT = 3
SETTINGS = LayerSettings(logging=False)
QUEUE_ID = "0123456789abcdef0123456789abcdef"


def test_a_threaded_wsgi_server_serves_16_clients_over_all_four_capabilities(
    moto_s3: MotoS3, do_gateway: GatewayServer
) -> None:
    with kv_api_server() as kv_state, CloudflareApi() as api:
        queue_config = QueueApi(api, queue_ids=(QUEUE_ID,)).config()
        kv = KvNamespace.from_config(
            kv_state.config(),
            settings=SETTINGS,
        )
        bucket = R2Bucket.from_url(moto_s3.url(moto_s3.create_bucket()), settings=SETTINGS)
        queue = Queue.from_config(queue_config, settings=SETTINGS)
        counters = DurableObjectNamespace.from_gateway(
            do_gateway.url, binding="COUNTER", token=do_gateway.token, settings=SETTINGS
        )
        prefix = f"wsgi-{id(kv)}"
        before = counters.get_by_name("notes").increment(0)

        server = make_server("127.0.0.1", 0, create_app(kv, bucket, queue, counters), threaded=True)
        serving = threading.Thread(target=server.serve_forever, daemon=True)
        serving.start()
        base = f"http://127.0.0.1:{server.server_port}"
        totals: list[int] = []

        def client(n: int) -> None:
            with httpx.Client(base_url=base, timeout=60) as http:
                for i in range(NOTES_PER_CLIENT):
                    name = f"{prefix}-{n}-{i}"
                    put = http.put(f"/notes/{name}", content=f"note {n}.{i}".encode())
                    assert put.status_code == 200, put.text
                    totals.append(put.json()["total"])
                    got = http.get(f"/notes/{name}")
                    assert got.json()["text"] == f"note {n}.{i}"

        try:
            errors = run_in_threads(client, CLIENTS)
        finally:
            server.shutdown()
            serving.join()
        assert errors == []
        notes = CLIENTS * NOTES_PER_CLIENT
        # the Durable Object counted each note once, in some order
        assert sorted(totals) == list(range(before + 1, before + notes + 1))
        assert sum(1 for k in kv.iter_keys(prefix=f"index/{prefix}-")) == notes
        assert len(bucket.list(prefix=f"notes/{prefix}-").objects) == notes
        announced: list[str] = []
        with QueueConsumer.from_config(queue_config, settings=SETTINGS) as consumer:
            while len(announced) < notes:
                batch = consumer.pull(batch_size=100, visibility_timeout=60)
                assert len(batch) > 0, f"only {len(announced)} of {notes} announcements arrived"
                announced += [m.body["note"] for m in batch]
                batch.ack_all()
                batch.settle()
        assert sorted(announced) == sorted(
            f"{prefix}-{n}-{i}" for n in range(CLIENTS) for i in range(NOTES_PER_CLIENT)
        )
        for cap in (kv, bucket, queue, counters):
            cap.close()
            assert cap.closed


def test_a_script_calls_asyncio_run_many_times_and_mixes_in_sync_calls() -> None:
    with kv_api_server() as state:
        config = state.config()
        kv = AsyncKvNamespace.from_config(config, settings=SETTINGS)
        blocking = KvNamespace(kv)  # the same object, driven from the portal thread

        async def step(i: int) -> Any:
            await kv.put(f"script/{i}", str(i))
            return await kv.get(f"script/{i - 1}") if i else None

        for i in range(25):
            previous = asyncio.run(step(i))
            assert previous == (None if i == 0 else str(i - 1))
            assert blocking.get(f"script/{i}") == str(i)  # between two event loops, from no loop
        assert len(blocking.list(prefix="script/").keys) == 25
        blocking.close()
        assert kv.closed


_LEFT_OPEN = """
import tempfile
from cap_cloudflare_kv.sync import KvNamespace
from cap_cloudflare_r2.sync import R2Bucket
from cap_opendal_core.layers import LayerSettings

data = tempfile.mkdtemp()
settings = LayerSettings(logging=False)
kv = KvNamespace.local(f"{data}/kv", settings=settings)
bucket = R2Bucket.local(f"{data}/r2", settings=settings)
for i in range(5):
    kv.put(f"k{i}", "v")
keys = kv.iter_keys(page_size=2)
next(keys)  # a listing abandoned half-way
bucket.put("a", b"x" * 100_000)
body = bucket.get("a")
next(iter(body))  # a body left half-read
memory = KvNamespace.from_url("memory://", settings=settings)
memory.put("a", "b")
print("done")
"""


def test_a_script_that_leaves_everything_open_exits_cleanly() -> None:
    done = subprocess.run(
        [sys.executable, "-W", "default", "-c", _LEFT_OPEN],  # warnings shown: none expected
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "done"
    assert done.stderr == "", "the portal closed what was left open, with no warning"
