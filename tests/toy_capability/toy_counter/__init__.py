"""A toy fifth capability — a counter service with a local backend — used only by the tests.

It proves the claim of docs/preflight-and-wrangler.md that core is generic: installed next to
``cap-opendal-core`` through an entry point, it appears in ``caps hints``, preflight, manifests,
``caps wrangler`` and error translation without any change to core.
"""

from __future__ import annotations

from typing import Self

from cap_opendal_core.translate import from_exception

__all__ = ["Counter"]


class Counter:
    """An in-memory counter namespace: ``add`` and ``get`` by name."""

    binding_kind = "counter_namespace"

    def __init__(self) -> None:
        self._values: dict[str, int] = {}

    @classmethod
    def local(cls) -> Self:
        return cls()

    async def add(self, name: str, amount: int = 1) -> int:
        try:
            if amount < 0:
                raise ValueError("a counter only counts up")
        except ValueError as exc:
            raise from_exception(exc, capability="counter", operation="add", key=name) from exc
        self._values[name] = self._values.get(name, 0) + amount
        return self._values[name]

    async def get(self, name: str) -> int:
        return self._values.get(name, 0)
