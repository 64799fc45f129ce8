"""R2's conditional semantics (``onlyIf``), as one pure function every emulating backend evaluates.

The Workers binding evaluates conditions itself. The local backend and the S3 backend (whose API
can only say ``If-Match`` / ``If-None-Match: *`` on writes) evaluate them here, against the object as
it is, so every backend answers the same. The rules follow workerd's R2 implementation, as Miniflare
reproduces it:

* no object: the condition holds unless it asks for an etag match or an upload after a date;
* an etag condition is one etag (quotes optional) or ``*``, which matches any object;
* ``uploaded_after`` also holds when an ``etag_does_not_match`` was given and held, and
  ``uploaded_before`` when an ``etag_matches`` was given and held (HTTP's precedence of ``If-Match``
  over ``If-Unmodified-Since``);
* times compare in milliseconds, or whole seconds with ``seconds_granularity``.
"""

from __future__ import annotations

import datetime as _dt
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .models import R2Conditional

__all__ = ["condition_holds", "epoch_ms", "from_epoch_ms", "normalize_etag"]


def normalize_etag(text: str) -> str:
    """One etag as R2's binding takes it: bare (quotes removed, so ``R2Object.http_etag`` works
    too) or ``*`` for "any object". Raises ``ValueError`` for anything else — R2 has no weak etags
    and no lists in ``onlyIf`` (workerd compares the string literally)."""
    value = text.strip()
    if len(value) >= 2 and value.startswith('"') and value.endswith('"'):
        value = value[1:-1]
    if not value:
        raise ValueError("an etag condition must not be empty")
    if value.startswith(("W/", "w/")):
        raise ValueError("R2 compares strong etags only: give the etag without W/")
    if any(c in value for c in ' ",\t'):
        raise ValueError("give one etag (or '*'), not a list")
    return value


def _matches(condition: str, etag: str) -> bool:
    wanted = normalize_etag(condition)
    return wanted == "*" or wanted == etag


_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)
_MS = _dt.timedelta(milliseconds=1)


def epoch_ms(moment: _dt.datetime) -> int:
    """Milliseconds since the epoch, exactly (float timestamps can be off by one); naive means UTC."""
    moment = moment if moment.tzinfo is not None else moment.replace(tzinfo=_dt.UTC)
    return (moment - _EPOCH) // _MS


def from_epoch_ms(ms: int) -> _dt.datetime:
    """Inverse of :func:`epoch_ms`: an aware UTC datetime."""
    return _EPOCH + _dt.timedelta(milliseconds=ms)


def condition_holds(cond: R2Conditional, etag: str | None, uploaded: _dt.datetime | None) -> bool:
    """Whether ``cond`` holds for the object with ``etag`` uploaded at ``uploaded`` (None: no object)."""
    if etag is None or uploaded is None:
        return cond.etag_matches is None and cond.uploaded_after is None

    def trunc(ms: int) -> int:
        return ms // 1000 * 1000 if cond.seconds_granularity else ms

    last_modified = trunc(epoch_ms(uploaded))
    if_match = cond.etag_matches is None or _matches(cond.etag_matches, etag)
    if_none_match = cond.etag_does_not_match is None or not _matches(cond.etag_does_not_match, etag)
    modified_since = (
        cond.uploaded_after is None
        or trunc(epoch_ms(cond.uploaded_after)) < last_modified
        or (cond.etag_does_not_match is not None and if_none_match)
    )
    unmodified_since = (
        cond.uploaded_before is None
        or last_modified < trunc(epoch_ms(cond.uploaded_before))
        or (cond.etag_matches is not None and if_match)
    )
    return if_match and if_none_match and modified_since and unmodified_since
