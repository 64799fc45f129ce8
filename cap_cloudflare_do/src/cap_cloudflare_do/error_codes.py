"""What Durable Objects' errors mean beyond core's generic rules: the JS rules for ``do``.

Importing this module registers it (see :mod:`cap_opendal_core.translate.services`).
Source: developers.cloudflare.com/durable-objects/best-practices/error-handling/ and
developers.cloudflare.com/durable-objects/observability/troubleshooting/.
"""

from __future__ import annotations

from typing import Final

from cap_opendal_core import errors
from cap_opendal_core.translate import Spec
from cap_opendal_core.translate.services import JsRule, ServiceErrors, register_service_errors

from .sql_messages import CONSTRAINT_JS, INVALID_JS, LIMIT_JS

__all__ = ["ERRORS"]

ERRORS: Final = ServiceErrors(
    service="do",
    capability_prefixes=("durable", "do", "dedupe"),
    js_rules=(
        # "overloaded" must not be retried (it makes the overload worse)…
        JsRule(Spec(errors.RateLimited, retryable=False), pattern=r"durable object is overloaded"),
        # …while account-wide load asks to back off and try again.
        JsRule(Spec(errors.RateLimited, retryable=True), pattern=r"too much load|back off and try again"),
        # point-in-time recovery on a storage back-end without it (Miniflare's, KV-backed classes)
        JsRule(Spec(errors.Unsupported), pattern=r"does not implement point-in-time recovery"),
        # storage.sql.exec (cap_cloudflare_do.sql.sql_error reads the same messages, with the statement)
        JsRule(Spec(errors.PreconditionFailed, retryable=False), pattern=CONSTRAINT_JS),
        JsRule(Spec(errors.LimitExceeded, retryable=False, limit="do.sql"), pattern=LIMIT_JS),
        JsRule(Spec(errors.InvalidInput, field="query"), pattern=INVALID_JS),
    ),
)

register_service_errors(ERRORS)
