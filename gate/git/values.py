"""Plain value classes for the hook's side, without ``dataclasses``.

``dataclasses`` imports ``inspect`` (and with it ``ast``, ``dis``, ``tokenize``...) and writes
each class's methods with ``exec`` at import time: a quarter of what a push that reaches the
exact stage cost. A class here lists its fields in ``_fields`` (and in ``__slots__``, with any
cache slots after them) and writes its own ``__init__``; ``Value`` gives it what the
dataclasses it replaces had: equality and hashing over the fields, in order, between instances
of the same class, a ``repr`` naming them, ``replace`` and ``as_dict`` (a shallow copy: the
fields these classes hold are plain values, tuples and dicts of them), and ``copy``/``pickle``
support. ``Frozen`` refuses attribute assignment after ``__init__`` (which assigns with
``_set``), as ``@dataclass(frozen=True)`` did.
"""

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Self

_set = object.__setattr__


class FrozenError(AttributeError):
    """Assignment to a field of a frozen value (dataclasses' FrozenInstanceError)."""


class Value:
    __slots__ = ()
    _fields: "tuple[str, ...]" = ()

    def _values(self) -> "tuple[Any, ...]":
        return tuple([getattr(self, name) for name in self._fields])

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() == other._values()

    # (no __hash__: a class that defines __eq__ alone is unhashable, as a plain @dataclass)

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._fields)
        return f"{self.__class__.__qualname__}({shown})"

    def __reduce__(self) -> "tuple[Any, ...]":
        return self.__class__, self._values()

    def replace(self, **changes: "Any") -> "Self":
        """A copy with ``changes`` (field name -> new value), as dataclasses.replace."""
        unknown = set(changes) - set(self._fields)
        if unknown:
            raise TypeError(f"{self.__class__.__qualname__} has no field {sorted(unknown)[0]!r}")
        values = {name: getattr(self, name) for name in self._fields}
        return self.__class__(**(values | changes))

    def as_dict(self) -> "dict[str, Any]":
        """The fields by name (values as they are: they are plain data)."""
        return {name: getattr(self, name) for name in self._fields}


class Frozen(Value):
    __slots__ = ()

    def __hash__(self) -> int:
        return hash(self._values())

    def __setattr__(self, name: str, value: object) -> None:
        raise FrozenError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise FrozenError(f"cannot delete field {name!r}")
