"""The runtime's SQL error messages, as patterns: what the package's JS error rules
(:mod:`.error_codes`) match. Kept apart from :mod:`.sql` so plugin discovery imports no runtime code.

Measured against Miniflare's workerd: SQLite's message followed by ``: SQLITE_<CODE>`` (and
``(extended: SQLITE_<EXTENDED>)`` for constraints), or the runtime's own sentences.
"""

from __future__ import annotations

from typing import Final

__all__ = ["CONSTRAINT_JS", "INVALID_JS", "LIMIT_JS"]

CONSTRAINT_JS: Final = r"constraint failed: .*SQLITE_CONSTRAINT"
"""The runtime's message for a constraint violation (for the package's JS error rules)."""
LIMIT_JS: Final = r"SQLITE_TOOBIG|SQLITE_FULL|too many SQL variables"
"""The runtime's messages for a SQL size or count limit."""
INVALID_JS: Final = (
    r"SQLITE_(?:ERROR|AUTH|RANGE|MISMATCH)\b|Wrong number of parameter bindings for SQL query"
    r"|only the last statement can have parameters|SQL code did not contain a statement"
    r"|please use the state\.storage\.transaction"
)
"""The runtime's messages for bad SQL: syntax, unknown names, bindings, reserved names, transactions."""
