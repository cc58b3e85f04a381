"""The rewrite rules of ``Analyzer.simplify``: one bottom-up Mutator, a method per node kind.

Every rule keeps the exact meaning of the expression under the IR's semantics (wrap-around
integers, truncating ``Div``/``Mod``, flooring ``FloorDiv``/``FloorMod``, floats in their own
precision). Rules that reason about integer *values* (division, comparisons, min/max) only fire
when interval analysis proves no intermediate wraps; see ``linear.linear_bound``. A sub-expression
with side effects (an impure call) is never dropped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..ir.dtype import BOOL
from ..ir.expr import (
    EQ, GE, GT, LE, LT, NE, Add, Broadcast, Call, Cast, IntImm, Let, Mul,
    Not, PrimExpr, Ramp, Select, Var, const,
)
from ..ir.functor import Mutator, substitute
from .divmod import divmod_rule, merge_divmod
from .fold import fold_binary, fold_cast, fold_compare, is_const
from .int_bound import Bound
from .linear import difference_bound, from_linear, linear_bound, to_linear
from .purity import has_side_effect

if TYPE_CHECKING:  # pragma: no cover
    from .analyzer import Analyzer

_NEGATE = {"LT": GE, "LE": GT, "GT": LE, "GE": LT, "EQ": NE, "NE": EQ}


def is_int_scalar(expr: PrimExpr) -> bool:
    return expr.dtype.is_integer and expr.dtype.lanes == 1


def is_true(expr: PrimExpr) -> bool:
    return isinstance(expr, IntImm) and expr.dtype.is_bool and expr.value == 1


def is_false(expr: PrimExpr) -> bool:
    return isinstance(expr, IntImm) and expr.dtype.is_bool and expr.value == 0


class Simplifier(Mutator):
    """Simplifies one expression under the facts an ``Analyzer`` holds."""

    def __init__(self, analyzer: Analyzer) -> None:
        self.analyzer = analyzer

    def bound(self, expr: PrimExpr) -> Bound:
        return self.analyzer.const_int_bound(expr)

    def fits(self, form) -> bool:
        """Whether the form's exact value never leaves the dtype (so nothing wraps)."""
        lo, hi = linear_bound(form, self.bound)
        full = self.analyzer.dtype_bound(form.dtype)
        return full.min <= lo and hi <= full.max

    @staticmethod
    def keep(old: PrimExpr, new: PrimExpr) -> PrimExpr:
        """``old`` itself when the rewrite rebuilt an equal tree (passes test change by ``is``)."""
        return old if new == old else new

    # ------------------------------------------------------------ leaves and references

    def visit_Var(self, var: Var) -> PrimExpr:
        """A variable bound to a constant, or whose bound is a single value, is that constant."""
        value = self.analyzer.value_of(var)
        if value is var and var.dtype.is_integer and var.dtype.lanes == 1:
            b = self.bound(var)
            if b.is_const:
                return const(b.min, var.dtype)
        return value

    def visit_Buffer(self, buffer):
        return buffer

    # ------------------------------------------------------------ + - *

    def visit_Add(self, op) -> PrimExpr:
        return self._arith(op)

    visit_Sub = visit_Add
    visit_Mul = visit_Add

    def _arith(self, op) -> PrimExpr:
        a, b = self.visit(op.a), self.visit(op.b)
        node = op.with_(a=a, b=b)
        if is_const(a) and is_const(b):
            return _either(fold_binary(type(op).__name__, a, b, op.dtype), node)
        if is_int_scalar(node) and not has_side_effect(node):
            return self.keep(node, from_linear(merge_divmod(to_linear(node))))
        if node.dtype.lanes > 1:
            return self._vector_arith(node)
        return self._float_identity(node)

    def _float_identity(self, node) -> PrimExpr:
        """``x * 1``, ``1 * x``, ``x - 0`` are exact in IEEE arithmetic (``x + 0`` is not: -0)."""
        name = type(node).__name__
        if name == "Mul" and _is_float_const(node.b, 1.0):
            return node.a
        if name == "Mul" and _is_float_const(node.a, 1.0):
            return node.b
        if name == "Sub" and _is_float_const(node.b, 0.0):
            return node.a
        return node

    def _vector_arith(self, node) -> PrimExpr:
        """Lane-wise rules: ``Broadcast(x) + Broadcast(y)`` → ``Broadcast(x + y)``;
        ``Ramp(b, s) + Broadcast(x)`` → ``Ramp(b + x, s)`` (integers)."""
        a, b, kind = node.a, node.b, type(node)
        if isinstance(a, Broadcast) and isinstance(b, Broadcast):
            return Broadcast(self.visit(kind(a.value, b.value)), a.lanes)
        if not node.dtype.is_integer:
            return node
        if isinstance(a, Ramp) and isinstance(b, Broadcast) and kind is not Mul:
            return Ramp(self.visit(kind(a.base, b.value)), a.stride, a.lanes)
        if isinstance(a, Broadcast) and isinstance(b, Ramp) and kind is Add:
            return Ramp(self.visit(Add(a.value, b.base)), b.stride, b.lanes)
        if isinstance(a, Ramp) and isinstance(b, Ramp) and kind is not Mul:
            return Ramp(self.visit(kind(a.base, b.base)), self.visit(kind(a.stride, b.stride)),
                        a.lanes)
        if isinstance(a, Ramp) and isinstance(b, Broadcast):
            return Ramp(self.visit(Mul(a.base, b.value)), self.visit(Mul(a.stride, b.value)),
                        a.lanes)
        return node

    # ------------------------------------------------------------ division

    def visit_FloorDiv(self, op) -> PrimExpr:
        a, b = self.visit(op.a), self.visit(op.b)
        node = op.with_(a=a, b=b)
        if is_const(a) and is_const(b):
            return _either(fold_binary(type(op).__name__, a, b, op.dtype), node)
        if not is_int_scalar(node) or has_side_effect(node):
            return node
        return self.keep(node, divmod_rule(self, node))

    visit_FloorMod = visit_FloorDiv
    visit_Div = visit_FloorDiv
    visit_Mod = visit_FloorDiv

    # ------------------------------------------------------------ min / max

    def visit_Min(self, op) -> PrimExpr:
        a, b = self.visit(op.a), self.visit(op.b)
        node = op.with_(a=a, b=b)
        if is_const(a) and is_const(b):
            return _either(fold_binary(type(op).__name__, a, b, op.dtype), node)
        if a == b:
            return a
        if not is_int_scalar(node):
            return node
        diff = self.difference(a, b)
        a_first = diff.max <= 0 if type(op).__name__ == "Min" else diff.min >= 0
        b_first = diff.min >= 0 if type(op).__name__ == "Min" else diff.max <= 0
        if a_first and not has_side_effect(b):
            return a
        if b_first and not has_side_effect(a):
            return b
        return node

    visit_Max = visit_Min

    # ------------------------------------------------------------ comparisons and logic

    def difference(self, a: PrimExpr, b: PrimExpr) -> Bound:
        """A bound of ``a - b`` in plain integers (valid for the values the program computes)."""
        ba, bb = self.bound(a), self.bound(b)
        lo, hi = ba.min - bb.max, ba.max - bb.min
        fa, fb = to_linear(a), to_linear(b)
        if self.fits(fa) and self.fits(fb):
            dlo, dhi = difference_bound(fa, fb, self.bound)
            lo, hi = max(lo, dlo), min(hi, dhi)
        return Bound(lo, hi)

    def visit_CmpOp(self, op) -> PrimExpr:
        a, b = self.visit(op.a), self.visit(op.b)
        node = op.with_(a=a, b=b)
        name = type(op).__name__
        if is_const(a) and is_const(b):
            return _either(fold_compare(name, a, b), node)
        if self.analyzer.is_known(node):
            return const(True, BOOL)
        if not is_int_scalar(a) or has_side_effect(node):
            return node
        delta = to_linear(a).minus(to_linear(b))
        # a - b == 0 modulo 2**bits means a == b exactly (same dtype), whatever wraps
        identical = delta.is_const and delta.constant == 0
        diff = Bound(0, 0) if identical else self.difference(a, b)
        decided = _decide(name, diff)
        return node if decided is None else const(decided, BOOL)

    def visit_And(self, op) -> PrimExpr:
        a, b = self.visit(op.a), self.visit(op.b)
        node = op.with_(a=a, b=b)
        is_and = type(op).__name__ == "And"
        absorbing, neutral = (is_false, is_true) if is_and else (is_true, is_false)
        for side, other in ((a, b), (b, a)):
            if neutral(side):
                return other
            if absorbing(side) and not has_side_effect(other):
                return side
        if a == b:
            return a
        return const(True, BOOL) if self.analyzer.is_known(node) else node

    visit_Or = visit_And

    def visit_Not(self, op: Not) -> PrimExpr:
        a = self.visit(op.a)
        if isinstance(a, IntImm) and a.dtype.is_bool:
            return const(not a.value, BOOL)
        if isinstance(a, Not):
            return a.a
        negated = _NEGATE.get(type(a).__name__)
        if negated is not None and a.a.dtype.is_integer:
            return self.visit(negated(a.a, a.b))
        return op.with_(a=a)

    def visit_Select(self, op: Select) -> PrimExpr:
        cond, t, f = self.visit(op.condition), self.visit(op.true_value), self.visit(op.false_value)
        node = op.with_(condition=cond, true_value=t, false_value=f)
        if is_true(cond) and not has_side_effect(f):
            return t
        if is_false(cond) and not has_side_effect(t):
            return f
        if t == f and not has_side_effect(cond):
            return t
        return node

    # ------------------------------------------------------------ other expressions

    def visit_Cast(self, op: Cast) -> PrimExpr:
        value = self.visit(op.value)
        if value.dtype == op.dtype:
            return value
        if is_const(value):
            return _either(fold_cast(op.dtype, value), op.with_(value=value))
        return op.with_(value=value)

    def visit_Call(self, op: Call) -> PrimExpr:
        node = self.generic_visit(op)
        if node.op == "tir.if_then_else" and is_true(node.args[0]):
            return node.args[1]
        if node.op == "tir.if_then_else" and is_false(node.args[0]):
            return node.args[2]
        if node.op == "tir.likely" and is_const(node.args[0]):
            return node.args[0]
        return node

    def visit_Let(self, op: Let) -> PrimExpr:
        value = self.visit(op.value)
        if is_const(value) or isinstance(value, Var):
            return self.visit(substitute(op.body, {op.var: value}))
        with self.analyzer.binding(op.var, value):
            body = self.visit(op.body)
        return op.with_(value=value, body=body)

    def visit_Ramp(self, op: Ramp) -> PrimExpr:
        node = self.generic_visit(op)
        if isinstance(node.stride, IntImm) and node.stride.value == 0:
            return Broadcast(node.base, node.lanes)
        return node


def _either(folded: PrimExpr | None, fallback: PrimExpr) -> PrimExpr:
    """The folded constant when folding succeeded (expressions have no truth value)."""
    return fallback if folded is None else folded


def _is_float_const(expr: PrimExpr, value: float) -> bool:
    return expr.dtype.is_float and is_const(expr) and expr.value == value


def _decide(name: str, diff: Bound) -> bool | None:
    """The truth of ``a <name> b`` from the range of ``a - b`` (None when undecided)."""
    true, false = {
        "EQ": (diff.min == diff.max == 0, diff.min > 0 or diff.max < 0),
        "NE": (diff.min > 0 or diff.max < 0, diff.min == diff.max == 0),
        "LT": (diff.max < 0, diff.min >= 0),
        "LE": (diff.max <= 0, diff.min > 0),
        "GT": (diff.min > 0, diff.max <= 0),
        "GE": (diff.min >= 0, diff.max < 0),
    }[name]
    return True if true else (False if false else None)
