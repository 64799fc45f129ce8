"""JavaScript errors from Workers bindings (Pyodide's ``JsException``) → :class:`CapabilityError`.

Pyodide is never imported here: the exception is read by duck typing — ``type(exc).__name__``,
``exc.name`` (the JS error's ``name``), ``exc.message`` or ``str(exc)`` (``"Error: <message>"``),
and the Durable Object flags ``exc.retryable`` / ``exc.overloaded`` / ``exc.remote``. Decisions,
in order (first match wins):

1. an HTTP status inside the message, as the KV binding reports it
   (``"KV PUT failed: 400 Invalid expiration_ttl of 1"``, ``"KV GET failed: 414 UTF-8 encoded length
   of 513 exceeds key length limit of 512."``) → the HTTP status table of
   :mod:`~cap_opendal_core.translate.http`, limits named from the text;
2. a Cloudflare error code at the end of the message, as R2 and Queues report it
   (``"put: Your metadata headers exceed the maximum allowed metadata size. (10012)"``) → the
   per-service code tables each capability package registers (:mod:`.services`);
3. the JS rules of the capability's service (registered by its package, e.g. "Durable Object is
   overloaded"), then :data:`JS_RULES`, one ordered table of generic JS error names and message
   patterns (subrequest limit, ``TypeError`` → InvalidInput, "Network connection lost" →
   Unavailable …);
4. the Durable Object flags, which Cloudflare documents as authoritative: ``overloaded`` → do not
   retry (RateLimited, not retryable); ``retryable`` sets ``retryable``;
5. otherwise BackendError (not retryable).

Message texts come from Cloudflare's docs (R2 and Queues error codes, Durable Object error
handling and troubleshooting), workerd and Miniflare's KV tests; Miniflare's wording can differ
from production workerd, which is why the patterns are loose and live in one table.
"""

from __future__ import annotations

import re
from typing import Final

from .. import errors
from ._common import UNAVAILABLE, LazyPattern, Spec, build, limit_numbers, refine_limit
from .http import cloudflare_code_spec, status_spec
from .services import JsRule, service_errors, service_of

__all__ = ["JS_RULES", "JsRule", "from_js", "is_js_exception"]


JS_RULES: Final[tuple[JsRule, ...]] = (
    # Limits of the invocation itself, whatever the binding.
    JsRule(
        Spec(errors.LimitExceeded, limit="workers.subrequests"),
        pattern=r"too many (?:subrequests|api requests by single worker invocation)|subrequests? limit",
    ),
    # By JS error class.
    JsRule(Spec(errors.InvalidInput), names=("TypeError", "RangeError", "SyntaxError", "DataCloneError")),
    JsRule(Spec(errors.DeadlineExceeded), names=("TimeoutError",)),
    JsRule(UNAVAILABLE, names=("AbortError", "NetworkError")),
    JsRule(Spec(errors.Unsupported), names=("NotSupportedError",)),
    JsRule(Spec(errors.LimitExceeded, limit="{capability}.quota"), names=("QuotaExceededError",)),
    # By message.
    JsRule(Spec(errors.RateLimited, retryable=True), pattern=r"too many requests|rate.?limit|slow down"),
    JsRule(
        Spec(errors.Misconfigured),
        pattern=r"(?:namespace|bucket|queue|binding|class)(?: \S+)? (?:does not exist|not found)",
    ),
    JsRule(
        Spec(errors.NotFound),
        pattern=r"specified key does not exist|no such (?:key|object|upload)|\bnot found\b",
    ),
    JsRule(Spec(errors.PreconditionFailed), pattern=r"precondition"),
    JsRule(Spec(errors.AlreadyExists), pattern=r"already exists"),
    JsRule(Spec(errors.Unauthorized), pattern=r"unauthori[sz]ed|authentication|invalid (?:api )?token"),
    JsRule(Spec(errors.Forbidden), pattern=r"forbidden|access denied|permission|not permitted|not entitled"),
    JsRule(
        UNAVAILABLE,
        pattern=(
            r"network connection lost|connection (?:reset|refused|closed|lost)|internal error|transient|"
            r"temporarily unavailable|service unavailable|(?:was|be) reset|reset because|timed out|"
            r"timeout|disconnected"
        ),
    ),
    JsRule(
        Spec(errors.LimitExceeded, limit="{capability}.service_limit"),
        pattern=r"exceed|too large|too long|too big|too many",
    ),
    JsRule(Spec(errors.Unsupported), pattern=r"not supported|not implemented|unsupported"),
)

_FAILED_STATUS: Final = LazyPattern(r"\bfailed: (\d{3})\b\s*(.*)", re.DOTALL)
_TRAILING_CODE: Final = LazyPattern(r"\((\d{4,6})\)\s*\.?\s*$|\[code: (\d{4,6})\]")
_NAME_PREFIX: Final = LazyPattern(r"^([A-Z]\w*(?:Error|Exception))(?::\s*(.*))?$", re.DOTALL)


def is_js_exception(exc: BaseException) -> bool:
    """Whether ``exc`` is Pyodide's ``JsException`` (or a subclass), without importing Pyodide."""
    return any(cls.__name__ == "JsException" for cls in type(exc).__mro__)


def _attr(obj: object, name: str) -> object:
    """A property of a (possibly JS-proxied) object; ``None`` when missing or when reading it fails."""
    try:
        return getattr(obj, name, None)
    except Exception:  # a JS getter can throw; that must not mask the error being translated
        return None


def _read(exc: BaseException) -> tuple[str | None, str, bool | None, bool, bool]:
    """``(js_name, message, retryable_flag, overloaded, remote)`` of a JS error.

    Pyodide ≥ 0.26 exposes the JS error's properties on the exception itself; older releases keep
    the JS object in ``js_error``. Both are read; ``str(exc)`` (``"Name: message"``) is the fallback.
    """
    sources: list[object] = [exc]
    inner = _attr(exc, "js_error")
    if inner is not None:
        sources.append(inner)

    def prop(name: str) -> object:
        for source in sources:
            value = _attr(source, name)
            if value is not None:
                return value
        return None

    name = prop("name")
    js_name = name if isinstance(name, str) and name else None
    raw_message = prop("message")
    message = raw_message if isinstance(raw_message, str) else None
    if message is None or js_name is None:
        try:
            text = str(exc)
        except Exception:
            text = ""
        prefixed = _NAME_PREFIX.match(text.strip())
        if prefixed is not None:
            js_name = js_name or prefixed.group(1)
            message = message if message is not None else (prefixed.group(2) or "")
        elif message is None:
            message = text
    retryable = prop("retryable")
    return (
        js_name,
        message or "",
        retryable if isinstance(retryable, bool) else None,
        prop("overloaded") is True,
        prop("remote") is True,
    )


def _decide(js_name: str | None, message: str, capability: str | None) -> Spec | None:
    status = _FAILED_STATUS.search(message)
    if status is not None:
        return status_spec(int(status.group(1)))
    code = _TRAILING_CODE.search(message)
    if code is not None:
        by_code = cloudflare_code_spec(service_of(capability), int(code.group(1) or code.group(2)))
        if by_code is not None:
            return by_code
    table = service_errors(capability)
    for rule in (*table.js_rules, *JS_RULES) if table is not None else JS_RULES:
        if rule.matches(js_name, message):
            return rule.spec
    return None


def from_js(
    exc: BaseException,
    *,
    capability: str | None,
    operation: str | None,
    key: str | None = None,
) -> errors.CapabilityError:
    """Translate a JS error raised through Pyodide's FFI; other exceptions go to ``from_exception``."""
    if not is_js_exception(exc):
        from . import from_exception

        return from_exception(exc, capability=capability, operation=operation, key=key)
    js_name, message, retryable, overloaded, remote = _read(exc)
    spec = _decide(js_name, message, capability)
    if overloaded:
        spec = Spec(errors.RateLimited, retryable=False)
    elif spec is None:
        spec = UNAVAILABLE if retryable else Spec(errors.BackendError, retryable=False)
    if retryable is not None and not overloaded:
        spec = spec.but(retryable=retryable)

    value: int | None = None
    maximum: int | None = None
    if issubclass(spec.kind, errors.LimitExceeded):
        if spec.limit is None or "{capability}" in spec.limit:
            spec = spec.but(limit=refine_limit(message, spec.limit))
        value, maximum = limit_numbers(message)
    text = f"{js_name}: {message}" if js_name else message or type(exc).__name__
    if remote:
        text = f"{text} (raised inside the Durable Object)"
    return build(
        spec,
        text,
        capability=capability,
        operation=operation,
        key=key,
        cause=exc,
        value=value,
        maximum=maximum,
    )
