"""Reading a JSON document defensively, remembering where its values are.

Flow IR files come from other tools and from people, so reading one must never be the failure: any
input gives a parsed document or one :class:`~cap_opendal_core.errors.InvalidInput` line. Python's
``json`` module alone silently keeps the last of two equal keys, accepts ``NaN``, and on deep nesting
raises ``RecursionError``; this module refuses each of those, bounds the size (:data:`MAX_DOCUMENT_BYTES`)
and the nesting (:data:`MAX_DEPTH`), and records the offset of every value down to
:data:`POSITION_DEPTH` levels so that diagnostics can name a line and column.

The top levels are read here (bounded recursion, :data:`POSITION_DEPTH` deep); anything deeper is
handed to the C decoder, and its result is walked iteratively for depth and duplicate keys. Work is
linear in the document's size.
"""

from __future__ import annotations

import bisect
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NoReturn

from .errors import InvalidInput

__all__ = [
    "MAX_DEPTH",
    "MAX_DOCUMENT_BYTES",
    "POSITION_DEPTH",
    "JsonDocument",
    "check_tree",
    "decode_document",
    "json_path",
    "json_pointer",
]

MAX_DOCUMENT_BYTES = 16 * 1024 * 1024
"""The largest document read (16 MiB). A Flow IR file is a few kilobytes; far larger is a mistake."""

MAX_DEPTH = 64
"""The deepest nesting of arrays and objects accepted (the Flow IR schema itself needs 5 levels)."""

POSITION_DEPTH = 4
"""Values down to this depth (``/edges/2/buffer/max_items``) get a recorded line and column."""

_WS = re.compile(r"[ \t\n\r]*")
_Path = tuple[int | str, ...]


def _skip(text: str, i: int) -> int:
    """The offset of the first non-whitespace character at or after ``i``."""
    match = _WS.match(text, i)
    return match.end() if match else i


@dataclass(frozen=True)
class JsonDocument:
    """Parsed JSON, with the offsets of its values down to :data:`POSITION_DEPTH` levels."""

    data: Any
    text: str = field(repr=False)
    offsets: Mapping[str, int] = field(repr=False)
    _lines: list[int] = field(default_factory=list, repr=False, compare=False)

    def location(self, pointer: str) -> tuple[int, int] | None:
        """(line, column), both from 1, of the value at ``pointer`` or its nearest recorded ancestor."""
        while True:
            offset = self.offsets.get(pointer)
            if offset is not None:
                return self._line_column(offset)
            if not pointer:
                return None
            pointer = pointer.rsplit("/", 1)[0]

    def _line_column(self, offset: int) -> tuple[int, int]:
        if not self._lines:  # built once, on first use: the offset at which each line starts
            self._lines.append(0)
            self._lines.extend(m.end() for m in re.finditer("\n", self.text))
        line = bisect.bisect_right(self._lines, offset)
        return line, offset - self._lines[line - 1] + 1


def json_pointer(path: _Path) -> str:
    """RFC 6901 pointer for ``path``: ``("nodes", 1, "effects")`` -> ``/nodes/1/effects``."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


_PLAIN_KEY = re.compile(r"[A-Za-z_$][A-Za-z0-9_$-]*")


def json_path(path: _Path) -> str:
    """The dotted form used in error messages: ``nodes[1].effects``.

    A key that is not a plain name is written as a quoted JSON string (``nodes[0]["a\\nb"]``), so a
    message stays on one line and says exactly which key, whatever the document holds."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _PLAIN_KEY.fullmatch(part):
            out += f".{part}" if out else part
        else:
            out += f"[{json.dumps(part)}]"
    return out


def decode_document(raw: str | bytes, what: str) -> JsonDocument:
    """Parse ``raw`` (``what`` names it in errors); :class:`InvalidInput` for anything not accepted."""
    size = len(raw) if isinstance(raw, bytes) else len(raw.encode("utf-8", "surrogatepass"))
    if size > MAX_DOCUMENT_BYTES:
        raise InvalidInput(
            f"{what} is {size} bytes; the limit is {MAX_DOCUMENT_BYTES} bytes "
            f"({MAX_DOCUMENT_BYTES // (1024 * 1024)} MiB)"
        )
    if isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidInput(
                f"{what} cannot be decoded as UTF-8: {exc.reason} at byte {exc.start}"
            ) from None
    else:
        text = raw
    text = text.removeprefix("\ufeff")
    reader = _Reader(text, what)
    data, end = reader.value(_skip(text, 0), (), 0, "")
    end = _skip(text, end)
    if end != len(text):
        reader.fail("Extra data", end)
    return JsonDocument(data, text, reader.offsets)


def check_tree(data: object, what: str, *, base: _Path = ()) -> None:
    """Refuse nesting deeper than :data:`MAX_DEPTH` and repeated keys, naming the path; iterative."""
    stack: list[tuple[object, _Path]] = [(data, base)]
    while stack:
        value, path = stack.pop()
        if len(path) >= MAX_DEPTH:  # a container at path length L is at level L + 1
            raise InvalidInput(
                f"{what}: {json_path(path[:MAX_DEPTH]) or 'the document'} nests deeper than "
                f"{MAX_DEPTH} levels of arrays and objects",
                field=json_path(path[:MAX_DEPTH]) or None,
            )
        if isinstance(value, _DuplicateKeys):
            _duplicate(what, path, value.duplicate)
        if isinstance(value, Mapping):
            stack.extend((v, (*path, k)) for k, v in value.items() if isinstance(v, Mapping | list | tuple))
        elif isinstance(value, list | tuple):
            stack.extend(
                (v, (*path, i)) for i, v in enumerate(value) if isinstance(v, Mapping | list | tuple)
            )


class _DuplicateKeys(dict[str, Any]):
    """An object read by the C decoder that repeated a key; :func:`check_tree` reports it with its path."""

    duplicate: str = ""


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) == len(pairs):
        return out
    seen: set[str] = set()
    marked = _DuplicateKeys(out)
    for key, _ in pairs:
        if key in seen:
            marked.duplicate = key
            break
        seen.add(key)
    return marked


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not a JSON value")


def _duplicate(what: str, path: _Path, key: str) -> NoReturn:
    where = json_path(path) or "the top-level object"
    raise InvalidInput(
        f"{what}: {where} has the key {key!r} more than once; JSON readers disagree on which one counts, "
        "so write it once",
        field=json_path((*path, key)),
    )


class _Reader:
    """Reads the top :data:`POSITION_DEPTH` levels by hand (to record offsets), the rest in C."""

    def __init__(self, text: str, what: str) -> None:
        self.text = text
        self.what = what
        self.offsets: dict[str, int] = {}
        self.decoder = json.JSONDecoder(object_pairs_hook=_pairs, parse_constant=_no_constant)

    def fail(self, msg: str, offset: int) -> NoReturn:
        line = self.text.count("\n", 0, offset) + 1
        column = offset - (self.text.rfind("\n", 0, offset) + 1) + 1
        raise InvalidInput(f"{self.what} is not valid JSON: {msg} at line {line} column {column}")

    def value(self, i: int, path: _Path, depth: int, pointer: str) -> tuple[Any, int]:
        self.offsets[pointer] = i
        char = self.text[i : i + 1]
        if depth < POSITION_DEPTH and char == "{":
            return self._object(i + 1, path, depth, pointer)
        if depth < POSITION_DEPTH and char == "[":
            return self._array(i + 1, path, depth, pointer)
        try:
            value, end = self.decoder.raw_decode(self.text, i)
        except json.JSONDecodeError as exc:
            self.fail(exc.msg, exc.pos)
        except RecursionError:
            raise InvalidInput(
                f"{self.what}: {json_path(path) or 'the document'} nests deeper than "
                f"{MAX_DEPTH} levels of arrays and objects",
                field=json_path(path) or None,
            ) from None
        except ValueError as exc:  # NaN/Infinity, or an integer longer than Python converts
            raise InvalidInput(
                f"{self.what}: {json_path(path) or 'the document'}: {exc}", field=json_path(path) or None
            ) from None
        if isinstance(value, dict | list):
            check_tree(value, self.what, base=path)
        return value, end

    def _object(self, i: int, path: _Path, depth: int, pointer: str) -> tuple[dict[str, Any], int]:
        out: dict[str, Any] = {}
        text = self.text
        i = _skip(text, i)
        if text[i : i + 1] == "}":
            return out, i + 1
        while True:
            if text[i : i + 1] != '"':
                self.fail("Expecting property name enclosed in double quotes", i)
            try:
                key, i = json.decoder.scanstring(text, i + 1, True)  # type: ignore[attr-defined]
            except json.JSONDecodeError as exc:
                self.fail(exc.msg, exc.pos)
            if key in out:
                _duplicate(self.what, path, key)
            i = _skip(text, i)
            if text[i : i + 1] != ":":
                self.fail("Expecting ':' delimiter", i)
            i = _skip(text, i + 1)
            child = pointer + "/" + key.replace("~", "~0").replace("/", "~1")
            out[key], i = self.value(i, (*path, key), depth + 1, child)
            done, i = self._after_item(i, "}")
            if done:
                return out, i

    def _after_item(self, i: int, close: str) -> tuple[bool, int]:
        """After a member or element: ``(True, past close)`` at the container's end, else
        ``(False, where the next item starts)``."""
        text = self.text
        i = _skip(text, i)
        char = text[i : i + 1]
        if char == close:
            return True, i + 1
        if char != ",":
            self.fail("Expecting ',' delimiter", i)
        return False, _skip(text, i + 1)

    def _array(self, i: int, path: _Path, depth: int, pointer: str) -> tuple[list[Any], int]:
        out: list[Any] = []
        text = self.text
        i = _skip(text, i)
        if text[i : i + 1] == "]":
            return out, i + 1
        while True:
            item, i = self.value(i, (*path, len(out)), depth + 1, f"{pointer}/{len(out)}")
            out.append(item)
            done, i = self._after_item(i, "]")
            if done:
                return out, i
