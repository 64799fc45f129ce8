"""Preflight: before any effectful work starts, does the host have every binding the flow needs?

Two sources of need are checked against a :class:`~cap_opendal_core.bag.CapabilityBag`:

- a :class:`~cap_opendal_core.manifest.BindingManifest` (the bindings, their kinds, their
  requirements, the secrets it names): a binding missing from the bag or of the wrong kind is
  ``CAP101``; a present binding whose descriptor does not meet a requirement is ``CAP102``; a secret
  listed under ``[secrets] required`` that is not set (in the environment, or in the ``secrets``
  mapping a host passes — a Worker's ``env``, a vault's names) is ``CAP101`` too. Only whether a
  secret is set is looked at; its value is never read into a diagnostic, a log or an error;
- a Flow IR document (the hints each node records): a ``resource::*`` effect hint that no capability
  in the bag provides is ``CAP101``, and so is a hint no installed package or built-in knows. The
  target of an ``exactly_once`` edge records a ``resource::dedupe`` hint; the binding that provides
  it must also be able to keep the promise — its descriptor must meet
  :data:`~cap_opendal_core.rules.delivery.DEDUPE_REQUIREMENTS` (an atomic, durable reservation, as a
  ``cap_cloudflare_do.Dedupe`` ledger on a durable namespace gives) — else ``EXACT001``.

Flows state hints and manifests state bindings, so a host usually passes both:
``preflight(manifest, bag, flow=flow)``. Either one alone is fine. Hosts that must not start on a
finding pass ``raise_on_error=True`` and get a :class:`~cap_opendal_core.diagnostics.DiagnosticError`.

(The module is not called ``preflight``: a submodule of that name would replace the lazily exported
function ``cap_opendal_core.preflight`` with itself the moment anything imported it.)
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from . import hints
from .bag import CapabilityBag
from .diagnostics import Diagnostic, DiagnosticError, sort_diagnostics
from .errors import InvalidInput
from .manifest import BindingManifest, read_document

if TYPE_CHECKING:
    from .flowir import FlowIR

__all__ = ["FlowOrManifest", "preflight"]

FlowOrManifest = Any
"""A :class:`BindingManifest`, a :class:`FlowIR`, a mapping of either, JSON text, or a file path."""


def preflight(
    flow_or_manifest: FlowOrManifest,
    bag: CapabilityBag | Mapping[str, Any],
    *,
    flow: FlowIR | Mapping[str, Any] | str | os.PathLike[str] | None = None,
    registry: hints.HintRegistry = hints.registry,
    raise_on_error: bool = False,
    secrets: Mapping[str, object] | None = None,
) -> list[Diagnostic]:
    """``CAP101``/``CAP102`` diagnostics for running what ``flow_or_manifest`` describes with ``bag``.

    ``flow_or_manifest`` is a manifest or a flow (objects, mappings, JSON text or ``.json``/``.toml``
    paths; a mapping with ``bindings`` is a manifest, one with ``nodes`` a flow). ``flow`` adds a
    flow when the first argument is a manifest. ``secrets`` is where the manifest's required secrets
    must be set (a non-empty value under each name; default: ``os.environ``). Diagnostics come in
    flow node order, then the manifest's binding order, then its secrets, then code and hint.
    Malformed input raises :class:`InvalidInput`.
    """
    from .plugins import discover

    manifest, flow_model = _resolve(flow_or_manifest)
    if flow is not None:
        if flow_model is not None:
            raise InvalidInput(
                "preflight got a flow twice: pass a manifest first when you also pass flow=", field="flow"
            )
        flow_model = _load_flow(flow)
    if secrets is not None and not isinstance(secrets, Mapping):
        raise InvalidInput(
            f"preflight: secrets must be a mapping of names (e.g. os.environ), got {type(secrets).__name__}",
            field="secrets",
        )
    if isinstance(bag, Mapping) and not isinstance(bag, CapabilityBag):
        bag = CapabilityBag(bag)
    if not isinstance(bag, CapabilityBag):
        raise InvalidInput(f"preflight needs a CapabilityBag, got {type(bag).__name__}", field="bag")

    plugins = discover()  # plugin-registered hints must be known before hints are judged
    diags: list[Diagnostic] = []
    order: list[str] = []
    if flow_model is not None:
        order.extend(flow_model.aliases)
        diags.extend(_check_flow(flow_model, bag, registry, plugins))
    if manifest is not None:
        order.extend(manifest.names())
        order.extend(manifest.required_secrets)
        diags.extend(_check_manifest(manifest, bag))
        diags.extend(_check_secrets(manifest, secrets))
    result = sort_diagnostics(diags, order)
    if raise_on_error and any(d.severity == "error" for d in result):
        raise DiagnosticError(result)
    return result


# --- what to check -----------------------------------------------------------------------------------


def _resolve(obj: Any) -> tuple[BindingManifest | None, FlowIR | None]:
    if isinstance(obj, BindingManifest):
        return obj, None
    flowir = sys.modules.get(f"{__package__}.flowir")
    if flowir is not None and isinstance(obj, flowir.FlowIR):
        return None, obj
    source = "<manifest>"
    data: object = obj
    if isinstance(obj, str) and obj.lstrip().startswith("{"):
        data = _json_text(obj)
    elif isinstance(obj, str | os.PathLike):
        source = str(obj)
        data = read_document(obj, "flow or manifest")
    if not isinstance(data, Mapping):
        raise InvalidInput(
            "preflight expects a BindingManifest, a FlowIR, a mapping, JSON text or a file path, "
            f"got {type(obj).__name__}",
            field="flow_or_manifest",
        )
    if "bindings" in data and "nodes" not in data:
        return BindingManifest.from_dict(data, source=source), None
    if "nodes" in data or "profile" in data:
        # From a path, load_flow re-reads the file so its errors name it.
        return None, _load_flow(data if source == "<manifest>" else obj)
    raise InvalidInput(
        f"{source}: neither a binding manifest (no 'bindings') nor a Flow IR document (no 'nodes')",
        field="flow_or_manifest",
    )


def _json_text(text: str) -> object:
    import json

    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from exc


def _load_flow(source: Any) -> FlowIR:
    from .flowir import load_flow

    return load_flow(source)


def _check_manifest(manifest: BindingManifest, bag: CapabilityBag) -> list[Diagnostic]:
    from .descriptors import Descriptor, check_requirements

    diags: list[Diagnostic] = []
    for spec in manifest:
        if spec.name not in bag:
            diags.append(
                Diagnostic(
                    code="CAP101",
                    node=spec.name,
                    declared="missing",
                    required=spec.kind,
                    message=(
                        f"binding {spec.name!r} ({spec.kind}) is missing from the capability bag "
                        f"(it holds: {_held(bag)}); add it before starting the flow"
                    ),
                )
            )
            continue
        entry = bag.entry(spec.name)
        if entry.kind is not None and entry.kind != spec.kind:
            diags.append(
                Diagnostic(
                    code="CAP101",
                    node=spec.name,
                    declared=entry.kind,
                    required=spec.kind,
                    message=(
                        f"binding {spec.name!r} is a {entry.kind} but the flow needs a {spec.kind}; "
                        "bind the right capability under this name"
                    ),
                )
            )
            continue
        if spec.requires:
            descriptor = entry.descriptor if entry.descriptor is not None else Descriptor()
            diags.extend(check_requirements(spec.name, descriptor, spec.requires))
    return diags


def _check_secrets(manifest: BindingManifest, secrets: Mapping[str, object] | None) -> list[Diagnostic]:
    """CAP101 for each required secret that is not set. Values are tested for presence only."""
    where = "the environment" if secrets is None else "the secrets given to preflight"
    source: Mapping[str, object] = os.environ if secrets is None else secrets
    diags: list[Diagnostic] = []
    for name in manifest.required_secrets:
        try:
            present = name in source and bool(source[name])
        except Exception:  # a mapping that cannot answer counts as "not set"
            present = False
        if not present:
            diags.append(
                Diagnostic(
                    code="CAP101",
                    node=name,
                    declared="missing",
                    required="secret",
                    message=(
                        f"secret {name!r} is required by {manifest.source} but is not set in {where}; "
                        f"set it (`wrangler secret put {name}` for a Worker, an environment variable "
                        "on a server) before starting the flow"
                    ),
                )
            )
    return diags


def _check_flow(
    flow: FlowIR, bag: CapabilityBag, registry: hints.HintRegistry, plugins: Any
) -> list[Diagnostic]:
    diags: list[Diagnostic] = []
    for node in flow.nodes:
        for hint in dict.fromkeys(node.effect_hints):
            if hint.split("::", 1)[0] != "resource":
                continue
            if not registry.is_known(hint):
                why = (
                    ", which neither cap-opendal-core nor any installed capability plugin registers; fix "
                    "the hint or install its package"
                )
            elif bag.providers_of(hint):
                continue
            else:
                offer = [f"{p.distribution} ({p.binding_kind})" for p in plugins.providers_of(hint)]
                fix = (
                    f"add a binding from {' or '.join(offer)}" if offer else "no installed plugin provides it"
                )
                why = f" but no capability in the bag provides it (it holds: {_held(bag)}); {fix}"
            message = f"node {node.alias!r} records {hint}{why}"
            diags.append(Diagnostic(code="CAP101", node=node.alias, hint=hint, message=message))
    diags.extend(_check_exactly_once(flow, bag))
    return diags


def _check_exactly_once(flow: FlowIR, bag: CapabilityBag) -> list[Diagnostic]:
    """EXACT001 when every binding providing an exactly-once target's dedupe hint falls short of
    :data:`DEDUPE_REQUIREMENTS` (a missing provider is already CAP101)."""
    from .descriptors import Descriptor, check_requirements
    from .rules.context import edge_name
    from .rules.delivery import DEDUPE_REQUIREMENTS, dedupe_hints

    first = {n.alias: n for n in reversed(flow.nodes)}
    diags: list[Diagnostic] = []
    for e, edge in enumerate(flow.edges):
        node = first.get(edge.to) if edge.delivery == "exactly_once" else None
        if node is None:
            continue
        for hint in dedupe_hints(node):
            unmet = {
                name: check_requirements(
                    name, bag.entry(name).descriptor or Descriptor(), DEDUPE_REQUIREMENTS
                )
                for name in bag.providers_of(hint)
            }
            if not unmet or not all(unmet.values()):
                continue
            for name, shortfalls in unmet.items():
                for gap in shortfalls:
                    diags.append(
                        Diagnostic(
                            code="EXACT001",
                            node=node.alias,
                            edge=e,
                            hint=gap.hint,
                            declared=gap.declared,
                            required=gap.required,
                            message=(
                                f"edge {edge_name(edge)} asks for exactly_once delivery and {node.alias!r} "
                                f"dedupes through binding {name!r} ({hint}), which provides {gap.hint} "
                                f"{gap.declared!r} where a dedupe ledger needs {gap.required}; bind a "
                                "Dedupe ledger on a durable Durable Object namespace"
                            ),
                        )
                    )
    return diags


def _held(bag: CapabilityBag) -> str:
    return ", ".join(f"{e.name} ({e.kind or 'unknown kind'})" for e in bag.entries()) or "nothing"
