"""Typed configuration for the OpenDAL services cap-* uses: ``memory``, ``fs``, ``s3`` (R2) and any other.

Why models rather than keyword dicts: a bad bucket name, a relative path or half a credential pair is
caught here, with the field named, before any operator exists or any request is sent; and secrets
live in :class:`pydantic.SecretStr`, so ``repr``, ``str``, ``model_dump`` and ``model_dump_json``
never show them (every model sets ``hide_input_in_errors`` too, so a ``ValidationError`` cannot echo
one back). Every secret is also registered with :func:`cap_opendal_core.redact.register_secret`, so
it is scrubbed from any text it later leaks into.

S3 credentials, in order of precedence (a pair is always taken from one place, never mixed):

1. ``access_key_id`` + ``secret_access_key`` (+ ``session_token``) given to the model or in the URL;
2. ``R2_ACCESS_KEY_ID`` + ``R2_SECRET_ACCESS_KEY`` — only when the endpoint is an R2 endpoint
   (``*.r2.cloudflarestorage.com``), so R2 keys never go to another S3 service by accident;
3. ``AWS_ACCESS_KEY_ID`` + ``AWS_SECRET_ACCESS_KEY`` (+ ``AWS_SESSION_TOKEN``).

The first place that holds either half must hold both, else the model is rejected naming the missing
variable. With none found the model is rejected too, unless ``anonymous=True`` (unsigned requests)
or ``ambient_credentials=True`` (let OpenDAL load profiles, config files and instance metadata,
which it is otherwise told not to do).

``trust_env`` (default False) is the opt-in for the environment's ``HTTP(S)_PROXY``/``ALL_PROXY``
and ``SSL_CERT_FILE``: OpenDAL's HTTP client honours those proxies whatever it is told, so without the
opt-in an endpoint they would capture is refused (:mod:`cap_opendal_core.transit`), as is a plain-http
endpoint that is not loopback when credentials would travel to it.

This module imports pydantic; it is loaded only when a server-side configuration is built.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any, Literal, TypeAlias
from urllib.parse import SplitResult, urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)

from ..errors import Misconfigured
from ..redact import MIN_SECRET_LENGTH, REDACTED, is_sensitive_key, register_secret, scrub

__all__ = [
    "R2_ENDPOINT_SUFFIX",
    "FsConfig",
    "MemoryConfig",
    "OperatorConfig",
    "S3Config",
    "ServiceConfig",
    "describe_config",
    "is_secret_option",
    "misconfigured_from",
    "parse_config",
    "url_root",
]

R2_ENDPOINT_SUFFIX = ".r2.cloudflarestorage.com"
"""Host suffix of R2's S3 endpoints (``<account_id>.r2…``, ``<account_id>.eu.r2…``)."""

# (access key id, secret access key, session token) environment variables, in precedence order.
_EnvNames: TypeAlias = tuple[str, str, str | None]
_R2_ENV: _EnvNames = ("R2_ACCESS_KEY_ID", "R2_SECRET_ACCESS_KEY", None)
_AWS_ENV: _EnvNames = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")

_TRUE_STRINGS = frozenset({"1", "on", "t", "true", "y", "yes"})
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_REGION = re.compile(r"[A-Za-z0-9_-]{1,64}")
_SCHEME = re.compile(r"[a-z][a-z0-9+.-]*")
_OPTION = re.compile(r"[a-z][a-z0-9_]*")
# Which OpenDAL option names hold credentials, decided conservatively from the shape of the name
# (OpenDAL adds services and options between releases; a name we have never seen must still be
# caught): any name containing one of these fragments (``sas_token``, ``client_secret``,
# ``credential_path``, webhdfs's ``delegation`` …) …
_SECRET_OPTION_FRAGMENTS = (
    "token",
    "secret",
    "passw",
    "passphrase",
    "credential",
    "delegation",
    "signature",
    "private",
    "cookie",
    "apikey",
    "connection_string",
)
# … or one of these words between underscores (``account_key``, ``temp_url_key``, a ``sas``, an
# ``auth`` header value, a ``dsn`` that may carry a password).
_SECRET_OPTION_WORDS = frozenset({"key", "sas", "auth", "dsn"})


def _register(value: SecretStr | None) -> None:
    if value is not None and len(value.get_secret_value()) >= MIN_SECRET_LENGTH:
        register_secret(value.get_secret_value())


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _check_root(value: str, *, absolute: bool) -> str:
    """Reject roots that escape upwards or carry NUL; ``absolute`` for paths on this machine."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    if absolute and not os.path.isabs(value):
        raise ValueError(f"must be an absolute path, got {value!r}")
    if ".." in value.replace("\\", "/").split("/"):
        raise ValueError(f"must not contain '..' segments, got {value!r}")
    return value


class _ServiceConfig(BaseModel):
    """What every service model shares: immutable, strict about unknown fields, silent about input."""

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    scheme: str

    def opendal_options(self) -> dict[str, str]:
        """The keyword options for ``opendal.AsyncOperator(scheme, **options)``, secrets revealed.

        Only :func:`~cap_opendal_core.operators.build_operator` should call this; never log it.
        """
        raise NotImplementedError

    def capability_overrides(self) -> tuple[str, ...]:
        """``capability=value`` entries for OpenDAL's ``CapabilityOverrideLayer`` (what the service lacks)."""
        return ()

    def describe(self) -> str:
        """One line, safe to log: what this configuration points at, never its secrets."""
        raise NotImplementedError

    def http_endpoints(self) -> tuple[tuple[str, bool], ...]:
        """The http(s) URLs the service talks to, each with whether a credential travels to it —
        what :func:`~cap_opendal_core.transit.check_opendal_route` checks before OpenDAL sends anything."""
        return ()

    @property
    def honours_environment(self) -> bool:
        """Whether the environment's proxies and certificate settings may apply (``trust_env``)."""
        return False


class MemoryConfig(_ServiceConfig):
    """OpenDAL's in-process ``memory`` service: each operator built from it is a fresh, empty store."""

    scheme: Literal["memory"] = "memory"
    root: str = "/"

    @field_validator("root")
    @classmethod
    def _root(cls, value: str) -> str:
        return _check_root(value, absolute=False)

    def opendal_options(self) -> dict[str, str]:
        return {"root": self.root}

    def describe(self) -> str:
        return f"memory root={self.root!r}"


class FsConfig(_ServiceConfig):
    """OpenDAL's ``fs`` service rooted at an absolute directory.

    A relative root would silently depend on the process's working directory, so it is refused.
    ``atomic_write_dir`` (also absolute) makes writes land in a temporary file renamed into place.
    """

    scheme: Literal["fs"] = "fs"
    root: str
    atomic_write_dir: str | None = None

    @field_validator("root", "atomic_write_dir")
    @classmethod
    def _absolute(cls, value: str | None) -> str | None:
        return None if value is None else _check_root(value, absolute=True)

    def opendal_options(self) -> dict[str, str]:
        options = {"root": self.root}
        if self.atomic_write_dir is not None:
            options["atomic_write_dir"] = self.atomic_write_dir
        return options

    def describe(self) -> str:
        extra = f" atomic_write_dir={self.atomic_write_dir!r}" if self.atomic_write_dir else ""
        return f"fs root={self.root!r}{extra}"


class S3Config(_ServiceConfig):
    """OpenDAL's ``s3`` service with R2's defaults: region ``auto``, path-style addressing, no append.

    ``endpoint`` is required (R2's is per account; ``cap_cloudflare_r2.R2Config`` derives it).
    ``allow_append=False`` (R2 has no append) makes the operator report ``write_can_append=False``,
    so a capability falls back instead of sending an append R2 would reject. Credentials: see the
    module docstring.
    """

    scheme: Literal["s3"] = "s3"
    bucket: str
    endpoint: str
    region: str = "auto"
    root: str = "/"
    access_key_id: SecretStr | None = None
    secret_access_key: SecretStr | None = None
    session_token: SecretStr | None = None
    virtual_host_style: bool = False
    allow_append: bool = False
    anonymous: bool = False
    ambient_credentials: bool = False
    trust_env: bool = False

    _credential_source: str = PrivateAttr(default="explicit")

    @field_validator("bucket")
    @classmethod
    def _bucket(cls, value: str) -> str:
        if not _BUCKET.fullmatch(value) or ".." in value:
            raise ValueError(
                f"{value!r} is not a valid bucket name: use 3-63 lower-case letters, digits, '-' or '.', "
                "starting and ending with a letter or digit"
            )
        return value

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str) -> str:
        # The value is never echoed: an endpoint pasted with credentials in it must not reach a log.
        try:
            parts = urlsplit(value)
            hostname = parts.hostname
            _ = parts.port
        except ValueError:
            raise ValueError("is not a valid URL") from None
        if parts.scheme not in ("http", "https"):
            raise ValueError("must start with http:// or https://")
        if not hostname:
            raise ValueError("has no host")
        return url_root(value, parts, credentials=" (user:password@host); pass them as fields")

    @field_validator("region")
    @classmethod
    def _region(cls, value: str) -> str:
        if not _REGION.fullmatch(value):
            raise ValueError(f"{value!r} is not a region name (letters, digits, '-' or '_')")
        return value

    @field_validator("root")
    @classmethod
    def _root(cls, value: str) -> str:
        return _check_root(value, absolute=False)

    @field_validator("access_key_id", "secret_access_key", "session_token")
    @classmethod
    def _not_empty(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value():
            raise ValueError("must not be empty (leave it out to read it from the environment)")
        return value

    @model_validator(mode="wrap")
    @classmethod
    def _credentials(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        """Fill credentials from the environment (see the module docstring) and register them."""
        source: str | None = None
        if isinstance(data, Mapping):
            data, source = _resolve_credentials(dict(data))
        config = handler(data)
        if source is not None:
            config._credential_source = source
        for secret in (config.access_key_id, config.secret_access_key, config.session_token):
            _register(secret)
        return config

    @property
    def credential_source(self) -> str:
        """Where the credentials came from.

        One of ``explicit``, ``env:R2_*``, ``env:AWS_*``, ``anonymous`` or ``ambient``.
        """
        return self._credential_source

    @property
    def is_r2(self) -> bool:
        """Whether the endpoint is one of R2's."""
        host = urlsplit(self.endpoint).hostname or ""
        return host.endswith(R2_ENDPOINT_SUFFIX)

    def opendal_options(self) -> dict[str, str]:
        options = {
            "bucket": self.bucket,
            "endpoint": self.endpoint,
            "region": self.region,
            "root": self.root,
            "enable_virtual_host_style": _flag(self.virtual_host_style),
            # Credentials come from this model only, never from ~/.aws or instance metadata, unless
            # the caller opted in: a server must not pick up whatever identity the machine has.
            "disable_config_load": _flag(not self.ambient_credentials),
            "disable_ec2_metadata": _flag(not self.ambient_credentials),
        }
        if self.anonymous:
            options["skip_signature"] = "true"
        for name in ("access_key_id", "secret_access_key", "session_token"):
            secret: SecretStr | None = getattr(self, name)
            if secret is not None:
                options[name] = secret.get_secret_value()
        return options

    def capability_overrides(self) -> tuple[str, ...]:
        return () if self.allow_append else ("write_can_append=false",)

    def http_endpoints(self) -> tuple[tuple[str, bool], ...]:
        return ((self.endpoint, not self.anonymous),)

    @property
    def honours_environment(self) -> bool:
        return self.trust_env

    def describe(self) -> str:
        style = "virtual-host" if self.virtual_host_style else "path-style"
        return (
            f"s3 bucket={self.bucket!r} endpoint={scrub(self.endpoint)!r} region={self.region!r} "
            f"root={self.root!r} {style} credentials={self.credential_source}"
        )


def _env_pair(names: _EnvNames) -> tuple[str, str, str | None] | None:
    """The credentials held by one set of environment variables, or None when it holds neither half."""
    id_name, secret_name, token_name = names
    key_id, secret = os.environ.get(id_name) or None, os.environ.get(secret_name) or None
    if key_id is None and secret is None:
        return None
    if key_id is None or secret is None:
        present, missing = (id_name, secret_name) if secret is None else (secret_name, id_name)
        raise ValueError(f"{present} is set but {missing} is not: set both, or neither")
    token = (os.environ.get(token_name) or None) if token_name else None
    return key_id, secret, token


def _truthy(value: object) -> bool:
    """Whether pydantic will read ``value`` as True (the credential lookup runs before it does)."""
    return value is True or (isinstance(value, str) and value.lower() in _TRUE_STRINGS)


def _resolve_credentials(data: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """Apply the credential precedence to raw model input; returns it with credentials and their source."""
    key_id, secret = data.get("access_key_id"), data.get("secret_access_key")
    if _truthy(data.get("anonymous")):
        if key_id is not None or secret is not None or data.get("session_token") is not None:
            raise ValueError("anonymous=True signs nothing, so it cannot be combined with credentials")
        return data, "anonymous"
    if key_id is not None or secret is not None:
        if key_id is None or secret is None:
            missing = "access_key_id" if key_id is None else "secret_access_key"
            raise ValueError(f"{missing} is missing: pass access_key_id and secret_access_key together")
        return data, "explicit"
    sources = [_AWS_ENV]
    endpoint = data.get("endpoint")
    if isinstance(endpoint, str):
        try:
            host = urlsplit(endpoint).hostname or ""
        except ValueError:
            host = ""  # the endpoint validator reports it
        if host.endswith(R2_ENDPOINT_SUFFIX):
            sources.insert(0, _R2_ENV)
    for names in sources:
        found = _env_pair(names)
        if found is not None:
            data["access_key_id"], data["secret_access_key"], token = found
            if token is not None and data.get("session_token") is None:
                data["session_token"] = token
            return data, f"env:{names[0].split('_', 1)[0]}_*"
    if _truthy(data.get("ambient_credentials")):
        return data, "ambient"
    env_names = " or ".join(f"{a} and {b}" for a, b, _ in sources)
    raise ValueError(
        f"no credentials: pass access_key_id and secret_access_key, set {env_names}, "
        "or set anonymous=True (unsigned requests) or ambient_credentials=True"
    )


def is_secret_option(name: str) -> bool:
    """Whether an OpenDAL option called ``name`` is held as a secret (see the fragments above).

    Errs on the side of secrecy: hiding a harmless value (``key_field``) costs a less readable
    ``repr``; showing a credential costs the credential.
    """
    normalised = name.lower().replace("-", "_")
    return (
        is_sensitive_key(normalised)
        or any(fragment in normalised for fragment in _SECRET_OPTION_FRAGMENTS)
        or not _SECRET_OPTION_WORDS.isdisjoint(normalised.split("_"))
    )


class OperatorConfig(_ServiceConfig):
    """Any OpenDAL service by scheme and raw options — the escape hatch for what the typed models lack.

    Options whose names look like credentials (:func:`is_secret_option`: ``secret_access_key``,
    ``api_token``, ``account_key``, ``password``, ``connection_string``, ``delegation`` …) are held as
    :class:`~pydantic.SecretStr` and registered for scrubbing; pass a ``SecretStr`` yourself for a
    secret under an unusual name.
    """

    scheme: str
    options: Mapping[str, str | SecretStr] = Field(default_factory=dict)
    trust_env: bool = False

    @field_validator("scheme")
    @classmethod
    def _scheme(cls, value: str) -> str:
        if not _SCHEME.fullmatch(value):
            raise ValueError(
                f"{value!r} is not an OpenDAL scheme (lower-case letters, digits, '-', '+', '.')"
            )
        return value

    @field_validator("options")
    @classmethod
    def _options(cls, value: Mapping[str, str | SecretStr]) -> dict[str, str | SecretStr]:
        held: dict[str, str | SecretStr] = {}
        for name, raw in value.items():
            if not _OPTION.fullmatch(name):
                raise ValueError(f"option name {name!r} is not a lower-case identifier")
            if isinstance(raw, SecretStr) or is_secret_option(name):
                secret = raw if isinstance(raw, SecretStr) else SecretStr(raw)
                _register(secret)
                held[name] = secret
            else:
                held[name] = raw
        return held

    def opendal_options(self) -> dict[str, str]:
        return {
            name: value.get_secret_value() if isinstance(value, SecretStr) else value
            for name, value in self.options.items()
        }

    def http_endpoints(self) -> tuple[tuple[str, bool], ...]:
        signed = any(isinstance(value, SecretStr) for value in self.options.values())
        return tuple(
            (value, signed)
            for value in self.options.values()
            if isinstance(value, str) and value.lower().startswith(("http://", "https://"))
        )

    @property
    def honours_environment(self) -> bool:
        return self.trust_env

    def describe(self) -> str:
        shown = " ".join(
            f"{name}={REDACTED}" if isinstance(value, SecretStr) else f"{name}={scrub(value)!r}"
            for name, value in sorted(self.options.items())
        )
        return f"{self.scheme} {shown}".rstrip()


ServiceConfig: TypeAlias = MemoryConfig | FsConfig | S3Config | OperatorConfig
"""Every configuration :func:`~cap_opendal_core.operators.build_operator` accepts."""

_TYPED: dict[str, type[MemoryConfig | FsConfig | S3Config]] = {
    "memory": MemoryConfig,
    "fs": FsConfig,
    "s3": S3Config,
}


def url_root(value: str, parts: SplitResult, *, credentials: str) -> str:
    """``value`` (split into ``parts``) as an API root: refused (``ValueError``, never echoing it)
    with credentials in it — ``credentials`` says where they go instead — or a query or fragment;
    the trailing ``/`` removed."""
    if parts.username is not None or parts.password is not None:
        raise ValueError(f"must not carry credentials{credentials}")
    if parts.query or parts.fragment:
        raise ValueError("must not have a query string or fragment")
    return value.rstrip("/")


def misconfigured_from(exc: ValidationError, what: str, *, capability: str | None = None) -> Misconfigured:
    """A :class:`Misconfigured` listing each invalid field and why — never the input values."""
    problems = []
    for error in exc.errors(include_input=False, include_url=False):
        where = ".".join(str(part) for part in error["loc"]) or "config"
        message = error["msg"].removeprefix("Value error, ")
        problems.append(f"{where}: {message}")
    return Misconfigured(scrub(f"invalid {what}: " + "; ".join(problems)), capability=capability)


def parse_config(data: Mapping[str, Any]) -> ServiceConfig:
    """Build a config from a mapping (a settings file, a manifest): ``scheme`` picks the model.

    ``memory``, ``fs`` and ``s3`` get their typed models; any other scheme becomes an
    :class:`OperatorConfig` (its other keys go under ``options``). Raises :class:`Misconfigured`.
    """
    if not isinstance(data, Mapping):
        raise Misconfigured(f"an operator config must be a mapping, got {type(data).__name__}")
    scheme = data.get("scheme")
    if not isinstance(scheme, str) or not scheme:
        raise Misconfigured("an operator config needs a 'scheme' (memory, fs, s3 or another OpenDAL scheme)")
    model = _TYPED.get(scheme)
    try:
        if model is not None:
            return model.model_validate(dict(data))
        if "options" in data:
            return OperatorConfig.model_validate(dict(data))
        options = {k: v for k, v in data.items() if k != "scheme"}
        return OperatorConfig.model_validate({"scheme": scheme, "options": options})
    except ValidationError as exc:
        raise misconfigured_from(exc, f"{scheme} config") from None


def describe_config(config: ServiceConfig) -> str:
    """One line that says what ``config`` points at, safe to log: secrets never appear in it."""
    if not isinstance(config, _ServiceConfig):
        raise TypeError(f"describe_config() takes an operator config, not {type(config).__name__}")
    return scrub(config.describe())
