"""The per-service translator registry: each capability package contributes its error facts.

Core keeps the status table and the generic JS rules; a service's Cloudflare codes and its own JS
rules are registered by its package (docs/hints-and-validation.md, "one home per concern").
"""

from __future__ import annotations

import pytest

from cap_opendal_core import errors
from cap_opendal_core.translate import JsRule, ServiceErrors, Spec, from_http, from_js
from cap_opendal_core.translate.http import cloudflare_code_spec
from cap_opendal_core.translate.services import register_service_errors, registered_services, service_of


class JsException(Exception):
    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name
        self.message = message


def test_installed_packages_register_their_services() -> None:
    assert service_of("kv") == "kv"
    assert service_of("blob_archive") == "r2"
    assert {"kv", "r2", "queue", "do"} <= set(registered_services())


def test_codes_are_looked_up_in_the_failing_capabilitys_table() -> None:
    body = {"success": False, "errors": [{"code": 10013, "message": "x"}]}
    assert isinstance(from_http(404, body, capability="kv", operation="get"), errors.Misconfigured)
    assert isinstance(from_http(400, body, capability="r2", operation="get"), errors.Unavailable)
    # an unknown capability gets the status decision and the account-wide codes only
    assert isinstance(from_http(404, body, capability="nobody", operation="get"), errors.NotFound)
    assert cloudflare_code_spec(None, 10000) == Spec(errors.Unauthorized)


def test_a_new_service_registers_codes_and_js_rules_without_core_changes() -> None:
    register_service_errors(
        ServiceErrors(
            service="counter",
            capability_prefixes=("counter",),
            codes={42001: Spec(errors.LimitExceeded, limit="counter.max_value")},
            js_rules=(JsRule(Spec(errors.PreconditionFailed), pattern=r"counter is frozen"),),
        )
    )
    err = from_http(
        400, {"errors": [{"code": 42001, "message": "too big"}]}, capability="counter", operation="add"
    )
    assert isinstance(err, errors.LimitExceeded)
    assert err.limit == "counter.max_value"
    frozen = from_js(JsException("Error", "the counter is frozen"), capability="counter", operation="add")
    assert isinstance(frozen, errors.PreconditionFailed)
    # the rule is the service's own: another capability's identical message is not affected
    other = from_js(JsException("Error", "the counter is frozen"), capability="kv", operation="get")
    assert not isinstance(other, errors.PreconditionFailed)


@pytest.mark.parametrize(
    "bad",
    [
        {"service": "Bad Name", "capability_prefixes": ("x",)},
        {"service": "x", "capability_prefixes": ()},
        {"service": "x", "capability_prefixes": ("x",), "codes": {"1": Spec(errors.NotFound)}},
    ],
)
def test_service_errors_are_validated(bad: dict[str, object]) -> None:
    with pytest.raises(errors.InvalidInput):
        ServiceErrors(**bad)  # type: ignore[arg-type]
