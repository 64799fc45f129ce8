"""Operator URLs: one string that says which service and how to reach it, checked before any I/O.

Forms (query values are percent-decoded):

* ``memory://`` — an in-process store (``memory:///prefix`` sets its root);
* ``fs:///absolute/path`` (or ``file:///…``) — a directory; relative paths and hosts are refused;
* ``s3://bucket[/root]?endpoint=http://127.0.0.1:9000&region=auto&access_key_id=…&secret_access_key=…``
  and the flags ``virtual_host_style``, ``allow_append``, ``anonymous``, ``ambient_credentials``;
* ``scheme://[/root]?option=value`` — any other OpenDAL service, options passed through.

Core knows no particular service: a capability package that has its own scheme parses it itself
(``cap_cloudflare_r2`` reads ``r2://bucket?account_id=…``), with :func:`split_url` for the checks every
URL gets, and hands the result to its ``from_config``.

Query values follow URL rules: percent-encode them (``urllib.parse.urlencode``) — a raw ``+`` in a
secret key reads as a space. Errors never repeat the URL: it may hold a secret key. They name the
part that was wrong instead.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, NamedTuple, TypeVar
from urllib.parse import SplitResult, parse_qsl, unquote, urlsplit

from pydantic import ValidationError

from ..errors import InvalidInput, Misconfigured
from .config import (
    FsConfig,
    MemoryConfig,
    OperatorConfig,
    S3Config,
    ServiceConfig,
    misconfigured_from,
)

__all__ = ["SplitUrl", "from_url", "only_options", "split_url"]

_Config = TypeVar("_Config", MemoryConfig, FsConfig, S3Config, OperatorConfig)
_Fail = Callable[[str], Misconfigured]

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")
_S3_OPTIONS = frozenset(
    {
        "endpoint",
        "region",
        "access_key_id",
        "secret_access_key",
        "session_token",
        "virtual_host_style",
        "allow_append",
        "anonymous",
        "ambient_credentials",
    }
)
_FS_OPTIONS = frozenset({"atomic_write_dir"})
_EXAMPLES = "memory://, fs:///absolute/path, s3://bucket?endpoint=https://host"


class SplitUrl(NamedTuple):
    """An operator URL taken apart after the checks every scheme shares."""

    scheme: str
    """Lower-cased."""
    parts: SplitResult
    query: dict[str, str]
    """Every option once, percent-decoded, non-empty."""
    path: str
    """Percent-decoded."""
    hostname: str | None
    port: int | None


def split_url(url: object, *, capability: str | None = None) -> SplitUrl:
    """``url`` taken apart, or ``Misconfigured`` naming what no operator URL may have (a missing
    scheme, a malformed host or port, a fragment, credentials before the host, a bad query); never
    echoing the URL. ``InvalidInput`` when ``url`` is not a string."""
    if not isinstance(url, str):
        raise InvalidInput(
            f"an operator URL must be a str, got {type(url).__name__}", field="url", capability=capability
        )

    def fail(message: str) -> Misconfigured:
        return Misconfigured(message, capability=capability)

    scheme, sep, _ = url.partition("://")
    if not sep or not _SCHEME.fullmatch(scheme):
        raise fail(f"an operator URL must look like scheme://…, e.g. {_EXAMPLES}")
    scheme = scheme.lower()
    try:
        parts = urlsplit(url)
        hostname, port = parts.hostname, parts.port
    except ValueError:
        raise fail(f"the {scheme} URL is malformed (bad host or port)") from None
    if parts.fragment:
        raise fail(f"the {scheme} URL must not have a #fragment")
    if parts.username is not None or parts.password is not None:
        raise fail(
            f"the {scheme} URL must not carry credentials before the host; "
            "pass them as query options (access_key_id=…&secret_access_key=…) or in the environment"
        )
    return SplitUrl(scheme, parts, _query(parts.query, scheme, fail), unquote(parts.path), hostname, port)


def only_options(
    query: dict[str, str], allowed: frozenset[str], scheme: str, *, capability: str | None = None
) -> None:
    """Refuse query options outside ``allowed`` with ``Misconfigured`` naming them and the accepted ones."""
    _only(query, allowed, scheme, lambda message: Misconfigured(message, capability=capability))


def from_url(url: str, *, capability: str | None = None) -> ServiceConfig:
    """Parse an operator URL (see the module docstring) into its configuration model.

    Raises :class:`~cap_opendal_core.errors.Misconfigured` naming what is wrong with the URL (never
    echoing it), or :class:`~cap_opendal_core.errors.InvalidInput` when ``url`` is not a string.
    ``capability`` is copied into the error, so ``KvNamespace.from_url`` errors say ``kv``.
    """
    scheme, parts, query, path, hostname, port = split_url(url, capability=capability)

    def fail(message: str) -> Misconfigured:
        return Misconfigured(message, capability=capability)

    def build(model: type[_Config], data: dict[str, Any]) -> _Config:
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            raise misconfigured_from(exc, f"{scheme} URL", capability=capability) from None

    if scheme == "memory":
        if parts.netloc:
            raise fail("a memory URL has no host: write memory:// (or memory:///root)")
        _only(query, frozenset(), scheme, fail)
        return build(MemoryConfig, {"root": path or "/"})

    if scheme in ("fs", "file"):
        if parts.netloc:
            raise fail(
                f"an {scheme} URL takes an absolute path after three slashes ({scheme}:///absolute/path); "
                f"{hostname or parts.netloc!r} reads as a host, and relative paths are not accepted"
            )
        if not path:
            raise fail(f"an {scheme} URL needs an absolute directory path: {scheme}:///absolute/path")
        _only(query, _FS_OPTIONS, scheme, fail)
        return build(FsConfig, {"root": path, **query})

    if scheme == "s3":
        if not hostname:
            raise fail(f"an {scheme} URL names the bucket as its host: {scheme}://bucket-name?…")
        if port is not None:
            raise fail(f"an {scheme} URL names a bucket, not a host:port; put the port in endpoint=…")
        _only(query, _S3_OPTIONS, scheme, fail)
        return build(S3Config, {"bucket": parts.netloc, "root": path or "/", **query})

    if parts.netloc:
        raise fail(
            f"a {scheme} URL takes its options in the query string ({scheme}://?option=value), "
            "not a host; the path, if any, is the root"
        )
    options: dict[str, str] = dict(query)
    if path not in ("", "/"):
        if "root" in options:
            raise fail(f"the {scheme} URL gives root twice: in the path and as root=…")
        options["root"] = path
    return build(OperatorConfig, {"scheme": scheme, "options": options})


def _query(raw: str, scheme: str, fail: _Fail) -> dict[str, str]:
    """Query options as a dict: every option once, every value non-empty; values never echoed."""
    options: dict[str, str] = {}
    if not raw:
        return options
    for item in raw.split("&"):
        name, sep, _ = item.partition("=")
        if not sep or not name:
            raise fail(f"the {scheme} URL's query must be option=value pairs joined by '&'")
    for name, value in parse_qsl(raw, keep_blank_values=True):
        if name in options:
            raise fail(f"the {scheme} URL gives option {name!r} more than once")
        if not value:
            raise fail(f"the {scheme} URL gives option {name!r} an empty value")
        options[name] = value
    return options


def _only(query: dict[str, str], allowed: frozenset[str], scheme: str, fail: _Fail) -> None:
    unknown = sorted(set(query) - allowed)
    if unknown:
        accepted = ", ".join(sorted(allowed)) or "none"
        raise fail(f"the {scheme} URL has unknown option(s) {', '.join(unknown)} (accepted: {accepted})")
