"""Conversions between evaluated script values and IR expressions, shared by T and R."""

from __future__ import annotations

from typing import Any

from ...ir import expr as E
from ...ir.buffer import Buffer, BufferRegion
from ...ir.dtype import DataType, DTypeError
from ...ir.dtype import dtype as as_dtype
from ...ir.expr import IntImm, PrimExpr, Range, const
from ...ir.node import Node
from ...ir.structural import structural_equal
from ..fold import fold_binary


def describe(value: Any) -> str:
    """A short phrase naming what a value is, for error messages."""
    if isinstance(value, Buffer):
        return f"buffer {value.name}"
    if isinstance(value, PrimExpr):
        article = "an" if str(value.dtype)[0] in "aeiou" else "a"
        return f"{article} {value.dtype} expression"
    if isinstance(value, type):
        return f"the Python type {value.__name__}"
    if isinstance(value, BufferSlice):
        return f"a region of buffer {value.buffer.name}"
    if value is None:
        return "None"
    if isinstance(value, (bool, int, float, str)):
        return f"{type(value).__name__} {value!r}"
    return getattr(value, "script_kind", None) or type(value).__name__


_ATTR_SCALARS = (type(None), bool, int, float, str, Node)


def attr_dict(value: Any, what: str) -> dict:
    """``value`` as attributes: a dict of values the printer writes back as script text
    (strings, numbers, bools, IR, and lists, tuples and dicts of them); anything else is refused
    so that printing never emits a Python repr that does not parse."""
    if not isinstance(value, dict):
        raise TypeError(f"{what} expects a dict, got {describe(value)}")
    for key, item in value.items():
        bad = _non_ir(item)
        if bad is not _NONE:
            raise TypeError(f"{what} value for key {key!r} is {describe(bad)}; expected a "
                            "string, number, bool, IR expression, or a list, tuple or dict of them")
    return value


_NONE = object()


def _non_ir(value: Any) -> Any:
    """The first value inside ``value`` that is not an attribute value (``_NONE`` if none)."""
    if isinstance(value, _ATTR_SCALARS):
        return _NONE
    if isinstance(value, (list, tuple)):
        items = list(value)
    elif isinstance(value, dict):
        items = [*value.keys(), *value.values()]
    else:
        return value
    for item in items:
        bad = _non_ir(item)
        if bad is not _NONE:
            return bad
    return _NONE


def as_prim(value: Any) -> PrimExpr:
    """A PrimExpr from an expression, a Python number, a buffer region used as a vector or a
    one-element buffer used as its element."""
    if isinstance(value, PrimExpr):
        return value
    if isinstance(value, (bool, int, float)):
        return const(value)
    if isinstance(value, BufferSlice):
        return value.to_load()
    if is_scalar_buffer(value):
        return scalar_load(value)
    raise TypeError(f"expected an expression, got {describe(value)}")


def is_scalar_buffer(value: Any) -> bool:
    """A buffer of shape ``(1,)``: TVM 0.27 prints ``A`` for ``A[0]`` and ``A = v`` for
    ``A[0] = v`` (its parser reads them back so), whatever the index was."""
    if not isinstance(value, Buffer) or len(value.shape) != 1:
        return False
    extent = value.shape[0]
    return isinstance(extent, IntImm) and extent.value == 1


def scalar_load(buffer: Buffer) -> PrimExpr:
    """``A[0]`` of a one-element buffer named bare in an expression."""
    return E.BufferLoad(buffer, (const(0),))


def loaded(value: Any) -> Any:
    """A region used as an operand is a (vector) load, a one-element buffer its element;
    anything else is left as it is, so that Python numbers still take the other operand's
    dtype."""
    return as_prim(value) if isinstance(value, BufferSlice) or is_scalar_buffer(value) else value


def as_dtype_arg(value: Any) -> DataType:
    """A dtype from ``"float32"`` or ``T.float32``."""
    if isinstance(value, DataType):
        return value
    dt = getattr(value, "script_dtype", None)
    if dt is not None:
        return dt
    if isinstance(value, str):
        return as_dtype(value)
    raise DTypeError(f"expected a dtype such as \"float32\", got {describe(value)}")


def as_int_expr(value: Any, what: str) -> PrimExpr:
    """``value`` as a scalar integer expression; the error names ``what`` the value is for."""
    expr = as_prim(value) if isinstance(value, (PrimExpr, BufferSlice, int, float)) \
        or is_scalar_buffer(value) else None
    if expr is None or not expr.dtype.is_integer or expr.dtype.is_vector:
        raise TypeError(f"{what} must be an integer, got {describe(value)}")
    return expr


def extent_between(start: PrimExpr, stop: PrimExpr) -> PrimExpr:
    """``stop - start`` as the contract writes it: ``e`` for ``a + e``, else the difference
    folded as TVM's ``-`` folds it (``A[0:n]`` has extent ``n``)."""
    if isinstance(stop, E.Add) and structural_equal(stop.a, start):
        return stop.b
    if isinstance(start, IntImm) and isinstance(stop, IntImm):
        dt = stop.dtype if stop.dtype.bits >= start.dtype.bits else start.dtype
        return IntImm(dt, stop.value - start.value)
    return fold_binary(E.Sub, *E.match_dtypes(stop, start))


def range_of(start: Any, stop: Any) -> tuple[PrimExpr, PrimExpr]:
    """(min, extent) of ``start:stop`` in one dtype: Python numbers take the other side's, and
    mixed widths take the wider (``0:2147483649`` is all int64, as the reparsed text would be)."""
    if not (isinstance(start, PrimExpr) or isinstance(stop, PrimExpr)):
        start, stop = as_prim(start), as_prim(stop)
    start, stop = E.match_dtypes(start, stop)
    return start, extent_between(start, stop)


class BufferSlice:
    """``A[i:i + 16, j]``: a region in T.reads/T.match_buffer, a vector load in expressions."""

    script_kind = "buffer region"

    def __init__(self, buffer: Buffer, indices: tuple[Any, ...]) -> None:
        self.buffer = buffer
        self.indices = indices

    def ranges(self, steps: bool = False) -> tuple[Range, ...]:
        """The start:stop ranges; a step (``A[i:i + 16:2]``, a strided vector access as TVM
        prints it) is only allowed where the caller takes it into account."""
        out = []
        for dim, index in enumerate(self.indices):
            if isinstance(index, slice):
                if index.step is not None and not steps:
                    raise TypeError("a region slice takes no step; write start:stop")
                start = 0 if index.start is None else index.start
                stop = self.buffer.shape[dim] if index.stop is None else index.stop
                out.append(Range(*range_of(as_int_expr(start, "a slice start"),
                                           as_int_expr(stop, "a slice stop"))))
            else:
                point = as_int_expr(index, "a buffer index")
                out.append(Range(point, const(1, point.dtype)))
        return tuple(out)

    def to_region(self) -> BufferRegion:
        return BufferRegion(self.buffer, self.ranges())

    def to_indices(self) -> tuple[PrimExpr, ...]:
        indices = []
        for index, rng in zip(self.indices, self.ranges(steps=True)):
            if not isinstance(index, slice):
                indices.append(rng.min)
                continue
            if not isinstance(rng.extent, IntImm):
                raise TypeError("a slice used as a vector must have a constant extent, "
                                "e.g. i:i + 16")
            step = 1 if index.step is None else index.step
            if not isinstance(step, int) or isinstance(step, bool) or step <= 0:
                raise TypeError(f"a vector slice step must be a positive integer, got {step!r}")
            lanes = -(-rng.extent.value // step)  # as Python counts range(start, stop, step)
            indices.append(E.Ramp(rng.min, E._const_like(step, rng.min.dtype), lanes))
        return tuple(indices)

    def to_load(self) -> PrimExpr:
        return E.BufferLoad(self.buffer, self.to_indices())


def as_region(value: Any) -> BufferRegion:
    """A region from ``A[vi, 0:16]``, ``A[vi]`` (a point) or ``A`` (the whole buffer)."""
    if isinstance(value, BufferRegion):
        return value
    if isinstance(value, BufferSlice):
        return value.to_region()
    if isinstance(value, E.BufferLoad):
        return BufferRegion(value.buffer, tuple(
            Range(i, const(1, i.dtype)) for i in value.indices))
    if isinstance(value, Buffer):
        return value.full_region()
    raise TypeError(f"expected a buffer region such as A[vi, 0:16], got {describe(value)}")
