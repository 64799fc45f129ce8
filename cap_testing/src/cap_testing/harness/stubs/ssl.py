"""Test-only stand-in for ``ssl``, which Pyodide 0.28 ships as a separate package (fetched online).

anyio and asyncio import ``ssl`` at module level and read a few names from it; nothing on the Workers
path opens a TLS connection (the Workers runtime does TLS for ``fetch``). Anything that really tries
to use TLS here fails loudly.
"""

from __future__ import annotations

import enum
from typing import Any, NoReturn

OPENSSL_VERSION = "stub (no TLS under the cap-testing Workers host)"
HAS_SNI = False
HAS_ALPN = False
OP_ALL = 0
OP_NO_SSLv2 = 0
OP_NO_SSLv3 = 0
OP_NO_COMPRESSION = 0
OP_IGNORE_UNEXPECTED_EOF = 0
CERT_NONE = 0
CERT_OPTIONAL = 1
CERT_REQUIRED = 2
PROTOCOL_TLS = 2
PROTOCOL_TLS_CLIENT = 16
PROTOCOL_TLS_SERVER = 17


def _unavailable(*_args: Any, **_kwargs: Any) -> NoReturn:
    raise NotImplementedError("TLS is not available in the cap-testing Workers host (ssl is a stub)")


class SSLError(OSError):
    pass


class SSLZeroReturnError(SSLError):
    pass


class SSLWantReadError(SSLError):
    pass


class SSLWantWriteError(SSLError):
    pass


class SSLSyscallError(SSLError):
    pass


class SSLEOFError(SSLError):
    pass


class SSLCertVerificationError(SSLError, ValueError):
    pass


CertificateError = SSLCertVerificationError


class Purpose(enum.Enum):
    SERVER_AUTH = "1.3.6.1.5.5.7.3.1"
    CLIENT_AUTH = "1.3.6.1.5.5.7.3.2"


class TLSVersion(enum.IntEnum):
    MINIMUM_SUPPORTED = -2
    TLSv1_2 = 771
    TLSv1_3 = 772
    MAXIMUM_SUPPORTED = -1


class _Unavailable:
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        _unavailable()


class SSLContext(_Unavailable):
    pass


class SSLObject(_Unavailable):
    pass


class SSLSocket(_Unavailable):
    pass


class MemoryBIO(_Unavailable):
    pass


class SSLSession(_Unavailable):
    pass


create_default_context = _unavailable
