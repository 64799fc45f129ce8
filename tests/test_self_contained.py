"""The repository stands on its own: nothing it tracks points at a ``shared`` folder beside the clone.

Users, contributors and their CI have only the repository, so code, tests and docs must read their
fixtures from inside it (tests/fixtures/) and cite docs/reference/ rather than material beside a clone.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
THIS = Path(__file__).resolve().relative_to(REPO).as_posix()

# The folder name as a path segment: followed by a slash, after ``../``, or quoted after a ``/`` join.
FOLDER = "shared"
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
    # Built from FOLDER so that this file itself holds no such reference.
    for line in (
        f"Source: ``{FOLDER}/reference/cloudflare.md``",
        f'SHARED = Path(__file__).parents[2].parent / "{FOLDER}"',
        f"see ../{FOLDER}/DESIGN.md",
    ):
        assert OUTSIDE_SHARED.search(line), line
    for line in ("a shared machine", "one lock per bucket root, shared", "shared_secret = 1"):
        assert not OUTSIDE_SHARED.search(line), line
