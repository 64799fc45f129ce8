"""A fifth capability needs no edit in core (issue 16; docs/preflight-and-wrangler.md).

``toy_counter`` is installed the way a real package is — a distribution whose entry point in
``cap_opendal_core.capabilities`` names its plugin — by writing its ``.dist-info`` into a temporary
directory on ``sys.path``. Everything below then comes from that plugin alone: its hints in
``caps hints``, its binding kind in manifests, preflight and ``caps wrangler``, its error codes in
the translators, its constructor.
"""

from __future__ import annotations

import importlib
import json
import sys
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from cap_opendal_core import errors
from cap_opendal_core.bag import CapabilityBag
from cap_opendal_core.cli import main
from cap_opendal_core.manifest import BindingManifest
from cap_opendal_core.plugins import discover
from cap_opendal_core.preflight_check import preflight
from cap_opendal_core.translate import from_exception, from_http

if TYPE_CHECKING:
    from collections.abc import Iterator

HERE = Path(__file__).resolve().parent

MANIFEST = """\
[bindings.HITS]
kind = "counter_namespace"
namespace = "page-hits"
start = 10

[bindings.FLOW_KV]
kind = "kv_namespace"
id = "0f2ac74b498b48028cb68387c421e279"
"""


@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Install ``toy_counter`` as a distribution with an entry point, then uninstall it."""
    site = tmp_path / "site"
    info = site / "toy_counter-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-counter\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text(
        "[cap_opendal_core.capabilities]\ncounter = toy_counter.plugin:PLUGIN\n"
    )
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.syspath_prepend(str(HERE))
    importlib.invalidate_caches()
    assert "counter" in discover(refresh=True)
    yield
    monkeypatch.undo()
    for name in [m for m in sys.modules if m.split(".")[0] == "toy_counter"]:
        del sys.modules[name]
    importlib.invalidate_caches()
    assert "counter" not in discover(refresh=True)


@pytest.mark.usefixtures("installed")
def test_caps_hints_lists_the_new_capabilitys_hints(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["hints", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    rows = rows["hints"] if isinstance(rows, dict) else rows
    mine = {r["hint"]: r for r in rows if r["hint"].startswith("resource::counter")}
    assert set(mine) == {"resource::counter", "resource::counter::add", "resource::counter::read"}
    assert mine["resource::counter::add"]["registered_by"] == "toy-counter"


@pytest.mark.usefixtures("installed")
def test_manifests_read_validate_and_write_back_the_new_kind() -> None:
    manifest = BindingManifest.from_dict(tomllib.loads(MANIFEST))
    spec = manifest["HITS"]
    assert (spec.kind, spec.namespace, spec.start) == ("counter_namespace", "page-hits", 10)
    assert BindingManifest.from_dict(manifest.to_dict()) == manifest
    bad = tomllib.loads(MANIFEST.replace("start = 10", "start = -1"))
    with pytest.raises(errors.InvalidInput, match=r"bindings\.HITS\.start: must be an integer"):
        BindingManifest.from_dict(bad)
    with pytest.raises(errors.InvalidInput, match=r"bindings\.HITS\.colour: unknown key"):
        BindingManifest.from_dict(tomllib.loads(MANIFEST.replace("start = 10", 'colour = "red"')))


@pytest.mark.usefixtures("installed")
def test_preflight_checks_a_bag_against_the_new_kind(tmp_path: Path) -> None:
    manifest = BindingManifest.from_dict(tomllib.loads(MANIFEST))
    kv = discover()["kv"].constructor("local")(tmp_path / "kv")
    counter = discover()["counter"].constructor("local")()
    assert type(counter).__module__ == "toy_counter"
    assert preflight(manifest, CapabilityBag({"HITS": counter, "FLOW_KV": kv})) == []
    missing = preflight(manifest, CapabilityBag({"FLOW_KV": kv}))
    assert [(d.code, d.node) for d in missing] == [("CAP101", "HITS")]


@pytest.mark.usefixtures("installed")
def test_caps_wrangler_renders_the_new_section(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "manifest.toml"
    path.write_text(MANIFEST)
    assert main(["wrangler", str(path)]) == 0
    doc = tomllib.loads(capsys.readouterr().out)
    assert doc["counters"] == [{"binding": "HITS", "namespace": "page-hits", "start": 10}]
    assert doc["kv_namespaces"] == [{"binding": "FLOW_KV", "id": "0f2ac74b498b48028cb68387c421e279"}]


@pytest.mark.anyio
@pytest.mark.usefixtures("installed")
async def test_the_new_services_errors_are_translated() -> None:
    err = from_http(
        400, {"errors": [{"code": 77001, "message": "too big"}]}, capability="counter", operation="add"
    )
    assert isinstance(err, errors.LimitExceeded)
    assert err.limit == "counter.max_value"
    counter = discover()["counter"].constructor("local")()
    assert await counter.add("a", 2) == 2
    with pytest.raises(errors.InvalidInput):
        await counter.add("a", -1)
    assert isinstance(
        from_exception(ValueError("x"), capability="counter", operation="add"), errors.InvalidInput
    )
