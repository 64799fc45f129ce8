"""cap-cloudflare-r2: Cloudflare R2 as one async capability on Workers, servers and laptops.

``from cap_cloudflare_r2 import R2Bucket`` then ``R2Bucket.from_env(env, "BUCKET")`` in a Python
Worker, ``R2Bucket.from_config(R2Config(…))`` / ``R2Bucket.from_url("s3://…")`` on a server, or
``R2Bucket.local(".caps/r2/assets")`` on a laptop. Names load on first use, so importing the package
is cheap (a Worker pays for every import at cold start) and never pulls in OpenDAL, pydantic or httpx.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from cap_opendal_core.lazy import by_name, lazy_exports

if TYPE_CHECKING:  # real types for checkers; at run time __getattr__ imports on first use
    from .bucket import R2Bucket, R2MultipartUpload
    from .config import R2Config
    from .models import PresignedRequest as PresignedRequest
    from .models import R2Checksums as R2Checksums
    from .models import R2Conditional as R2Conditional
    from .models import R2HttpMetadata as R2HttpMetadata
    from .models import R2Object as R2Object
    from .models import R2ObjectBody as R2ObjectBody
    from .models import R2Objects as R2Objects
    from .models import R2PutValue as R2PutValue
    from .models import R2Range as R2Range
    from .models import R2UploadedPart as R2UploadedPart
    from .transfer import TransferSettings

__version__ = "0.1.0"

_LAZY: Final = by_name(
    {
        "bucket": ("R2Bucket", "R2MultipartUpload"),
        "config": ("R2Config",),
        "models": (
            "PresignedRequest",
            "R2Checksums",
            "R2Conditional",
            "R2HttpMetadata",
            "R2Object",
            "R2ObjectBody",
            "R2Objects",
            "R2PutValue",
            "R2Range",
            "R2UploadedPart",
        ),
        "transfer": ("TransferSettings",),
    }
)

__all__ = [
    "PresignedRequest",
    "R2Bucket",
    "R2Checksums",
    "R2Conditional",
    "R2Config",
    "R2HttpMetadata",
    "R2MultipartUpload",
    "R2Object",
    "R2ObjectBody",
    "R2Objects",
    "R2PutValue",
    "R2Range",
    "R2UploadedPart",
    "TransferSettings",
    "__version__",
]


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals(), submodules=True)
