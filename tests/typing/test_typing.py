"""The public API's types, as a user's ``mypy --strict`` sees them: ``cases/accepted.py`` must check
clean (its ``assert_type`` calls pin what is inferred) and every line of ``cases/refused.py`` marked
``# E: <code>`` must fail with that code, and no other line.

mypy runs with the repository's configuration, so it reuses the cache ``./dev lint`` leaves.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CASES = Path(__file__).parent / "cases"
_ERROR = re.compile(r"^(?P<path>[^:]+):(?P<line>\d+): error: .*\[(?P<code>[a-z-]+)\]$")
_EXPECTED = re.compile(r"#\s*E:\s*(?P<code>[a-z-]+)\s*$")


def _mypy(*files: Path) -> list[tuple[str, int, str]]:
    run = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", "pyproject.toml", "--no-error-summary"]
        + [str(f.relative_to(ROOT)) for f in files],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert run.returncode in (0, 1), run.stdout + run.stderr
    errors = []
    for line in run.stdout.splitlines():
        m = _ERROR.match(line)
        if m:
            errors.append((Path(m["path"]).name, int(m["line"]), m["code"]))
        elif ": error:" in line:
            raise AssertionError(f"unparsed mypy error: {line}")
    return errors


def _expected(path: Path) -> list[tuple[str, int, str]]:
    out = []
    for number, text in enumerate(path.read_text().splitlines(), start=1):
        m = _EXPECTED.search(text)
        if m:
            out.append((path.name, number, m["code"]))
    return out


def test_accepted_and_refused_forms() -> None:
    accepted, refused = CASES / "accepted.py", CASES / "refused.py"
    expected = _expected(refused)
    assert len(expected) >= 10, "the refused cases lost their markers"
    got = _mypy(accepted, refused)
    assert [e for e in got if e[0] == accepted.name] == []
    assert sorted(e for e in got if e[0] == refused.name) == sorted(expected)
