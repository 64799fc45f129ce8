"""R2 backends, and the one decision about which serves an OpenDAL operator.

* ``workers`` (:mod:`.workers`) — the Workers binding, under Pyodide;
* ``opendal`` (:mod:`.opendal`) — an operator that natively stores what R2 keeps with an object
  (content type, user metadata, etags) and can write conditionally: OpenDAL's ``s3`` service, for R2
  or any S3-compatible store. Objects are the service's own, readable by any other client;
* ``local`` (:mod:`.local`) — any operator that cannot (``fs``, ``memory``): every gap is filled in
  one place, by keeping a small metadata record beside each object.

:func:`operator_backend` reads ``operator_capabilities(op)`` to choose, so a service that gains an
ability moves to the native path without code changes here. Modules are imported only when chosen.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from cap_opendal_core.layers import LayerSettings
    from cap_opendal_core.operators import OperatorCapabilities, ServiceConfig

    from ..transfer import TransferSettings
    from .base import R2Backend

__all__ = ["NATIVE_ABILITIES", "missing_native_abilities", "operator_backend"]

NATIVE_ABILITIES: Final = (
    "stat",
    "read",
    "write",
    "delete",
    "list",
    "write_with_content_type",
    "write_with_user_metadata",
    "write_with_if_match",
    "write_with_if_not_exists",
    "read_with_if_match",
    "list_with_start_after",
    "list_with_recursive",
)
"""What an operator must do itself to store R2 objects as its own objects. ``write_with_if_match``
stands for "the service keeps etags and can compare them", which no fs or memory service can."""


def missing_native_abilities(capabilities: OperatorCapabilities) -> tuple[str, ...]:
    """The abilities of :data:`NATIVE_ABILITIES` the operator lacks (empty: the native backend fits)."""
    return capabilities.missing(*NATIVE_ABILITIES)


def operator_backend(config: ServiceConfig, settings: LayerSettings, transfer: TransferSettings) -> R2Backend:
    """Build the operator for ``config`` (with OpenDAL's native layers from ``settings``) and the
    backend its capabilities call for. No request is sent."""
    from cap_opendal_core.operators import FsConfig, build_operator, operator_capabilities

    if isinstance(config, FsConfig):  # check the tree before anything is built on it
        from cap_opendal_core.embedded.layouts import refuse_engine_directory
        from cap_opendal_core.localfs import local_root

        from .local import FS_MEMBERS

        root = local_root(config.root, capability="r2", operation="open", members=FS_MEMBERS)
        refuse_engine_directory(root, capability="r2")
        config = config.model_copy(update={"root": root})
    operator = build_operator(config, settings, capability="r2")
    capabilities = operator_capabilities(operator)
    if not missing_native_abilities(capabilities):
        from .opendal import OpenDalBackend

        return OpenDalBackend(config, operator, capabilities, settings, transfer)
    from .local import LocalBackend

    return LocalBackend(config, operator, capabilities, transfer)
