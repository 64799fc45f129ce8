"""The repository stands on its own: nothing it tracks points at a ``shared/`` folder outside it.

Users, contributors and their CI have only the repository, so code, tests and docs must read their
fixtures from inside it (tests/fixtures/) and cite docs/reference/ rather than material beside a clone.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
THIS = Path(__file__).resolve().relative_to(REPO).as_posix()

# ``shared/reference…``, ``../shared``, ``parent / "shared"``, ``"shared"`` as a path segment.
OUTSIDE_SHARED = re.compile(r"""(?:\.\./|\b)shared/|/\s*["']shared["']|\bSHARED\s*=""")


def _tracked_files() -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    )
    return [name for name in listed.stdout.decode().split("\0") if name]


def test_no_tracked_file_refers_to_a_shared_folder_outside_the_repository() -> None:
    offenders = []
    for name in _tracked_files():
        if name == THIS or not (REPO / name).is_file():
            continue
        try:
            text = (REPO / name).read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        for number, line in enumerate(text.splitlines(), 1):
            if OUTSIDE_SHARED.search(line):
                offenders.append(f"{name}:{number}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


def test_the_pattern_catches_what_it_must() -> None:
    for line in (
        "Source: ``shared/reference/cloudflare.md``",
        'SHARED = Path(__file__).parents[2].parent / "shared"',
        "see ../shared/DESIGN.md",
    ):
        assert OUTSIDE_SHARED.search(line), line
    for line in ("a shared machine", "one lock per bucket root, shared", "shared_secret = 1"):
        assert not OUTSIDE_SHARED.search(line), line
