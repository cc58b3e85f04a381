"""Which expressions have side effects: the simplifier must never drop those."""

from __future__ import annotations

from ..ir.expr import Call, PrimExpr
from ..ir.functor import Visitor
from ..ir.op import by_op


class _FindImpure(Visitor):
    found = False

    def visit_Call(self, call: Call) -> None:
        info = by_op(call.op)
        if info is None or not info.pure:
            self.found = True
        else:
            self.generic_visit(call)


def has_side_effect(expr: PrimExpr) -> bool:
    """Whether evaluating ``expr`` may do more than compute a value (an impure or unknown call)."""
    finder = _FindImpure()
    finder.visit(expr)
    return finder.found


class _FindMemory(_FindImpure):
    def visit_BufferLoad(self, load) -> None:
        self.found = True


def reads_only_variables(expr: PrimExpr) -> bool:
    """Whether ``expr``'s value depends on variables alone (no loads, no impure calls): only
    such a condition stays true while the statements it guards run and store to memory."""
    finder = _FindMemory()
    finder.visit(expr)
    return not finder.found
