"""A kernel's own size variables, shared by the operator families' kernel builders.

A graph value's shape holds the graph function's size variables; the kernel made for it gets
variables of its own, which the runtime binds from its buffers' shapes when it is called. A size
that is an expression of variables no buffer has as a whole dimension (``2 * n`` alone) cannot
be bound that way, so it becomes one size variable of its own (the same one wherever the same
expression appears).
"""

from __future__ import annotations

from typing import Any, Iterable

from tvmscript import te
from tvmscript.ir.expr import PrimExpr, Var
from tvmscript.ir.functor import post_order_visit, substitute
from tvmscript.ir.structural import structural_equal


class OwnSizes:
    """Graph sizes in one kernel's own variables. ``bindable``: the variables some buffer of
    the kernel has as a whole dimension (None: all of them); ``opaque_name(i)`` names the
    variable standing for the ``i``-th size that cannot be bound; ``fold`` simplifies sizes."""

    def __init__(self, bindable: Iterable[Var] | None = None, opaque_name: Any = "d{}",
                 fold: bool = False) -> None:
        self.sizes: dict[Var, Var] = {}
        self.opaque: list[tuple[PrimExpr, Var]] = []
        self.bindable = None if bindable is None else set(bindable)
        self.opaque_name = opaque_name
        self.fold = fold

    def dim(self, d: Any) -> PrimExpr:
        if isinstance(d, int):
            return te.const(d, "int64")
        found = free_vars(d)
        if self.bindable is not None and any(v not in self.bindable for v in found):
            for e, v in self.opaque:
                if structural_equal(e, d):
                    return v
            self.opaque.append((d, te.var(self.opaque_name.format(len(self.opaque)))))
            return self.opaque[-1][1]
        if not found:
            return d
        for v in found:
            self.sizes.setdefault(v, te.var(v.name))
        own = substitute(d, self.sizes)
        return _simplify(own) if self.fold else own

    def dims(self, shape: Iterable[Any]) -> list[PrimExpr]:
        return [self.dim(d) for d in shape]


def free_vars(e: PrimExpr) -> list[Var]:
    """The variables of ``e``, each once, in the order first met."""
    found: list[Var] = []
    post_order_visit(e, lambda n: found.append(n)
                     if isinstance(n, Var) and n not in found else None)
    return found


def _simplify(e: PrimExpr) -> PrimExpr:
    from tvmscript.arith import Analyzer

    return Analyzer().simplify(e)
