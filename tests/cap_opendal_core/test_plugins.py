"""Plugin discovery: the four installed skeletons through real entry points, broken plugins, replacement."""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from cap_opendal_core import Misconfigured
from cap_opendal_core.descriptors import Descriptor
from cap_opendal_core.errors import InvalidInput
from cap_opendal_core.hints import BUILTIN_CONSTRAINTS, Constraint, Effects, registry
from cap_opendal_core.plugins import (
    ENTRY_POINT_GROUP,
    CapabilityPlugin,
    builtin_constraints_under,
    discover,
    hint_provided,
    register_plugin,
    unregister_plugin,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

EXPECTED_HINTS = {
    "kv": ("kv_namespace", {"resource::kv::read", "resource::kv::write", "resource::kv"}),
    "r2": (
        "r2_bucket",
        {"resource::blob::read", "resource::blob::write", "resource::blob", "resource::blob::pinned"},
    ),
    "queue": ("queue", {"resource::queue::publish", "resource::queue::consume", "resource::queue"}),
    "do": (
        "durable_object",
        {
            "resource::state::read",
            "resource::state::write",
            "resource::state",
            "resource::dedupe::write",
            "resource::dedupe",
        },
    ),
}


@pytest.fixture
def registered() -> Iterator[list[str]]:
    """Names registered in-process by a test; unregistered afterwards, entry points re-read."""
    names: list[str] = []
    yield names
    for name in names:
        unregister_plugin(name)
    discover(refresh=True)


def make_plugin(name: str = "testcap", **kw: Any) -> CapabilityPlugin:
    args: dict[str, Any] = {
        "name": name,
        "distribution": "test-dist",
        "binding_kind": "kv_namespace",
        "descriptor": Descriptor(consistency="strong"),
    }
    args.update(kw)
    return CapabilityPlugin(**args)


def test_the_four_skeletons_are_discovered_through_their_entry_points() -> None:
    eps = {ep.name: ep for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}
    plugins = discover(refresh=True)
    assert plugins.problems == ()
    for name, (kind, hints) in EXPECTED_HINTS.items():
        assert eps[name].value == f"cap_cloudflare_{name}.plugin:PLUGIN"
        plugin = plugins[name]
        assert plugin is eps[name].load()
        assert plugin.distribution == f"cap-cloudflare-{name}"
        assert plugin.binding_kind == kind
        assert set(plugin.provided_hints) == hints
        # their constraints are registered under their distribution's name
        for c in plugin.hints:
            assert c.source == plugin.distribution
            assert registry.lookup(c.hint, c.kind) == c
    assert registry.lookup("resource::kv::write", "effect").source == "cap-cloudflare-kv"  # type: ignore[union-attr]
    assert registry.lookup("resource::state::read", "determinism").source == "cap-cloudflare-do"  # type: ignore[union-attr]


def test_each_package_registers_its_own_family_and_core_only_its_own() -> None:
    plugins = discover()
    for plugin in plugins:
        assert plugin.hints, plugin.name
        for c in plugin.hints:
            assert plugin.provides(c.hint), c
    core_families = ("resource::http", "resource::db", "resource::clock", "resource::rng")
    assert builtin_constraints_under(*core_families) == BUILTIN_CONSTRAINTS


def test_skeleton_descriptors_state_cloudflare_guarantees() -> None:
    p = discover()
    kv, r2, queue, do = p["kv"].descriptor, p["r2"].descriptor, p["queue"].descriptor, p["do"].descriptor
    assert (kv.consistency, kv.durability, kv.ttl) == ("eventual", "durable", "per_write")
    assert kv.extensions["com.cloudflare.kv.min_ttl_s"] == 60
    assert (r2.consistency, r2.durability, r2.ttl) == ("strong", "durable", "none")
    assert (queue.delivery, queue.ordering, queue.durability) == ("at_least_once", "unordered", "durable")
    assert (do.consistency, do.durability, do.ordering, do.reservation) == (
        "strong",
        "durable",
        "ordered",
        "atomic",
    )


def test_installed_constructors_resolve_or_fail_clearly() -> None:
    for plugin in discover():
        assert {"from_env", "from_url", "local"} <= set(plugin.constructors)
        for name in plugin.constructors:
            outcome: object
            try:
                outcome = plugin.constructor(name)
            except Misconfigured as exc:  # a skeleton: the message says what is missing
                outcome = str(exc)
            if isinstance(outcome, str):
                assert f"plugin {plugin.name!r}" in outcome
                assert f"constructor {name!r}" in outcome
            else:
                assert callable(outcome)


def test_constructor_refs_are_resolved_lazily_with_clear_errors() -> None:
    plugin = make_plugin(
        constructors={
            "dumps": "json:dumps",
            "nested": "json:JSONDecoder.decode",
            "missing": "json:NoSuchThing.make",
            "nomodule": "no_such_module_xyz:thing",
        }
    )
    assert plugin.constructor("dumps") is json.dumps
    assert plugin.constructor("nested") is json.JSONDecoder.decode
    with pytest.raises(Misconfigured, match=r"'json' has no attribute 'NoSuchThing'"):
        plugin.constructor("missing")
    with pytest.raises(Misconfigured, match="no_such_module_xyz"):
        plugin.constructor("nomodule")
    with pytest.raises(Misconfigured, match=r"no constructor 'nope' \(it has: dumps, missing, nested"):
        plugin.constructor("nope")


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"name": "Bad-Name"}, "plugin name"),
        ({"binding_kind": "D1 Database"}, "binding_kind"),  # kinds are open, but identifiers
        ({"descriptor": {"consistency": "strong"}}, "Descriptor"),
        ({"provided_hints": ("resource::::x",)}, "malformed hint"),
        ({"constructors": {"from_env": "not a ref"}}, "module:Attr.path"),
        ({"hints": ("resource::kv",)}, "Constraint"),
        ({"distribution": " "}, "distribution"),
    ],
)
def test_bad_plugin_definitions_are_rejected(kw: dict[str, Any], match: str) -> None:
    with pytest.raises(InvalidInput, match=match):
        make_plugin(**kw)


def test_hint_matching_is_segment_wise() -> None:
    assert hint_provided("resource::kv::write", ["resource::kv"])
    assert hint_provided("resource::kv::write", ["resource::kv::write"])
    assert hint_provided("resource::kv", ["resource::kv::read"])  # a broader need, met by a member
    assert not hint_provided("resource::kv::write", ["resource::kv::read"])  # siblings
    assert not hint_provided("resource::blobs::read", ["resource::blob"])
    assert not hint_provided("resource::blob::read", ["resource::blobs"])


def test_register_plugin_registers_and_re_registration_replaces(registered: list[str]) -> None:
    registered.append("testcap")
    first = make_plugin(hints=(Constraint("resource::testcap::op", "effect", Effects.READ_ONLY),))
    register_plugin(first)
    assert discover()["testcap"] is first
    found = registry.lookup("resource::testcap::op", "effect")
    assert found is not None
    assert found.minimum == Effects.READ_ONLY
    assert found.source == "test-dist"

    second = make_plugin(hints=(Constraint("resource::testcap::op", "effect", Effects.EFFECTFUL),))
    register_plugin(second)
    assert discover()["testcap"] is second
    assert registry.effect_minimum("resource::testcap::op") == Effects.EFFECTFUL

    third = make_plugin(hints=())  # drops the constraint: it is withdrawn
    register_plugin(third)
    assert registry.lookup("resource::testcap::op", "effect") is None


def test_overriding_and_removing_restores_what_was_shadowed(registered: list[str]) -> None:
    discover()
    kv_write = registry.lookup("resource::kv::write", "effect")
    assert kv_write is not None
    assert kv_write.source == "cap-cloudflare-kv"
    registered.append("override")
    register_plugin(
        make_plugin("override", hints=(Constraint("resource::kv::write", "effect", Effects.READ_ONLY),))
    )
    assert registry.effect_minimum("resource::kv::write") == Effects.READ_ONLY
    unregister_plugin("override")
    assert registry.lookup("resource::kv::write", "effect") == kv_write  # the kv plugin's, not lost

    # replacing an entry-point plugin in-process, then removing the replacement, brings it back
    registered.append("kv")
    register_plugin(make_plugin("kv", distribution="my-kv", hints=()))
    assert discover()["kv"].distribution == "my-kv"
    assert registry.lookup("resource::kv::write", "effect") is None  # only the kv package gives its meaning
    unregister_plugin("kv")
    assert discover()["kv"].distribution == "cap-cloudflare-kv"
    assert registry.lookup("resource::kv::write", "effect") == kv_write


def test_broken_entry_points_are_reported_not_fatal(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
    fakes = [
        importlib.metadata.EntryPoint("zzbroken", "no_such_module_for_caps_test:PLUGIN", ENTRY_POINT_GROUP),
        importlib.metadata.EntryPoint("zzwrong", "json:dumps", ENTRY_POINT_GROUP),
        importlib.metadata.EntryPoint("zzrenamed", "cap_cloudflare_kv.plugin:PLUGIN", ENTRY_POINT_GROUP),
    ]

    def fake_entry_points(**kw: object) -> list[importlib.metadata.EntryPoint]:
        assert kw == {"group": ENTRY_POINT_GROUP}
        return [*real, *fakes]

    monkeypatch.setattr(importlib.metadata, "entry_points", fake_entry_points)
    try:
        plugins = discover(refresh=True)
        assert set(plugins.names()) == {"kv", "r2", "queue", "do"}
        problems = {p.entry_point.split(" ")[0]: p.error for p in plugins.problems}
        assert set(problems) == {"zzbroken", "zzwrong", "zzrenamed"}
        assert "ModuleNotFoundError" in problems["zzbroken"]
        assert "expected a CapabilityPlugin, got function" in problems["zzwrong"]
        assert "differs from plugin name 'kv'" in problems["zzrenamed"]
    finally:
        monkeypatch.undo()
        assert discover(refresh=True).problems == ()


def test_discovery_is_cached_until_refresh(monkeypatch: pytest.MonkeyPatch) -> None:
    discover()
    calls: list[object] = []

    def counting(**kw: object) -> list[object]:
        calls.append(kw)
        return []

    monkeypatch.setattr(importlib.metadata, "entry_points", counting)
    assert len(discover()) >= 4  # cached: entry points are not read again
    assert calls == []


def test_broken_distribution_on_sys_path_in_a_fresh_process(tmp_path: Path) -> None:
    """A real (if broken) installed distribution: a dist-info directory on sys.path."""
    dist = tmp_path / "caps_broken_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: caps-broken-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        f"[{ENTRY_POINT_GROUP}]\n"
        "raising = caps_broken_mod:PLUGIN\n"
        "wrongtype = caps_broken_ok:PLUGIN\n"
        "goodone = caps_broken_ok:GOOD\n"
    )
    (tmp_path / "caps_broken_mod.py").write_text("raise RuntimeError('plugin module exploded')\n")
    (tmp_path / "caps_broken_ok.py").write_text(
        textwrap.dedent(
            """
            from cap_opendal_core.descriptors import Descriptor
            from cap_opendal_core.hints import Constraint, Effects
            from cap_opendal_core.plugins import CapabilityPlugin

            PLUGIN = {"name": "wrongtype"}
            GOOD = CapabilityPlugin(
                name="goodone",
                distribution="caps-broken-plugin",
                binding_kind="r2_bucket",
                descriptor=Descriptor(consistency="strong"),
                hints=(Constraint("resource::goodone::write", "effect", Effects.EFFECTFUL),),
                provided_hints=("resource::goodone",),
            )
            """
        )
    )
    script = textwrap.dedent(
        """
        import json
        from cap_opendal_core.hints import registry
        from cap_opendal_core.plugins import discover
        ps = discover()
        print(json.dumps({
            "names": list(ps.names()),
            "problems": [[p.entry_point, p.error] for p in ps.problems],
            "source": registry.lookup("resource::goodone::write", "effect").source,
        }))
        """
    )
    env = {"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["names"] == ["do", "goodone", "kv", "queue", "r2"]
    assert out["source"] == "caps-broken-plugin"
    problems = dict(out["problems"])
    assert len(problems) == 2
    raising = next(k for k in problems if k.startswith("raising"))
    assert "(caps-broken-plugin)" in raising
    assert "RuntimeError: plugin module exploded" in problems[raising]
    wrong = next(k for k in problems if k.startswith("wrongtype"))
    assert "expected a CapabilityPlugin, got dict" in problems[wrong]

    # the CLI reports it too, and still works
    caps = Path(sys.executable).parent / "caps"
    proc = subprocess.run(
        [str(caps), "hints"], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert "resource::goodone::write" in proc.stdout
    assert "caps-broken-plugin" in proc.stdout
    assert "broken capability plugin raising" in proc.stderr
