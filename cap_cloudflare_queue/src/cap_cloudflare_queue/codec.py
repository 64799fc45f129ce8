"""Typed message bodies: a :class:`BodyCodec` turns a Python value into what a queue carries and back.

Why a codec and not a type parameter alone: a queue carries JSON, text or bytes, never a Python
class, so "a queue of ``Job``" needs code on both ends — the producer's ``encode`` and the
consumer's ``decode``. Declaring it once (``JOBS = JsonCodec(Job.from_dict, Job.to_dict)``) and
handing it to :meth:`Queue.typed <cap_cloudflare_queue.Queue.typed>` and
:meth:`QueueConsumer.typed <cap_cloudflare_queue.QueueConsumer.typed>` lets mypy check both ends:
``send(body)`` takes a ``Job`` and ``message.body`` is a ``Job``.

The wire format stays the service's: a JSON codec sends an ordinary JSON body, so consumers that do
not use the SDK read it as they always did.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from cap_opendal_core.errors import InvalidInput

if TYPE_CHECKING:
    from collections.abc import Callable

    from .limits import ContentType

__all__ = ["BodyCodec", "JsonCodec", "TextCodec", "check_codec"]

T = TypeVar("T")


class BodyCodec(Protocol[T]):
    """How values of one type travel: ``encode`` makes the body sent with ``content_type``;
    ``decode`` turns a delivered body back into the value. Raise ``ValueError``/``TypeError`` (or a
    ``CapabilityError``) from ``decode`` for a body that is not one: the message's ``body`` then
    raises ``InvalidInput`` naming the message, so its handler fails and the message is retried."""

    @property
    def content_type(self) -> ContentType: ...

    def encode(self, value: T) -> object: ...

    def decode(self, body: object) -> T: ...


def _identity(value: Any) -> Any:
    return value


class JsonCodec(Generic[T]):
    """A JSON body: ``dump`` makes the JSON value (default: the value itself), ``load`` builds the
    Python value from the parsed JSON (a dataclass's constructor wrapper, pydantic's
    ``Model.model_validate``, ``int``…)."""

    __slots__ = ("_dump", "_load")

    content_type: ContentType = "json"

    def __init__(self, load: Callable[[Any], T], dump: Callable[[T], object] | None = None) -> None:
        if not callable(load):
            raise InvalidInput(f"load must be callable, got {type(load).__name__}", field="load")
        if dump is not None and not callable(dump):
            raise InvalidInput(f"dump must be callable, got {type(dump).__name__}", field="dump")
        self._load = load
        self._dump: Callable[[T], object] = _identity if dump is None else dump

    def encode(self, value: T) -> object:
        return self._dump(value)

    def decode(self, body: object) -> T:
        return self._load(body)

    def __repr__(self) -> str:
        return f"JsonCodec({getattr(self._load, '__qualname__', self._load)!r})"


class TextCodec:
    """A text body that must be a ``str`` both ways."""

    __slots__ = ()

    content_type: ContentType = "text"

    def encode(self, value: str) -> object:
        if not isinstance(value, str):
            raise TypeError(f"expected str, got {type(value).__name__}")
        return value

    def decode(self, body: object) -> str:
        if not isinstance(body, str):
            raise TypeError(f"expected a text body, got {type(body).__name__}")
        return body

    def __repr__(self) -> str:
        return "TextCodec()"


def check_codec(codec: object) -> None:
    """Refuse, before any I/O, an object that is not a codec (a class passed instead of an instance
    is the likely mistake) or whose ``content_type`` the service does not know."""
    from .limits import CONTENT_TYPES

    missing = [name for name in ("encode", "decode") if not callable(getattr(codec, name, None))]
    if missing or isinstance(codec, type):
        what = "a class" if isinstance(codec, type) else type(codec).__name__
        raise InvalidInput(
            f"codec must be a BodyCodec instance (with encode, decode and content_type), got {what}",
            field="codec",
            capability="queue",
        )
    content_type = getattr(codec, "content_type", None)
    if content_type not in CONTENT_TYPES:
        raise InvalidInput(
            f"codec.content_type must be one of {', '.join(CONTENT_TYPES)}, got {content_type!r}",
            field="codec",
            capability="queue",
        )
