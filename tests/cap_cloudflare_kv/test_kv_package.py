"""The package as a whole: cheap to import, discovered as a plugin, usable by a capability bag."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import cap_cloudflare_kv
from cap_cloudflare_kv import KvNamespace
from cap_opendal_core.bag import CapabilityBag
from cap_opendal_core.descriptors import check_requirements
from cap_opendal_core.plugins import discover


def test_import_leaves_server_dependencies_unloaded() -> None:
    code = (
        "import sys, cap_cloudflare_kv\n"
        "from cap_cloudflare_kv import KvNamespace, KvKey, KvListResult, KvWrite\n"
        "heavy = [m for m in ('opendal', 'pydantic', 'httpx', 'structlog') if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_every_public_name_resolves() -> None:
    for name in cap_cloudflare_kv.__all__:
        assert getattr(cap_cloudflare_kv, name) is not None, name
    with pytest.raises(AttributeError, match="no_such"):
        cap_cloudflare_kv.no_such  # noqa: B018


def test_the_plugin_points_at_the_real_constructors(tmp_path: Path) -> None:
    plugin = discover()["kv"]
    assert plugin.binding_kind == "kv_namespace"
    assert set(plugin.provided_hints) == set(KvNamespace.provided_hints)
    assert plugin.constructor("from_url") == KvNamespace.from_url
    assert plugin.constructor("local") == KvNamespace.local
    assert plugin.constructor("from_env") == KvNamespace.from_env
    assert plugin.constructor("from_config") == KvNamespace.from_config
    kv = plugin.constructor("local")(tmp_path / "kv")
    assert isinstance(kv, KvNamespace)


def test_caps_hints_lists_the_kv_hints() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "cap_opendal_core.cli", "hints"], capture_output=True, text=True, check=False
    )
    if out.returncode != 0:  # the CLI module may only be reachable through its console script
        caps = Path(sys.executable).with_name("caps")
        out = subprocess.run([str(caps), "hints"], capture_output=True, text=True, check=True)
    rows = [line.split() for line in out.stdout.splitlines() if line.startswith("resource::kv")]
    assert {row[0] for row in rows} == {"resource::kv", "resource::kv::read", "resource::kv::write"}
    assert all("cap-cloudflare-kv" in row for row in rows)


@pytest.mark.anyio
async def test_a_bag_reads_kind_descriptor_and_hints_from_the_capability(tmp_path: Path) -> None:
    local = KvNamespace.local(tmp_path / "kv")
    memory = KvNamespace.from_url("memory://")
    async with CapabilityBag({"FLOW_KV": local, "CACHE": memory}) as bag:
        entry = bag.entry("FLOW_KV")
        assert entry.kind == "kv_namespace"
        assert entry.descriptor is not None
        assert entry.descriptor.durability == "durable"
        assert bag.entry("CACHE").descriptor.durability == "ephemeral"  # type: ignore[union-attr]
        assert bag.providers_of("resource::kv::write") == ("FLOW_KV", "CACHE")
    wants = {"durability": {"at_least": "durable"}, "consistency": {"at_least": "strong"}}
    assert check_requirements("FLOW_KV", local.info, wants) == []
    [diag] = check_requirements("CACHE", memory.info, wants)
    assert (diag.code, diag.hint, diag.declared) == ("CAP102", "durability", "ephemeral")
