"""``R2Config``: an explicit ``endpoint``, one derived from the account id, and ``from_env()`` reading
what the AWS tools read (plus wrangler's account id)."""

from __future__ import annotations

import pytest

from cap_cloudflare_r2 import R2Config
from cap_opendal_core.errors import Misconfigured

ACCOUNT = "0123456789abcdef0123456789abcdef"
KEYS = {"access_key_id": "r2-config-key-id-0123", "secret_access_key": "r2-config-secret-0123456789"}
_VARIABLES = (
    "CLOUDFLARE_ACCOUNT_ID",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ENDPOINT_URL",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
)


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in _VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_the_endpoint_is_derived_from_the_account_id_or_given() -> None:
    derived = R2Config(account_id=ACCOUNT, bucket="assets", jurisdiction="eu", **KEYS).to_s3_config()
    assert derived.endpoint == f"https://{ACCOUNT}.eu.r2.cloudflarestorage.com"
    assert derived.region == "auto"
    given = R2Config(bucket="assets", endpoint="http://127.0.0.1:9000", region="us-east-1", **KEYS)
    s3 = given.to_s3_config()
    assert (s3.endpoint, s3.region, s3.bucket) == ("http://127.0.0.1:9000", "us-east-1", "assets")


def test_bad_locations_are_refused_naming_the_field() -> None:
    with pytest.raises(Misconfigured, match="needs account_id or endpoint"):
        R2Config(bucket="assets", **KEYS)
    with pytest.raises(Misconfigured, match="account_id"):
        R2Config(account_id="not-hex", bucket="assets", **KEYS)
    with pytest.raises(Misconfigured, match="endpoint"):
        R2Config(bucket="assets", endpoint="ftp://host", **KEYS).to_s3_config()


def test_from_env_reads_the_aws_tools_variables_in_their_order(env: pytest.MonkeyPatch) -> None:
    env.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1/")
    env.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:2")
    env.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    env.setenv("AWS_REGION", "us-east-2")
    config = R2Config.from_env("assets", **KEYS)
    assert (config.endpoint, config.region) == ("http://127.0.0.1:2", "us-east-2")
    env.delenv("AWS_ENDPOINT_URL_S3")
    env.delenv("AWS_REGION")
    s3 = R2Config.from_env("assets", **KEYS).to_s3_config()
    assert (s3.endpoint, s3.region) == ("http://127.0.0.1:1", "eu-west-1")


def test_from_env_derives_r2s_endpoint_from_wranglers_account_id(env: pytest.MonkeyPatch) -> None:
    with pytest.raises(Misconfigured, match="CLOUDFLARE_ACCOUNT_ID"):
        R2Config.from_env("assets", **KEYS)
    env.setenv("CLOUDFLARE_ACCOUNT_ID", ACCOUNT)
    s3 = R2Config.from_env("assets", **KEYS).to_s3_config()
    assert s3.endpoint == f"https://{ACCOUNT}.r2.cloudflarestorage.com"
    assert s3.is_r2
