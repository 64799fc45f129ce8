"""Every public method of :class:`~cap_cloudflare_r2.R2Bucket`, declared once for the pipeline.

Reads record ``resource::blob::read``, writes ``resource::blob::write``, both with the determinism
hint ``resource::blob`` (``docs/reference/hints.md``); a ``get`` conditioned on an etag match records
``resource::blob::pinned`` instead (passed per call), since a read pinned to one etag cannot drift.

Idempotency decides what the pipeline's retry layer may repeat. A put of bytes, a delete, an abort
and a part of bytes can be sent again harmlessly. A conditional put cannot (a retry after a lost
response finds its own write and fails the condition), nor can a put or part fed by a stream (the
stream is spent), nor creating or completing a multipart upload. Those have ``*_ONCE`` twins with
the same name and hints but ``idempotent=False``.
"""

from __future__ import annotations

from typing import Final

from cap_opendal_core.layers.operation import ResourceHints

__all__ = [
    "OPERATIONS",
    "ABORT_MULTIPART_UPLOAD",
    "CAPABILITY",
    "COMPLETE_MULTIPART_UPLOAD",
    "CREATE_MULTIPART_UPLOAD",
    "DELETE",
    "DETERMINISM_HINT",
    "GET",
    "HEAD",
    "LIST",
    "PINNED_HINT",
    "PRESIGN_GET",
    "PRESIGN_PUT",
    "PUT",
    "PUT_ONCE",
    "READ_HINT",
    "RESUME_MULTIPART_UPLOAD",
    "UPLOAD_PART",
    "UPLOAD_PART_ONCE",
    "WRITE_HINT",
]

CAPABILITY: Final = "r2"
_BLOB: Final = ResourceHints(CAPABILITY, "blob")
READ_HINT: Final = _BLOB.hint("read")
WRITE_HINT: Final = _BLOB.hint("write")
DETERMINISM_HINT: Final = _BLOB.hint()
PINNED_HINT: Final = "resource::blob::pinned"

HEAD: Final = _BLOB.read("head")
GET: Final = _BLOB.read("get")
LIST: Final = _BLOB.read("list")
PUT: Final = _BLOB.write("put", idempotent=True)
PUT_ONCE: Final = _BLOB.write("put", idempotent=False)
DELETE: Final = _BLOB.write("delete", idempotent=True)
CREATE_MULTIPART_UPLOAD: Final = _BLOB.write("create_multipart_upload", idempotent=False)
RESUME_MULTIPART_UPLOAD: Final = _BLOB.write("resume_multipart_upload", idempotent=True, subrequests=0)
UPLOAD_PART: Final = _BLOB.write("upload_part", idempotent=True)
UPLOAD_PART_ONCE: Final = _BLOB.write("upload_part", idempotent=False)
COMPLETE_MULTIPART_UPLOAD: Final = _BLOB.write("complete_multipart_upload", idempotent=False)
ABORT_MULTIPART_UPLOAD: Final = _BLOB.write("abort_multipart_upload", idempotent=True)
PRESIGN_GET: Final = _BLOB.read("presign", subrequests=0)
"""A presigned GET lets its holder read the object: a read, made without any request."""
PRESIGN_PUT: Final = _BLOB.write("presign", idempotent=True, subrequests=0)
"""A presigned PUT lets its holder write the object: a write, made without any request."""

OPERATIONS: Final = (
    HEAD,
    GET,
    LIST,
    PUT,
    PUT_ONCE,
    DELETE,
    CREATE_MULTIPART_UPLOAD,
    RESUME_MULTIPART_UPLOAD,
    UPLOAD_PART,
    UPLOAD_PART_ONCE,
    COMPLETE_MULTIPART_UPLOAD,
    ABORT_MULTIPART_UPLOAD,
    PRESIGN_GET,
    PRESIGN_PUT,
)
"""Every operation, for the package's spec (which derives the provided hints from them)."""
