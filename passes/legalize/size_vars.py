"""Kernels whose parameters have only compound symbolic sizes get a size variable per size.

A graph value of shape ``(batch * seq, 8)`` (a reshape with ``-1``) makes a kernel parameter of
that shape; the runtime binds size variables from the shapes of the arrays it is given, which
it cannot do for ``batch`` or ``seq`` when they only appear multiplied. So each such size
expression becomes a fresh variable of the kernel (TVM's FuseTIR and legalization do the same
for the sizes they cannot bind). What is left unbindable afterwards is refused by name.
"""

from __future__ import annotations

from typing import Any

from tvmscript.ir import PrimFunc
from tvmscript.ir import expr as E
from tvmscript.ir.functor import Mutator
from tvmscript.ir.structural import structural_equal

from .sizes import free_vars


def bind_compound_sizes(func: PrimFunc) -> PrimFunc:
    """``func`` with every parameter size that uses an otherwise unbound variable replaced by a
    variable of its own (the same expression everywhere in the kernel)."""
    bindable = {d for buf in func.buffer_map.values() for d in buf.shape if isinstance(d, E.Var)}
    bindable |= {p for p in func.params if p not in func.buffer_map}
    compound: list[tuple[E.PrimExpr, E.Var]] = []
    for buf in func.buffer_map.values():
        for d in buf.shape:
            if isinstance(d, (E.Var, E.IntImm)) or not (_vars(d) - bindable):
                continue
            if not any(structural_equal(d, known) for known, _ in compound):
                compound.append((d, E.Var(_name(d, len(compound)), d.dtype)))
    if not compound:
        return func
    return _Replace(compound).visit(func)


def _vars(e: Any) -> set[E.Var]:
    return set(free_vars(e))


def _name(e: E.PrimExpr, index: int) -> str:
    names = sorted(v.name for v in _vars(e))
    return "_".join(names) + "_size" if names else f"size{index}"


class _Replace(Mutator):
    def __init__(self, pairs: list[tuple[E.PrimExpr, E.Var]]) -> None:
        self.pairs = pairs
        self.buffers: dict[Any, Any] = {}

    def visit(self, obj: Any) -> Any:
        if isinstance(obj, E.PrimExpr) and not isinstance(obj, (E.Var, E.IntImm, E.FloatImm)):
            for known, var in self.pairs:
                if type(obj) is type(known) and structural_equal(obj, known):
                    return var
        return super().visit(obj)

    def visit_Buffer(self, buf: Any) -> Any:
        if buf not in self.buffers:
            self.buffers[buf] = buf.with_(shape=self.visit(tuple(buf.shape)),
                                          strides=self.visit(tuple(buf.strides)),
                                          elem_offset=self.visit(buf.elem_offset))
        return self.buffers[buf]
