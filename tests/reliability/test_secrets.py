"""Secrets and access: no credential ever shows in a log, a repr, an error, CLI output or wrangler.toml;
the Durable Object gateway lets nobody in without its token; preflight refuses to start without the
secrets a flow needs.

Each capability is run into failures with every log switched to DEBUG and captured (stdlib logging
and structlog, which the pipelines log through): with a wrong or revoked token, and with the right one
through the fault proxy (5xx, 429, resets, stalls). Everything a user could see — the log lines, the
reprs of every object built, every error's ``str``, ``repr``, ``to_dict`` and formatted traceback
(chained causes and notes included), CLI output and generated files — is searched for each secret,
in plain text, URL-encoded, base64-encoded at every alignment, and as a 16-character prefix (a
clipped message must not leak half a token either).

R2 on moto: moto does not check signatures, so the proxy stands in for R2's authentication: it
verifies each request's AWS SigV4 signature against the real secret key and answers a wrong one
exactly as S3/R2 do (403 ``SignatureDoesNotMatch``, echoing the string to sign and the canonical
request) — while correctly signed requests pass through to moto, which proves the check is real.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import io
import json
import logging
import os
import secrets
import subprocess
import sys
import traceback
import warnings
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, quote_plus

import anyio
import httpx
import pytest
import structlog

from cap_cloudflare_do import DurableObjectNamespace
from cap_cloudflare_kv import CloudflareKvConfig, KvNamespace
from cap_cloudflare_queue import CloudflareQueueConfig, Queue, QueueConsumer
from cap_cloudflare_r2 import R2Bucket
from cap_opendal_core import BindingManifest, preflight
from cap_opendal_core.cli import main as caps
from cap_opendal_core.diagnostics import DiagnosticError
from cap_opendal_core.errors import (
    CapabilityError,
    Forbidden,
    InvalidInput,
    Misconfigured,
    Unauthorized,
)
from cap_opendal_core.layers import LayerSettings, RetryPolicy
from cap_opendal_core.wrangler import render_wrangler
from tests.reliability.soak_support import quicken
from tests.support.cf_api import CloudflareApi
from tests.support.cf_kv_api import ACCOUNT_ID, NAMESPACE_ID, kv_api_server
from tests.support.cf_queue_api import QueueApi
from tests.support.fault_proxy import FaultPlan, FaultProxy, ProxyRequest, error_response

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
    from pathlib import Path

    from tests.support.do_gateway import GatewayServer
    from tests.support.moto_server import MotoS3

DEBUG = LayerSettings(log_level="debug", deadline=1.0, retry=RetryPolicy(attempts=2, base=0.001, cap=0.005))
QUEUE_ID = "0123456789abcdef0123456789abcdef"


def _secret(label: str) -> str:
    return f"{label}-{secrets.token_urlsafe(32)}"


# --- what a secret may look like in text ---------------------------------------------------------


def leak_forms(secret: str) -> set[str]:
    """The secret, URL-encoded both ways, base64 (standard and URL-safe) at each of the three byte
    alignments it can have inside a longer encoded string, and its first 16 characters."""
    raw = secret.encode()
    forms = {secret, quote(secret, safe=""), quote_plus(secret), secret[:16]}
    for pad in range(3):
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            encoded = encode(b"\x00" * pad + raw).decode()
            forms.add(encoded[4:-4])  # the part that depends on the secret alone
    return forms


class Corpus:
    """Everything a user could see during a run, to search for secrets."""

    def __init__(self) -> None:
        self.parts: list[tuple[str, str]] = []
        self.errors = 0

    def add(self, where: str, text: object) -> None:
        self.parts.append((where, str(text)))

    def obj(self, where: str, value: object) -> None:
        self.add(f"repr({where})", repr(value))
        self.add(f"str({where})", str(value))

    def error(self, where: str, err: BaseException, *, with_locals: bool = True) -> None:
        """The error as a user could see it: message, repr, ``to_dict``, notes and its traceback —
        plain, and (``with_locals``) rendered with every frame's local variables, as structlog's
        ``dict_tracebacks`` and its console renderer do by default, and error trackers do; causes
        included. Frames of the test itself are left out of the locals: they hold the secrets the
        test made, not something the SDK showed. (Construction errors pass ``with_locals=False``:
        a frame that received a secret as an argument holds it, which no library can hide.)"""
        from structlog.tracebacks import ExceptionDictTransformer

        self.errors += 1
        self.add(f"{where}: traceback", "".join(traceback.format_exception(err)))
        if with_locals:
            self.add(f"{where}: frame locals", _frame_locals(err))
            rendered = ExceptionDictTransformer(show_locals=True)((type(err), err, err.__traceback__))
            for stack in rendered:
                stack["frames"] = [f for f in stack["frames"] if not _is_test_file(f["filename"])]
            self.add(f"{where}: structlog dict_tracebacks", json.dumps(rendered, default=repr))
        seen: set[int] = set()
        current: BaseException | None = err
        while current is not None and id(current) not in seen:
            seen.add(id(current))
            self.obj(f"{where}: {type(current).__name__}", current)
            self.add(f"{where}: notes", "\n".join(getattr(current, "__notes__", ())))
            if isinstance(current, CapabilityError):
                self.add(f"{where}: to_dict", json.dumps(current.to_dict(), default=str))
            current = current.__cause__ or current.__context__

    async def expect(
        self, where: str, call: Callable[[], Awaitable[Any]], *kinds: type[BaseException]
    ) -> Any:
        """Await ``call()``; an error is recorded (and must be one of ``kinds`` when given)."""
        try:
            return await call()
        except CapabilityError as err:
            self.error(where, err)
            if kinds and not isinstance(err, kinds):
                raise AssertionError(f"{where}: expected {kinds}, got {err!r}") from err
            return None

    def text(self, where: str) -> str:
        return "\n".join(text for name, text in self.parts if name == where)

    def assert_clean(self, secrets_: dict[str, str]) -> None:
        leaks = [
            f"{name} (as {form[:6]}…) in {where}"
            for name, secret in secrets_.items()
            for form in leak_forms(secret)
            for where, text in self.parts
            if form in text
        ]
        assert not leaks, "secrets leaked:\n  " + "\n  ".join(leaks[:20])


def _is_test_file(filename: str) -> bool:
    return f"{os.sep}tests{os.sep}" in filename or f"{os.sep}_pytest{os.sep}" in filename


def _frame_locals(err: BaseException) -> str:
    """``repr`` of every local variable of every frame in ``err``'s traceback and those of the
    exceptions chained to it (what ``traceback``'s ``capture_locals=True`` prints), test frames aside."""
    out: list[str] = []
    seen: set[int] = set()
    pending: list[BaseException] = [err]
    while pending:
        exc = pending.pop()
        if id(exc) in seen:
            continue
        seen.add(id(exc))
        tb = exc.__traceback__
        while tb is not None:
            frame = tb.tb_frame
            if not _is_test_file(frame.f_code.co_filename):
                for name, value in frame.f_locals.items():
                    try:
                        shown = repr(value)
                    except Exception:
                        shown = "<unrepresentable>"
                    out.append(f"{frame.f_code.co_name}: {name} = {shown}")
            tb = tb.tb_next
        pending.extend(e for e in (exc.__cause__, exc.__context__) if e is not None)
    return "\n".join(out)


@contextlib.contextmanager
def everything_logged(corpus: Corpus) -> Iterator[None]:
    """Every log record at DEBUG (stdlib, and structlog routed through it) and every warning."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    saved = structlog.get_config()
    structlog.configure(
        processors=[
            structlog.stdlib.add_log_level,
            structlog.processors.dict_tracebacks,  # with locals, structlog's default
            structlog.processors.JSONRenderer(default=repr),
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG),
        cache_logger_on_first_use=False,
    )
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield
        for w in caught:
            corpus.add("warning", f"{w.category.__name__}: {w.message}")
    finally:
        structlog.reset_defaults()
        structlog.configure(**saved)
        root.removeHandler(handler)
        root.setLevel(old_level)
        corpus.add("logs", buffer.getvalue())


# --- R2's authentication, standing in front of moto ------------------------------------------------


class SigV4Gate:
    """Checks AWS SigV4 header signatures against ``secret_key`` and rejects bad ones as S3 does."""

    def __init__(self, access_key: str, secret_key: str) -> None:
        self.access_key = access_key
        self.secret_key = secret_key
        self.accepted = 0
        self.rejected = 0

    def __call__(self, req: ProxyRequest) -> bytes | None:
        auth = req.headers.get("authorization", "")
        fields = dict(
            part.strip().split("=", 1)
            for part in auth.removeprefix("AWS4-HMAC-SHA256").split(",")
            if "=" in part
        )
        credential = fields.get("Credential", "").split("/")
        signed = fields.get("SignedHeaders", "")
        if len(credential) != 5 or not signed:
            return self._reject("AccessDenied", "no SigV4 signature", "", "", "")
        access_key, date, region, service, _ = credential
        canonical_query = "&".join(
            f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}"
            for k, v in sorted(parse_qsl(req.query, keep_blank_values=True))
        )
        canonical_headers = "".join(
            f"{h}:{' '.join(req.headers.get(h, '').split())}\n" for h in signed.split(";")
        )
        canonical = "\n".join(
            [
                req.method,
                req.path,
                canonical_query,
                canonical_headers,
                signed,
                req.headers.get("x-amz-content-sha256", hashlib.sha256(req.body).hexdigest()),
            ]
        )
        scope = f"{date}/{region}/{service}/aws4_request"
        to_sign = "\n".join(
            [
                "AWS4-HMAC-SHA256",
                req.headers.get("x-amz-date", ""),
                scope,
                hashlib.sha256(canonical.encode()).hexdigest(),
            ]
        )
        key = f"AWS4{self.secret_key}".encode()
        for part in (date, region, service, "aws4_request"):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        provided = fields.get("Signature", "")
        if access_key == self.access_key and hmac.compare_digest(expected, provided):
            self.accepted += 1
            return None
        return self._reject(
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. "
            "Check your key and signing method.",
            to_sign,
            provided,
            canonical,
        )

    def _reject(self, code: str, message: str, to_sign: str, provided: str, canonical: str) -> bytes:
        self.rejected += 1
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{code}</Code><Message>{message}</Message>"
            f"<AWSAccessKeyId>{self.access_key}</AWSAccessKeyId><StringToSign>{to_sign}</StringToSign>"
            f"<SignatureProvided>{provided}</SignatureProvided>"
            f"<CanonicalRequest>{canonical}</CanonicalRequest><RequestId>gate</RequestId></Error>"
        ).encode()
        return error_response(403, "application/xml", body)


def _faulty(seed: int, flavor: str) -> FaultPlan:
    """Faults on most requests, few of them stalls (each costs a deadline)."""
    return FaultPlan.mixed(seed, total=0.6, stall_share=0.03, flavor=flavor, stall_seconds=1.5)  # type: ignore[arg-type]


# --- the capabilities, failing -----------------------------------------------------------------------


@pytest.mark.anyio
async def test_kv_rest_never_shows_its_token() -> None:
    good, revoked = _secret("kv-good"), _secret("kv-revoked")
    corpus = Corpus()

    def config(base_url: str, token: str) -> CloudflareKvConfig:
        return CloudflareKvConfig(
            account_id=ACCOUNT_ID, namespace_id=NAMESPACE_ID, api_token=token, base_url=base_url, timeout=2.0
        )

    def calls(kv: KvNamespace, i: int) -> list[tuple[str, Callable[[], Awaitable[Any]]]]:
        return [
            ("put", lambda: kv.put(f"k{i}", "v", metadata={"i": i})),
            ("get", lambda: kv.get(f"k{i}")),
            ("get_with_metadata", lambda: kv.get_with_metadata(f"k{i}", "bytes")),
            ("put_many", lambda: kv.put_many({f"a{i}": "1", f"b{i}": "2"})),
            ("list", lambda: kv.list(prefix="k")),
            ("delete", lambda: kv.delete(f"k{i}")),
        ]

    with kv_api_server(token=good) as state, everything_logged(corpus):
        quicken(state.api)
        base = state.api.base_url
        wrong = config(base, revoked)
        corpus.obj("config", wrong)
        corpus.add("config dump", wrong.model_dump())
        corpus.add("config json", wrong.model_dump_json())
        with pytest.raises(Misconfigured) as caught:
            CloudflareKvConfig.build(
                account_id="not-hex", namespace_id=NAMESPACE_ID, api_token=revoked, base_url=base
            )
        corpus.error("kv config", caught.value, with_locals=False)
        async with KvNamespace.from_config(wrong, settings=DEBUG) as kv:
            corpus.obj("namespace", kv)
            corpus.obj("backend", kv._backend)
            for name, call in calls(kv, 0):
                await corpus.expect(f"kv.{name}, revoked token", call, Unauthorized)
        with FaultProxy(base, _faulty(11, "cloudflare")) as proxy:
            async with KvNamespace.from_config(config(proxy.rewrite(base), good), settings=DEBUG) as kv:
                for i in range(15):
                    for name, call in calls(kv, i):
                        await corpus.expect(f"kv.{name}, faults", call)
    assert corpus.errors >= 15  # the run did fail, many times over
    logs = corpus.text("logs")  # the capture works: the pipeline's events and httpx's are there
    assert '"outcome": "unauthorized"' in logs
    assert '"outcome": "ok"' in logs
    assert "httpcore" in logs
    corpus.assert_clean({"the KV token": good, "the revoked KV token": revoked})


@pytest.mark.anyio
async def test_queue_rest_never_shows_its_token() -> None:
    good, revoked = _secret("queue-good"), _secret("queue-revoked")
    corpus = Corpus()
    with CloudflareApi(token=good) as api, everything_logged(corpus):
        quicken(api)
        QueueApi(api, queue_ids=(QUEUE_ID,))

        def config(base_url: str, token: str) -> CloudflareQueueConfig:
            return CloudflareQueueConfig(
                account_id=api.account_id, queue_id=QUEUE_ID, api_token=token, base_url=base_url, timeout=2.0
            )

        wrong = config(api.base_url, revoked)
        corpus.obj("config", wrong)
        corpus.add("config json", wrong.model_dump_json())
        async with (
            Queue.from_config(wrong, settings=DEBUG) as queue,
            QueueConsumer.from_config(wrong, settings=DEBUG, poll_interval=0.01) as consumer,
        ):
            corpus.obj("queue", queue)
            corpus.obj("consumer", consumer)
            await corpus.expect("send, revoked token", lambda: queue.send({"a": 1}), Unauthorized)
            await corpus.expect(
                "send_batch, revoked token", lambda: queue.send_batch([{"body": "x"}]), Unauthorized
            )
            await corpus.expect("pull, revoked token", lambda: consumer.pull(), Unauthorized)

            async def handler(batch: Any) -> None:
                return None

            with anyio.fail_after(60):
                await corpus.expect("run, revoked token", lambda: consumer.run(handler), Unauthorized)
        with FaultProxy(api.base_url, _faulty(12, "cloudflare")) as proxy:
            via = config(proxy.rewrite(api.base_url), good)
            async with (
                Queue.from_config(via, settings=DEBUG) as queue,
                QueueConsumer.from_config(via, settings=DEBUG, poll_interval=0.01) as consumer,
            ):
                for i in range(25):
                    await corpus.expect("send, faults", lambda i=i: queue.send({"i": i}))  # type: ignore[misc]
                    await corpus.expect(
                        "send_batch, faults", lambda: queue.send_batch([{"body": 1}, {"body": 2}])
                    )
                    batch = await corpus.expect("pull, faults", lambda: consumer.pull(batch_size=5))
                    if batch is not None:
                        batch.ack_all()
                        await corpus.expect("ack, faults", batch.settle)
                # the run loop logs the transient pull failures it rides out
                with anyio.move_on_after(1.0):
                    await consumer.run(handler, concurrency=2)
    assert corpus.errors >= 15  # the run did fail, many times over
    corpus.assert_clean({"the queue token": good, "the revoked queue token": revoked})


@pytest.mark.anyio
async def test_r2_never_shows_its_secret_key(moto_s3: MotoS3) -> None:
    from urllib.parse import urlencode

    from cap_cloudflare_r2 import R2Config

    secret, wrong = _secret("r2-secret"), _secret("r2-wrong")
    gate = SigV4Gate(moto_s3.access_key_id, secret)
    name = moto_s3.create_bucket("secrets")
    corpus = Corpus()

    def url(endpoint: str, secret_key: str, **extra: str) -> str:
        query = {
            "endpoint": endpoint,
            "region": moto_s3.region,
            "access_key_id": moto_s3.access_key_id,
            "secret_access_key": secret_key,
            **extra,
        }
        return f"s3://{name}?{urlencode(query)}"

    async def chunks() -> AsyncIterator[bytes]:
        yield b"streamed"

    def calls(bucket: R2Bucket, i: int) -> list[tuple[str, Callable[[], Awaitable[Any]]]]:
        return [
            ("put", lambda: bucket.put(f"o{i}", b"x" * i, custom_metadata={"i": str(i)})),
            ("get", lambda: bucket.get(f"o{i}")),
            ("head", lambda: bucket.head(f"o{i}")),
            ("list", lambda: bucket.list(prefix="o")),
            ("put stream", lambda: bucket.put(f"s{i}", chunks())),
            ("create_multipart_upload", lambda: bucket.create_multipart_upload(f"m{i}")),
            ("delete", lambda: bucket.delete(f"o{i}")),
        ]

    with FaultProxy(moto_s3.endpoint, FaultPlan(), respond=gate) as proxy, everything_logged(corpus):
        with pytest.raises(Misconfigured) as caught:
            R2Bucket.from_url(url(proxy.origin, wrong, no_such_option="1"))
        corpus.error("r2 from_url", caught.value, with_locals=False)
        config = R2Config(
            account_id="0123456789abcdef0123456789abcdef",
            bucket=name,
            access_key_id=moto_s3.access_key_id,
            secret_access_key=secret,
        )
        corpus.obj("R2Config", config)
        corpus.obj("S3Config", config.to_s3_config())
        async with R2Bucket.from_url(url(proxy.origin, wrong), settings=DEBUG) as bucket:
            corpus.obj("bucket", bucket)
            corpus.obj("backend", bucket._backend)
            for what, call in calls(bucket, 1):
                await corpus.expect(f"r2.{what}, wrong secret key", call, Unauthorized, Forbidden)
        assert gate.rejected >= 7
        assert gate.accepted == 0
        async with R2Bucket.from_url(url(proxy.origin, secret), settings=DEBUG) as bucket:
            # the right key passes the gate: the check above was a real signature check
            await bucket.put("ok", b"fine")
            body = await bucket.get("ok")
            assert body is not None
            assert await body.read() == b"fine"
            upload = await bucket.create_multipart_upload("mp")
            part = await upload.upload_part(1, b"part")
            await upload.complete([part])
            presigned = await bucket.presign("ok", method="GET", expires_in=60)
            corpus.obj("presigned request", presigned)
            assert gate.accepted >= 5
            proxy.plan = _faulty(13, "s3")
            for i in range(12):
                for what, call in calls(bucket, i):
                    await corpus.expect(f"r2.{what}, faults", call)
    assert corpus.errors >= 15  # the run did fail, many times over
    corpus.assert_clean({"the R2 secret key": secret, "the wrong R2 secret key": wrong})


@pytest.mark.anyio
@pytest.mark.workers
async def test_the_gateway_client_never_shows_its_token(do_gateway: GatewayServer) -> None:
    from cap_cloudflare_do import GatewayConfig

    wrong, truncated = _secret("do-wrong"), do_gateway.token[:-2]
    corpus = Corpus()

    def calls(ns: DurableObjectNamespace, i: int) -> list[tuple[str, Callable[[], Awaitable[Any]]]]:
        stub = ns.get_by_name(f"secrets-{i}")
        return [
            ("rpc", lambda: stub.increment(1)),
            ("rpc read", lambda: stub.describe("x")),
            ("fetch", lambda: stub.fetch("https://object.example/p")),
            ("resolve_id", lambda: ns.resolve_id(ns.id_from_name(f"secrets-{i}"))),
        ]

    with everything_logged(corpus):
        config = GatewayConfig(url=do_gateway.url, binding="COUNTER", token=do_gateway.token)
        corpus.obj("GatewayConfig", config)
        corpus.add("GatewayConfig json", config.model_dump_json())
        for label, token in (("a wrong token", wrong), ("a truncated token", truncated)):
            async with DurableObjectNamespace.from_gateway(
                do_gateway.url, binding="COUNTER", token=token, read_only={"describe"}, settings=DEBUG
            ) as ns:
                corpus.obj("namespace", ns)
                corpus.obj("backend", ns._backend)
                corpus.obj("stub", ns.get_by_name("x"))
                for what, call in calls(ns, 0):
                    await corpus.expect(f"do.{what}, {label}", call, Unauthorized)
        with FaultProxy(do_gateway.url, _faulty(14, "plain")) as proxy:
            async with DurableObjectNamespace.from_config(
                GatewayConfig(
                    url=proxy.rewrite(do_gateway.url),
                    binding="COUNTER",
                    token=do_gateway.token,
                    read_only={"describe"},
                ),
                settings=DEBUG,
            ) as ns:
                for i in range(15):
                    for what, call in calls(ns, i):
                        await corpus.expect(f"do.{what}, faults", call)
    assert corpus.errors >= 15  # the run did fail, many times over
    corpus.assert_clean(
        {"the gateway token": do_gateway.token, "a wrong token": wrong, "a truncated token": truncated}
    )


# --- the gateway lets nobody in ------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.workers
async def test_the_gateway_refuses_every_kind_of_bad_token_alike(do_gateway: GatewayServer) -> None:
    """Extends tests/cap_cloudflare_do's 401 test: tokens that differ only in case, in one extra or
    missing character, or that come in the wrong place (another scheme, the query string) all get the
    same 401 and body; none of them learns whether the binding or route exists."""
    token = do_gateway.token
    variants = {
        "upper case": token.upper() if token.upper() != token else token.lower(),
        "one character more": token + "A",
        "one character less": token[:-1],
        "last character changed": token[:-1] + ("A" if token[-1] != "A" else "B"),
        "empty bearer": "",
    }
    payload = {"target": {"name": "x"}, "method": "increment", "args": [1]}
    bodies: set[str] = set()
    async with httpx.AsyncClient() as client:
        for path in ("COUNTER/rpc", "NOT_FRONTED/rpc", "CAPS_GATEWAY_TOKEN/rpc", "COUNTER/nonsense"):
            for label, value in variants.items():
                response = await client.post(
                    f"{do_gateway.url}/{path}",
                    json=payload,
                    headers={"authorization": f"Bearer {value}".strip()},
                )
                assert response.status_code == 401, (label, path)
                bodies.add(response.text)
            for headers, query in (
                ({"authorization": f"Basic {base64.b64encode(f'user:{token}'.encode()).decode()}"}, {}),
                ({"authorization": token}, {}),
                ({}, {"token": token}),
                ({"x-api-key": token}, {}),
            ):
                response = await client.post(
                    f"{do_gateway.url}/{path}", json=payload, headers=headers, params=query
                )
                assert response.status_code == 401, (headers.keys(), query.keys(), path)
                bodies.add(response.text)
    assert bodies == {'{"error":{"code":"unauthorized","message":"unauthorized"}}'}


@pytest.mark.anyio
@pytest.mark.workers
async def test_the_gateway_fronts_only_its_listed_bindings(do_gateway: GatewayServer) -> None:
    """With the right token, only the Durable Object namespaces listed in CAPS_GATEWAY_BINDINGS are
    reachable: not another class's binding, and not the gateway's own variables and secrets that
    share its env — which must never be echoed either."""
    headers = {"authorization": f"Bearer {do_gateway.token}"}
    async with httpx.AsyncClient() as client:
        ok = await client.post(
            f"{do_gateway.url}/COUNTER/rpc",
            json={"target": {"name": "fronted"}, "method": "increment", "args": [1]},
            headers=headers,
        )
        assert ok.status_code == 200
        for binding in (
            "DO_PROBE",
            "DEDUPE",
            "KV",
            "CAPS_GATEWAY_TOKEN",
            "CAPS_GATEWAY_BINDINGS",
            "constructor",
        ):
            for action, body in (
                ("rpc", {"target": {"name": "x"}, "method": "get", "args": []}),
                ("id", {"name": "x"}),
            ):
                response = await client.post(
                    f"{do_gateway.url}/{binding}/{action}", json=body, headers=headers
                )
                assert response.status_code == 403, (binding, action, response.text)
                assert response.json()["error"]["code"] == "forbidden"
                assert do_gateway.token not in response.text
    ns = DurableObjectNamespace.from_gateway(
        do_gateway.url, binding="CAPS_GATEWAY_TOKEN", token=do_gateway.token
    )
    with pytest.raises(Forbidden) as caught:
        await ns.get_by_name("x").call("anything")
    assert do_gateway.token not in str(caught.value)
    await ns.aclose()


# --- preflight, CLI and wrangler.toml -------------------------------------------------------------------

MANIFEST = """
[worker]
name = "flow-worker"

[secrets]
required = ["CF_API_TOKEN", "R2_SECRET_ACCESS_KEY"]

[bindings.FLOW_KV]
kind = "kv_namespace"
id = "0f2ac74b498b48028cb68387c421e279"

[bindings.ARCHIVE]
kind = "r2_bucket"
bucket_name = "flow-archive"
"""

BINDINGS = """
[bindings.FLOW_KV]
kind = "kv_namespace"

[bindings.ARCHIVE]
kind = "r2_bucket"
"""


def _bag() -> Any:
    import tomllib

    from cap_opendal_core.bag import CapabilityBag

    return CapabilityBag.from_declarations(tomllib.loads(BINDINGS))


def test_preflight_refuses_a_flow_whose_secrets_or_bindings_are_missing() -> None:
    import tomllib

    token, key = _secret("cf-token"), _secret("r2-key")
    manifest = BindingManifest.from_dict(tomllib.loads(MANIFEST), source="flow.toml")
    assert manifest.required_secrets == ("CF_API_TOKEN", "R2_SECRET_ACCESS_KEY")
    assert manifest.to_dict()["secrets"] == {"required": ["CF_API_TOKEN", "R2_SECRET_ACCESS_KEY"]}
    assert BindingManifest.from_dict(manifest.to_dict(), source="flow.toml") == manifest

    everything = {"CF_API_TOKEN": token, "R2_SECRET_ACCESS_KEY": key, "UNRELATED": "x"}
    assert preflight(manifest, _bag(), secrets=everything) == []

    found = preflight(manifest, _bag(), secrets={"CF_API_TOKEN": token, "R2_SECRET_ACCESS_KEY": ""})
    assert [(d.code, d.node, d.declared, d.required) for d in found] == [
        ("CAP101", "R2_SECRET_ACCESS_KEY", "missing", "secret")
    ]
    assert "wrangler secret put R2_SECRET_ACCESS_KEY" in found[0].message

    # a missing binding and a missing secret together; the host refuses to start, naming both
    from cap_opendal_core.bag import CapabilityBag

    only_kv = CapabilityBag.from_declarations({"bindings": {"FLOW_KV": {"kind": "kv_namespace"}}})
    with pytest.raises(DiagnosticError) as caught:
        preflight(manifest, only_kv, secrets={"R2_SECRET_ACCESS_KEY": key}, raise_on_error=True)
    assert [(d.code, d.node) for d in caught.value.diagnostics] == [
        ("CAP101", "ARCHIVE"),
        ("CAP101", "CF_API_TOKEN"),
    ]
    text = (
        str(caught.value)
        + repr(caught.value.diagnostics)
        + json.dumps([d.to_dict() for d in caught.value.diagnostics])
    )
    assert "CF_API_TOKEN" in text
    corpus = Corpus()
    corpus.add("diagnostics", text)
    corpus.assert_clean({"token": token, "key": key})
    with pytest.raises(InvalidInput, match="secrets must be a mapping"):
        preflight(manifest, _bag(), secrets=[token])  # type: ignore[arg-type]


def test_preflight_reads_secrets_from_the_environment_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    import tomllib

    manifest = BindingManifest.from_dict(tomllib.loads(MANIFEST))
    monkeypatch.setenv("CF_API_TOKEN", _secret("env-token"))
    monkeypatch.delenv("R2_SECRET_ACCESS_KEY", raising=False)
    found = preflight(manifest, _bag())
    assert [d.node for d in found] == ["R2_SECRET_ACCESS_KEY"]
    assert "not set in the environment" in found[0].message
    monkeypatch.setenv("R2_SECRET_ACCESS_KEY", _secret("env-key"))
    assert preflight(manifest, _bag()) == []


def test_manifests_name_secrets_but_never_hold_them() -> None:
    value = _secret("pasted")
    corpus = Corpus()
    for bad in (
        {"bindings": {}, "secrets": {"CF_API_TOKEN": value}},  # a value where names belong
        {"bindings": {}, "secrets": {"required": [value]}},  # a value in the list of names
        {"bindings": {}, "secrets": {"required": value}},
        {"bindings": {}, "secrets": {"required": ["A", "A"]}},
        {"bindings": {"KV": {"kind": "kv_namespace", "api_token": value}}},
        {"bindings": {}, "worker": {"name": "w", "password": value}},
    ):
        with pytest.raises(InvalidInput) as caught:
            BindingManifest.from_dict(bad, source="flow.toml")
        corpus.error("manifest", caught.value, with_locals=False)
    corpus.assert_clean({"a pasted secret": value})


def test_cli_and_wrangler_toml_show_secret_names_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import tomllib

    token, key = _secret("cli-token"), _secret("cli-key")
    manifest_path = tmp_path / "flow.toml"
    manifest_path.write_text(MANIFEST)
    bindings_path = tmp_path / "bindings.toml"
    bindings_path.write_text(BINDINGS)
    corpus = Corpus()

    monkeypatch.setenv("CF_API_TOKEN", token)
    monkeypatch.setenv("R2_SECRET_ACCESS_KEY", key)
    assert caps(["preflight", str(manifest_path), "--bindings", str(bindings_path)]) == 0
    assert caps(["preflight", str(manifest_path), "--bindings", str(bindings_path), "--json"]) == 0
    out = capsys.readouterr()
    corpus.add("caps preflight (all set)", out.out + out.err)

    monkeypatch.delenv("R2_SECRET_ACCESS_KEY")
    assert caps(["preflight", str(manifest_path), "--bindings", str(bindings_path)]) == 1
    out = capsys.readouterr()
    assert "CAP101" in out.out + out.err
    assert "R2_SECRET_ACCESS_KEY" in out.out + out.err
    corpus.add("caps preflight (one missing)", out.out + out.err)

    assert caps(["wrangler", str(manifest_path)]) == 0
    out = capsys.readouterr()
    corpus.add("caps wrangler", out.out + out.err)
    rendered = tomllib.loads(out.out)
    assert rendered["secrets"] == {"required": ["CF_API_TOKEN", "R2_SECRET_ACCESS_KEY"]}
    assert rendered["name"] == "flow-worker"
    assert rendered["kv_namespaces"] == [{"binding": "FLOW_KV", "id": "0f2ac74b498b48028cb68387c421e279"}]

    target = tmp_path / "wrangler.toml"
    assert caps(["wrangler", str(manifest_path), "-o", str(target)]) == 0
    corpus.add("wrangler.toml", target.read_text())
    assert tomllib.loads(target.read_text())["secrets"] == rendered["secrets"]
    corpus.add("render_wrangler", render_wrangler(BindingManifest.load(manifest_path)))

    # the gateway's own wrangler snippet, from its CLI, in a process that holds the secrets
    gateway = subprocess.run(
        [
            sys.executable,
            "-m",
            "cap_cloudflare_do.gateway",
            "wrangler",
            "--binding",
            "FLOW_DO=Flow",
            "--script-name",
            "w",
        ],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "CAPS_GATEWAY_TOKEN": token, "CF_API_TOKEN": token},
    )
    corpus.add("gateway wrangler", gateway.stdout + gateway.stderr)
    assert tomllib.loads(gateway.stdout)["secrets"] == {"required": ["CAPS_GATEWAY_TOKEN"]}
    corpus.assert_clean({"CF_API_TOKEN": token, "R2_SECRET_ACCESS_KEY": key})


def test_leak_forms_find_encoded_secrets() -> None:
    """The search itself: a secret inside base64 at any offset, URL-encoded or clipped is found."""
    secret = _secret("probe")
    corpus = Corpus()
    for wrapped in (
        base64.b64encode(f"user:{secret}".encode()).decode(),
        base64.b64encode(f"ab:{secret}".encode()).decode(),
        base64.urlsafe_b64encode(f"a{secret}".encode()).decode(),
        quote_plus(f"token={secret}"),
        f"message… {secret[:20]}… [40 more characters]",
    ):
        probe = Corpus()
        probe.add("probe", wrapped)
        with pytest.raises(AssertionError, match="secrets leaked"):
            probe.assert_clean({"probe": secret})
    corpus.add("clean", "nothing to see")
    corpus.assert_clean({"probe": secret})
