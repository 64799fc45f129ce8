"""Issue 13, section 4: no frame of the SDK holds a secret or a signature when an exception leaves it.

A traceback rendered *with local variables* — ``traceback.TracebackException(...,
capture_locals=True)``, rich's and structlog's renderers, Sentry's default — shows what every frame
held. Each server backend is driven into failures (an unreachable endpoint: a loopback port that
refuses connections; and an endpoint that answers with an error) and the rendered traceback, chained
causes included, must hold neither the API token, the S3 access key id, the secret key, nor any
SigV4 signature or ``Authorization`` value.
"""

from __future__ import annotations

import re
import socket
import traceback
from typing import TYPE_CHECKING, Any

import pytest

from cap_cloudflare_do import DurableObjectNamespace
from cap_cloudflare_kv import CloudflareKvConfig, KvNamespace
from cap_cloudflare_queue import CloudflareQueueConfig, Queue, QueueConsumer
from cap_cloudflare_r2 import R2Bucket
from cap_opendal_core.layers import LayerSettings, RetryPolicy
from cap_opendal_core.operators import S3Config

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterator

pytestmark = pytest.mark.anyio

TOKEN = "frames-token-0123456789abcdefghijkl"
KEY_ID = "AKIDFRAMES0123456789"
SECRET_KEY = "frames-secret-key-0123456789abcdefghij"
ACCOUNT = "0" * 32
# Two attempts: the retry loops' frames are in the traceback too.
SETTINGS = LayerSettings(logging=False, deadline=10.0, retry=RetryPolicy(attempts=2, base=0.001, cap=0.002))
LEAKS = re.compile(
    r"Signature=|X-Amz-Signature|Credential=|AWS4-HMAC-SHA256|Bearer\s+\S|"
    + "|".join(re.escape(s) for s in (TOKEN, KEY_ID, SECRET_KEY, TOKEN[:16], SECRET_KEY[:16])),
    re.IGNORECASE,
)


@pytest.fixture(params=["refused", "error_status"])
def endpoint(request: pytest.FixtureRequest) -> Iterator[str]:
    """``http://127.0.0.1:port`` that refuses connections, or that answers every request with 500."""
    if request.param == "refused":
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            yield f"http://127.0.0.1:{sock.getsockname()[1]}"
        return
    from tests.support.recording_proxy import ErrorServer

    with ErrorServer() as server:
        yield server.url


def _kv(base: str) -> KvNamespace:
    config = CloudflareKvConfig(
        account_id=ACCOUNT, namespace_id=ACCOUNT, api_token=TOKEN, base_url=base, timeout=10
    )
    return KvNamespace.from_config(config, settings=SETTINGS)


def _queue_config(base: str) -> CloudflareQueueConfig:
    return CloudflareQueueConfig(
        account_id=ACCOUNT, queue_id="q1", api_token=TOKEN, base_url=base, timeout=10
    )


def _bucket(base: str) -> R2Bucket:
    config = S3Config(bucket="frames", endpoint=base, access_key_id=KEY_ID, secret_access_key=SECRET_KEY)
    return R2Bucket.from_config(config, settings=SETTINGS)


def _do(base: str) -> DurableObjectNamespace:
    return DurableObjectNamespace.from_gateway(base, binding="COUNTER", token=TOKEN, settings=SETTINGS)


async def _kv_get(base: str) -> None:
    async with _kv(base) as kv:
        await kv.get("k")


async def _kv_put(base: str) -> None:
    async with _kv(base) as kv:
        await kv.put("k", "v", metadata={"m": 1})


async def _queue_send(base: str) -> None:
    async with Queue.from_config(_queue_config(base), settings=SETTINGS) as queue:
        await queue.send({"n": 1})


async def _queue_pull(base: str) -> None:
    async with QueueConsumer.from_config(_queue_config(base), settings=SETTINGS) as consumer:
        await consumer.pull()


async def _r2_get(base: str) -> None:
    async with _bucket(base) as bucket:
        await bucket.get("o")


async def _r2_head(base: str) -> None:
    async with _bucket(base) as bucket:
        await bucket.head("o")


async def _r2_put(base: str) -> None:
    async with _bucket(base) as bucket:
        await bucket.put("o", b"payload")


async def _r2_multipart_create(base: str) -> None:
    async with _bucket(base) as bucket:
        await bucket.create_multipart_upload("o")


async def _r2_multipart_part(base: str) -> None:
    async with _bucket(base) as bucket:
        upload = await bucket.resume_multipart_upload("o", "upload-1")
        await upload.upload_part(1, b"x" * 1024)


async def _r2_presign_refused(base: str) -> None:
    async with _bucket(base) as bucket:
        await bucket.presign("o", method="GET", expires_in=10**9)


async def _do_call(base: str) -> None:
    async with _do(base) as namespace:
        await namespace.get_by_name("c").call("increment")


async def _do_id(base: str) -> None:
    async with _do(base) as namespace:
        await namespace.resolve_id(namespace.id_from_name("c"))


FAILURES: dict[str, Callable[[str], Awaitable[None]]] = {
    "kv_get": _kv_get,
    "kv_put": _kv_put,
    "queue_send": _queue_send,
    "queue_pull": _queue_pull,
    "r2_get": _r2_get,
    "r2_head": _r2_head,
    "r2_put": _r2_put,
    "r2_multipart_create": _r2_multipart_create,
    "r2_multipart_part": _r2_multipart_part,
    "r2_presign_refused": _r2_presign_refused,
    "do_call": _do_call,
    "do_id": _do_id,
}


def _render(exc: BaseException) -> str:
    rendered = traceback.TracebackException(type(exc), exc, exc.__traceback__, capture_locals=True)
    return "".join(rendered.format())


@pytest.mark.parametrize("name", FAILURES)
async def test_no_frame_holds_a_credential_when_a_backend_fails(name: str, endpoint: str) -> None:
    caught: Any = None
    try:
        await FAILURES[name](endpoint)
    except Exception as exc:
        caught = exc
    assert caught is not None, f"{name} did not fail against {endpoint}"
    text = _render(caught)
    assert "Traceback" in text
    leaks = sorted({m.group(0) for m in LEAKS.finditer(text)})
    assert not leaks, f"{name}: the traceback rendered with locals shows {leaks}:\n{text[-6000:]}"


def test_the_check_finds_what_it_looks_for() -> None:
    """The search is real: a frame holding signed headers is caught."""

    def signs() -> None:
        headers = {"authorization": f"AWS4-HMAC-SHA256 Credential={KEY_ID}/x, Signature=abc"}
        raise RuntimeError(len(headers))

    with pytest.raises(RuntimeError) as caught:
        signs()
    assert LEAKS.search(_render(caught.value))
