"""The entry point that tells ``cap_opendal_core`` what this package is: its spec, as a plugin."""

from __future__ import annotations

from .spec import SPEC

__all__ = ["PLUGIN"]

PLUGIN = SPEC.plugin()
