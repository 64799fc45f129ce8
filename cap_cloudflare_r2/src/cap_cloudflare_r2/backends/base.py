"""The small protocol every R2 backend implements, and what backends share.

:class:`~cap_cloudflare_r2.R2Bucket` validates arguments against R2's limits, then calls one of these
methods through its pipeline. A backend receives checked values (:mod:`~cap_cloudflare_r2.options`),
answers in :mod:`~cap_cloudflare_r2.models` types and may raise anything: the pipeline translates
foreign errors into the ``CapabilityError`` tree. Backends never import each other.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final, Protocol

from cap_opendal_core.capability import CapabilityBackend, refuse_pickling
from cap_opendal_core.errors import InvalidInput, Unsupported

if TYPE_CHECKING:
    import builtins
    from collections.abc import Mapping

    from cap_opendal_core.descriptors import Descriptor
    from cap_opendal_core.layers import LayerSettings

    from ..models import (
        PresignedRequest,
        R2Conditional,
        R2Object,
        R2ObjectBody,
        R2Objects,
        R2Range,
        R2UploadedPart,
    )
    from ..options import ListOptions, PutOptions
    from ..transfer import BytesPayload, StreamPayload

__all__ = [
    "NO_PRESIGN",
    "PRESIGN_EXTENSION",
    "OperatorBacked",
    "R2Backend",
    "gather_bounded",
    "no_presign",
    "unknown_part",
    "refuse_pickling",
]

PRESIGN_EXTENSION: Final = "com.cloudflare.r2.presign"
"""Descriptor extension: True when the backend can presign URLs (``SPEC.descriptor_for(…, extensions=…)``)."""

NO_PRESIGN: Final[Mapping[str, bool]] = MappingProxyType({PRESIGN_EXTENSION: False})


class R2Backend(CapabilityBackend, Protocol):
    """What :class:`~cap_cloudflare_r2.R2Bucket` needs from a backend."""

    @property
    def name(self) -> str:
        """``workers``, ``opendal`` or ``local``: for logs, metrics and ``repr``."""

    @property
    def descriptor(self) -> Descriptor:
        """What this backend guarantees (preflight compares it with a flow's requirements)."""

    def pipeline_settings(self, settings: LayerSettings) -> LayerSettings:
        """The pipeline's settings, minus what the backend's client already does natively."""

    def check_key(self, key: str, operation: str) -> None:
        """Refuse, before any I/O, a key R2 accepts but this backend cannot store faithfully."""

    def check_put(self, options: PutOptions, operation: str) -> None:
        """Refuse, before any I/O, metadata this backend cannot store faithfully."""

    async def head(self, key: str) -> R2Object | None: ...

    async def get(
        self, key: str, range: R2Range | None, only_if: R2Conditional | None
    ) -> R2ObjectBody | None:
        """The object with its body streaming; None when missing or when ``only_if`` fails."""

    async def put(
        self, key: str, payload: BytesPayload | StreamPayload, options: PutOptions
    ) -> R2Object | None:
        """Store the object; None when ``options.only_if`` fails. Never visible half-written, and
        not at all when ``options.checksums`` does not match the body."""

    async def delete(self, keys: builtins.list[str]) -> None: ...

    async def list(self, options: ListOptions) -> R2Objects: ...

    async def create_multipart_upload(self, key: str, options: PutOptions) -> str:
        """Start an upload; returns its id."""

    async def upload_part(
        self, key: str, upload_id: str, part_number: int, payload: BytesPayload | StreamPayload
    ) -> R2UploadedPart: ...

    async def complete_multipart_upload(
        self, key: str, upload_id: str, parts: builtins.list[R2UploadedPart]
    ) -> R2Object:
        """Assemble ``parts`` (ascending part numbers, already checked) into the object."""

    async def abort_multipart_upload(self, key: str, upload_id: str) -> None: ...

    async def presign(
        self, key: str, method: str, expires_in: int, content_type: str | None
    ) -> PresignedRequest: ...

    async def aclose(self) -> None: ...


def no_presign(key: str, why: str) -> Unsupported:
    """The error of a backend that has no URL to sign (``why`` says where to presign instead)."""
    return Unsupported(why, capability="r2", operation="presign", key=key)


class OperatorBacked:
    """What the backends over an OpenDAL operator share: a descriptor fixed when they are built, and
    the layers the operator does natively (retries, timeouts) left to it."""

    _descriptor: Descriptor
    asyncio_only = True
    """OpenDAL's AsyncOperator runs only under asyncio (the pipeline refuses trio with ``Unsupported``)."""

    @property
    def descriptor(self) -> Descriptor:
        return self._descriptor

    def pipeline_settings(self, settings: LayerSettings) -> LayerSettings:
        from cap_opendal_core.operators import defer_to_native_layers

        return defer_to_native_layers(settings)


def unknown_part(part_number: int, key: str) -> InvalidInput:
    """The error of ``complete()`` naming a part this upload does not hold (or holds another etag of)."""
    return InvalidInput(
        f"part {part_number} was not uploaded to this upload, or its etag differs",
        field="parts",
        capability="r2",
        operation="complete_multipart_upload",
        key=key,
    )


async def gather_bounded(calls: list[Any], limit: int) -> list[Any]:
    """Await coroutines with at most ``limit`` running; results in order."""
    import asyncio

    semaphore = asyncio.Semaphore(limit)

    async def one(call: Any) -> Any:
        async with semaphore:
            return await call

    return list(await asyncio.gather(*(one(c) for c in calls)))
