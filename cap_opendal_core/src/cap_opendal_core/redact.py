"""One place for keeping secrets out of text: error messages, log lines, reprs.

Two defences, applied together by :func:`scrub`:

* a process-wide **registry** of known secret values (API tokens, secret keys). Whoever holds a
  credential registers it once (wrapping it in :class:`Secret` does that); afterwards every
  occurrence of the value — and of its URL-encoded forms, since secrets travel in query strings —
  is replaced by ``[REDACTED]``;
* **patterns** for credentials we have never been told about: ``Authorization`` headers,
  ``Bearer <token>``, AWS SigV4 query parameters (``X-Amz-Signature=…``, ``X-Amz-Credential=…``),
  ``AWSAccessKeyId=…``, ``Signature=…``, ``token=…``, ``api_token=…``, ``password=…`` and similar in
  URLs, reprs, JSON and headers, and the password part of ``scheme://user:password@host``.

Values shorter than :data:`MIN_SECRET_LENGTH` are refused by the registry: replacing every ``"abc"``
in a message would mangle it while protecting nothing worth protecting.

Text is not the only way out: a traceback rendered *with local variables* (structlog's
``dict_tracebacks`` and its rich console renderer do so by default, as do error trackers) shows what
each frame held, and inside an HTTP library that includes the request's raw ``Authorization`` header.
:func:`trim_foreign_frames` cuts those library frames from a cause's traceback when it is translated.
The SDK's own frames never hold a credential in a plain container: a token is a :class:`Secret`,
headers that carry a token or a signature are :class:`SealedHeaders` (their ``repr`` shows the
names only), so a frame that holds them renders nothing secret.

This module is on the Workers path, so it depends on the standard library only (no pydantic).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Final

__all__ = [
    "MIN_SECRET_LENGTH",
    "REDACTED",
    "SealedHeaders",
    "Secret",
    "is_sensitive_key",
    "redact_mapping",
    "register_secret",
    "scrub",
    "trim_foreign_frames",
]

REDACTED: Final = "[REDACTED]"
MIN_SECRET_LENGTH: Final = 6
_MASK: Final = "**********"

# --- the registry -----------------------------------------------------------------------------

_lock = threading.Lock()
_secrets: set[str] = set()
# Compiled alternation of every registered value (longest first), rebuilt lazily after a change.
_compiled: re.Pattern[str] | None = None


def register_secret(value: str | Secret) -> None:
    """Remember ``value`` so that :func:`scrub` removes it from any text from now on.

    Raises ``ValueError`` for values shorter than :data:`MIN_SECRET_LENGTH` characters and
    ``TypeError`` for anything that is not a string (or :class:`Secret`).
    """
    raw = value.reveal() if isinstance(value, Secret) else value
    if not isinstance(raw, str):
        raise TypeError(f"register_secret() takes a str or Secret, not {type(raw).__name__}")
    if len(raw) < MIN_SECRET_LENGTH:
        raise ValueError(
            f"refusing to register a secret shorter than {MIN_SECRET_LENGTH} characters "
            f"(got {len(raw)}): redacting it would mangle ordinary text"
        )
    from urllib.parse import quote, quote_plus  # lazy: only paid by code that holds credentials

    # URL encoders disagree on "/" and " ": register every spelling a query string may use.
    forms = {raw, quote(raw, safe=""), quote(raw), quote_plus(raw, safe=""), quote_plus(raw)}
    global _compiled
    with _lock:
        if forms <= _secrets:
            return
        _secrets.update(forms)
        _compiled = None


def _registry_pattern() -> re.Pattern[str] | None:
    global _compiled
    pattern = _compiled
    if pattern is None and _secrets:
        with _lock:
            if _compiled is None and _secrets:
                alternatives = sorted(_secrets, key=len, reverse=True)
                _compiled = re.compile("|".join(re.escape(s) for s in alternatives))
            pattern = _compiled
    return pattern


# --- patterns -----------------------------------------------------------------------------------

# Names whose value is a credential wherever they appear as ``name=value`` / ``name: value`` /
# ``"name": "value"``. Longer names first so ``aws_secret_access_key`` wins over ``secret``.
_SENSITIVE_NAMES: Final = (
    "x-amz-signature",
    "x-amz-credential",
    "x-amz-security-token",
    "x-auth-key",
    "cf-access-client-secret",
    "awsaccesskeyid",
    "aws_secret_access_key",
    "aws_session_token",
    "secret_access_key",
    "client_secret",
    "refresh_token",
    "access_token",
    "session_token",
    "private_key",
    "secret_key",
    "api_token",
    "api_key",
    "apikey",
    "password",
    "passwd",
    "signature",
    "secret",
    "token",
)

_NAMED_VALUE_SOURCE: Final = (
    r"(?<![\w-])(" + "|".join(re.escape(n) for n in _SENSITIVE_NAMES) + r")"
    r"""(['"]?\s*[:=]\s*['"]?)"""  # the separator, with the quotes JSON/repr put around it
    r"""(?!\[REDACTED\]|\*{10}|Secret\()"""  # already safe: leave it readable
    r"""([^\s'"&,;}\])<>]+)"""
)
# ``Authorization: Bearer abc`` / ``'authorization': 'AWS4-HMAC-SHA256 Credential=…'``: the whole
# value up to the end of the line or the closing quote.
_AUTHORIZATION_SOURCE: Final = (
    r"""((?:proxy-)?authorization['"]?\s*[:=]\s*['"]?)(?!\s*\[REDACTED\])([^'"\r\n]+)"""
)
_BEARER_SOURCE: Final = r"\b(bearer\s+)(?!\[REDACTED\])[A-Za-z0-9\-._~+/]+=*"
_URL_PASSWORD_SOURCE: Final = r"(\b[a-z][a-z0-9+.\-]*://[^/\s:@]+:)([^/\s@]+)(@)"

# Compiled on first use: a Python Worker should not pay for them at import.
_patterns: tuple[re.Pattern[str], ...] | None = None


def _compiled_patterns() -> tuple[re.Pattern[str], ...]:
    global _patterns
    if _patterns is None:
        _patterns = tuple(
            re.compile(source, re.IGNORECASE)
            for source in (_AUTHORIZATION_SOURCE, _BEARER_SOURCE, _NAMED_VALUE_SOURCE, _URL_PASSWORD_SOURCE)
        )
    return _patterns


def scrub(text: str) -> str:
    """Return ``text`` with every registered secret and every recognisable credential redacted."""
    if not text:
        return text
    pattern = _registry_pattern()
    if pattern is not None:
        text = pattern.sub(REDACTED, text)
    authorization, bearer, named_value, url_password = _compiled_patterns()
    text = authorization.sub(lambda m: m.group(1) + REDACTED, text)
    text = bearer.sub(lambda m: m.group(1) + REDACTED, text)
    text = named_value.sub(lambda m: m.group(1) + m.group(2) + REDACTED, text)
    return url_password.sub(lambda m: m.group(1) + REDACTED + m.group(3), text)


# --- tracebacks ---------------------------------------------------------------------------------

_OWN_MODULES: Final = ("cap_opendal_core", "cap_cloudflare_")


def _is_own(frame: Any) -> bool:
    name = frame.f_globals.get("__name__", "")
    return isinstance(name, str) and name.startswith(_OWN_MODULES)


def trim_foreign_frames(exc: BaseException) -> None:
    """Cut the frames of other libraries (httpx, httpcore, anyio …) out of ``exc``'s traceback, and
    out of every exception chained to it (``__cause__``, ``__context__``), in place.

    Such frames can hold a credential in a local variable — httpx and httpcore keep the request's
    headers, bearer token included — and a traceback rendered with locals would print it. A traceback
    keeps its leading frames from cap-* packages (where the call was made) and loses everything from
    the first foreign frame on; the exception's type and message stay, and a note says what was cut.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    pending: list[BaseException] = []
    while current is not None or pending:
        if current is None:
            current = pending.pop()
        if id(current) in seen:
            current = None
            continue
        seen.add(id(current))
        _trim(current)
        if current.__context__ is not None and current.__context__ is not current.__cause__:
            pending.append(current.__context__)
        current = current.__cause__


def _trim(exc: BaseException) -> None:
    tb = exc.__traceback__
    if tb is None:
        return
    if not _is_own(tb.tb_frame):
        cut_module = tb.tb_frame.f_globals.get("__name__", "?")
        exc.__traceback__ = None
    else:
        while tb.tb_next is not None and _is_own(tb.tb_next.tb_frame):
            tb = tb.tb_next
        if tb.tb_next is None:
            return
        cut_module = tb.tb_next.tb_frame.f_globals.get("__name__", "?")
        tb.tb_next = None
    library = str(cut_module).partition(".")[0]
    exc.add_note(
        f"(cap-*: the frames inside {library} were cut from this traceback: a library's local variables "
        "can hold credentials, such as an Authorization header)"
    )


# --- mappings -----------------------------------------------------------------------------------

# A key is sensitive when its normalised form (lower case, ``-`` → ``_``) contains one of these.
# ``key`` alone is deliberately absent: KV keys and object keys are data, not credentials.
_SENSITIVE_KEY_PARTS: Final = (
    "authorization",
    "cookie",
    "password",
    "passwd",
    "secret",
    "token",
    "api_key",
    "apikey",
    "access_key",
    "private_key",
    "credential",
    "signature",
    "x_auth_key",
)


def is_sensitive_key(name: object) -> bool:
    """Whether a mapping key names a credential (``Authorization``, ``api_token``, ``access_key`` …)."""
    if not isinstance(name, str):
        return False
    normalised = name.lower().replace("-", "_")
    return any(part in normalised for part in _SENSITIVE_KEY_PARTS)


def redact_mapping(data: Mapping[Any, Any]) -> dict[Any, Any]:
    """A copy of ``data`` fit for a log line: sensitive keys' values become ``[REDACTED]``.

    Recurses into nested mappings, lists and tuples; other string values pass through
    :func:`scrub` (a URL with a signature in it is redacted even under an innocent key).
    """
    return {k: (REDACTED if is_sensitive_key(k) else _redact_value(v)) for k, v in data.items()}


def _redact_value(value: Any) -> Any:
    if isinstance(value, Secret):
        return REDACTED
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, Mapping):
        return redact_mapping(value)
    if isinstance(value, list):
        return [_redact_value(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_redact_value(v) for v in value)
    return value


# --- Secret -------------------------------------------------------------------------------------


class Secret:
    """A string that does not show itself: ``str``/``repr``/f-strings print ``**********``.

    ``reveal()`` returns the value for the one place that must send it (an HTTP header).
    Constructing a ``Secret`` registers the value with :func:`register_secret` when it is long
    enough, so it is also scrubbed from any text it leaks into by another route.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if isinstance(value, Secret):
            value = value.reveal()
        if not isinstance(value, str):
            raise TypeError(f"Secret() takes a str, not {type(value).__name__}")
        self._value = value
        if len(value) >= MIN_SECRET_LENGTH:
            register_secret(value)

    def reveal(self) -> str:
        """The secret value itself. Send it; never log it."""
        return self._value

    def __str__(self) -> str:
        return _MASK

    def __repr__(self) -> str:
        return f"Secret('{_MASK}')"

    def __format__(self, spec: str) -> str:
        return format(_MASK, spec)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        import hmac

        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash((Secret, self._value))

    def __reduce__(self) -> tuple[Any, ...]:
        return (Secret, (self._value,))


# --- SealedHeaders -------------------------------------------------------------------------------


class SealedHeaders(Mapping[str, str]):
    """HTTP request headers that carry a credential (``Authorization`` with a bearer token or a SigV4
    signature, ``x-amz-security-token`` …), as a read-only mapping for the one client that sends them.

    Why: a traceback rendered with local variables shows the ``repr`` of whatever each frame held; a
    ``dict`` of signed headers there shows the access key id and a live signature. This ``repr``
    (and ``str``) lists header *names* only, it refuses to be pickled, and :meth:`plus` returns a new
    sealed mapping, so headers being assembled are never a plain dict in any frame.
    """

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[str, str] | Iterable[tuple[str, str]] = ()) -> None:
        self._items: dict[str, str] = dict(items)

    def plus(self, items: Mapping[str, str]) -> SealedHeaders:
        """These headers with ``items`` added (or replaced), sealed too."""
        merged = SealedHeaders(self._items)
        merged._items.update(items)
        return merged

    def __getitem__(self, name: str) -> str:
        return self._items[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"SealedHeaders({sorted(self._items)!r})"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("SealedHeaders cannot be pickled: they carry a credential")
