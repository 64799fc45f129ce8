"""``Forward``: a read-only attribute that is the same attribute of an object this one wraps.

Wrappers repeat their inner object's attributes: an R2 body shows its object's ``key`` and ``etag``,
each sync class its async object's ``backend`` and ``name``. Written as properties, each is four lines
saying only "ask the inner object"; declared as ``key = Forward[str]("_object")`` the list of forwarded
names is the whole story, typed (``Forward[str]`` reads as a ``str`` on instances) and read-only.
"""

from __future__ import annotations

from typing import Any, Generic, Self, TypeVar, overload

__all__ = ["Forward"]

T = TypeVar("T")


class Forward(Generic[T]):
    """Reads ``getattr(getattr(instance, via), name)``, where ``name`` is the attribute's own name
    (or ``attribute=``). ``doc`` becomes its docstring, as a property's would."""

    def __init__(self, via: str, doc: str | None = None, *, attribute: str | None = None) -> None:
        self._via = via
        self._attribute = attribute
        self.__doc__ = doc

    def __set_name__(self, owner: type, name: str) -> None:
        if self._attribute is None:
            self._attribute = name

    @overload
    def __get__(self, instance: None, owner: type | None = None) -> Self: ...
    @overload
    def __get__(self, instance: object, owner: type | None = None) -> T: ...
    def __get__(self, instance: object | None, owner: type | None = None) -> Self | T:
        if instance is None:
            return self
        value: T = getattr(getattr(instance, self._via), self._attribute or "")
        return value

    def __set__(self, instance: object, value: Any) -> None:
        """Refused, as for a property without a setter: the inner object owns the value."""
        raise AttributeError(f"{self._attribute} is read-only")
