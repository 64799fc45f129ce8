"""Release-ready metadata: one version per package, consistent metadata, links that work on an index
page, and a release workflow that publishes core before the capabilities with trusted publishing."""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.specifiers import SpecifierSet

from tests.support.workspace import CAPABILITIES, CORE, PACKAGES, TESTING

REPO = Path(__file__).resolve().parents[1]
RELATIVE_LINK = re.compile(r"\]\((?!https?://|#|mailto:)[^)]+\)")


def project(package: str) -> dict[str, Any]:
    data: dict[str, Any] = tomllib.loads((REPO / package / "pyproject.toml").read_text(encoding="utf-8"))
    return data


def version(package: str) -> str:
    text = (REPO / package / "src" / package / "__init__.py").read_text(encoding="utf-8")
    found = re.findall(r'^__version__ = "([^"]+)"$', text, re.MULTILINE)
    assert len(found) == 1, f"{package}: exactly one __version__ line expected"
    return str(found[0])


@pytest.mark.parametrize("package", PACKAGES)
def test_the_version_has_one_source(package: str) -> None:
    data = project(package)
    assert "version" not in data["project"], "the version lives only in __version__"
    assert data["project"]["dynamic"] == ["version"]
    assert data["tool"]["hatch"]["version"]["path"] == f"src/{package}/__init__.py"
    version(package)


@pytest.mark.parametrize("package", CAPABILITIES)
def test_capabilities_accept_the_current_core(package: str) -> None:
    requirements = [
        r for r in project(package)["project"]["dependencies"] if r.startswith("cap-opendal-core")
    ]
    assert len(requirements) == 1
    assert version(CORE) in SpecifierSet(requirements[0].removeprefix("cap-opendal-core"))


def test_metadata_is_the_same_where_it_should_be() -> None:
    projects = {p: project(p)["project"] for p in PACKAGES}
    for field in ("requires-python", "license", "license-files", "authors"):
        values = {repr(data[field]) for data in projects.values()}
        assert len(values) == 1, f"{field} differs between packages"
    classifiers = projects[CORE]["classifiers"]
    for package, data in projects.items():
        # the same everywhere, but a package may add its own (cap-testing: Framework :: Pytest)
        assert set(classifiers) <= set(data["classifiers"]), f"{package} lacks some of core's classifiers"
        assert package == TESTING or data["classifiers"] == classifiers, f"{package}'s classifiers differ"
    assert "Typing :: Typed" in classifiers
    tested = f"Programming Language :: Python :: {sys.version_info.major}.{sys.version_info.minor}"
    assert tested in classifiers, "the Python the suite runs on is a classifier"
    homepages = {data["urls"]["Homepage"] for data in projects.values()}
    assert len(homepages) == 1
    for package, data in projects.items():
        urls = data["urls"]
        assert set(urls) == {"Homepage", "Source", "Documentation", "Changelog", "Issues"}, package
        assert all(url.startswith("https://") for url in urls.values()), package
        assert urls["Source"].endswith(f"/{package}"), package


@pytest.mark.parametrize("package", PACKAGES)
def test_license_file_is_the_projects(package: str) -> None:
    assert (REPO / package / "LICENSE").read_bytes() == (REPO / "LICENSE").read_bytes()
    assert "Apache License" in (REPO / "LICENSE").read_text(encoding="utf-8")


@pytest.mark.parametrize("package", PACKAGES)
def test_package_readmes_link_absolutely(package: str) -> None:
    """A package README becomes its index page, where a relative link leads nowhere."""
    assert RELATIVE_LINK.findall((REPO / package / "README.md").read_text(encoding="utf-8")) == []


def test_changelog_has_an_unreleased_section() -> None:
    text = (REPO / "CHANGELOG.md").read_text(encoding="utf-8")
    assert "\n## Unreleased\n" in text


def test_release_workflow_publishes_core_first_with_trusted_publishing() -> None:
    workflow = yaml.safe_load((REPO / ".github" / "workflows" / "release.yml").read_text(encoding="utf-8"))
    jobs = workflow["jobs"]
    assert jobs["publish-core"]["needs"] == "build"
    assert jobs["publish-capabilities"]["needs"] == "publish-core"
    builds = [step.get("run", "") for step in jobs["build"]["steps"]]
    assert "./dev dist" in builds
    for name in ("publish-core", "publish-capabilities"):
        job = jobs[name]
        assert job["permissions"] == {"id-token": "write"}, "trusted publishing needs the OIDC token"
        publish = [
            s for s in job["steps"] if str(s.get("uses", "")).startswith("pypa/gh-action-pypi-publish")
        ]
        assert len(publish) == 1
        assert not {"password", "user"} & set(publish[0].get("with", {})), "no stored credentials"
    keep_core = " ".join(s.get("run", "") for s in jobs["publish-core"]["steps"])
    assert "! -name 'cap_opendal_core-*' -delete" in keep_core
