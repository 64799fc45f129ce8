"""Test-only stand-in for workerd's ``_cloudflare_compat_flags`` so the ``workers`` SDK imports.

Every compatibility flag reads as off.
"""

from __future__ import annotations


def __getattr__(name: str) -> bool:
    if name.startswith("__"):
        raise AttributeError(name)
    return False
