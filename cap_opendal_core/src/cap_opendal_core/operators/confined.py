"""An OpenDAL ``fs`` operator that refuses any path reaching through a symbolic link below its root.

OpenDAL's ``fs`` service follows links like any program opening paths: a directory link planted as
``keys/`` or a key's parent sends puts and deletes outside the store, and a linked record file is
read. :func:`~cap_opendal_core.operators.build_operator` therefore hands every ``fs`` operator out
wrapped in :class:`ConfinedFsOperator`, which checks each path (and a rename's both paths) with
:func:`~cap_opendal_core.localfs.check_inside` before delegating. It offers exactly the calls the
capabilities make; anything else is an ``AttributeError`` rather than an unchecked call. See
:mod:`cap_opendal_core.localfs` for what is guaranteed against a link planted during a call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..localfs import check_inside

if TYPE_CHECKING:
    import opendal

__all__ = ["ConfinedFsBlockingOperator", "ConfinedFsOperator"]


class _Confined:
    """What both confined operators are: an operator, the root its paths must stay inside, the check."""

    __slots__ = ("_capability", "_op", "root")

    _op: Any

    def __init__(self, operator: Any, root: str, capability: str | None) -> None:
        self._op = operator
        self.root = root
        self._capability = capability

    def _check(self, path: str) -> None:
        check_inside(self.root, path, capability=self._capability)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(root={self.root!r})"


class ConfinedFsOperator(_Confined):
    """``opendal.AsyncOperator`` on ``fs``, with every path checked first (see the module docstring)."""

    __slots__ = ()
    _op: opendal.AsyncOperator

    def capability(self) -> Any:
        return self._op.capability()

    async def read(self, path: str, **options: Any) -> Any:
        self._check(path)
        return await self._op.read(path, **options)

    async def write(self, path: str, bs: bytes, **options: Any) -> None:
        self._check(path)
        await self._op.write(path, bs, **options)

    async def delete(self, path: str, **options: Any) -> None:
        self._check(path)
        await self._op.delete(path, **options)

    async def open(self, path: str, mode: str, **options: Any) -> Any:
        self._check(path)
        return await self._op.open(path, mode, **options)

    async def rename(self, source: str, target: str) -> None:
        self._check(source)
        self._check(target)
        await self._op.rename(source, target)

    async def stat(self, path: str, **options: Any) -> Any:
        self._check(path)
        return await self._op.stat(path, **options)

    async def list(self, path: str, **options: Any) -> Any:
        self._check(path)
        return await self._op.list(path, **options)

    def to_operator(self) -> ConfinedFsBlockingOperator:
        """OpenDAL's blocking ``Operator`` on the same root, with the same checks: what a sync call
        made in its caller's thread reads and deletes with (needs a running event loop, as
        ``opendal.AsyncOperator.to_operator`` does)."""
        return ConfinedFsBlockingOperator(self._op.to_operator(), self.root, self._capability)


class ConfinedFsBlockingOperator(_Confined):
    """``opendal.Operator`` on ``fs``, with every path checked first (the blocking calls KV makes)."""

    __slots__ = ()
    _op: opendal.Operator

    def read(self, path: str, **options: Any) -> Any:
        self._check(path)
        return self._op.read(path, **options)

    def write(self, path: str, bs: bytes, **options: Any) -> None:
        self._check(path)
        self._op.write(path, bs, **options)

    def delete(self, path: str, **options: Any) -> None:
        self._check(path)
        self._op.delete(path, **options)
