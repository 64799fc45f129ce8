"""What every translator shares: a mapping entry (:class:`Spec`), message clipping and scrubbing,
and the one function that turns a decision into a :class:`CapabilityError`.

Keeping construction here means each translator only *decides* (which class, retryable or not,
which limit); how the error is built — message scrubbed of secrets and clipped, context filled in,
cause attached — is the same everywhere.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from ..errors import CapabilityError, InvalidInput, LimitExceeded, RateLimited, Unavailable
from ..redact import scrub, trim_foreign_frames

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "MAX_MESSAGE_CHARS",
    "LazyPattern",
    "UNAVAILABLE",
    "Spec",
    "build",
    "clip",
    "describe",
    "limit_numbers",
    "refine_limit",
]

# A translated message is for a human reading a log line: long enough for the cause, short enough
# that a 25 MiB error body cannot flood a log pipeline.
MAX_MESSAGE_CHARS: Final = 1000
# How much of a cause's text is scrubbed at all; anything past it is cut off unread.
_SCAN_CHARS: Final = 64 * 1024


class LazyPattern:
    """A regular expression compiled on first use.

    The translation tables hold dozens of patterns; compiling them when the module is imported
    would cost a Python Worker milliseconds at cold start for errors that may never happen.
    """

    __slots__ = ("_compiled", "_flags", "_source")

    def __init__(self, source: str, flags: int = 0) -> None:
        self._source = source
        self._flags = flags
        self._compiled: re.Pattern[str] | None = None

    @property
    def compiled(self) -> re.Pattern[str]:
        if self._compiled is None:
            self._compiled = re.compile(self._source, self._flags)
        return self._compiled

    def search(self, text: str) -> re.Match[str] | None:
        return self.compiled.search(text)

    def match(self, text: str) -> re.Match[str] | None:
        return self.compiled.match(text)

    def sub(self, repl: str | Callable[[re.Match[str]], str], text: str) -> str:
        return self.compiled.sub(repl, text)


@dataclass(frozen=True, slots=True, repr=False)
class Spec:
    """One row of a mapping table: which error to raise and how.

    ``retryable=None`` keeps the class default. ``limit`` (for :class:`LimitExceeded`) may contain
    ``{capability}``, filled in at build time. ``field`` names the bad argument of an
    :class:`InvalidInput`.
    """

    kind: type[CapabilityError]
    retryable: bool | None = None
    limit: str | None = None
    field: str | None = None

    def but(self, *, retryable: bool | None = None, limit: str | None = None) -> Spec:
        """A copy with ``retryable``/``limit`` replaced where given."""
        return Spec(
            self.kind,
            self.retryable if retryable is None else retryable,
            self.limit if limit is None else limit,
            self.field,
        )

    def __repr__(self) -> str:
        return (
            f"Spec({self.kind.__name__}, retryable={self.retryable!r}, limit={self.limit!r}, "
            f"field={self.field!r})"
        )


UNAVAILABLE: Final = Spec(Unavailable, retryable=True)
"""The transient failure every table has: the service is down or the connection broke; retry."""


def clip(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """Scrub secrets out of ``text`` and cut it to ``limit`` characters, saying how much was cut.

    Scrubbing happens before cutting, so a secret cannot survive by being cut in half.
    """
    total = len(text)
    text = scrub(text[:_SCAN_CHARS])
    if total <= limit and len(text) <= limit:
        return text
    return f"{text[:limit]}… [{max(total, len(text)) - limit} more characters]"


def describe(exc: BaseException) -> str:
    """``"TypeName: message"`` for any exception, even one whose ``__str__`` fails."""
    try:
        text = str(exc)
    except Exception:  # a broken __str__ must not hide the original failure
        text = "<unprintable>"
    name = type(exc).__name__
    return f"{name}: {text}" if text else name


_LIMIT_NUMBERS: Final = LazyPattern(
    r"(\d+)\s+(?:bytes?\s+)?exceeds?\s+(?:the\s+)?(?:[a-z0-9\- ]*?\s)?limit\s+of\s+(\d+)", re.IGNORECASE
)


def limit_numbers(text: str) -> tuple[int | None, int | None]:
    """``(value, maximum)`` from messages like ``"Value length of 1025 exceeds limit of 1024."``."""
    match = _LIMIT_NUMBERS.search(text)
    if match is None:
        return None, None
    return int(match.group(1)), int(match.group(2))


_LIMIT_NAMES: Final = (
    (LazyPattern(r"key (?:length|too long)|key_length|keytoolong", re.IGNORECASE), "{capability}.key_bytes"),
    (LazyPattern(r"metadata", re.IGNORECASE), "{capability}.metadata_bytes"),
    (LazyPattern(r"value (?:length|too large)", re.IGNORECASE), "{capability}.value_bytes"),
    (LazyPattern(r"size of request|payload too large", re.IGNORECASE), "{capability}.request_bytes"),
)


def refine_limit(text: str, default: str | None) -> str | None:
    """Name the limit a message talks about (key, metadata, value, request size), else ``default``."""
    for pattern, name in _LIMIT_NAMES:
        if pattern.search(text):
            return name
    return default


def build(
    spec: Spec,
    message: str,
    *,
    capability: str | None,
    operation: str | None,
    key: str | None,
    cause: BaseException | None,
    retry_after: float | None = None,
    value: object = None,
    maximum: object = None,
) -> CapabilityError:
    """Construct ``spec.kind`` with a scrubbed, clipped ``message``, the context and the cause (whose
    traceback loses its library frames: see :func:`~cap_opendal_core.redact.trim_foreign_frames`)."""
    text = clip(message)
    if cause is not None:
        trim_foreign_frames(cause)
    kind = spec.kind
    extra: dict[str, Any] = {}  # what the kind carries beyond the common context
    if issubclass(kind, LimitExceeded):
        limit = (spec.limit or "{capability}.service_limit").format(capability=capability or "service")
        extra = {"limit": limit, "value": value, "maximum": maximum}
    elif issubclass(kind, RateLimited | Unavailable):  # both carry the service's Retry-After
        extra = {"retry_after": retry_after}
    elif issubclass(kind, InvalidInput):
        extra = {"field": spec.field}
    return kind(
        text,
        capability=capability,
        operation=operation,
        key=key,
        retryable=spec.retryable,
        cause=cause,
        **extra,
    )
