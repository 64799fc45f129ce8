"""Diagnostics as people and tools read them: one line each, a JSON array, or a SARIF 2.1.0 log.

The JSON form is :meth:`Diagnostic.to_dict` per finding — a stable schema documented in
``docs/hints-and-validation.md``. SARIF is what CI systems (GitHub code scanning and others) turn
into annotations on the flow file: one rule per code, one result per diagnostic, each located by
line and column in the file and by its JSON pointer.
"""

from __future__ import annotations

import json
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote

from .diagnostics import CODES

if TYPE_CHECKING:
    from collections.abc import Sequence

    from .diagnostics import Diagnostic

__all__ = ["FORMATS", "Format", "render", "to_sarif"]

Format = Literal["text", "json", "sarif"]
FORMATS: tuple[Format, ...] = ("text", "json", "sarif")

SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
_INFO_URI = "https://github.com/cap-sdk/cap/blob/main/docs/hints-and-validation.md"


def render(diags: Sequence[Diagnostic], fmt: Format, *, artifact: str | None = None) -> str:
    """The text to print for ``diags`` in ``fmt``; ``artifact`` is the file they are about (None: stdin)."""
    if fmt == "text":
        return "".join(f"{d}\n" for d in diags)
    if fmt == "json":
        return json.dumps([d.to_dict() for d in diags], indent=2) + "\n"
    if fmt == "sarif":
        return json.dumps(to_sarif(diags, artifact=artifact), indent=2) + "\n"
    raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")


def to_sarif(diags: Sequence[Diagnostic], *, artifact: str | None = None) -> dict[str, Any]:
    """A SARIF 2.1.0 log with one run of ``caps``: a rule per code used, a result per diagnostic."""
    from . import __version__

    used = sorted({d.code for d in diags})
    rule_index = {code: i for i, code in enumerate(used)}
    rules = [
        {
            "id": code,
            "shortDescription": {"text": CODES.get(code, code)},
            "helpUri": f"{_INFO_URI}#the-diagnostics",
        }
        for code in used
    ]
    uri = None if artifact is None else _uri(artifact)
    results = [_result(d, rule_index[d.code], uri) for d in diags]
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "caps",
                "version": __version__,
                "informationUri": _INFO_URI,
                "rules": rules,
            }
        },
        "columnKind": "unicodeCodePoints",
        "results": results,
    }
    if uri is not None:
        run["artifacts"] = [{"location": {"uri": uri}}]
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}


def _result(d: Diagnostic, index: int, uri: str | None) -> dict[str, Any]:
    result: dict[str, Any] = {
        "ruleId": d.code,
        "ruleIndex": index,
        "level": "error" if d.severity == "error" else "warning",
        "message": {"text": d.message},
    }
    location: dict[str, Any] = {}
    if uri is not None:
        physical: dict[str, Any] = {"artifactLocation": {"uri": uri, "index": 0}}
        if d.line is not None:
            physical["region"] = {"startLine": d.line, "startColumn": d.column or 1}
        location["physicalLocation"] = physical
    logical = []
    if d.node is not None:
        logical.append({"name": d.node, "kind": "object"})
    if d.pointer is not None:
        logical.append({"fullyQualifiedName": d.pointer, "kind": "member"})
    if logical:
        location["logicalLocations"] = logical
    if location:
        result["locations"] = [location]
    properties = {k: v for k, v in d.to_dict().items() if k in ("edge", "hint", "declared", "required")}
    properties = {k: v for k, v in properties.items() if v is not None}
    if properties:
        result["properties"] = properties
    return result


def _uri(path: str) -> str:
    """A relative URI reference for a path as the user gave it (``docs/x y.json`` -> ``docs/x%20y.json``)."""
    pure = PurePath(path)
    if pure.is_absolute():
        return Path(path).as_uri()
    return quote(pure.as_posix())
