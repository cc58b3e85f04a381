"""Loop-level expressions (TVM's ``PrimExpr``): scalars and vectors computed inside kernels.

Python operators on expressions build IR (``a + 1`` is an ``Add``) so passes and tests can write
expressions naturally; ``==`` stays Python equality and never builds IR (use ``EQ``).
"""

from __future__ import annotations

import math
from dataclasses import field
from typing import TYPE_CHECKING, Any, Union

from .dtype import BOOL, FLOAT32, HANDLE, INT32, INT64, DataType, dtype as as_dtype
from .dtype import integer_range
from .node import IdentityNode, Node, node

if TYPE_CHECKING:  # pragma: no cover
    from .buffer import Buffer


class PrimExpr(Node):
    """Base of loop-level expressions; every one has a ``dtype``."""

    __slots__ = ()
    dtype: DataType

    # arithmetic builds IR; comparisons use explicit nodes (EQ, LT, ...) except the orderings
    def __add__(self, other): return binary(Add, self, other)
    def __radd__(self, other): return binary(Add, other, self)
    def __sub__(self, other): return binary(Sub, self, other)
    def __rsub__(self, other): return binary(Sub, other, self)
    def __mul__(self, other): return binary(Mul, self, other)
    def __rmul__(self, other): return binary(Mul, other, self)
    def __truediv__(self, other): return binary(Div, self, other)
    def __rtruediv__(self, other): return binary(Div, other, self)
    def __floordiv__(self, other): return binary(FloorDiv, self, other)
    def __rfloordiv__(self, other): return binary(FloorDiv, other, self)
    def __mod__(self, other): return binary(FloorMod, self, other)
    def __rmod__(self, other): return binary(FloorMod, other, self)
    def __neg__(self): return binary(Sub, const(0, self.dtype), self)
    def __lt__(self, other): return binary(LT, self, other)
    def __le__(self, other): return binary(LE, self, other)
    def __gt__(self, other): return binary(GT, self, other)
    def __ge__(self, other): return binary(GE, self, other)

    __hash__ = Node.__hash__

    def __bool__(self) -> bool:
        raise TypeError(
            "an IR expression has no truth value; use tvmscript.structural_equal or "
            "the arith simplifier to decide a condition"
        )


# ---------------------------------------------------------------- leaves


@node
class Var(IdentityNode, PrimExpr):
    """A variable: loop variable, let-bound value, block iterator, size or handle.

    Compared by identity; two programs that differ only in variable names are
    structurally equal (``tvmscript.structural_equal``).
    """

    name: str
    dtype: DataType = INT32

    def __post_init__(self) -> None:
        object.__setattr__(self, "dtype", as_dtype(self.dtype))

    def __hash__(self) -> int:
        return id(self) >> 4

    def __eq__(self, other: object) -> bool:
        return self is other


@node
class IntImm(PrimExpr):
    """An integer (or bool) constant."""

    dtype: DataType
    value: int

    def __post_init__(self) -> None:
        dtype = as_dtype(self.dtype)
        value = int(self.value)
        object.__setattr__(self, "dtype", dtype)
        if dtype.is_bool:
            value = int(value != 0)  # as TVM: T.bool(3) is True, and prints back as such
        object.__setattr__(self, "value", value)


@node
class FloatImm(PrimExpr):
    dtype: DataType
    value: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "dtype", as_dtype(self.dtype))
        object.__setattr__(self, "value", float(self.value))

    def __hash__(self) -> int:  # nan must hash consistently with the equality below
        value = "nan" if math.isnan(self.value) else self.value
        return hash(("FloatImm", self.dtype, value))

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, FloatImm)
            and self.dtype == other.dtype
            and (self.value == other.value or (math.isnan(self.value) and math.isnan(other.value)))
        )


@node
class StringImm(PrimExpr):
    value: str
    dtype: DataType = field(default=HANDLE, init=False)


# ---------------------------------------------------------------- operators


class BinaryOp(PrimExpr):
    """Base of two-operand arithmetic; the result has the operands' dtype."""

    __slots__ = ()
    a: PrimExpr
    b: PrimExpr

    def __post_init__(self) -> None:
        object.__setattr__(self, "dtype", self.a.dtype)


class CmpOp(PrimExpr):
    """Base of comparisons; the result is bool with the operands' lanes."""

    __slots__ = ()
    a: PrimExpr
    b: PrimExpr

    def __post_init__(self) -> None:
        object.__setattr__(self, "dtype", BOOL.with_lanes(self.a.dtype.lanes))


def _binary_class(name: str, base: type, doc: str) -> type:
    ns = {"__annotations__": {"a": PrimExpr, "b": PrimExpr, "dtype": DataType}, "__doc__": doc}
    ns["dtype"] = field(default=None, init=False)
    cls = type(name, (base,), ns)
    cls.__module__ = __name__
    return node(cls)


Add = _binary_class("Add", BinaryOp, "a + b")
Sub = _binary_class("Sub", BinaryOp, "a - b")
Mul = _binary_class("Mul", BinaryOp, "a * b")
Div = _binary_class("Div", BinaryOp, "a / b: true division for floats, truncation for integers")
Mod = _binary_class("Mod", BinaryOp, "truncated modulo (sign follows a)")
FloorDiv = _binary_class("FloorDiv", BinaryOp, "a // b, rounding towards negative infinity")
FloorMod = _binary_class("FloorMod", BinaryOp, "a % b, with the sign of b")
Min = _binary_class("Min", BinaryOp, "the smaller of a and b")
Max = _binary_class("Max", BinaryOp, "the larger of a and b")
EQ = _binary_class("EQ", CmpOp, "a == b")
NE = _binary_class("NE", CmpOp, "a != b")
LT = _binary_class("LT", CmpOp, "a < b")
LE = _binary_class("LE", CmpOp, "a <= b")
GT = _binary_class("GT", CmpOp, "a > b")
GE = _binary_class("GE", CmpOp, "a >= b")
And = _binary_class("And", CmpOp, "logical and of two bools")
Or = _binary_class("Or", CmpOp, "logical or of two bools")


@node
class Not(PrimExpr):
    a: PrimExpr
    dtype: DataType = field(default=None, init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "dtype", self.a.dtype)


@node
class Select(PrimExpr):
    """Both sides are evaluated; ``T.if_then_else`` (a Call) evaluates only the chosen one."""

    condition: PrimExpr
    true_value: PrimExpr
    false_value: PrimExpr
    dtype: DataType = field(default=None, init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "dtype", self.true_value.dtype)


@node
class Cast(PrimExpr):
    dtype: DataType
    value: PrimExpr

    def __post_init__(self) -> None:
        object.__setattr__(self, "dtype", as_dtype(self.dtype))


@node
class BufferLoad(PrimExpr):
    """``A[i, j]``; an index that is a Ramp makes a vector load."""

    buffer: "Buffer"
    indices: tuple[PrimExpr, ...]
    dtype: DataType = field(default=None, init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "indices", tuple(self.indices))
        lanes = 1
        for index in self.indices:
            lanes *= index.dtype.lanes
        object.__setattr__(self, "dtype", self.buffer.dtype.with_lanes(self.buffer.dtype.lanes * lanes))


@node
class Ramp(PrimExpr):
    """The vector ``base, base + stride, ..., base + (lanes - 1) * stride``."""

    base: PrimExpr
    stride: PrimExpr
    lanes: int
    dtype: DataType = field(default=None, init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "dtype", self.base.dtype.with_lanes(self.lanes))


@node
class Broadcast(PrimExpr):
    value: PrimExpr
    lanes: int
    dtype: DataType = field(default=None, init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "dtype", self.value.dtype.with_lanes(self.lanes))


@node
class Call(PrimExpr):
    """A call of a named intrinsic (``tir.exp``, ``tir.call_extern``, ...); see ``ir.op``."""

    dtype: DataType
    op: str
    args: tuple[Any, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "dtype", as_dtype(self.dtype))
        object.__setattr__(self, "args", tuple(self.args))


@node
class Let(PrimExpr):
    var: Var = field(metadata={"defines": True})
    value: PrimExpr
    body: PrimExpr
    dtype: DataType = field(default=None, init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "dtype", self.body.dtype)


@node
class Range(Node):
    """The half-open interval ``[min, min + extent)``; in scripts ``min:min + extent``."""

    min: PrimExpr
    extent: PrimExpr

    def __post_init__(self) -> None:
        """A constant min or extent takes the other's wider integer dtype (TVM's For promotes
        its immediates so): a region inferred from ``B[0]`` and ``B[T.int64(3)]`` would
        otherwise have an int32 min and an int64 extent, which no script text writes."""
        lo, ext = self.min, self.extent
        if not (isinstance(lo, PrimExpr) and isinstance(ext, PrimExpr)) or lo.dtype == ext.dtype:
            return
        if not (lo.dtype.is_integer and ext.dtype.is_integer and lo.dtype.kind == ext.dtype.kind
                and lo.dtype.lanes == ext.dtype.lanes == 1):
            return
        if isinstance(lo, IntImm) and lo.dtype.bits < ext.dtype.bits:
            object.__setattr__(self, "min", widen(lo, ext.dtype))
        elif isinstance(ext, IntImm) and ext.dtype.bits < lo.dtype.bits:
            object.__setattr__(self, "extent", widen(ext, lo.dtype))

    @staticmethod
    def from_min_extent(min_value: Any, extent: Any) -> "Range":
        return Range(convert(min_value), convert(extent))


# ---------------------------------------------------------------- construction helpers

ExprLike = Union[PrimExpr, int, float, bool]


def const(value: Any, dtype: "str | DataType | None" = None) -> PrimExpr:
    """A constant of the given dtype (default: int32 for ints, float32 for floats)."""
    if dtype is None:
        if isinstance(value, bool):
            dtype = BOOL
        elif isinstance(value, int):
            dtype = INT32 if -(2**31) <= value < 2**31 else INT64
            return fitting_const(value, dtype)  # wider than int64 has no dtype: refused
        else:
            dtype = FLOAT32
    dt = as_dtype(dtype)
    if dt.is_vector:
        return Broadcast(const(value, dt.element_of()), dt.lanes)
    if dt.is_float:
        return FloatImm(dt, float(value))
    return IntImm(dt, int(value))


def convert(value: Any) -> PrimExpr:
    """A PrimExpr from an expression or a Python number."""
    if isinstance(value, PrimExpr):
        return value
    if isinstance(value, (bool, int, float)):
        return const(value)
    if isinstance(value, str):
        return StringImm(value)
    raise TypeError(f"cannot use {type(value).__name__} {value!r} as an expression")


def binary(cls: type, a: ExprLike, b: ExprLike) -> PrimExpr:
    """Build ``cls(a, b)``, turning Python numbers into constants of the other side's dtype."""
    a, b = match_dtypes(a, b)
    return cls(a, b)


def match_dtypes(a: ExprLike, b: ExprLike) -> tuple[PrimExpr, PrimExpr]:
    """Convert Python numbers to the other operand's dtype and broadcast scalars to vectors.

    Mixed integer widths widen to the larger (``int32`` with ``int64`` gives ``int64``), as TVM
    does; any other dtype mismatch raises ``TypeError``.
    """
    if not isinstance(a, PrimExpr) and isinstance(b, PrimExpr):
        a = _const_like(a, b.dtype)
    elif not isinstance(b, PrimExpr) and isinstance(a, PrimExpr):
        b = _const_like(b, a.dtype)
    a, b = convert(a), convert(b)
    if a.dtype == b.dtype:
        return a, b
    if a.dtype.lanes != b.dtype.lanes:
        if a.dtype.lanes == 1 and a.dtype == b.dtype.element_of():
            return Broadcast(a, b.dtype.lanes), b
        if b.dtype.lanes == 1 and b.dtype == a.dtype.element_of():
            return a, Broadcast(b, a.dtype.lanes)
    ea, eb = a.dtype, b.dtype
    if ea.lanes == eb.lanes and ea.kind == eb.kind and ea.is_integer:
        if ea.bits < eb.bits:
            return widen(a, eb), b
        return a, widen(b, ea)
    raise TypeError(f"operands have different dtypes: {a.dtype} and {b.dtype}")


def widen(expr: PrimExpr, dtype: DataType) -> PrimExpr:
    """``expr`` as the wider integer ``dtype``; a constant is made anew rather than cast, as
    TVM folds the cast, so that ``0`` beside an int64 value prints and reparses as ``T.int64(0)``
    (a ``Cast`` of an int32 ``0`` reparsed differently)."""
    if isinstance(expr, IntImm) and not expr.dtype.is_bool:
        return IntImm(dtype, expr.value)
    return Cast(dtype, expr)


def _const_like(value: Any, dt: DataType) -> PrimExpr:
    scalar = dt.element_of()
    if isinstance(value, float) and not scalar.is_float:
        return const(value)  # a float constant stays float; the mismatch is reported later
    if isinstance(value, bool) and not scalar.is_bool:
        return const(value)
    return fitting_const(value, scalar)


def fitting_const(value: Any, dtype: DataType) -> PrimExpr:
    """``const(value, dtype)`` for a number a user wrote: an integer the dtype cannot hold is a
    ``ValueError``, as in TVM (``A[i] + 300`` of an int8 ``A`` would otherwise compute with 44)."""
    if dtype.is_integer and isinstance(value, int) and not isinstance(value, bool):
        lo, hi = integer_range(dtype.element_of())
        if not lo <= value <= hi:
            raise ValueError(f"{value} does not fit {dtype.element_of()} (range [{lo}, {hi}])")
    return const(value, dtype)


def is_const_int(expr: Any, value: int | None = None) -> bool:
    """Whether ``expr`` is an integer constant (equal to ``value`` when given)."""
    return isinstance(expr, IntImm) and (value is None or expr.value == value)


INT64_T = INT64  # re-exported for passes that index with 64-bit integers
