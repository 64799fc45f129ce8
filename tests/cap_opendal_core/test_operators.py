"""OpenDAL operator builders: configs build real operators, URLs parse strictly, secrets stay hidden,
native layers really act on requests, and capability reports tell services apart."""

from __future__ import annotations

import http.server
import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import anyio
import opendal
import pytest
from pydantic import SecretStr, ValidationError

from cap_opendal_core import CapabilityError, InvalidInput, Misconfigured, PreconditionFailed
from cap_opendal_core.layers.settings import LayerSettings, RetryPolicy
from cap_opendal_core.operators import (
    FsConfig,
    MemoryConfig,
    OperatorCapabilities,
    OperatorConfig,
    S3Config,
    build_operator,
    defer_to_native_layers,
    describe_config,
    from_url,
    native_layers,
    operator_capabilities,
    parse_config,
)
from cap_opendal_core.redact import scrub
from cap_opendal_core.translate import from_opendal

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from tests.support.moto_server import MotoS3

pytestmark = pytest.mark.anyio

SECRET = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY"
KEY_ID = "AKIAEXAMPLEKEYID1234"
ACCOUNT = "0123456789abcdef0123456789abcdef"
R2_ENDPOINT = f"https://{ACCOUNT}.r2.cloudflarestorage.com"


@pytest.fixture(autouse=True)
def _clean_credential_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test here may see credentials from the machine it runs on."""
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "R2_ACCESS_KEY_ID",
        "R2_SECRET_ACCESS_KEY",
    ):
        monkeypatch.delenv(name, raising=False)


def assert_no_secret(*texts: object) -> None:
    for text in texts:
        assert SECRET not in str(text)
        assert SECRET not in repr(text)


# --- every config builds a working operator ------------------------------------------------------


async def exercise(op: opendal.AsyncOperator) -> None:
    """write / read / stat / list / delete through ``op``; delete of a missing key is not an error."""
    await op.write("dir/a.txt", b"alpha")
    await op.write("dir/b.txt", b"beta!")
    assert await op.read("dir/a.txt") == b"alpha"
    meta = await op.stat("dir/b.txt")
    assert meta.content_length == 5
    files = sorted([entry.path async for entry in await op.list("dir/") if not entry.path.endswith("/")])
    assert files == ["dir/a.txt", "dir/b.txt"]
    await op.delete("dir/a.txt")
    with pytest.raises(opendal.exceptions.NotFound):
        await op.stat("dir/a.txt")
    await op.delete("dir/a.txt")


async def test_memory_config_builds_a_working_operator() -> None:
    op = build_operator(MemoryConfig())
    await exercise(op)
    # each operator is its own store
    assert not await build_operator(MemoryConfig()).exists("dir/b.txt")


async def test_fs_config_writes_under_its_root(tmp_path: Path) -> None:
    op = build_operator(FsConfig(root=str(tmp_path)))
    await exercise(op)
    assert (tmp_path / "dir" / "b.txt").read_bytes() == b"beta!"
    assert not (tmp_path / "dir" / "a.txt").exists()


async def test_s3_config_writes_into_its_bucket_under_its_root(moto_s3: MotoS3) -> None:
    bucket = moto_s3.create_bucket()
    config = S3Config(
        bucket=bucket,
        endpoint=moto_s3.endpoint,
        region=moto_s3.region,
        root="/tenant-a/",
        access_key_id=moto_s3.access_key_id,
        secret_access_key=moto_s3.secret_access_key,
    )
    await exercise(build_operator(config))
    listed = moto_s3.client().list_objects_v2(Bucket=bucket)
    assert [o["Key"] for o in listed.get("Contents", [])] == ["tenant-a/dir/b.txt"]


async def test_s3_conditional_write_translates_to_precondition_failed(moto_s3: MotoS3) -> None:
    op = build_operator(moto_s3.url(moto_s3.create_bucket()))
    await op.write("once", b"first", if_not_exists=True)
    with pytest.raises(opendal.exceptions.ConditionNotMatch) as caught:
        await op.write("once", b"second", if_not_exists=True)
    err = from_opendal(caught.value, capability="r2", operation="put", key="once")
    assert isinstance(err, PreconditionFailed)
    assert (err.capability, err.operation, err.key) == ("r2", "put", "once")
    assert await op.read("once") == b"first"


async def test_generic_operator_config_builds_any_registered_service() -> None:
    config = from_url("dashmap:///scratch")
    assert isinstance(config, OperatorConfig)
    assert config.opendal_options() == {"root": "/scratch"}
    op = build_operator(config)
    await op.write("k", b"v")
    assert await op.read("k") == b"v"


def test_build_operator_accepts_a_url() -> None:
    op = build_operator("memory://")
    assert operator_capabilities(op).write


def test_unregistered_scheme_is_misconfigured_without_secrets() -> None:
    config = OperatorConfig(scheme="cloudflare-kv", options={"api_token": SECRET, "account_id": ACCOUNT})
    with pytest.raises(Misconfigured, match="cloudflare-kv") as caught:
        build_operator(config, capability="kv")
    assert caught.value.capability == "kv"
    assert "[REDACTED]" in str(caught.value)
    assert_no_secret(caught.value, caught.value.to_dict())


def test_build_operator_rejects_what_is_not_a_config() -> None:
    with pytest.raises(Misconfigured, match="takes an operator config or URL, not dict"):
        build_operator({"scheme": "memory"})  # type: ignore[arg-type]


# --- R2 defaults ------------------------------------------------------------------------------------


def for_r2(account_id: str, bucket: str, **fields: Any) -> S3Config:
    """R2's S3 defaults now come from the R2 package (``S3Config.for_r2`` left core)."""
    from cap_cloudflare_r2.config import R2Config

    return R2Config(account_id=account_id, bucket=bucket, **fields).to_s3_config()


def test_for_r2_builds_the_account_endpoint_with_r2_defaults() -> None:
    config = for_r2(ACCOUNT, "media", access_key_id=KEY_ID, secret_access_key=SECRET)
    assert config.endpoint == R2_ENDPOINT
    assert config.is_r2
    options = config.opendal_options()
    assert options["region"] == "auto"
    assert options["enable_virtual_host_style"] == "false"
    assert options["disable_config_load"] == "true"
    assert options["disable_ec2_metadata"] == "true"
    assert "skip_signature" not in options
    assert config.capability_overrides() == ("write_can_append=false",)
    eu = for_r2(ACCOUNT, "media", jurisdiction="eu", access_key_id=KEY_ID, secret_access_key=SECRET)
    assert eu.endpoint == f"https://{ACCOUNT}.eu.r2.cloudflarestorage.com"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"account_id": "not-an-account"}, "32 lower-case hex digits"),
        ({"account_id": ACCOUNT.upper()}, "32 lower-case hex digits"),
        ({"account_id": ACCOUNT, "jurisdiction": "mars"}, "jurisdiction: Input should be 'eu' or 'fedramp'"),
        ({"account_id": ACCOUNT, "bucket": "No_Such"}, "bucket: 'No_Such' is not a valid bucket name"),
    ],
)
def test_for_r2_rejects_bad_input_naming_it(kwargs: dict[str, Any], message: str) -> None:
    args = {"bucket": "media", "access_key_id": KEY_ID, "secret_access_key": SECRET, **kwargs}
    with pytest.raises(Misconfigured, match=message) as caught:
        for_r2(**args)
    assert caught.value.capability == "r2"
    assert_no_secret(caught.value)


# --- from_url ---------------------------------------------------------------------------------------


def test_from_url_memory_and_fs(tmp_path: Path) -> None:
    assert from_url("memory://") == MemoryConfig()
    assert from_url("memory:///cache") == MemoryConfig(root="/cache")
    assert from_url(f"fs://{tmp_path}") == FsConfig(root=str(tmp_path))
    assert from_url(f"file://{tmp_path}") == FsConfig(root=str(tmp_path))
    spaced = from_url("fs:///srv/my%20data?atomic_write_dir=/srv/tmp")
    assert spaced == FsConfig(root="/srv/my data", atomic_write_dir="/srv/tmp")


def test_from_url_s3_takes_bucket_root_and_options() -> None:
    config = from_url(
        "s3://flow-blobs/env/prod?endpoint=http://127.0.0.1:9000&region=us-west-2"
        f"&access_key_id={KEY_ID}&secret_access_key={SECRET.replace('-', '%2D')}&virtual_host_style=true"
    )
    assert isinstance(config, S3Config)
    assert (config.bucket, config.root, config.endpoint, config.region) == (
        "flow-blobs",
        "/env/prod",
        "http://127.0.0.1:9000",
        "us-west-2",
    )
    assert config.secret_access_key is not None
    assert config.secret_access_key.get_secret_value() == SECRET
    assert config.virtual_host_style
    assert config.credential_source == "explicit"


def test_core_knows_no_r2_scheme() -> None:
    """``r2://`` is R2's (``cap_cloudflare_r2.R2Config.from_url``): to core it is just another OpenDAL
    scheme, whose options go in the query string."""
    with pytest.raises(Misconfigured, match="takes its options in the query string"):
        from_url(f"r2://media?account_id={ACCOUNT}")


def test_from_url_generic_passes_options_and_hides_secret_ones() -> None:
    config = from_url(f"sqlite://?connection_string=sqlite:///tmp/x.db&table=kv&password={SECRET}")
    assert isinstance(config, OperatorConfig)
    assert config.scheme == "sqlite"
    assert config.options["table"] == "kv"
    assert isinstance(config.options["password"], SecretStr)
    assert isinstance(config.options["connection_string"], SecretStr)
    assert config.opendal_options()["password"] == SECRET
    assert_no_secret(config, config.model_dump(), config.model_dump_json(), describe_config(config))


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("memory", "must look like scheme://"),
        ("://x", "must look like scheme://"),
        ("memory://host", "a memory URL has no host"),
        ("memory://?root=/x", r"unknown option\(s\) root"),
        ("fs://relative/path", r"absolute path after three slashes .*'relative' reads as a host"),
        ("fs://./data", "relative paths are not accepted"),
        ("fs://", "needs an absolute directory path"),
        ("fs:///data/../etc", "must not contain '..' segments"),
        ("fs:///data?mode=fast", r"unknown option\(s\) mode \(accepted: atomic_write_dir\)"),
        ("s3://?endpoint=http://127.0.0.1:9", "names the bucket as its host"),
        ("s3://bucket:9000?endpoint=http://127.0.0.1:9", "not a host:port"),
        (f"s3://{KEY_ID}:{SECRET}@bucket?endpoint=http://x", "must not carry credentials"),
        (f"s3://bucket?access_key_id={KEY_ID}&secret_access_key={SECRET}", "endpoint: Field required"),
        (
            f"s3://bucket?endpoint=ftp://h&access_key_id={KEY_ID}&secret_access_key={SECRET}",
            "endpoint: must start with http:// or https://",
        ),
        (
            f"s3://bucket?endpoint=http://u:{SECRET}@h&access_key_id={KEY_ID}&secret_access_key={SECRET}",
            "endpoint: must not carry credentials",
        ),
        (
            f"s3://Bad_Bucket?endpoint=http://h&access_key_id={KEY_ID}&secret_access_key={SECRET}",
            "bucket: 'Bad_Bucket' is not a valid bucket name",
        ),
        (
            f"s3://bucket?endpoint=http://h&region=eu%20west&access_key_id={KEY_ID}&secret_access_key={SECRET}",
            "region: 'eu west' is not a region name",
        ),
        (f"s3://bucket?endpoint=http://h&secret_access_key={SECRET}", "access_key_id is missing"),
        ("s3://bucket?endpoint=http://h", "no credentials"),
        (f"s3://bucket?endpoint=http://h&secret={SECRET}", r"unknown option\(s\) secret"),
        (f"s3://bucket?endpoint=http://h&region=a&region={SECRET}", "option 'region' more than once"),
        ("s3://bucket?endpoint=", "option 'endpoint' an empty value"),
        (f"s3://bucket?{SECRET}", "must be option=value pairs"),
        (f"s3://bucket?endpoint=http://h#{SECRET}", "must not have a #fragment"),
        (f"s3://bucket?endpoint=http://h&anonymous=true&secret_access_key={SECRET}", "anonymous=True"),
        ("dashmap://somehost?root=/x", "takes its options in the query string"),
        ("dashmap:///a?root=/b", "gives root twice"),
        ("Bad_Scheme://", "must look like scheme://"),
        ("sqlite://?Table=kv", "option name 'Table' is not a lower-case identifier"),
    ],
)
def test_from_url_rejects_bad_urls_naming_the_problem(url: str, message: str) -> None:
    with pytest.raises(Misconfigured, match=message) as caught:
        from_url(url, capability="r2")
    assert caught.value.capability == "r2"
    assert_no_secret(caught.value, caught.value.to_dict())


def test_from_url_rejects_a_non_string() -> None:
    with pytest.raises(InvalidInput, match="must be a str, got bytes") as caught:
        from_url(b"memory://")  # type: ignore[arg-type]
    assert caught.value.field == "url"


# --- credentials from the environment ---------------------------------------------------------------


def test_aws_credentials_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_SESSION_TOKEN", "session-token-value")
    config = S3Config(bucket="media", endpoint="http://127.0.0.1:9000")
    assert config.credential_source == "env:AWS_*"
    options = config.opendal_options()
    assert (options["access_key_id"], options["secret_access_key"]) == (KEY_ID, SECRET)
    assert options["session_token"] == "session-token-value"


def test_r2_names_win_for_r2_endpoints_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "aws-key-id")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws-secret-value")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "aws-session-token")
    monkeypatch.setenv("R2_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("R2_SECRET_ACCESS_KEY", SECRET)
    r2 = for_r2(ACCOUNT, "media")
    assert r2.credential_source == "env:R2_*"
    assert r2.opendal_options()["secret_access_key"] == SECRET
    assert r2.session_token is None  # an AWS session token never rides along with R2 keys
    other = S3Config(bucket="media", endpoint="http://127.0.0.1:9000")
    assert other.credential_source == "env:AWS_*"
    assert other.opendal_options()["secret_access_key"] == "aws-secret-value"


def test_explicit_credentials_beat_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("R2_ACCESS_KEY_ID", "env-key-id")
    monkeypatch.setenv("R2_SECRET_ACCESS_KEY", "env-secret-value")
    config = for_r2(ACCOUNT, "media", access_key_id=KEY_ID, secret_access_key=SECRET)
    assert config.credential_source == "explicit"
    assert config.opendal_options()["access_key_id"] == KEY_ID


def test_half_an_environment_pair_is_an_error_naming_the_missing_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("R2_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "aws-key-id")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws-secret-value")
    with pytest.raises(Misconfigured, match="R2_ACCESS_KEY_ID is set but R2_SECRET_ACCESS_KEY is not"):
        for_r2(ACCOUNT, "media")


def test_missing_credentials_are_an_error_unless_anonymous_or_ambient() -> None:
    with pytest.raises(ValidationError, match="no credentials: pass access_key_id and secret_access_key"):
        S3Config(bucket="media", endpoint="http://127.0.0.1:9000")
    anonymous = S3Config(bucket="media", endpoint="http://127.0.0.1:9000", anonymous=True)
    assert anonymous.credential_source == "anonymous"
    assert anonymous.opendal_options()["skip_signature"] == "true"
    ambient = S3Config(bucket="media", endpoint="http://127.0.0.1:9000", ambient_credentials=True)
    assert ambient.credential_source == "ambient"
    assert ambient.opendal_options()["disable_config_load"] == "false"


async def test_environment_credentials_reach_a_working_operator(
    moto_s3: MotoS3, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", moto_s3.access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", moto_s3.secret_access_key)
    bucket = moto_s3.create_bucket()
    op = build_operator(f"s3://{bucket}?endpoint={moto_s3.endpoint}&region={moto_s3.region}")
    await op.write("from-env", b"ok")
    body = moto_s3.client().get_object(Bucket=bucket, Key="from-env")["Body"].read()
    assert body == b"ok"


# --- secrets never show -----------------------------------------------------------------------------


def test_configs_never_show_their_secrets() -> None:
    config = S3Config(bucket="media", endpoint=R2_ENDPOINT, access_key_id=KEY_ID, secret_access_key=SECRET)
    texts = [
        config,
        str(config),
        config.model_dump(),
        config.model_dump(mode="json"),
        config.model_dump_json(),
        describe_config(config),
    ]
    assert_no_secret(*texts)
    assert KEY_ID not in repr(config)
    assert KEY_ID not in describe_config(config)
    assert describe_config(config) == (
        f"s3 bucket='media' endpoint='{R2_ENDPOINT}' region='auto' root='/' path-style credentials=explicit"
    )
    # registered with redact: the value is scrubbed wherever it later leaks
    assert scrub(f"oops {SECRET} and {KEY_ID}") == "oops [REDACTED] and [REDACTED]"


def test_validation_errors_never_echo_a_secret() -> None:
    with pytest.raises(ValidationError) as caught:
        S3Config(bucket="Bad_Bucket", endpoint=f"http://u:{SECRET}@h", secret_access_key=SECRET)
    assert_no_secret(caught.value)
    with pytest.raises(ValidationError) as caught:
        S3Config(bucket="media", endpoint="http://h", access_key_id=KEY_ID, secret_access_key=SECRET, extra=1)  # type: ignore[call-arg]
    assert_no_secret(caught.value)


def test_describe_config_for_each_kind(tmp_path: Path) -> None:
    assert describe_config(MemoryConfig()) == "memory root='/'"
    assert describe_config(FsConfig(root=str(tmp_path))) == f"fs root={str(tmp_path)!r}"
    generic = OperatorConfig(scheme="azblob", options={"container": "c", "account_key": SECRET})
    assert describe_config(generic) == "azblob account_key=[REDACTED] container='c'"
    with pytest.raises(TypeError):
        describe_config("memory://")  # type: ignore[arg-type]


# --- parse_config -----------------------------------------------------------------------------------


def test_parse_config_picks_the_model_by_scheme(tmp_path: Path) -> None:
    assert parse_config({"scheme": "memory"}) == MemoryConfig()
    assert parse_config({"scheme": "fs", "root": str(tmp_path)}) == FsConfig(root=str(tmp_path))
    generic = parse_config({"scheme": "dashmap", "root": "/x"})
    assert isinstance(generic, OperatorConfig)
    assert generic.opendal_options() == {"root": "/x"}
    with pytest.raises(Misconfigured, match="needs a 'scheme'"):
        parse_config({"root": "/x"})
    with pytest.raises(Misconfigured, match=r"invalid fs config: root: must be an absolute path"):
        parse_config({"scheme": "fs", "root": "relative"})
    with pytest.raises(Misconfigured, match="must be a mapping"):
        parse_config(["memory"])  # type: ignore[arg-type]


# --- native layers ----------------------------------------------------------------------------------


@pytest.fixture
def black_hole() -> Iterator[str]:
    """A 127.0.0.1 endpoint that accepts TCP connections and never answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(64)
        yield f"http://127.0.0.1:{server.getsockname()[1]}"


@dataclass
class Recorder:
    """What a scripted HTTP server saw."""

    status: int
    delay: float = 0.0
    requests: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


@pytest.fixture
def scripted_server() -> Iterator[tuple[str, Recorder]]:
    """A 127.0.0.1 HTTP server answering every request with ``recorder.status`` after ``delay``."""
    recorder = Recorder(status=404)

    class Handler(http.server.BaseHTTPRequestHandler):
        def _answer(self) -> None:
            with recorder.lock:
                recorder.requests += 1
                recorder.in_flight += 1
                recorder.max_in_flight = max(recorder.max_in_flight, recorder.in_flight)
            try:
                time.sleep(recorder.delay)
            finally:
                # Out of flight before the answer leaves: once the client has it, it may send the next
                # request at once, and that must not overlap this one in the count (a loaded machine
                # can run the next handler before this thread gets the CPU back).
                with recorder.lock:
                    recorder.in_flight -= 1
            self.send_response(recorder.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_HEAD = do_GET = do_PUT = _answer

        def log_message(self, format: str, *args: Any) -> None:  # silence the default stderr log
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", recorder
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def s3_at(endpoint: str) -> S3Config:
    return S3Config(bucket="probe", endpoint=endpoint, access_key_id=KEY_ID, secret_access_key=SECRET)


async def test_timeout_layer_bounds_a_request_to_a_silent_server(black_hole: str) -> None:
    stalled = build_operator(s3_at(black_hole))  # no layers: nothing bounds the request
    with anyio.move_on_after(0.8) as scope:
        await stalled.stat("key")
    assert scope.cancelled_caught, "without a TimeoutLayer the request should still be waiting"

    op = build_operator(s3_at(black_hole), LayerSettings(deadline=0.2, retry=None))
    started = time.monotonic()
    with anyio.fail_after(60):
        with pytest.raises(opendal.exceptions.Unexpected, match="timeout") as caught:
            await op.stat("key")
    assert time.monotonic() - started < 5
    err = from_opendal(caught.value, capability="r2", operation="head", key="key")
    assert isinstance(err, CapabilityError)
    assert err.retryable
    assert_no_secret(caught.value, err)


async def test_retry_layer_retries_temporary_failures(scripted_server: tuple[str, Recorder]) -> None:
    endpoint, recorder = scripted_server
    recorder.status = 503
    fast = RetryPolicy(attempts=3, base=0.01, cap=0.02)
    with anyio.fail_after(60), pytest.raises(opendal.exceptions.Unexpected):
        await build_operator(s3_at(endpoint), LayerSettings(retry=fast)).stat("key")
    assert recorder.requests == 3

    recorder.requests = 0
    with anyio.fail_after(60), pytest.raises(opendal.exceptions.Unexpected):
        await build_operator(s3_at(endpoint), LayerSettings(retry=None)).stat("key")
    assert recorder.requests == 1


async def concurrent_stats(op: opendal.AsyncOperator, count: int) -> list[BaseException]:
    errors: list[BaseException] = []

    async def one(i: int) -> None:
        try:
            await op.stat(f"key-{i}")
        except Exception as exc:
            errors.append(exc)

    with anyio.fail_after(60):
        async with anyio.create_task_group() as tg:
            for i in range(count):
                tg.start_soon(one, i)
    return errors


async def test_concurrent_limit_layer_caps_requests_in_flight(
    scripted_server: tuple[str, Recorder],
) -> None:
    endpoint, recorder = scripted_server
    recorder.delay = 0.15
    limited = build_operator(s3_at(endpoint), LayerSettings(concurrency=1, retry=None))
    errors = await concurrent_stats(limited, 4)
    assert [type(e) for e in errors] == [opendal.exceptions.NotFound] * 4
    assert (recorder.requests, recorder.max_in_flight) == (4, 1)

    recorder.max_in_flight = 0
    await concurrent_stats(build_operator(s3_at(endpoint), LayerSettings(retry=None)), 4)
    assert recorder.max_in_flight > 1


def test_native_layers_follow_the_settings() -> None:
    s3 = s3_at("http://127.0.0.1:9")
    names = [type(layer).__name__ for layer in native_layers(s3, LayerSettings(deadline=5, concurrency=8))]
    assert names == ["CapabilityOverrideLayer", "TimeoutLayer", "ConcurrentLimitLayer", "RetryLayer"]
    assert native_layers(MemoryConfig(), None) == []
    assert native_layers(MemoryConfig(), LayerSettings.off()) == []
    single = LayerSettings(retry=RetryPolicy(attempts=1))
    assert [type(layer).__name__ for layer in native_layers(MemoryConfig(), single)] == []
    # any object with the same fields will do
    loose = SimpleNamespace(deadline=None, concurrency=2, retry=None)
    assert [type(layer).__name__ for layer in native_layers(MemoryConfig(), loose)] == [
        "ConcurrentLimitLayer"
    ]


def test_layer_settings_opendal_refuses_are_misconfigured() -> None:
    endless = SimpleNamespace(deadline=float("inf"), concurrency=None, retry=None)
    with pytest.raises(Misconfigured, match="OpenDAL rejected the layer settings"):
        native_layers(MemoryConfig(), endless)
    with pytest.raises(Misconfigured, match="timeout must be a positive, finite number") as caught:
        build_operator("memory://", endless, capability="kv")
    assert caught.value.capability == "kv"


def test_defer_to_native_layers_turns_off_pipeline_retry_and_concurrency() -> None:
    settings = LayerSettings(deadline=3.0, concurrency=4, retry=RetryPolicy(attempts=5))
    deferred = defer_to_native_layers(settings)
    assert (deferred.retry, deferred.concurrency, deferred.deadline) == (None, None, 3.0)
    assert (deferred.logging, deferred.metrics) == (settings.logging, settings.metrics)
    with pytest.raises(TypeError):
        defer_to_native_layers(SimpleNamespace())  # type: ignore[arg-type]


# --- native capabilities ------------------------------------------------------------------------------


def test_capabilities_tell_memory_and_s3_apart(moto_s3: MotoS3) -> None:
    memory = operator_capabilities(build_operator(MemoryConfig()))
    r2_like = operator_capabilities(build_operator(moto_s3.url("any-bucket")))
    appendable = operator_capabilities(build_operator(moto_s3.url("any-bucket", allow_append="true")))
    assert isinstance(memory, OperatorCapabilities)
    for both in ("stat", "read", "write", "delete", "list", "write_with_if_not_exists"):
        assert getattr(memory, both), both
        assert getattr(r2_like, both), both
    assert memory.missing("presign", "write_can_multi", "list_with_start_after", "write_with_if_match") == (
        "presign",
        "write_can_multi",
        "list_with_start_after",
        "write_with_if_match",
    )
    assert r2_like.missing("presign", "write_can_multi", "list_with_start_after", "write_with_if_match") == ()
    assert r2_like.write_multi_min_size == 5 * 1024 * 1024
    assert memory.write_multi_min_size is None
    assert not r2_like.write_can_append  # R2 has no append: reported as missing
    assert appendable.write_can_append
    as_dict = r2_like.as_dict()
    assert as_dict["presign"] is True
    assert set(as_dict) == {f for f in OperatorCapabilities.__dataclass_fields__}
    assert memory.missing("no_such_ability") == ("no_such_ability",)


def test_operator_capabilities_rejects_what_is_not_an_operator() -> None:
    with pytest.raises(TypeError, match="takes an OpenDAL operator"):
        operator_capabilities(object())  # type: ignore[arg-type]


# --- import cost and process exit ---------------------------------------------------------------------


def _run_python(code: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "R2_"))}
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env, check=False
    )


def test_core_import_leaves_pydantic_and_opendal_alone() -> None:
    code = (
        "import sys, cap_opendal_core as c\n"
        "assert 'pydantic' not in sys.modules and 'opendal' not in sys.modules\n"
        "c.from_url('memory://'); c.S3Config; c.describe_config\n"
        "assert 'pydantic' in sys.modules and 'opendal' not in sys.modules, 'configs need no opendal'\n"
        "c.build_operator('memory://')\n"
        "assert 'opendal' in sys.modules\n"
    )
    result = _run_python(code)
    assert result.returncode == 0, result.stderr


def test_short_processes_that_used_opendal_exit_cleanly() -> None:
    """Without the exit guard about one run in ten of this script dies with SIGABRT at exit."""
    code = (
        "import anyio\n"
        "from cap_opendal_core.operators import build_operator\n"
        "async def main():\n"
        "    op = build_operator('memory://')\n"
        "    await op.write('k', b'v')\n"
        "    await op.stat('k')\n"
        "anyio.run(main)\n"
    )
    for _ in range(12):
        result = _run_python(code)
        assert result.returncode == 0, (result.returncode, result.stderr[-2000:])
