"""Reading Flow IR into typed, immutable models.

The models follow the Flow IR 0.1 JSON schema (a copy is in the repository's ``tests/fixtures/flowir/``).

Flow IR is produced by other tools, possibly newer ones, so unknown fields are ignored; but anything
the schema does define must be well-formed, and a bad document is rejected with the JSON path of the
first problem (``nodes[1].effects: unknown effects level 'sideways' …``) before anything acts on it.

This is the only module that imports pydantic. Nothing imports it at package import time: the Workers
path never loads it, and hosts that only compare hints use :func:`cap_opendal_core.validate.check_node`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError

from .errors import InvalidInput
from .hints import Determinism, Effects, validate_hint_id
from .jsondoc import MAX_DOCUMENT_BYTES, JsonDocument, check_tree, decode_document, json_path, json_pointer

__all__ = [
    "ArtifactRef",
    "BufferPolicy",
    "CheckpointIR",
    "ControlSurfaceIR",
    "EdgeIR",
    "FlowIR",
    "FlowMetadata",
    "FlowPolicies",
    "IdempotencySpec",
    "NodeIR",
    "PolicyLintSettings",
    "SchemaRef",
    "load_flow",
    "read_flow",
]

_MAX_REPORTED = 10
"""How many problems one InvalidInput message lists before summarising the rest."""


def _custom(kind: str, detail: str, **ctx: Any) -> PydanticCustomError:
    # The message goes through ctx so braces in user input can never break the template.
    return PydanticCustomError(kind, "{detail}", {"detail": detail, **ctx})


L = TypeVar("L", Effects, Determinism)


def _parse_level(levels: type[L], value: object) -> L:
    """A level of ``levels`` (:class:`Effects` or :class:`Determinism`) as a flow spells it."""
    name = levels.__name__.lower()
    if isinstance(value, levels):
        return value
    if not isinstance(value, str):
        raise _custom(f"{name}_level", f"{name} must be a string, got {type(value).__name__}")
    try:
        return levels.parse(value)
    except ValueError as exc:
        raise _custom(f"{name}_level", str(exc)) from None


def _check_hint(value: str) -> str:
    try:
        return validate_hint_id(value)
    except ValueError as exc:
        raise _custom("hint_id", str(exc)) from None


def _json_level(level: Effects | Determinism) -> str:
    return level.json


EffectsLevel = Annotated[
    Effects,
    BeforeValidator(lambda v: _parse_level(Effects, v)),
    PlainSerializer(_json_level, return_type=str),
]
"""An :class:`Effects` level read from / written as its JSON spelling."""

DeterminismLevel = Annotated[
    Determinism,
    BeforeValidator(lambda v: _parse_level(Determinism, v)),
    PlainSerializer(_json_level, return_type=str),
]
"""A :class:`Determinism` level read from / written as its JSON spelling."""

HintId = Annotated[StrictStr, AfterValidator(_check_hint)]

UINT32_MAX = 2**32 - 1
UINT64_MAX = 2**64 - 1


def _range_error(value: int, top: int, bits: int) -> PydanticCustomError:
    shown = str(value) if value.bit_length() <= 128 else f"an integer of {value.bit_length()} bits"
    return _custom("int_range", f"must be an integer from 0 to {top} (uint{bits}), got {shown}")


def _check_uint32(value: int) -> int:
    if not 0 <= value <= UINT32_MAX:
        raise _range_error(value, UINT32_MAX, 32)
    return value


def _check_uint64(value: int) -> int:
    if not 0 <= value <= UINT64_MAX:
        raise _range_error(value, UINT64_MAX, 64)
    return value


Uint32 = Annotated[StrictInt, AfterValidator(_check_uint32)]
"""An integer the schema declares ``format: uint32``."""
Uint64 = Annotated[StrictInt, AfterValidator(_check_uint64)]
"""An integer the schema declares ``format: uint64``."""

NodeKind = Literal["trigger", "inline", "activity", "subflow"]
Delivery = Literal["at_least_once", "at_most_once", "exactly_once"]
Ordering = Literal["ordered", "unordered"]
Profile = Literal["web", "queue", "temporal", "wasm", "dev"]
IdempotencyScope = Literal["node", "edge", "partition"]
ControlSurfaceKind = Literal[
    "switch", "if", "loop", "for_each", "window", "partition", "timeout", "rate_limit", "error_handler"
]


class _IRModel(BaseModel):
    """Common configuration: immutable, unknown fields ignored, JSON names accepted as aliases."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class SchemaRef(_IRModel):
    """An input/output schema reference: ``{"kind": "opaque"}`` or ``{"kind": "named", "name": …}``."""

    kind: Literal["opaque", "named"]
    name: StrictStr | None = None

    @model_validator(mode="after")
    def _named_needs_name(self) -> SchemaRef:
        if self.kind == "named" and not self.name:
            raise _custom("schema_ref", "a named schema reference needs a non-empty 'name'")
        return self


class IdempotencySpec(_IRModel):
    """How a node's effects are deduplicated: a key expression, its scope, and a reservation TTL."""

    key: StrictStr | None = None
    scope: IdempotencyScope | None = None
    ttl_ms: Uint64 | None = Field(default=None, alias="ttlMs")


class NodeIR(_IRModel):
    """One node: what it is, what it declares (effects, determinism) and which hints it carries."""

    id: StrictStr
    alias: Annotated[StrictStr, Field(min_length=1)]
    identifier: StrictStr
    name: StrictStr
    kind: NodeKind
    summary: StrictStr | None = None
    in_schema: SchemaRef
    out_schema: SchemaRef
    effects: EffectsLevel
    determinism: DeterminismLevel
    idempotency: IdempotencySpec = Field(default_factory=IdempotencySpec)
    effect_hints: tuple[HintId, ...] = Field(default=(), alias="effectHints")
    determinism_hints: tuple[HintId, ...] = Field(default=(), alias="determinismHints")


class BufferPolicy(_IRModel):
    max_items: Uint32 | None = None
    on_drop: StrictStr | None = None
    spill_threshold_bytes: Uint64 | None = None
    spill_tier: StrictStr | None = None


class EdgeIR(_IRModel):
    """A DAG edge between two node aliases. ``from`` is a Python keyword, hence ``from_``."""

    from_: StrictStr = Field(alias="from")
    to: StrictStr
    delivery: Delivery
    ordering: Ordering
    buffer: BufferPolicy
    partition_key: StrictStr | None = None
    timeout_ms: Uint64 | None = None


class ControlSurfaceIR(_IRModel):
    id: StrictStr
    kind: ControlSurfaceKind
    targets: tuple[StrictStr, ...]
    config: Any = None


class CheckpointIR(_IRModel):
    id: StrictStr
    summary: StrictStr | None = None


class ArtifactRef(_IRModel):
    kind: StrictStr
    path: StrictStr
    format: StrictStr | None = None


class PolicyLintSettings(_IRModel):
    require_control_hints: StrictBool = False
    allow_multiple_triggers: StrictBool | None = None


class FlowPolicies(_IRModel):
    lint: PolicyLintSettings = Field(default_factory=PolicyLintSettings)


class FlowMetadata(_IRModel):
    tags: tuple[StrictStr, ...] = ()


class FlowIR(_IRModel):
    """A whole flow, well-formed field by field.

    Graph problems — a duplicate alias, an edge to an unknown alias, a cycle — are not refused here:
    the validator reports them as diagnostics (``DAG205``, ``DAG202``, ``DAG200``) together with
    everything else it finds.
    """

    id: StrictStr
    name: StrictStr
    version: StrictStr
    profile: Profile
    summary: StrictStr | None = None
    nodes: tuple[NodeIR, ...] = ()
    edges: tuple[EdgeIR, ...] = ()
    control_surfaces: tuple[ControlSurfaceIR, ...] = ()
    checkpoints: tuple[CheckpointIR, ...] = ()
    policies: FlowPolicies = Field(default_factory=FlowPolicies)
    metadata: FlowMetadata = Field(default_factory=FlowMetadata)
    artifacts: tuple[ArtifactRef, ...] = ()

    @property
    def aliases(self) -> tuple[str, ...]:
        """Node aliases in flow order (the order diagnostics are sorted by)."""
        return tuple(n.alias for n in self.nodes)

    def node(self, alias: str) -> NodeIR:
        """The first node with ``alias``; ``KeyError`` if there is none."""
        for n in self.nodes:
            if n.alias == alias:
                return n
        raise KeyError(alias)

    def to_json_dict(self) -> dict[str, Any]:
        """The flow as JSON-ready data with the schema's field names."""
        return self.model_dump(mode="json", by_alias=True)


# --- loading -------------------------------------------------------------------------------------


def load_flow(source: str | bytes | os.PathLike[str] | Mapping[str, Any] | FlowIR) -> FlowIR:
    """Read and check a Flow IR document.

    ``source`` is a mapping (already-parsed JSON), ``bytes`` (JSON text), a path, or a ``str`` that is
    JSON text when it starts with ``{`` or ``[`` and a path otherwise. Raises :class:`InvalidInput` when the
    file cannot be read, is not JSON (or repeats a key, nests too deeply, is too large), or does not
    match the schema; ``field`` is the JSON path of the first problem (``nodes[1].effects``) and the
    message lists every problem found.
    """
    return read_flow(source)[0]


def read_flow(
    source: str | bytes | os.PathLike[str] | Mapping[str, Any] | FlowIR,
) -> tuple[FlowIR, JsonDocument | None]:
    """:func:`load_flow`, also returning the parsed text (for line and column) when there was one."""
    if isinstance(source, FlowIR):
        return source, None
    document = _read_source(source)
    data = document.data if isinstance(document, JsonDocument) else document
    if not isinstance(data, Mapping):
        raise InvalidInput(f"a Flow IR document must be a JSON object, got {_json_type(data)}")
    try:
        model = FlowIR.model_validate(dict(data))
    except ValidationError as exc:
        problems = [_describe(err) for err in exc.errors()]
        lines = []
        for path, pointer, msg in problems[:_MAX_REPORTED]:
            where = path
            position = document.location(pointer) if isinstance(document, JsonDocument) else None
            if position is not None:
                where += f" (line {position[0]} column {position[1]})"
            lines.append(f"{where}: {msg}" if path else msg)
        if len(problems) > _MAX_REPORTED:
            lines.append(f"and {len(problems) - _MAX_REPORTED} more")
        raise InvalidInput("invalid Flow IR: " + "; ".join(lines), field=problems[0][0] or None) from exc
    return model, document if isinstance(document, JsonDocument) else None


def _read_source(source: object) -> JsonDocument | Mapping[str, Any]:
    if isinstance(source, Mapping):
        check_tree(source, "Flow IR")
        return source
    if isinstance(source, bytes | bytearray):
        return decode_document(bytes(source), "Flow IR text")
    if isinstance(source, str) and source.lstrip()[:1] in ("{", "["):
        return decode_document(source, "Flow IR text")
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        what = f"Flow IR file {str(path)!r}"
        try:
            with path.open("rb") as fh:
                raw = fh.read(MAX_DOCUMENT_BYTES + 1)
        except OSError as exc:
            raise InvalidInput(f"cannot read Flow IR file {str(path)!r}: {exc.strerror or exc}") from exc
        if len(raw) > MAX_DOCUMENT_BYTES:
            raise InvalidInput(f"{what} is larger than the limit of {MAX_DOCUMENT_BYTES} bytes")
        return decode_document(raw, what)
    raise InvalidInput(
        f"load_flow expects a path, JSON text or a mapping, got {type(source).__name__}", field="source"
    )


def _describe(err: Any) -> tuple[str, str, str]:
    """(JSON path, JSON pointer, message) for one pydantic error, in the schema's own spelling."""
    ctx = err.get("ctx") or {}
    loc: tuple[int | str, ...] = tuple(err["loc"])
    path, pointer = json_path(loc), json_pointer(loc)
    if err["type"] == "missing":
        return path, pointer, "missing required field"
    if err["type"] in {"effects_level", "determinism_level", "hint_id", "schema_ref", "int_range"}:
        return path, pointer, str(ctx["detail"])
    expected = _EXPECTED.get(err["type"], err["msg"])
    return path, pointer, f"{expected}, got {_json_value(err.get('input'))}"


_EXPECTED = {
    "model_type": "expected a JSON object",
    "model_attributes_type": "expected a JSON object",
    "dict_type": "expected a JSON object",
    "tuple_type": "expected a JSON array",
    "list_type": "expected a JSON array",
    "string_type": "expected a string",
    "int_type": "expected an integer",
    "bool_type": "expected true or false",
}


def _json_value(value: object) -> str:
    """A short rendering of a bad value: scalars as written, containers by their JSON type."""
    if isinstance(value, Mapping | list | tuple):
        return _json_type(value)
    if isinstance(value, int) and value.bit_length() > 128:
        return f"an integer of {value.bit_length()} bits"
    text = json.dumps(value) if isinstance(value, str | int | float | bool) or value is None else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _json_type(value: object) -> str:
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list | tuple):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return type(value).__name__
