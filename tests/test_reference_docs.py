"""The reference pages in docs/reference/ say what the code does: every table row is checked here.

The pages are the documentation docstrings cite for limits, hints and diagnostic codes; if a number or
a hint changes in the code and not on the page (or the other way round), this fails.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

from cap_opendal_core.descriptors import DESCRIPTOR_LEVELS
from cap_opendal_core.diagnostics import CODES
from cap_opendal_core.hints import registry
from cap_opendal_core.plugins import discover

REFERENCE = Path(__file__).resolve().parents[1] / "docs" / "reference"

LIMIT_PAGES = {
    "workers-kv.md": "cap_cloudflare_kv.limits",
    "r2.md": "cap_cloudflare_r2.limits",
    "queues.md": "cap_cloudflare_queue.limits",
    "durable-objects.md": "cap_cloudflare_do.limits",
    "workers-platform.md": "cap_opendal_core.limits",
}
_LIMIT_ROW = re.compile(r"^\| (?P<what>[^|]+) \| (?P<value>[0-9.]+) \| `(?P<name>[A-Z_0-9]+)` \|$")


def _rows(page: str) -> list[list[str]]:
    """The cells of every table row of ``page`` (header and separator rows left out)."""
    rows = []
    for line in (REFERENCE / page).read_text(encoding="utf-8").splitlines():
        if line.startswith("| ") and not line.startswith("| ---"):
            rows.append([cell.strip() for cell in line.strip("|").split(" | ")])
    return rows


def _limit_rows(page: str) -> dict[str, float]:
    found: dict[str, float] = {}
    for line in (REFERENCE / page).read_text(encoding="utf-8").splitlines():
        if match := _LIMIT_ROW.match(line):
            assert match["name"] not in found, f"{page}: {match['name']} is documented twice"
            found[match["name"]] = float(match["value"])
    return found


@pytest.mark.parametrize(("page", "module_name"), sorted(LIMIT_PAGES.items()))
def test_limit_pages_match_the_limits_modules(page: str, module_name: str) -> None:
    module = importlib.import_module(module_name)
    documented = _limit_rows(page)
    numeric = {
        name: getattr(module, name)
        for name in module.__all__
        if isinstance(getattr(module, name), int | float) and not isinstance(getattr(module, name), bool)
    }
    assert documented, f"{page} has no limit table"
    assert set(documented) == set(numeric), f"{page}: constants missing or unknown"
    for name, value in documented.items():
        assert value == numeric[name], (
            f"{page}: {name} is {numeric[name]} in {module_name}, {value} on the page"
        )


@pytest.mark.parametrize("page", sorted(LIMIT_PAGES))
def test_limit_pages_link_to_cloudflare(page: str) -> None:
    text = (REFERENCE / page).read_text(encoding="utf-8")
    assert re.search(r"\(https://developers\.cloudflare\.com/[^)]*limits/\)", text), page


def test_hint_table_is_the_registry() -> None:
    discover()  # every installed capability registers its hint family
    documented = {
        (row[0].strip("`"), row[1], row[2], row[3])
        for row in _rows("hints.md")
        if len(row) == 5 and row[0].startswith("`resource::")
    }
    registered = {(c.hint, c.kind, c.minimum.json, c.source) for c in registry}
    assert documented == registered


def test_diagnostic_codes_are_the_codes() -> None:
    documented = {row[0].strip("`") for row in _rows("hints.md") if re.fullmatch(r"`[A-Z]+[0-9]+`", row[0])}
    assert documented == set(CODES)


def test_descriptor_levels_are_the_levels() -> None:
    documented = {
        row[0]: tuple(row[1].split(" < ")) for row in _rows("hints.md") if row[0] in DESCRIPTOR_LEVELS
    }
    assert documented == dict(DESCRIPTOR_LEVELS)
