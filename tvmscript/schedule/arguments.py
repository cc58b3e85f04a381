"""Checking a primitive's arguments against its signature before it runs.

Each primitive declares its parameters' kinds once, in its signature (``block: BlockRV``,
``loop: LoopRV``, ``read_buffer_index: int``, ``storage_scope: str`` ...); the
``register_primitive`` wrapper checks every call against them, so a loop handle where a block is
expected, or ``"0"`` for an index, is refused with the primitive and the parameter named, instead
of failing deep inside (``'For' object has no attribute 'name_hint'``). Hints this check does
not understand (``Any``) accept everything: the primitive checks those values itself.
"""

from __future__ import annotations

import collections.abc
import inspect
import math
import numbers
import types
import typing
from collections.abc import Callable
from typing import Any

import numpy as np

from ..arith import dtype_range
from ..ir.dtype import DataType, largest_finite
from .errors import ScheduleArgumentError
from .handles import BlockRV, LoopRV
from .index_map import IndexMap

_NONE = type(None)
_UNIONS = (typing.Union, types.UnionType)
_SEQUENCES = (list, tuple, collections.abc.Sequence)
_BOOLS = (bool, np.bool_)

# a kind: its description, singular and plural
_KINDS: dict[type, tuple[str, str]] = {
    BlockRV: ("a block handle (BlockRV)", "block handles (BlockRV)"),
    LoopRV: ("a loop handle (LoopRV)", "loop handles (LoopRV)"),
    int: ("an integer", "integers"),
    float: ("a number", "numbers"),
    bool: ("True or False", "booleans"),
    str: ("a string", "strings"),
    IndexMap: ("an IndexMap or a lambda", "IndexMaps"),
}


class ArgumentChecker:
    """Checks the arguments of one primitive ``fn`` (called ``name``) against its signature,
    except the parameters in ``unchecked`` (which ``fn`` checks with a message of its own)."""

    def __init__(self, name: str, fn: Callable, unchecked: tuple[str, ...] = ()) -> None:
        self.name, self.fn, self.unchecked = name, fn, unchecked
        self.signature = inspect.signature(fn)
        self._hints: dict[str, Any] | None = None

    def hints(self) -> dict[str, Any]:
        """The resolved annotations, computed on first use: a module's names may be defined
        after the decorator ran."""
        if self._hints is None:
            self._hints = typing.get_type_hints(self.fn)
        return self._hints

    def __call__(self, sch: Any, args: tuple, kwargs: dict) -> None:
        """Raise ScheduleArgumentError unless ``fn(sch, *args, **kwargs)`` fits the signature."""
        try:
            bound = self.signature.bind(sch, *args, **kwargs)
        except TypeError as err:
            raise ScheduleArgumentError(f"{self.name}: {err}") from None
        hints = self.hints()
        for pname, value in list(bound.arguments.items())[1:]:
            hint = Any if pname in self.unchecked else hints.get(pname, Any)
            variadic = self.signature.parameters[pname].kind is inspect.Parameter.VAR_POSITIONAL
            for item in value if variadic else (value,):
                if not conforms(item, hint):
                    raise ScheduleArgumentError(f"{self.name}: argument `{pname}` must be "
                                                f"{describe(hint)}, got {item!r}")


def conforms(value: Any, hint: Any) -> bool:
    """Whether ``value`` is of the kind ``hint`` names (ints are not bools, lists may be
    tuples; a hint not understood here accepts everything)."""
    if hint is Any:
        return True
    origin = typing.get_origin(hint)
    if origin in _UNIONS:
        return any(conforms(value, h) for h in typing.get_args(hint))
    if origin is not None:
        return _conforms_generic(value, origin, typing.get_args(hint))
    if hint is None or hint is _NONE:
        return value is None
    if hint is int:
        return isinstance(value, numbers.Integral) and not isinstance(value, _BOOLS)
    if hint is float:
        return isinstance(value, numbers.Real) and not isinstance(value, _BOOLS)
    if hint is bool:
        return isinstance(value, _BOOLS)
    if hint in _SEQUENCES:
        return isinstance(value, (list, tuple))
    if isinstance(hint, type) and hint is not object:
        return isinstance(value, hint)
    return True


def _conforms_generic(value: Any, origin: Any, args: tuple) -> bool:
    if origin is collections.abc.Callable:
        return callable(value)
    if origin is dict:
        return isinstance(value, dict)
    if origin not in _SEQUENCES:
        return True
    ok = (list, tuple, np.ndarray) if origin is collections.abc.Sequence else (list, tuple)
    if not isinstance(value, ok) or (isinstance(value, np.ndarray) and value.ndim != 1):
        return False
    if origin is tuple and args and args[-1] is not Ellipsis:
        return len(value) == len(args) and all(conforms(v, h) for v, h in zip(value, args))
    return not args or all(conforms(v, args[0]) for v in value)


def describe(hint: Any, plural: bool = False) -> str:
    """``hint`` in words: "a loop handle (LoopRV)", "a sequence of integers or None" ..."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in _UNIONS:
        text = " or ".join(describe(h, plural) for h in args if h is not _NONE)
        return text + " or None" if _NONE in args else text
    if hint is None or hint is _NONE:
        return "None"
    if origin in _SEQUENCES:
        what = "a sequence" if origin is collections.abc.Sequence else "a list"
        return f"{what} of {describe(args[0], True)}" if args else what
    if hint in _SEQUENCES:
        return "lists" if plural else "a list"
    if origin is collections.abc.Callable or hint is collections.abc.Callable:
        return "callables" if plural else "a callable"
    if hint in _KINDS:
        return _KINDS[hint][plural]
    name = getattr(hint, "__name__", str(hint))
    return f"{name} objects" if plural else f"a {name}"


def dtype_problem(value: Any, dtype: DataType) -> str | None:
    """Why the number ``value`` is not a value of ``dtype`` ("does not fit int32 (-2147483648
    to 2147483647)"), or None when it is. Constants made from it are never wrapped, truncated
    or turned into infinity: a split factor of 2**31 would otherwise become -2**31."""
    if dtype.is_float:
        if not isinstance(value, numbers.Real) or isinstance(value, _BOOLS):
            return f"is not a value of {dtype}"
        largest = largest_finite(dtype)
        if math.isfinite(value) and abs(value) > largest:
            return f"does not fit {dtype} (largest finite {largest:.8g})"
        return None
    if isinstance(value, _BOOLS) and dtype.is_bool:
        return None
    if not isinstance(value, numbers.Integral) or isinstance(value, _BOOLS):
        return f"is not a value of {dtype}"
    bound = dtype_range(dtype)
    if not bound.min <= int(value) <= bound.max:
        return f"does not fit {dtype} ({bound.min} to {bound.max})"
    return None


__all__ = ["ArgumentChecker", "conforms", "describe", "dtype_problem"]
