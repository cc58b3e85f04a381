"""IR rewriting helpers that passes and schedules share: substitution that reaches into buffers, index
arithmetic that folds the obvious constants, and fresh copies of statements.

The folding here is deliberately tiny (``x + 0``, ``x * 1``, constant with constant): it keeps
the output of a pass readable and close to what a user would write; real simplification is the
``simplify`` pass.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from . import (
    And,
    Buffer,
    DeclBuffer,
    For,
    IntImm,
    Let,
    LetStmt,
    Mutator,
    PrimExpr,
    Var,
    const,
)
from .expr import Add, Mul, Sub, binary


class Rewriter(Mutator):
    """Replace variables (``vmap``) and buffers (``bmap``) everywhere, buffer fields included.

    A buffer not in ``bmap`` whose data, shape, strides or elem_offset mention a replaced
    variable is rebuilt once (same name and dtype) and the copy is used at every occurrence.
    """

    def __init__(self, vmap: dict | None = None, bmap: dict | None = None,
                 fold: bool = False) -> None:
        self.vmap: dict = dict(vmap or {})
        self.bmap: dict = dict(bmap or {})
        self.fold = fold  # fold ``x + 0``, ``x * 1`` ... where a replacement made them

    def visit_Add(self, op: Add) -> PrimExpr:
        new = self.generic_visit(op)
        return add(new.a, new.b) if self.fold and new is not op else new

    def visit_Mul(self, op: Mul) -> PrimExpr:
        new = self.generic_visit(op)
        return mul(new.a, new.b) if self.fold and new is not op else new

    def visit_Sub(self, op: Sub) -> PrimExpr:
        new = self.generic_visit(op)
        if self.fold and new is not op and is_int(new.b, 0) and new.b.dtype == new.a.dtype:
            return new.a
        return new

    def visit_Var(self, var: Var) -> PrimExpr:
        return self.vmap.get(var, var)

    def visit_Buffer(self, buffer: Buffer) -> Buffer:
        mapped = self.bmap.get(buffer)
        if mapped is None:
            mapped = self.bmap[buffer] = self.rebuild(buffer)
        return mapped

    def rebuild(self, buffer: Buffer) -> Buffer:
        data = self.visit(buffer.data)
        shape = self.visit(buffer.shape)
        strides = self.visit(buffer.strides)
        elem_offset = self.visit(buffer.elem_offset)
        if (data is buffer.data and shape is buffer.shape and strides is buffer.strides
                and elem_offset is buffer.elem_offset):
            return buffer
        return copy_buffer(buffer, data=data, shape=shape, strides=strides,
                           elem_offset=elem_offset)


def copy_buffer(buffer: Buffer, **changes) -> Buffer:
    """A new buffer (a new identity) with ``buffer``'s fields, some replaced."""
    fields = {name: getattr(buffer, name) for name in buffer._init_fields}
    fields.update(changes)
    return Buffer(**fields).with_span(buffer.span)


def rewrite(obj, vmap: dict | None = None, bmap: dict | None = None, fold: bool = False):
    """``obj`` with variables and buffers replaced (the same object when nothing is)."""
    if not vmap and not bmap:
        return obj
    return Rewriter(vmap, bmap, fold).visit(obj)


# ---------------------------------------------------------------- index arithmetic


def is_int(expr: PrimExpr, value: int | None = None) -> bool:
    return isinstance(expr, IntImm) and not expr.dtype.is_bool and (
        value is None or expr.value == value)


def add(a: PrimExpr, b: PrimExpr) -> PrimExpr:
    """``a + b`` with ``0 + x``, ``x + 0`` and constant sums folded."""
    if is_int(b, 0) and b.dtype.bits <= a.dtype.bits:
        return a
    if is_int(a, 0) and a.dtype.bits <= b.dtype.bits:
        return b
    if is_int(a) and is_int(b):
        return IntImm(_wider(a, b), a.value + b.value)
    if isinstance(a, Add) and is_int(a.b) and is_int(b) and a.b.dtype == b.dtype:
        return add(a.a, IntImm(b.dtype, a.b.value + b.value))  # (x + 1) + 2 is x + 3
    return binary(Add, a, b)


def mul(a: PrimExpr, b: PrimExpr) -> PrimExpr:
    """``a * b`` with ``1 * x``, ``x * 1``, ``0 * x`` and constant products folded."""
    if is_int(b, 1) and b.dtype.bits <= a.dtype.bits:
        return a
    if is_int(a, 1) and a.dtype.bits <= b.dtype.bits:
        return b
    if is_int(a) and is_int(b):
        return IntImm(_wider(a, b), a.value * b.value)
    if is_int(a, 0) or is_int(b, 0):
        return IntImm(_wider(a, b), 0)
    if isinstance(a, Mul) and is_int(a.b) and is_int(b) and a.b.dtype == b.dtype:
        return mul(a.a, IntImm(b.dtype, a.b.value * b.value))  # (x * 2) * 3 is x * 6
    return binary(Mul, a, b)


def _wider(a: PrimExpr, b: PrimExpr):
    return a.dtype if a.dtype.bits >= b.dtype.bits else b.dtype


def product(values: Iterable[PrimExpr]) -> PrimExpr:
    result: PrimExpr = const(1)
    for value in values:
        result = mul(result, value)
    return result


def row_major_strides(shape: Sequence[PrimExpr]) -> tuple[PrimExpr, ...]:
    """The strides of a compact row-major array of ``shape`` (the last one is 1)."""
    strides: list[PrimExpr] = []
    step: PrimExpr = const(1)
    for extent in reversed(shape):
        strides.append(step)
        step = mul(step, extent)
    return tuple(reversed(strides))


def strides_of(buffer: Buffer) -> tuple[PrimExpr, ...]:
    """The buffer's explicit strides, or its row-major ones."""
    return tuple(buffer.strides) if buffer.strides else row_major_strides(buffer.shape)


def all_of(conditions: Sequence[PrimExpr]) -> PrimExpr:
    """``c0 and c1 and ...`` (True for none)."""
    if not conditions:
        return const(True)
    result = conditions[0]
    for cond in conditions[1:]:
        result = And(result, cond)
    return result


# ---------------------------------------------------------------- fresh copies


class Renew(Rewriter):
    """A copy of a statement whose every definition (loop, let, allocation, declared buffer)
    binds a fresh variable or buffer, so copies placed side by side never share one."""

    def visit_For(self, loop: For) -> For:
        self.vmap[loop.loop_var] = Var(loop.loop_var.name, loop.loop_var.dtype)
        return self.generic_visit(loop)

    def visit_LetStmt(self, let: LetStmt) -> LetStmt:
        self.vmap[let.var] = Var(let.var.name, let.var.dtype)
        return self.generic_visit(let)

    def visit_Let(self, let: Let) -> Let:
        self.vmap[let.var] = Var(let.var.name, let.var.dtype)
        return self.generic_visit(let)

    def visit_Allocate(self, alloc):
        self.vmap[alloc.buffer_var] = Var(alloc.buffer_var.name, alloc.buffer_var.dtype)
        return self.generic_visit(alloc)

    def visit_DeclBuffer(self, decl: DeclBuffer) -> DeclBuffer:
        old = decl.buffer
        self.bmap[old] = copy_buffer(old, data=self.visit(old.data), shape=self.visit(old.shape),
                                     strides=self.visit(old.strides),
                                     elem_offset=self.visit(old.elem_offset))
        return self.generic_visit(decl)


def renew(stmt, vmap: dict | None = None):
    """A fresh copy of ``stmt`` (see ``Renew``) with ``vmap`` applied (folding ``+ 0``...)."""
    return Renew(vmap, fold=True).visit(stmt)
