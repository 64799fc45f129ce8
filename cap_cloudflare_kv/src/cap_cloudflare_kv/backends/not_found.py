"""Telling a missing key from a missing store when OpenDAL says ``NotFound``.

OpenDAL reports an object that does not exist as ``NotFound`` — for a KV read that is a missing key,
``None``. But on S3-compatible services a bucket that does not exist is a 404 too, and arrives as the
same ``NotFound``; read as "missing key" it would hide a broken configuration behind ``None``. Core's
translator reads the S3 error code in the message (``NoSuchBucket`` → ``Misconfigured``), so a
``NotFound`` is a missing key only when the translation agrees.
"""

from __future__ import annotations

from cap_opendal_core.errors import NotFound

__all__ = ["raise_unless_missing_key"]


def raise_unless_missing_key(exc: Exception, *, operation: str, key: str | None) -> None:
    """Return when ``exc`` means the key's object is absent; otherwise raise what it really means."""
    from cap_opendal_core.translate import from_opendal

    translated = from_opendal(exc, capability="kv", operation=operation, key=key)
    if not isinstance(translated, NotFound):
        raise translated from exc
