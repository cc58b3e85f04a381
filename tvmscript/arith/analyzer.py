"""``Analyzer``: what is known about variables, and the questions passes ask about expressions.

Schedules and passes share one object per program walk: they ``bind`` loop variables to their
ranges as they enter loops, then ask for bounds (``const_int_bound``), simpler equivalent forms
(``simplify``) or proofs (``can_prove``). Example::

    ana = Analyzer()
    ana.bind(i, Range(0, 16)); ana.bind(j, Range(0, 16))
    ana.simplify((i * 16 + j) // 16)      # i
    ana.const_int_bound(i * 16 + j)       # Bound(min=0, max=255)
    ana.can_prove(i * 16 + j < 256)       # True
"""

from __future__ import annotations

from contextlib import contextmanager
from collections.abc import Iterator

from ..ir.dtype import DataType
from ..ir.expr import (
    EQ, GE, GT, LE, LT, And, PrimExpr, Range, Var, convert,
)
from .fold import is_const
from .int_bound import Bound, IntBoundVisitor, dtype_range, is_integral
from .purity import reads_only_variables
from .rewrite import Simplifier, is_true

__all__ = ["Analyzer"]


class Analyzer:
    """Known variable ranges, constant values and facts; bounds, simplification and proofs."""

    def __init__(self) -> None:
        self._bounds: dict[Var, Bound] = {}
        self._values: dict[Var, PrimExpr] = {}
        self._facts: set[PrimExpr] = set()
        self._cache: dict[PrimExpr, Bound] = {}

    # ------------------------------------------------------------ what is known

    def bind(self, var: Var, value: Range | PrimExpr | int) -> None:
        """Record that ``var`` lies in a ``Range``, or equals an expression.

        A constant value is substituted wherever ``var`` appears in simplified expressions;
        another expression only contributes its bound. A later ``bind`` of the same variable
        replaces the earlier one.
        """
        self._cache.clear()
        if isinstance(value, Range):
            self._values.pop(var, None)
            if not var.dtype.is_integer:
                raise TypeError(f"a range binds an integer variable, not {var.name}: {var.dtype}")
            lo, hi = self._range_bound(value)
            full = dtype_range(var.dtype)
            self._bounds[var] = Bound(max(lo, full.min), min(hi, full.max))
            return
        value = convert(value)
        if is_const(value):
            self._values[var] = value
        else:
            self._values.pop(var, None)
        if is_integral(var.dtype) and is_integral(value.dtype):
            self._bounds[var] = self.const_int_bound(value)

    @contextmanager
    def binding(self, var: Var, value: Range | PrimExpr | int) -> Iterator[None]:
        """``bind`` for the duration of a ``with`` block (entering a loop, a block, a let)."""
        saved = self._bounds.get(var), self._values.get(var)
        self.bind(var, value)
        try:
            yield
        finally:
            self._restore(var, *saved)

    @contextmanager
    def constraint(self, cond: PrimExpr) -> Iterator[None]:
        """Assume ``cond`` holds inside the ``with`` block (e.g. the then-branch of an ``if``).

        Conjuncts of the form ``var < e``, ``var >= e``, ``e > var``, ... tighten the bound of
        ``var``; each conjunct that reads no memory is also remembered as a true fact.
        """
        saved_bounds, saved_facts = dict(self._bounds), set(self._facts)
        try:
            for part in _conjuncts(self.simplify(cond)):
                if reads_only_variables(part):  # a load's value may change under a store
                    self._facts.add(part)
                self._tighten(part)
            self._cache.clear()
            yield
        finally:
            self._bounds, self._facts = saved_bounds, saved_facts
            self._cache.clear()

    def value_of(self, var: Var) -> PrimExpr:
        """The constant ``var`` was bound to, or ``var`` itself."""
        return self._values.get(var, var)

    def is_known(self, cond: PrimExpr) -> bool:
        return cond in self._facts

    # ------------------------------------------------------------ questions

    def const_int_bound(self, expr: PrimExpr) -> Bound:
        """The range of values ``expr`` can take (inclusive, valid under wrap-around)."""
        cached = self._cache.get(expr)
        if cached is None:
            cached = IntBoundVisitor(self._bounds.get).bound(expr)
            self._cache[expr] = cached
        return cached

    def simplify(self, expr: PrimExpr) -> PrimExpr:
        """An equivalent, simpler expression (the same object when nothing simplifies)."""
        expr = convert(expr)
        return Simplifier(self).visit(expr)

    def can_prove(self, cond: PrimExpr) -> bool:
        """Whether ``cond`` is true for every value the known facts allow (False = unknown)."""
        return is_true(self.simplify(cond))

    def can_prove_equal(self, a: PrimExpr, b: PrimExpr) -> bool:
        """Whether ``a`` and ``b`` always have the same value."""
        a, b = convert(a), convert(b)
        if a.dtype != b.dtype:
            return False
        if a.dtype.is_integer and a.dtype.lanes == 1:
            return self.can_prove(EQ(a, b))
        return self.simplify(a) == self.simplify(b)

    @staticmethod
    def dtype_bound(dt: DataType) -> Bound:
        return dtype_range(dt)

    # ------------------------------------------------------------ internals

    def _range_bound(self, r: Range) -> Bound:
        lo, extent = self.const_int_bound(r.min), self.const_int_bound(r.extent)
        return Bound(lo.min, max(lo.min, lo.max + extent.max - 1))

    def _restore(self, var: Var, bound: Bound | None, value: PrimExpr | None) -> None:
        for table, old in ((self._bounds, bound), (self._values, value)):
            if old is None:
                table.pop(var, None)
            else:
                table[var] = old
        self._cache.clear()

    def _tighten(self, cmp: PrimExpr) -> None:
        """Narrow a variable's bound from ``var <op> e`` (or ``e <op> var``)."""
        if type(cmp) not in _FLIP:
            return
        kind = _FLIP.get(type(cmp)) if isinstance(cmp.b, Var) else type(cmp)
        var, other = (cmp.b, cmp.a) if isinstance(cmp.b, Var) else (cmp.a, cmp.b)
        if kind not in _LIMIT or not isinstance(var, Var) or not var.dtype.is_integer:
            return
        if not (other.dtype == var.dtype and var.dtype.lanes == 1):
            return
        known = self._bounds.get(var) or dtype_range(var.dtype)
        lo, hi = _LIMIT[kind](self.const_int_bound(other))
        self._bounds[var] = Bound(max(known.min, lo), min(known.max, hi))
        self._cache.clear()


_FLIP = {LT: GT, LE: GE, GT: LT, GE: LE, EQ: EQ}
_INF = float("inf")
_LIMIT = {
    LT: lambda b: (-_INF, b.max - 1),
    LE: lambda b: (-_INF, b.max),
    GT: lambda b: (b.min + 1, _INF),
    GE: lambda b: (b.min, _INF),
    EQ: lambda b: (b.min, b.max),
}


def _conjuncts(cond: PrimExpr) -> list[PrimExpr]:
    if isinstance(cond, And):
        return _conjuncts(cond.a) + _conjuncts(cond.b)
    return [cond]

