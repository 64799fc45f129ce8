"""JavaScript errors (Pyodide ``JsException``) → CapabilityError.

Real ``JsException`` objects only exist under Pyodide, so these tests use duck-typed stand-ins with
the same surface (class name ``JsException``, ``str()`` = ``"Name: message"``, JS properties
``name``/``message``/``retryable``/``overloaded``/``remote``). The Workers harness proves the same
translation against real Miniflare bindings. The messages are the ones the bindings produce
(Miniflare's KV tests, Cloudflare's R2/Queues error-code docs, Durable Object troubleshooting).
"""

from __future__ import annotations

from typing import Any

import pytest

from cap_opendal_core import errors
from cap_opendal_core.translate import from_exception, from_js


class JsException(Exception):
    """Shaped like ``pyodide.ffi.JsException``."""

    def __init__(self, name: str, message: str, **props: Any) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name
        self.message = message
        for prop, value in props.items():
            setattr(self, prop, value)


class BareJsException(Exception):
    """Only ``str()`` to go on (``name``/``message`` missing)."""


BareJsException.__name__ = "JsException"


class HostileJsException(JsException):
    """Reading ``name`` throws, as a JS getter can."""

    @property
    def name(self) -> str:
        raise RuntimeError("getter threw")

    @name.setter
    def name(self, value: str) -> None:
        pass


CASES = [
    # capability, JS name, message, expected class, retryable
    ("kv", "Error", "KV PUT failed: 400 Invalid expiration_ttl of 1", errors.InvalidInput, False),
    ("kv", "Error", "KV GET failed: 404 Not Found", errors.NotFound, False),
    ("kv", "Error", "KV PUT failed: 429 Too Many Requests", errors.RateLimited, True),
    ("kv", "Error", "KV GET failed: 503 Service Unavailable", errors.Unavailable, True),
    (
        "kv",
        "Error",
        "KV GET_BULK failed: 400 You can request a maximum of 100 keys",
        errors.InvalidInput,
        False,
    ),
    ("kv", "TypeError", "Key name cannot be empty.", errors.InvalidInput, False),
    ("kv", "TypeError", '"." is not allowed as a key name.', errors.InvalidInput, False),
    ("r2", "Error", "get: The specified key does not exist. (10007)", errors.NotFound, False),
    ("r2", "Error", "put: Precondition Failed (10031)", errors.PreconditionFailed, False),
    (
        "r2",
        "Error",
        "put: We encountered an internal error. Please try again. (10001)",
        errors.Unavailable,
        True,
    ),
    (
        "r2",
        "Error",
        "put: Reduce your concurrent request rate for the same object. (10058)",
        errors.RateLimited,
        True,
    ),
    ("r2", "Error", "The specified bucket does not exist.", errors.Misconfigured, False),
    ("r2", "TypeError", "Provided readable stream must have a known length", errors.InvalidInput, False),
    ("queue", "Error", "Queue send failed: message too large (10204)", errors.LimitExceeded, False),
    ("queue", "Error", "Queue sendBatch failed: queue overloaded (10250)", errors.RateLimited, True),
    ("kv", "Error", "Too many subrequests.", errors.LimitExceeded, False),
    ("do", "Error", "Too many API requests by single Worker invocation.", errors.LimitExceeded, False),
    ("do", "Error", "Network connection lost.", errors.Unavailable, True),
    ("do", "Error", "Durable Object is overloaded. Too many requests queued.", errors.RateLimited, False),
    (
        "do",
        "Error",
        "Your account is generating too much load on Durable Objects. Please back off and try again later.",
        errors.RateLimited,
        True,
    ),
    ("do", "Error", "Durable Object reset because its code was updated.", errors.Unavailable, True),
    (
        "do",
        "Error",
        "Internal error in Durable Object storage caused object to be reset.",
        errors.Unavailable,
        True,
    ),
    (
        "do",
        "Error",
        "Durable Object storage operation exceeded timeout which caused object to be reset.",
        errors.Unavailable,
        True,
    ),
    ("do", "TimeoutError", "The operation timed out.", errors.DeadlineExceeded, True),
    ("do", "RangeError", "Offset is outside the bounds of the DataView", errors.InvalidInput, False),
    ("do", "Error", "something nobody anticipated", errors.BackendError, False),
]


@pytest.mark.parametrize(("capability", "name", "message", "kind", "retryable"), CASES)
def test_translation_table(
    capability: str, name: str, message: str, kind: type[errors.CapabilityError], retryable: bool
) -> None:
    original = JsException(name, message)
    err = from_js(original, capability=capability, operation="op", key="k")
    assert type(err) is kind, message
    assert err.retryable is retryable
    assert err.__cause__ is original
    assert (err.capability, err.operation, err.key) == (capability, "op", "k")
    assert err.message == f"{name}: {message}"
    # from_exception recognises it without importing pyodide
    assert type(from_exception(original, capability=capability, operation="op")) is kind


@pytest.mark.parametrize(
    ("message", "limit", "value", "maximum"),
    [
        ("KV PUT failed: 413 Value length of 1025 exceeds limit of 1024.", "kv.value_bytes", 1025, 1024),
        (
            "KV PUT failed: 413 Metadata length of 1025 exceeds limit of 1024.",
            "kv.metadata_bytes",
            1025,
            1024,
        ),
        (
            "KV GET failed: 414 UTF-8 encoded length of 513 exceeds key length limit of 512.",
            "kv.key_bytes",
            513,
            512,
        ),
        (
            "KV GET_BULK failed: 413 Total size of request exceeds the limit of 0.0009765625MB",
            "kv.request_bytes",
            None,
            None,
        ),
        ("Too many subrequests.", "workers.subrequests", None, None),
    ],
)
def test_limits_name_what_was_exceeded(
    message: str, limit: str, value: int | None, maximum: int | None
) -> None:
    err = from_js(JsException("Error", message), capability="kv", operation="put")
    assert isinstance(err, errors.LimitExceeded)
    assert (err.limit, err.value, err.maximum) == (limit, value, maximum)


def test_r2_code_table_is_per_service() -> None:
    # 10013 means "IncompleteBody" for R2 (retry) but "namespace not found" for KV (configuration).
    r2 = from_js(JsException("Error", "put: incomplete body (10013)"), capability="r2", operation="put")
    kv = from_js(JsException("Error", "get: namespace not found (10013)"), capability="kv", operation="get")
    assert (type(r2), r2.retryable) == (errors.Unavailable, True)
    assert type(kv) is errors.Misconfigured


def test_durable_object_flags_are_authoritative() -> None:
    err = from_js(JsException("Error", "boom", retryable=True), capability="do", operation="fetch")
    assert (type(err), err.retryable) == (errors.Unavailable, True)
    err = from_js(
        JsException("Error", "Network connection lost.", retryable=False), capability="do", operation="f"
    )
    assert (type(err), err.retryable) == (errors.Unavailable, False)
    err = from_js(
        JsException("Error", "boom", overloaded=True, retryable=True), capability="do", operation="f"
    )
    assert (type(err), err.retryable) == (errors.RateLimited, False)
    err = from_js(JsException("Error", "user code threw", remote=True), capability="do", operation="rpc")
    assert (type(err), err.retryable) == (errors.BackendError, False)
    assert "inside the Durable Object" in err.message


def test_non_boolean_flags_are_ignored() -> None:
    err = from_js(JsException("Error", "boom", retryable="yes", overloaded=1), capability="do", operation="f")
    assert (type(err), err.retryable) == (errors.BackendError, False)


def test_only_str_to_go_on() -> None:
    original = BareJsException("Error: KV GET failed: 404 Not Found")
    err = from_js(original, capability="kv", operation="get")
    assert type(err) is errors.NotFound
    assert err.message == "Error: KV GET failed: 404 Not Found"
    bare = from_js(BareJsException("no name prefix here"), capability="kv", operation="get")
    assert type(bare) is errors.BackendError
    assert bare.message == "no name prefix here"


def test_a_throwing_property_does_not_mask_the_error() -> None:
    err = from_js(
        HostileJsException("TypeError", "Key name cannot be empty."), capability="kv", operation="put"
    )
    assert type(err) is errors.InvalidInput


def test_subclass_of_jsexception_is_recognised() -> None:
    class ProxyError(JsException):
        pass

    err = from_exception(ProxyError("Error", "Network connection lost."), capability="do", operation="f")
    assert type(err) is errors.Unavailable


def test_non_js_exception_passes_to_from_exception() -> None:
    assert type(from_js(TimeoutError("slow"), capability="kv", operation="get")) is errors.DeadlineExceeded


def test_long_js_message_is_clipped() -> None:
    err = from_js(JsException("Error", "x" * 50_000), capability="kv", operation="get")
    assert len(err.message) < 1100


def test_older_pyodide_keeps_the_js_error_in_js_error() -> None:
    class JsError:
        name = "Error"
        message = "Durable Object is overloaded. Too many requests queued."
        overloaded = True

    class OldJsException(Exception):
        pass

    OldJsException.__name__ = "JsException"
    original = OldJsException("Error: Durable Object is overloaded. Too many requests queued.")
    original.js_error = JsError()  # type: ignore[attr-defined]
    err = from_js(original, capability="do", operation="fetch")
    assert (type(err), err.retryable) == (errors.RateLimited, False)
