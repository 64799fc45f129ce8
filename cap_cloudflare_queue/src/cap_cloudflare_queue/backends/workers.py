"""The producer binding of a Python Worker (``env.MY_QUEUE``), through core's FFI helpers.

Bodies are converted once, explicitly, per content type: ``json`` and ``v8`` bodies become plain JS
values (dicts as objects, ``None`` as ``null``, ``datetime`` as ``Date``), ``text`` stays a string and
``bytes`` becomes a ``Uint8Array`` copy. Options are plain objects (``{contentType, delaySeconds}``);
a dict converted the default way would be a JS ``Map`` that the binding ignores. Only this backend can
send ``v8``, which the runtime serialises with structured clone.

Imported only by ``Queue.from_env``, i.e. only under Pyodide.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cap_opendal_core import ffi

from ..spec import SPEC

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ..limits import ContentType
    from ..models import PreparedMessage

__all__ = ["WorkersProducer", "js_body"]


def js_body(message: PreparedMessage) -> Any:
    """The JS value the binding gets for ``message.body`` under its content type."""
    if message.content_type == "text":
        return message.body
    if message.content_type == "bytes":
        return ffi.to_uint8array(
            message.body
        )  # the runtime wants an ArrayBufferView (an ArrayBuffer is refused)
    return ffi.to_js_value(message.body)


def _options(message: PreparedMessage) -> dict[str, Any]:
    options: dict[str, Any] = {"contentType": message.content_type}
    if message.delay_seconds is not None:
        options["delaySeconds"] = message.delay_seconds
    return options


class WorkersProducer:
    """:class:`~cap_cloudflare_queue.backends.base.ProducerBackend` over a Workers ``Queue`` binding."""

    name = "workers"
    content_types: tuple[ContentType, ...] = ("json", "text", "bytes", "v8")

    def __init__(self, binding: Any, binding_name: str) -> None:
        self.binding = binding
        self.binding_name = binding_name
        self.descriptor = SPEC.descriptor_for("workers")

    @classmethod
    def from_env(cls, env: Any, name: str) -> WorkersProducer:
        return cls(ffi.get_binding(env, name, capability="queue"), name)

    async def send(self, message: PreparedMessage) -> None:
        body = js_body(message)
        options = ffi.to_js_options(_options(message))
        await ffi.call_binding(
            lambda: self.binding.send(body, options),
            capability="queue",
            operation="send",
            key=self.binding_name,
        )

    async def send_batch(self, messages: Sequence[PreparedMessage]) -> None:
        import js

        entries = js.Array.new()
        for message in messages:
            entry = ffi.to_js_options(_options(message))
            entry.body = js_body(message)
            entries.push(entry)
        await ffi.call_binding(
            lambda: self.binding.sendBatch(entries),
            capability="queue",
            operation="send_batch",
            key=self.binding_name,
        )

    async def aclose(self) -> None:
        """The binding belongs to the runtime; nothing to close."""
