"""cap-opendal-core: the spine every cap-* capability stands on.

``__all__`` is the short list a user needs first: the error tree, the two lattices, the validator,
the bag and preflight, the invocation scope and the layer settings. Everything else lives in a
submodule and is imported from there — :mod:`.hints`, :mod:`.diagnostics`, :mod:`.descriptors`,
:mod:`.translate`, :mod:`.redact`, :mod:`.flowir`, :mod:`.validate`, :mod:`.plugins`,
:mod:`.commands`, :mod:`.manifest`, :mod:`.wrangler`, :mod:`.scope`, :mod:`.layers`, :mod:`.metrics`,
:mod:`.operators` (see the API table in README.md). The names this package exported before stay
importable from here (``_LAZY``), outside ``__all__``.

Errors are imported eagerly (every capability raises them); everything else loads on first use so
that importing the package stays cheap — a Python Worker pays for every import at cold start.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from . import errors
from .errors import *  # noqa: F403  (the error tree, errors.__all__, loads with the package)
from .lazy import by_name, lazy_exports

if TYPE_CHECKING:  # real types for checkers; at run time __getattr__ imports on first use
    # ``X as X`` re-exports for strict checkers: every name stays importable from here, though only
    # the first-use names are in ``__all__`` and the rest read better from their submodules.
    from .bag import CapabilityBag as CapabilityBag
    from .descriptors import DESCRIPTOR_LEVELS as DESCRIPTOR_LEVELS
    from .descriptors import Descriptor as Descriptor
    from .descriptors import Requirement as Requirement
    from .descriptors import check_requirements as check_requirements
    from .diagnostics import Diagnostic as Diagnostic
    from .diagnostics import DiagnosticError as DiagnosticError
    from .flowir import FlowIR as FlowIR
    from .flowir import load_flow as load_flow
    from .hints import Constraint as Constraint
    from .hints import Determinism as Determinism
    from .hints import Effects as Effects
    from .hints import HintRegistry as HintRegistry
    from .hints import registry as registry
    from .layers import LayerSettings as LayerSettings
    from .layers import Operation as Operation
    from .layers import Pipeline as Pipeline
    from .layers import RetryPolicy as RetryPolicy
    from .manifest import BindingManifest as BindingManifest
    from .metrics import Metrics as Metrics
    from .operators.build import build_operator as build_operator
    from .operators.build import defer_to_native_layers as defer_to_native_layers
    from .operators.capabilities import OperatorCapabilities as OperatorCapabilities
    from .operators.capabilities import operator_capabilities as operator_capabilities
    from .operators.config import FsConfig as FsConfig
    from .operators.config import MemoryConfig as MemoryConfig
    from .operators.config import OperatorConfig as OperatorConfig
    from .operators.config import S3Config as S3Config
    from .operators.config import ServiceConfig as ServiceConfig
    from .operators.config import describe_config as describe_config
    from .operators.config import parse_config as parse_config
    from .operators.url import from_url as from_url
    from .plugins import CapabilityPlugin as CapabilityPlugin
    from .plugins import discover as discover
    from .plugins import register_plugin as register_plugin
    from .preflight_check import preflight as preflight
    from .redact import Secret as Secret
    from .redact import register_secret as register_secret
    from .redact import scrub as scrub
    from .scope import InvocationScope as InvocationScope
    from .scope import current_scope as current_scope
    from .translate import from_exception as from_exception
    from .translate import from_http as from_http
    from .translate import from_httpx as from_httpx
    from .translate import from_js as from_js
    from .translate import from_opendal as from_opendal
    from .validate import check_node as check_node
    from .validate import validate_flow as validate_flow
    from .wrangler import render_wrangler as render_wrangler

__version__ = "0.1.0"

# name -> submodule that defines it, resolved lazily by __getattr__: the names of ``__all__`` that are
# not errors, and every name exported from here before, so ``from cap_opendal_core import X`` keeps working
_LAZY: Final = by_name(
    {
        "hints": ("Effects", "Determinism", "Constraint", "HintRegistry", "registry"),
        "diagnostics": ("Diagnostic", "DiagnosticError"),
        "translate": ("from_exception", "from_opendal", "from_http", "from_httpx", "from_js"),
        "redact": ("Secret", "register_secret", "scrub"),
        "flowir": ("FlowIR", "load_flow"),
        "validate": ("validate_flow", "check_node"),
        "descriptors": ("Descriptor", "Requirement", "check_requirements", "DESCRIPTOR_LEVELS"),
        "plugins": ("CapabilityPlugin", "discover", "register_plugin"),
        "bag": ("CapabilityBag",),
        "manifest": ("BindingManifest",),
        "preflight_check": ("preflight",),
        "wrangler": ("render_wrangler",),
        "scope": ("InvocationScope", "current_scope"),
        "layers": ("Operation", "LayerSettings", "RetryPolicy", "Pipeline"),
        "metrics": ("Metrics",),
        "operators.config": (
            "MemoryConfig",
            "FsConfig",
            "S3Config",
            "OperatorConfig",
            "ServiceConfig",
            "describe_config",
            "parse_config",
        ),
        "operators.url": ("from_url",),
        "operators.build": ("build_operator", "defer_to_native_layers"),
        "operators.capabilities": ("OperatorCapabilities", "operator_capabilities"),
    }
)

__all__ = [
    # hosting a flow: check it, check the host's bindings, scope each node, tune the layers
    "Effects",
    "Determinism",
    "validate_flow",
    "BindingManifest",
    "CapabilityBag",
    "preflight",
    "InvocationScope",
    "LayerSettings",
    "RetryPolicy",
    "__version__",
]
# the one error tree (docs/errors.md): every capability raises these
__all__ += errors.__all__


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals(), submodules=True)
