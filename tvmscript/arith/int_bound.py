"""Integer interval analysis: the range of values an integer expression can take.

Why intervals of *wrapped* values: the IR's integers wrap around at their dtype's width, so an
interval that would leave the dtype's range says nothing (the value may have wrapped); such a
result widens to the whole dtype range. Every bound this module returns therefore holds for the
value the program really computes, which is what the simplifier's rewrites rely on.
"""

from __future__ import annotations

from typing import NamedTuple
from collections.abc import Callable

from ..ir.dtype import DataType
from ..ir.dtype import integer_range
from ..ir.expr import (
    Broadcast, Call, Cast, IntImm, Let, PrimExpr, Ramp, Select, Var,
)
from ..ir.functor import Visitor


class Bound(NamedTuple):
    """``min <= value <= max`` (both inclusive), in exact Python integers."""

    min: int
    max: int

    @property
    def is_const(self) -> bool:
        return self.min == self.max

    def __contains__(self, value: object) -> bool:  # type: ignore[override]
        return isinstance(value, int) and self.min <= value <= self.max


def dtype_range(dt: DataType) -> Bound:
    """All values of one lane of ``dt`` (an integer or bool dtype)."""
    if dt.is_bool or dt.is_integer:
        return Bound(*integer_range(dt))
    raise TypeError(f"no integer bound for a value of dtype {dt}")


def is_integral(dt: DataType) -> bool:
    """Integers and bools: the dtypes interval analysis speaks about."""
    return dt.is_integer or dt.is_bool


def fit(lo: int, hi: int, dt: DataType) -> Bound:
    """``[lo, hi]`` when the dtype holds it, else the whole dtype range (the value may wrap)."""
    full = dtype_range(dt)
    if lo < full.min or hi > full.max:
        return full
    return Bound(lo, hi)


def floordiv(a: int, b: int) -> int:
    return a // b


def truncdiv(a: int, b: int) -> int:
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def truncmod(a: int, b: int) -> int:
    return a - truncdiv(a, b) * b


def _corners(a: Bound, b: Bound, fn: Callable[[int, int], int]) -> tuple[int, int]:
    values = [fn(x, y) for x in (a.min, a.max) for y in (b.min, b.max)]
    return min(values), max(values)


class IntBoundVisitor(Visitor):
    """Computes ``Bound``s; ``var_bound`` supplies what is known about variables."""

    def __init__(self, var_bound: Callable[[Var], Bound | None]) -> None:
        self.var_bound = var_bound
        self.let_bounds: dict[Var, Bound] = {}

    def bound(self, expr: PrimExpr) -> Bound:
        if not is_integral(expr.dtype):
            raise TypeError(f"no integer bound for a value of dtype {expr.dtype}")
        return self.visit(expr)

    # ------------------------------------------------------------ leaves

    def visit_IntImm(self, imm: IntImm) -> Bound:
        return Bound(imm.value, imm.value)

    def visit_Var(self, var: Var) -> Bound:
        known = self.let_bounds.get(var) or self.var_bound(var)
        return known if known is not None else dtype_range(var.dtype)

    def generic_visit(self, node) -> Bound:
        return dtype_range(node.dtype)

    # ------------------------------------------------------------ arithmetic

    def visit_Add(self, op) -> Bound:
        a, b = self.visit(op.a), self.visit(op.b)
        return fit(a.min + b.min, a.max + b.max, op.dtype)

    def visit_Sub(self, op) -> Bound:
        a, b = self.visit(op.a), self.visit(op.b)
        return fit(a.min - b.max, a.max - b.min, op.dtype)

    def visit_Mul(self, op) -> Bound:
        lo, hi = _corners(self.visit(op.a), self.visit(op.b), lambda x, y: x * y)
        return fit(lo, hi, op.dtype)

    def visit_FloorDiv(self, op) -> Bound:
        return self._div(op, floordiv)

    def visit_Div(self, op) -> Bound:
        return self._div(op, truncdiv)

    def _div(self, op, fn: Callable[[int, int], int]) -> Bound:
        a, b = self.visit(op.a), self.visit(op.b)
        if b.min <= 0 <= b.max:  # a zero divisor is undefined behaviour: nothing is known
            return dtype_range(op.dtype)
        return fit(*_corners(a, b, fn), op.dtype)

    def visit_FloorMod(self, op) -> Bound:
        a, b = self.visit(op.a), self.visit(op.b)
        if b.min > 0:
            if a.min >= 0 and a.max < b.min:
                return a
            return Bound(0, b.max - 1 if a.min < 0 else min(a.max, b.max - 1))
        if b.max < 0:
            if a.max <= 0 and a.min > b.max:
                return a
            return Bound(b.min + 1 if a.max > 0 else max(a.min, b.min + 1), 0)
        return dtype_range(op.dtype)

    def visit_Mod(self, op) -> Bound:
        a, b = self.visit(op.a), self.visit(op.b)
        if b.min <= 0 <= b.max:
            return dtype_range(op.dtype)
        m = max(abs(b.min), abs(b.max)) - 1
        if a.min >= 0:
            return Bound(0, min(a.max, m))
        if a.max <= 0:
            return Bound(max(a.min, -m), 0)
        return Bound(max(a.min, -m), min(a.max, m))

    def visit_Min(self, op) -> Bound:
        a, b = self.visit(op.a), self.visit(op.b)
        return Bound(min(a.min, b.min), min(a.max, b.max))

    def visit_Max(self, op) -> Bound:
        a, b = self.visit(op.a), self.visit(op.b)
        return Bound(max(a.min, b.min), max(a.max, b.max))

    def visit_CmpOp(self, op) -> Bound:
        return Bound(0, 1)

    def visit_Not(self, op) -> Bound:
        return Bound(0, 1) if op.dtype.is_bool else dtype_range(op.dtype)

    # ------------------------------------------------------------ other expressions

    def visit_Select(self, op: Select) -> Bound:
        a, b = self.visit(op.true_value), self.visit(op.false_value)
        return Bound(min(a.min, b.min), max(a.max, b.max))

    def visit_Cast(self, op: Cast) -> Bound:
        if not is_integral(op.value.dtype):
            return dtype_range(op.dtype)
        src = self.visit(op.value)
        if op.dtype.is_bool:
            return Bound(int(src.min > 0 or src.max < 0), int(not src.min == src.max == 0))
        return fit(src.min, src.max, op.dtype)

    def visit_Let(self, op: Let) -> Bound:
        if not is_integral(op.var.dtype):
            return self.visit(op.body)
        saved = self.let_bounds.get(op.var)
        self.let_bounds[op.var] = self.visit(op.value)
        try:
            return self.visit(op.body)
        finally:
            if saved is None:
                self.let_bounds.pop(op.var, None)
            else:
                self.let_bounds[op.var] = saved

    def visit_Broadcast(self, op: Broadcast) -> Bound:
        return self.visit(op.value)

    def visit_Ramp(self, op: Ramp) -> Bound:
        base, stride = self.visit(op.base), self.visit(op.stride)
        last = op.lanes - 1
        lo = base.min + min(0, stride.min * last)
        hi = base.max + max(0, stride.max * last)
        return fit(lo, hi, op.dtype.element_of())

    def visit_Call(self, op: Call) -> Bound:
        if op.op == "tir.if_then_else":
            a, b = self.visit(op.args[1]), self.visit(op.args[2])
            return Bound(min(a.min, b.min), max(a.max, b.max))
        if op.op == "tir.likely":
            return self.visit(op.args[0])
        if op.op == "tir.bitwise_and" and op.dtype.is_integer:
            a, b = self.visit(op.args[0]), self.visit(op.args[1])
            nonneg = [x.max for x in (a, b) if x.min >= 0]
            if nonneg:
                return Bound(0, min(nonneg))
        return dtype_range(op.dtype.element_of())

