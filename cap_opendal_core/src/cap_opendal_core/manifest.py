"""Binding manifests: which named bindings of which kinds a flow needs, and what it requires of them.

Flows state *hints* (what a node does); manifests state *bindings* (what the host must provide). One
manifest serves two purposes: :func:`cap_opendal_core.preflight` checks a capability bag
against it before any effectful work starts, and :func:`cap_opendal_core.wrangler.render_wrangler`
turns it into the binding sections of a ``wrangler.toml``. So next to ``kind`` and ``requires`` a
binding may carry the wrangler details of its kind; they are checked when present and demanded only
when rendering.

The format, as TOML (JSON has the same shape)::

    [worker]                         # optional; defaults for render_wrangler
    name = "flow-worker"
    main = "src/entry.py"
    compatibility_date = "2025-01-01"
    compatibility_flags = ["python_workers"]

    [bindings.FLOW_KV]
    kind = "kv_namespace"
    id = "0f2ac74b498b48028cb68387c421e279"   # namespace id (optional for local development)
    requires = { consistency = { at_least = "eventual" } }

    [bindings.ARCHIVE]
    kind = "r2_bucket"
    bucket_name = "flow-archive"

    [bindings.EVENTS]
    kind = "queue"
    queue = "flow-events"
    producer = true                  # default
    consumer = { max_batch_size = 10, max_batch_timeout = 5, max_retries = 3,
                 dead_letter_queue = "flow-events-dlq", max_concurrency = 2 }

    [bindings.STATE]
    kind = "durable_object"
    class_name = "FlowState"
    migration_tag = "v1"             # default "v1" for a class this Worker defines
    # script_name = "other-worker"   # the class lives in another Worker: no migration here

    [secrets]                        # optional: the *names* of secrets the flow needs (wrangler's
    required = ["CF_API_TOKEN"]      # own `[secrets] required`); preflight checks they are set

Manifests hold no secrets: a key that looks like a credential (``token``, ``secret``, ``password``,
``api_key`` …, see :func:`cap_opendal_core.redact.is_sensitive_key`) is rejected wherever it appears —
except the top-level ``[secrets]`` table, which may only list secret *names* under ``required`` —
and nothing here is ever read from the environment (preflight checks the names against it).
Unknown keys are rejected too, naming their path, so a typo cannot silently drop a setting.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final

from .binding_kinds import BindingKindSpec, binding_kinds
from .errors import InvalidInput
from .plugins import BINDING_NAME
from .redact import is_sensitive_key

if TYPE_CHECKING:
    import os

    from .descriptors import Requirement

__all__ = [
    "SECRET_NAME",
    "BindingManifest",
    "BindingSpec",
    "ManifestReader",
    "WorkerSettings",
    "check_no_secrets",
    "load_manifest",
    "read_document",
]

SECRET_NAME: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
"""A secret's name: an environment variable name (what ``wrangler secret put NAME`` takes)."""

_COMMON_KEYS: Final = ("kind", "requires")


# --- the model -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WorkerSettings:
    """Top-level wrangler settings a manifest may carry (all optional)."""

    name: str | None = None
    main: str | None = None
    compatibility_date: str | None = None
    compatibility_flags: tuple[str, ...] = ()


@dataclass(frozen=True)
class BindingSpec:
    """One binding a flow needs: its name, kind, requirements and its kind's wrangler details.

    ``details`` holds the keys the kind's :class:`~cap_opendal_core.plugins.BindingKindSpec` reads
    (every key it knows, ``None`` when absent); each is also readable as an attribute
    (``spec.bucket_name``), so callers need not know which package defined the kind.
    """

    name: str
    kind: str
    requires: Mapping[str, Requirement] = field(default_factory=dict, hash=False)
    details: Mapping[str, Any] = field(default_factory=dict, hash=False)

    def __getattr__(self, key: str) -> Any:
        details = self.__dict__.get("details")
        if details is not None and not key.startswith("_") and key in details:
            return details[key]
        raise AttributeError(f"binding {self.__dict__.get('name')!r} has no detail {key!r}")

    def requirements_dict(self) -> dict[str, dict[str, Any]]:
        return {name: req.to_dict() for name, req in self.requires.items()}


@dataclass(frozen=True)
class BindingManifest:
    """The bindings a flow needs, in the order the manifest lists them.

    Build with :meth:`from_dict` or :meth:`load` (JSON or TOML); both validate everything and raise
    :class:`~cap_opendal_core.errors.InvalidInput` naming the source and the path of the problem.
    """

    bindings: tuple[BindingSpec, ...] = ()
    worker: WorkerSettings = field(default_factory=WorkerSettings)
    source: str = "<manifest>"
    required_secrets: tuple[str, ...] = ()
    """Names (never values) of the secrets the flow needs: ``[secrets] required``."""

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for spec in self.bindings:
            if spec.name in seen:
                raise InvalidInput(f"{self.source}: binding {spec.name!r} is listed twice", field=spec.name)
            seen.add(spec.name)
        named: set[str] = set()
        for i, name in enumerate(self.required_secrets):
            # a bad entry is never echoed: it might be a value pasted where a name belongs
            if not isinstance(name, str) or not SECRET_NAME.match(name):
                raise InvalidInput(
                    f"{self.source}: secrets.required[{i}] is not a secret name (letters, digits and '_', "
                    "not starting with a digit); list the names of secrets, never their values",
                    field=f"secrets.required[{i}]",
                )
            if name in named:
                raise InvalidInput(
                    f"{self.source}: secret {name!r} is listed twice", field=f"secrets.required[{i}]"
                )
            named.add(name)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "<manifest>") -> BindingManifest:
        """Validate and build a manifest from parsed JSON/TOML (see the module docstring)."""
        return _parse_manifest(data, source)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> BindingManifest:
        """Read a ``.json`` or ``.toml`` manifest file."""
        return load_manifest(path)

    def __iter__(self) -> Iterator[BindingSpec]:
        return iter(self.bindings)

    def __len__(self) -> int:
        return len(self.bindings)

    def __contains__(self, name: object) -> bool:
        return any(spec.name == name for spec in self.bindings)

    def __getitem__(self, name: str) -> BindingSpec:
        for spec in self.bindings:
            if spec.name == name:
                return spec
        known = ", ".join(self.names()) or "none"
        raise KeyError(f"manifest {self.source} has no binding {name!r} (it lists: {known})")

    def names(self) -> tuple[str, ...]:
        return tuple(spec.name for spec in self.bindings)

    def of_kind(self, kind: str) -> tuple[BindingSpec, ...]:
        return tuple(spec for spec in self.bindings if spec.kind == kind)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form that :meth:`from_dict` reads back to an equal manifest."""
        out: dict[str, Any] = {}
        worker = {
            k: v
            for k, v in (
                ("name", self.worker.name),
                ("main", self.worker.main),
                ("compatibility_date", self.worker.compatibility_date),
                ("compatibility_flags", list(self.worker.compatibility_flags) or None),
            )
            if v is not None
        }
        if worker:
            out["worker"] = worker
        bindings: dict[str, Any] = {}
        for spec in self.bindings:
            entry: dict[str, Any] = {"kind": spec.kind}
            if spec.requires:
                entry["requires"] = spec.requirements_dict()
            entry.update(_kind_spec(spec.kind, self.source).dump(spec.details))
            bindings[spec.name] = entry
        out["bindings"] = bindings
        if self.required_secrets:
            out["secrets"] = {"required": list(self.required_secrets)}
        return out


# --- reading ---------------------------------------------------------------------------------------


def read_document(path: str | os.PathLike[str], what: str = "manifest") -> dict[str, Any]:
    """Parse a ``.json`` or ``.toml`` file into a dict; other suffixes are sniffed (``{`` → JSON).

    Raises :class:`InvalidInput` naming the file when it cannot be read or parsed.
    """
    import tomllib

    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read {what} file {str(p)!r}: {exc.strerror or exc}") from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{what} file {str(p)!r} is not UTF-8 text (byte {exc.start})") from exc
    as_json = p.suffix.lower() == ".json" or (p.suffix.lower() != ".toml" and text.lstrip().startswith("{"))
    try:
        data: object = json.loads(text) if as_json else tomllib.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            f"{what} file {str(p)!r} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from exc
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(f"{what} file {str(p)!r} is not valid TOML: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidInput(f"{what} file {str(p)!r} must hold an object/table, got {type(data).__name__}")
    return data


def load_manifest(path: str | os.PathLike[str]) -> BindingManifest:
    """Read and validate a manifest file (``.json`` or ``.toml``)."""
    return _parse_manifest(read_document(path, "manifest"), str(path))


def check_no_secrets(data: object, source: str, path: str = "") -> None:
    """Reject any key, at any depth, whose name looks like a credential — before anything else.

    The value is never echoed: the error names only where it was.
    """
    if isinstance(data, Mapping):
        for key, value in data.items():
            here = f"{path}.{key}" if path else str(key)
            if is_sensitive_key(key):
                raise InvalidInput(
                    f"{source}: {here}: manifests and binding files hold no secrets; pass credentials "
                    "through the environment or `wrangler secret put`, never in this file",
                    field=here,
                )
            check_no_secrets(value, source, here)
    elif isinstance(data, list | tuple):
        for i, value in enumerate(data):
            check_no_secrets(value, source, f"{path}[{i}]")
    elif isinstance(data, str) and data.lower().startswith(("bearer ", "basic ")):
        raise InvalidInput(
            f"{source}: {path}: looks like an Authorization header value; this file holds no secrets",
            field=path,
        )


class ManifestReader:
    """Typed access to one mapping, with errors that name the source and the path.

    Capability packages read their binding kind's keys with it (see ``BindingKindSpec.parse``).
    """

    def __init__(self, data: Mapping[str, Any], source: str, path: str) -> None:
        self.data, self.source, self.path = data, source, path

    def fail(self, key: str | None, message: str) -> InvalidInput:
        where = f"{self.path}.{key}" if key and self.path else (key or self.path)
        return InvalidInput(
            f"{self.source}: {where}: {message}" if where else f"{self.source}: {message}",
            field=where or None,
        )

    def only(self, allowed: tuple[str, ...], what: str) -> None:
        for key in self.data:
            if key not in allowed:
                raise self.fail(str(key), f"unknown key for {what}; expected one of {', '.join(allowed)}")

    def string(self, key: str, pattern: re.Pattern[str] | None = None, rule: str = "") -> str | None:
        value = self.data.get(key)
        if value is None:
            return None
        if not isinstance(value, str) or not value:
            raise self.fail(key, f"must be a non-empty string, got {_type_name(value)}")
        if pattern is not None and not pattern.match(value):
            raise self.fail(key, f"{value!r} is not valid: {rule}")
        return value

    def integer(self, key: str, low: int, high: int | None) -> int | None:
        value = self.data.get(key)
        if value is None:
            return None
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        if (
            isinstance(value, bool)
            or not isinstance(value, int)
            or value < low
            or (high is not None and value > high)
        ):
            raise self.fail(key, f"must be an integer {bounds}, got {value!r}")
        return value

    def boolean(self, key: str, default: bool) -> bool:
        value = self.data.get(key, default)
        if not isinstance(value, bool):
            raise self.fail(key, f"must be true or false, got {_type_name(value)}")
        return value

    def table(self, key: str) -> ManifestReader | None:
        value = self.data.get(key)
        if value is None:
            return None
        if not isinstance(value, Mapping):
            raise self.fail(key, f"must be a table/object, got {_type_name(value)}")
        return ManifestReader(value, self.source, f"{self.path}.{key}" if self.path else key)


def _type_name(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, list | tuple):
        return "a list"
    if value is None:
        return "null"
    return f"{type(value).__name__} {value!r}" if isinstance(value, int | float) else type(value).__name__


def _parse_manifest(data: Mapping[str, Any], source: str) -> BindingManifest:
    if not isinstance(data, Mapping):
        raise InvalidInput(f"{source}: a manifest must be an object/table, got {_type_name(data)}")
    # [secrets] holds names only and is checked on its own; everything else must hold no credential
    check_no_secrets({k: v for k, v in data.items() if k != "secrets"}, source)
    top = ManifestReader(data, source, "")
    top.only(("bindings", "worker", "secrets"), "a manifest")
    worker = _parse_worker(top.table("worker"))
    required_secrets = _parse_secrets(top.table("secrets"))
    bindings_r = top.table("bindings")
    if bindings_r is None:
        raise top.fail("bindings", "missing: a manifest lists its bindings under 'bindings'")
    specs = []
    for name, entry in bindings_r.data.items():
        if not isinstance(name, str) or not BINDING_NAME.match(name):
            raise bindings_r.fail(
                str(name),
                "binding names must be identifiers (letters, digits, '_'; not starting with a digit)",
            )
        if not isinstance(entry, Mapping):
            raise bindings_r.fail(name, f"must be a table/object, got {_type_name(entry)}")
        specs.append(_parse_binding(name, ManifestReader(entry, source, f"bindings.{name}")))
    return BindingManifest(
        bindings=tuple(specs), worker=worker, source=source, required_secrets=required_secrets
    )


def _parse_secrets(r: ManifestReader | None) -> tuple[str, ...]:
    """``[secrets] required = ["NAME", …]``: names only (checked by :class:`BindingManifest`)."""
    if r is None:
        return ()
    r.only(("required",), "'secrets' (it lists secret names under 'required', never values)")
    names = r.data.get("required", [])
    if not isinstance(names, list):
        raise r.fail("required", f"must be a list of secret names, got {_type_name(names)}")
    return tuple(names)


def _parse_worker(r: ManifestReader | None) -> WorkerSettings:
    if r is None:
        return WorkerSettings()
    r.only(("name", "main", "compatibility_date", "compatibility_flags"), "'worker'")
    flags = r.data.get("compatibility_flags", [])
    if not isinstance(flags, list) or not all(isinstance(f, str) and f for f in flags):
        raise r.fail("compatibility_flags", "must be a list of non-empty strings")
    return WorkerSettings(
        name=r.string("name", re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$"), "lower-case letters, digits, '-'"),
        main=r.string("main"),
        compatibility_date=r.string(
            "compatibility_date", re.compile(r"^\d{4}-\d{2}-\d{2}$"), "expected YYYY-MM-DD"
        ),
        compatibility_flags=tuple(flags),
    )


def _kind_spec(kind: str, source: str) -> BindingKindSpec:
    spec = binding_kinds().get(kind)
    if spec is None:
        raise InvalidInput(f"{source}: no installed capability package defines binding kind {kind!r}")
    return spec


def _parse_binding(name: str, r: ManifestReader) -> BindingSpec:
    kinds = binding_kinds()
    known = ", ".join(kinds) or "none installed"
    kind = r.data.get("kind")
    if kind is None:
        raise r.fail("kind", f"missing; one of {known}")
    if not isinstance(kind, str) or kind not in kinds:
        raise r.fail("kind", f"{kind!r} is not a binding kind; expected one of {known}")
    kind_spec = kinds[kind]
    r.only((*_COMMON_KEYS, *kind_spec.keys), f"a {kind} binding")
    requires = _parse_requires(r.table("requires"))
    return BindingSpec(name, kind, requires, kind_spec.read(r))


def _parse_requires(r: ManifestReader | None) -> Mapping[str, Requirement]:
    if r is None:
        return MappingProxyType({})
    from .descriptors import Requirement

    out: dict[str, Requirement] = {}
    for key, value in r.data.items():
        try:
            out[str(key)] = Requirement.parse(str(key), value)
        except InvalidInput as exc:
            raise r.fail(exc.field or str(key), exc.message) from None
    return MappingProxyType(out)
