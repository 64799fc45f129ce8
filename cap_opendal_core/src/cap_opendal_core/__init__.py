"""cap-opendal-core: the spine every cap-* capability stands on.

Errors are imported eagerly (every capability raises them); everything else loads on first use so
that importing the package stays cheap — a Python Worker pays for every import at cold start.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import (
    AlreadyExists,
    BackendError,
    CapabilityError,
    Closed,
    DeadlineExceeded,
    Forbidden,
    InvalidInput,
    LimitExceeded,
    Misconfigured,
    NotFound,
    PreconditionFailed,
    RateLimited,
    Unauthorized,
    Unavailable,
    Unsupported,
)
from .lazy import lazy_exports

if TYPE_CHECKING:  # real types for checkers; at run time __getattr__ imports on first use
    from .bag import CapabilityBag
    from .descriptors import DESCRIPTOR_LEVELS, Descriptor, Requirement, check_requirements
    from .diagnostics import Diagnostic, DiagnosticError
    from .flowir import FlowIR, load_flow
    from .hints import Constraint, Determinism, Effects, HintRegistry, registry
    from .layers import LayerSettings, Operation, Pipeline, RetryPolicy
    from .manifest import BindingManifest
    from .metrics import Metrics
    from .operators.build import build_operator, defer_to_native_layers
    from .operators.capabilities import OperatorCapabilities, operator_capabilities
    from .operators.config import (
        FsConfig,
        MemoryConfig,
        OperatorConfig,
        S3Config,
        ServiceConfig,
        describe_config,
        parse_config,
    )
    from .operators.url import from_url
    from .plugins import CapabilityPlugin, discover, register_plugin
    from .preflight_check import preflight
    from .redact import Secret, register_secret, scrub
    from .scope import InvocationScope, current_scope
    from .translate import from_exception, from_http, from_httpx, from_js, from_opendal
    from .validate import check_node, validate_flow
    from .wrangler import render_wrangler

__version__ = "0.1.0"

# public name -> submodule that defines it; resolved lazily by __getattr__
_LAZY: dict[str, str] = {
    "Effects": "hints",
    "Determinism": "hints",
    "Constraint": "hints",
    "HintRegistry": "hints",
    "registry": "hints",
    "Diagnostic": "diagnostics",
    "DiagnosticError": "diagnostics",
    "from_exception": "translate",
    "from_opendal": "translate",
    "from_http": "translate",
    "from_httpx": "translate",
    "from_js": "translate",
    "Secret": "redact",
    "register_secret": "redact",
    "scrub": "redact",
    "FlowIR": "flowir",
    "load_flow": "flowir",
    "validate_flow": "validate",
    "check_node": "validate",
    "Descriptor": "descriptors",
    "Requirement": "descriptors",
    "check_requirements": "descriptors",
    "DESCRIPTOR_LEVELS": "descriptors",
    "CapabilityPlugin": "plugins",
    "discover": "plugins",
    "register_plugin": "plugins",
    "CapabilityBag": "bag",
    "BindingManifest": "manifest",
    "preflight": "preflight_check",
    "render_wrangler": "wrangler",
    "InvocationScope": "scope",
    "current_scope": "scope",
    "Operation": "layers",
    "LayerSettings": "layers",
    "RetryPolicy": "layers",
    "Pipeline": "layers",
    "Metrics": "metrics",
    "MemoryConfig": "operators.config",
    "FsConfig": "operators.config",
    "S3Config": "operators.config",
    "OperatorConfig": "operators.config",
    "ServiceConfig": "operators.config",
    "describe_config": "operators.config",
    "parse_config": "operators.config",
    "from_url": "operators.url",
    "build_operator": "operators.build",
    "defer_to_native_layers": "operators.build",
    "OperatorCapabilities": "operators.capabilities",
    "operator_capabilities": "operators.capabilities",
}

__all__ = [
    "AlreadyExists",
    "BackendError",
    "BindingManifest",
    "CapabilityBag",
    "CapabilityError",
    "Closed",
    "CapabilityPlugin",
    "Constraint",
    "DESCRIPTOR_LEVELS",
    "DeadlineExceeded",
    "Descriptor",
    "Determinism",
    "Diagnostic",
    "DiagnosticError",
    "Effects",
    "FlowIR",
    "Forbidden",
    "FsConfig",
    "HintRegistry",
    "InvalidInput",
    "InvocationScope",
    "LayerSettings",
    "LimitExceeded",
    "MemoryConfig",
    "Metrics",
    "Misconfigured",
    "NotFound",
    "Operation",
    "OperatorCapabilities",
    "OperatorConfig",
    "Pipeline",
    "PreconditionFailed",
    "RateLimited",
    "Requirement",
    "RetryPolicy",
    "S3Config",
    "Secret",
    "ServiceConfig",
    "Unauthorized",
    "Unavailable",
    "Unsupported",
    "__version__",
    "build_operator",
    "check_node",
    "check_requirements",
    "current_scope",
    "defer_to_native_layers",
    "describe_config",
    "discover",
    "from_exception",
    "from_http",
    "from_httpx",
    "from_js",
    "from_opendal",
    "from_url",
    "load_flow",
    "operator_capabilities",
    "parse_config",
    "preflight",
    "register_plugin",
    "register_secret",
    "registry",
    "render_wrangler",
    "scrub",
    "validate_flow",
]


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals(), submodules=True)
