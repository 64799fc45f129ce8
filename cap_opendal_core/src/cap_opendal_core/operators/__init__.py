"""OpenDAL operator builders: configuration models, operator URLs, native layers, native abilities.

Importing this package loads pydantic (for the models) but not opendal, which :func:`build_operator`
imports when it first builds an operator. Nothing here is on the Workers path: ``cap_opendal_core``
itself imports none of it until one of these names is used.
"""

from __future__ import annotations

from .build import NativeLayerSettings, build_operator, defer_to_native_layers, native_layers
from .capabilities import OperatorCapabilities, operator_capabilities
from .config import (
    FsConfig,
    MemoryConfig,
    OperatorConfig,
    S3Config,
    ServiceConfig,
    describe_config,
    parse_config,
)
from .url import from_url

__all__ = [
    "FsConfig",
    "MemoryConfig",
    "NativeLayerSettings",
    "OperatorCapabilities",
    "OperatorConfig",
    "S3Config",
    "ServiceConfig",
    "build_operator",
    "defer_to_native_layers",
    "describe_config",
    "from_url",
    "native_layers",
    "operator_capabilities",
    "parse_config",
]
