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


# --- r2:// URLs (R2's own scheme; core's URL parser knows only generic OpenDAL ones) -----------------

URL_KEYS = "access_key_id=r2-url-key-id-0123&secret_access_key=r2-url-secret-0123456789"


def test_from_url_uses_the_account_endpoint() -> None:
    s3 = R2Config.from_url(f"r2://media/pre?account_id={ACCOUNT}&{URL_KEYS}").to_s3_config()
    assert (s3.endpoint, s3.bucket, s3.root, s3.region) == (
        f"https://{ACCOUNT}.r2.cloudflarestorage.com",
        "media",
        "/pre",
        "auto",
    )
    assert s3.credential_source == "explicit"
    eu = R2Config.from_url(f"r2://media?account_id={ACCOUNT}&jurisdiction=eu&{URL_KEYS}").to_s3_config()
    assert eu.endpoint == f"https://{ACCOUNT}.eu.r2.cloudflarestorage.com"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (f"r2://media?{URL_KEYS}", "needs account_id"),
        (f"r2://media?account_id={ACCOUNT}&jurisdiction=mars", "jurisdiction must be"),
        (f"r2://media?account_id={ACCOUNT.upper()}", "32 lower-case hex digits"),
        (f"r2://media?account_id={ACCOUNT}&endpoint=http://x", r"unknown option\(s\) endpoint"),
        (f"r2://?account_id={ACCOUNT}", "names the bucket as its host"),
        (f"r2://media:9000?account_id={ACCOUNT}", "not a host:port"),
        (f"s3://media?account_id={ACCOUNT}", "reads r2:// URLs"),
        (f"r2://media?account_id={ACCOUNT}#frag", "#fragment"),
    ],
)
def test_from_url_refuses_bad_urls_naming_the_problem(url: str, message: str) -> None:
    with pytest.raises(Misconfigured, match=message) as caught:
        R2Config.from_url(url)
    assert caught.value.capability == "r2"
    assert "r2-url-secret" not in str(caught.value)


def test_the_bucket_reads_r2_urls() -> None:
    from cap_cloudflare_r2 import R2Bucket

    with pytest.raises(Misconfigured, match="needs account_id"):
        R2Bucket.from_url("r2://media")
    with pytest.raises(Misconfigured, match="needs account_id"):
        R2Bucket.from_url("R2://media")
