"""Regressions the R2 soak (``tests/reliability/soak_scenarios/r2.py``) found, each pinned down with one
fault on one request kind."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

import pytest

from cap_cloudflare_r2 import R2Bucket
from cap_opendal_core.errors import Unavailable
from cap_opendal_core.layers import LayerSettings
from tests.reliability.soak_scenarios.r2 import SETTINGS, STREAM_DEADLINE, TRANSFER, MiB, is_complete
from tests.support.fault_proxy import FaultPlan, FaultProxy

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from tests.support.moto_server import MotoS3

pytestmark = pytest.mark.anyio


async def test_a_lost_complete_answer_is_not_repeated(moto_s3: MotoS3) -> None:
    """CompleteMultipartUpload whose answer is lost (the service did complete the upload) is sent once,
    on the public multipart API and in a streamed put, and the error says the fault was transient."""
    name = moto_s3.create_bucket("complete")
    for kind in ("error_after", "reset_body"):
        with FaultProxy(
            moto_s3.endpoint, FaultPlan(1, {kind: 1.0}, flavor="s3", eligible=is_complete)
        ) as proxy:
            url = moto_s3.url(name, endpoint=proxy.origin)
            settings = LayerSettings(logging=False, deadline=STREAM_DEADLINE, retry=SETTINGS.retry)
            async with R2Bucket.from_url(url, settings=settings, transfer=TRANSFER) as bucket:
                upload = await bucket.create_multipart_upload(f"{kind}/api")
                part = await upload.upload_part(1, b"one part")
                with pytest.raises(Unavailable) as caught:
                    await upload.complete([part])
                assert caught.value.retryable is True

                async def chunks() -> AsyncIterator[bytes]:
                    yield b"a" * (5 * MiB)
                    yield b"b" * 10

                with pytest.raises(Unavailable) as caught:
                    await bucket.put(f"{kind}/stream", chunks())
                assert caught.value.retryable is True  # a 503 or a reset is transient, whoever retried it
            completes = Counter(r.path for r in proxy.snapshot() if is_complete(r))
            assert completes == {f"/{name}/{kind}/api": 1, f"/{name}/{kind}/stream": 1}
            assert all(r.forwarded and r.upstream_status == 200 for r in proxy.snapshot() if is_complete(r))
        # the service did complete both: the data is there, although the caller was told it failed
        client = moto_s3.client()
        assert client.get_object(Bucket=name, Key=f"{kind}/api")["Body"].read() == b"one part"
        assert client.head_object(Bucket=name, Key=f"{kind}/stream")["ContentLength"] == 5 * MiB + 10


async def test_a_transient_fault_stays_retryable_after_opendal_gave_up(moto_s3: MotoS3) -> None:
    """OpenDAL marks an error it retried in vain "persistent"; it is still a transient fault, and reads
    as one (``retryable=True``), as the same fault does on the REST backends once their retries are spent.
    (``delete`` still goes through OpenDAL's operator; ``head``/``get``/``put`` have their own client.)"""
    name = moto_s3.create_bucket("persistent")
    with FaultProxy(moto_s3.endpoint, FaultPlan(2, {"error_before": 1.0}, flavor="s3")) as proxy:
        # a deadline that cannot fire first on a loaded machine: the faults are immediate 5xx
        patient = LayerSettings(logging=False, deadline=30.0, retry=SETTINGS.retry)
        async with R2Bucket.from_url(moto_s3.url(name, endpoint=proxy.origin), settings=patient) as bucket:
            with pytest.raises(Unavailable) as caught:
                await bucket.delete("k")
            assert caught.value.retryable is True
            assert any("retry" in note for note in getattr(caught.value, "__notes__", ()))
        assert len(proxy.snapshot()) == SETTINGS.retry.attempts  # type: ignore[union-attr]
