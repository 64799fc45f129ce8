"""Check the built distributions in a folder before anyone installs or publishes them.

``./dev dist`` runs this after building. It fails (exit 1, one line per problem) unless, for each of
the six published packages (core, the four capabilities, cap-testing), there is exactly one sdist
and one wheel, ``twine check`` passes (the metadata and the README render as a package index would
render them), the wheel holds the package's ``py.typed`` and its LICENSE, neither archive carries
tests, caches or compiled bytecode, and the metadata has what a release needs: the version from
``__version__``, a license expression, classifiers, project URLs and a README whose links are
absolute (relative links break on an index page).
"""

from __future__ import annotations

import re
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from email.parser import Parser
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES: tuple[str, ...] = tuple(
    member
    for member in tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["uv"][
        "workspace"
    ]["members"]
    if "Private :: Do Not Upload"
    not in tomllib.loads((REPO / member / "pyproject.toml").read_text(encoding="utf-8"))["project"].get(
        "classifiers", []
    )
)
"""The published package folders, from the root pyproject's workspace: every member but those marked
"Private :: Do Not Upload" (``cap_demo``), which the package index would refuse anyway."""
FORBIDDEN = re.compile(
    r"(^|/)(tests?|__pycache__|\.pytest_cache|\.mypy_cache|\.ruff_cache|\.caps)(/|$)|\.py[co]$"
)
RELATIVE_LINK = re.compile(r"\]\((?!https?://|#|mailto:)[^)]+\)")
REQUIRED_URLS = ("Homepage", "Source", "Documentation", "Changelog", "Issues")


def version_of(package: str) -> str:
    """The package's one version: ``__version__`` in its ``__init__.py``."""
    text = (REPO / package / "src" / package / "__init__.py").read_text(encoding="utf-8")
    match = re.search(r'^__version__ = "([^"]+)"$', text, re.MULTILINE)
    if match is None:
        raise SystemExit(f"{package}: no __version__ in __init__.py")
    return match.group(1)


def check_metadata(label: str, text: str, version: str) -> list[str]:
    meta = Parser().parsestr(text)
    problems = []
    if meta["Version"] != version:
        problems.append(f"{label}: version {meta['Version']} is not __version__ {version}")
    if meta["License-Expression"] != "Apache-2.0":
        problems.append(f"{label}: no License-Expression: Apache-2.0")
    classifiers = meta.get_all("Classifier") or []
    for wanted in ("Typing :: Typed", "Programming Language :: Python :: 3.11"):
        if wanted not in classifiers:
            problems.append(f"{label}: classifier {wanted!r} missing")
    urls = {entry.split(",", 1)[0].strip() for entry in meta.get_all("Project-URL") or []}
    problems += [f"{label}: Project-URL {name} missing" for name in REQUIRED_URLS if name not in urls]
    if meta["Description-Content-Type"] != "text/markdown":
        problems.append(f"{label}: README is not declared as text/markdown")
    body = meta.get_payload()
    assert isinstance(body, str)
    problems += [f"{label}: README has a relative link {link}" for link in RELATIVE_LINK.findall(body)]
    return problems


def check_wheel(path: Path, package: str, version: str) -> list[str]:
    with zipfile.ZipFile(path) as wheel:
        names = wheel.namelist()
        metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
        problems = check_metadata(path.name, wheel.read(metadata).decode(), version)
    if f"{package}/py.typed" not in names:
        problems.append(f"{path.name}: {package}/py.typed missing")
    if not any(n.endswith(".dist-info/licenses/LICENSE") for n in names):
        problems.append(f"{path.name}: LICENSE missing")
    problems += [f"{path.name}: must not hold {n}" for n in names if FORBIDDEN.search(n)]
    outside = [n for n in names if not n.startswith(f"{package}/") and ".dist-info/" not in n]
    problems += [f"{path.name}: holds {n} outside {package}/" for n in outside]
    return problems


def check_sdist(path: Path, version: str) -> list[str]:
    with tarfile.open(path) as sdist:
        names = sdist.getnames()
        pkg_info = next(n for n in names if n.count("/") == 1 and n.endswith("/PKG-INFO"))
        member = sdist.extractfile(pkg_info)
        assert member is not None
        problems = check_metadata(path.name, member.read().decode(), version)
    return problems + [f"{path.name}: must not hold {n}" for n in names if FORBIDDEN.search(n)]


def main(folder: Path) -> int:
    problems: list[str] = []
    for package in PACKAGES:
        version = version_of(package)
        wheels = sorted(folder.glob(f"{package}-{version}-*.whl"))
        sdists = sorted(folder.glob(f"{package}-{version}.tar.gz"))
        if len(wheels) != 1 or len(sdists) != 1:
            problems.append(f"{package}: want one wheel and one sdist of {version}, found {wheels + sdists}")
            continue
        problems += check_wheel(wheels[0], package, version)
        problems += check_sdist(sdists[0], version)
    twine = subprocess.run(
        [
            sys.executable,
            "-m",
            "twine",
            "check",
            "--strict",
            *sorted(str(p) for p in folder.iterdir() if p.name.endswith((".whl", ".tar.gz"))),
        ],
        capture_output=True,
        text=True,
    )
    if twine.returncode != 0:
        problems.append(f"twine check failed:\n{twine.stdout}{twine.stderr}")
    for problem in problems:
        print(problem, file=sys.stderr)
    if not problems:
        print(f"{folder}: {len(PACKAGES)} sdists and {len(PACKAGES)} wheels checked")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "dist"))
