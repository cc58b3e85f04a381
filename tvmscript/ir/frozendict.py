"""An immutable, hashable dict for node attributes and annotations."""

from __future__ import annotations

from typing import Any


class FrozenDict(dict):
    """A dict that refuses mutation, so IR nodes holding one stay immutable and hashable."""

    __slots__ = ("_hash",)

    def _readonly(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("IR attributes are immutable; build a new dict and use node.with_(...)")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = _readonly  # type: ignore
    __ior__ = _readonly  # type: ignore

    def __hash__(self) -> int:  # type: ignore[override]
        try:
            return self._hash
        except AttributeError:
            self._hash = hash(frozenset((k, _freeze(v)) for k, v in self.items()))
            return self._hash

    def __reduce__(self):
        return (FrozenDict, (dict(self),))


def _freeze(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, dict) and not isinstance(value, FrozenDict):
        return FrozenDict({k: _freeze(v) for k, v in value.items()})
    return value


def freeze(value: Any) -> Any:
    """Lists become tuples and dicts FrozenDicts, recursively."""
    return _freeze(value)


EMPTY = FrozenDict()
