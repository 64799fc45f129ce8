"""Issue 13, section 4: every credential-like option of every OpenDAL service stays secret.

``OperatorConfig`` holds any OpenDAL service's options; those that carry credentials must be held as
secrets (hidden from ``repr``, dumps and ``describe``; registered, so scrubbed from error text). The
names are judged by shape, conservatively, so an option OpenDAL adds later is covered too. This test
walks every service the installed opendal wheel describes (``opendal.config``) and checks every
option whose name is token-, key-, secret-, password-, sas-, credential-, delegation- or
signature-like — an independent list, not the implementation's.
"""

from __future__ import annotations

import re
import socket
from typing import Any

import pytest

from cap_cloudflare_kv import KvNamespace
from cap_opendal_core.errors import CapabilityError
from cap_opendal_core.layers import LayerSettings
from cap_opendal_core.operators import OperatorConfig
from cap_opendal_core.operators.config import describe_config
from cap_opendal_core.redact import scrub

SECRET_LIKE = (
    "token",
    "key",
    "secret",
    "password",
    "passwd",
    "sas",
    "credential",
    "delegation",
    "signature",
    "connection_string",
)
_SCHEME = re.compile(r"""Literal\[['"]([^'"]+)['"]\]""")


def _services() -> list[tuple[str, list[str]]]:
    import opendal.config

    found = []
    for name in sorted(dir(opendal.config)):
        typed = getattr(opendal.config, name)
        annotations: dict[str, Any] = getattr(typed, "__annotations__", {})
        if not name.endswith("Config") or "scheme" not in annotations:
            continue
        scheme = _SCHEME.search(str(annotations["scheme"]))
        assert scheme is not None, f"{name}: no scheme literal in {annotations['scheme']!r}"
        found.append((scheme.group(1), sorted(k for k in annotations if k != "scheme")))
    return found


SERVICES = _services()


def test_the_wheel_describes_its_services() -> None:
    schemes = {scheme for scheme, _ in SERVICES}
    assert {"s3", "webhdfs", "azblob", "gcs", "webdav"} <= schemes
    assert len(SERVICES) >= 40


@pytest.mark.parametrize(("scheme", "options"), SERVICES, ids=[s for s, _ in SERVICES])
def test_every_credential_like_option_is_held_as_a_secret(scheme: str, options: list[str]) -> None:
    values = {name: f"value-of-{name}-{scheme}-7f3a9c" for name in options}
    config = OperatorConfig(scheme=scheme, options=values)
    shown = "\n".join(
        [repr(config), str(config), describe_config(config), config.model_dump_json(), repr(config.options)]
    )
    secret_names = [name for name in options if any(part in name for part in SECRET_LIKE)]
    for name in secret_names:
        value = values[name]
        assert value not in shown, f"{scheme}: the value of {name!r} is shown"
        assert value not in scrub(f"error: {name} was {value}; url=http://h/?x={value}"), (
            f"{scheme}: {name!r} is not registered for scrubbing"
        )


@pytest.mark.anyio
async def test_a_webhdfs_delegation_token_stays_out_of_repr_and_errors(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """webhdfs sends ``delegation`` in each request's query string, which OpenDAL's error text shows."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    token = "webhdfs-delegation-9d1e0c7b5a3f"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        endpoint = f"http://127.0.0.1:{sock.getsockname()[1]}"
        config = OperatorConfig(scheme="webhdfs", options={"endpoint": endpoint, "delegation": token})
        kv = KvNamespace.from_config(config, settings=LayerSettings(logging=False, retry=None, deadline=10.0))
        async with kv:
            assert token not in repr(kv)
            with pytest.raises(CapabilityError) as caught:
                await kv.get("some-key")
    error = caught.value
    for text in (str(error), repr(error), str(error.to_dict()), *getattr(error, "__notes__", [])):
        assert token not in text
