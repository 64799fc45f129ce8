"""The gateway Worker this package ships, and the wrangler configuration that deploys it.

Durable Objects have no REST API; a server reaches them through a Worker that fronts their namespace.
``worker.js`` (next to this file, package data) is that Worker: POST routes for RPC, fetch and ids,
forwarded to ``getByName``/``get(idFromString)``, behind a bearer token compared in constant time. It
fronts only the bindings listed in its ``CAPS_GATEWAY_BINDINGS`` variable. Deploy it as its own Worker
whose Durable Object bindings point at the Worker that defines the classes (``script_name``)::

    python -m cap_cloudflare_do.gateway wrangler --binding FLOW_DO=FlowObject --script-name flow-worker
    python -m cap_cloudflare_do.gateway worker > worker.js
    wrangler secret put CAPS_GATEWAY_TOKEN

The wrangler text is rendered through ``cap_opendal_core``'s binding manifest (the same renderer as
``caps wrangler``), then the gateway's variable and the *name* of its token secret are added
(``[secrets] required``) — never a token value.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib.resources import files
from typing import TYPE_CHECKING, Final

from cap_opendal_core.errors import InvalidInput

if TYPE_CHECKING:
    from cap_opendal_core.manifest import BindingManifest

__all__ = [
    "BINDINGS_VAR",
    "GATEWAY_NAME",
    "TOKEN_SECRET",
    "gateway_manifest",
    "render_gateway_wrangler",
    "worker_path",
    "worker_source",
]

TOKEN_SECRET: Final = "CAPS_GATEWAY_TOKEN"
"""The name of the Worker secret holding the bearer token."""
BINDINGS_VAR: Final = "CAPS_GATEWAY_BINDINGS"
"""The variable listing, comma-separated, the Durable Object bindings the gateway fronts."""
GATEWAY_NAME: Final = "caps-do-gateway"
DEFAULT_COMPATIBILITY_DATE: Final = "2026-04-01"


def worker_source() -> str:
    """The gateway Worker's JavaScript module."""
    return files(__package__).joinpath("worker.js").read_text("utf-8")


def worker_path() -> str:
    """Where the module is on disk (for tools that take a path; the package must be unpacked)."""
    return str(files(__package__).joinpath("worker.js"))


def gateway_manifest(
    bindings: Mapping[str, str], *, script_name: str, name: str = GATEWAY_NAME
) -> BindingManifest:
    """A :class:`~cap_opendal_core.manifest.BindingManifest` for the gateway: one ``durable_object``
    binding per ``{binding: class_name}``, each defined by the Worker ``script_name``."""
    from cap_opendal_core.manifest import BindingManifest

    if not isinstance(bindings, Mapping) or not bindings:
        raise InvalidInput("give at least one binding, as {binding name: class name}", field="bindings")
    if not isinstance(script_name, str) or not script_name:
        raise InvalidInput("script_name must name the Worker that defines the classes", field="script_name")
    document = {
        "worker": {"name": name, "main": "worker.js", "compatibility_date": DEFAULT_COMPATIBILITY_DATE},
        "bindings": {
            binding: {"kind": "durable_object", "class_name": class_name, "script_name": script_name}
            for binding, class_name in bindings.items()
        },
    }
    return BindingManifest.from_dict(document, source="cap_cloudflare_do gateway")


def render_gateway_wrangler(
    bindings: Mapping[str, str],
    *,
    script_name: str,
    name: str = GATEWAY_NAME,
    compatibility_date: str | None = None,
) -> str:
    """The ``wrangler.toml`` for the gateway Worker fronting ``bindings`` ({binding: class name})."""
    from cap_opendal_core.wrangler import render_wrangler, toml_string

    manifest = gateway_manifest(bindings, script_name=script_name, name=name)
    text = render_wrangler(manifest, compatibility_date=compatibility_date)
    fronted = ",".join(bindings)
    return (
        text
        + "\n[vars]\n"
        + f"{BINDINGS_VAR} = {toml_string(fronted)}\n"
        + "\n# The bearer token is a secret: `wrangler secret put "
        + TOKEN_SECRET
        + "` (never put its value here).\n"
        + "[secrets]\n"
        + f"required = [{toml_string(TOKEN_SECRET)}]\n"
    )
