"""The ``simplify`` pass: arithmetic simplification of a whole loop-level function.

Every expression is simplified (``tvmscript.arith.Analyzer``) knowing the ranges of the loop
variables, block iterators and let-bound values around it; statements that the simplified
conditions make trivial go away. Before → after::

    for i in range(16):                      for i in range(16):
        for j in range(1):                       B[i * 4] = A[i * 4 + 1]
            if i < 16:
                B[(i * 4 + j) * 1] = A[i // 16 + i * 4 + 1]

What goes: loops of extent 1 (the min is substituted), ``if`` whose condition is decided (the
branch that runs stays), ``Evaluate`` of a constant inside a sequence, let-bound variables that
a constant replaced everywhere. A store is never removed, and an assert is never removed
(codegen numbers asserts in order of appearance).
"""

from __future__ import annotations

from contextlib import ExitStack

from tvmscript.arith import Analyzer
from tvmscript.ir import (
    AttrStmt, Block, Evaluate, FloatImm, For, ForKind, IfThenElse, IntImm, IterVar, LetStmt, Not,
    PrimExpr, PrimFunc, Range, SeqStmt, Stmt, StringImm, Var, const, seq, substitute,
)
from tvmscript.ir.functor import Mutator, Visitor

from .infra import PassContext, prim_func_pass

__all__ = ["simplify", "simplify_stmt"]


@prim_func_pass("simplify", opt_level=0, required=True)
def simplify(func: PrimFunc, ctx: PassContext) -> PrimFunc:
    """Constant folding, canonical index arithmetic, removal of unit loops and decided ifs."""
    return func.with_(body=simplify_stmt(func.body))


def simplify_stmt(stmt: Stmt, analyzer: Analyzer | None = None) -> Stmt:
    """``stmt`` simplified (the same object when nothing changes)."""
    return StmtSimplifier(analyzer or Analyzer()).visit(stmt)


class StmtSimplifier(Mutator):
    """Walks statements, binding the ranges of the variables in scope as it enters them."""

    def __init__(self, analyzer: Analyzer) -> None:
        self.analyzer = analyzer

    def visit_PrimExpr(self, expr: PrimExpr) -> PrimExpr:
        return self.analyzer.simplify(expr)

    def visit_IterVar(self, iv: IterVar) -> IterVar:
        return iv.with_(dom=self.visit(iv.dom))  # the variable is a definition: leave it

    # ------------------------------------------------------------ scopes

    def visit_For(self, loop: For) -> Stmt:
        lo, extent = self.visit(loop.min), self.visit(loop.extent)
        if _is_one(extent) and loop.kind != ForKind.THREAD_BINDING:
            body = substitute(loop.body, {loop.loop_var: lo})
            if not uses_var(body, loop.loop_var):  # a buffer defined inside may still use it
                return self.visit(body)
        with self.analyzer.binding(loop.loop_var, Range(lo, extent)):
            body = self.visit(loop.body)
        return loop.with_(min=lo, extent=extent, body=body)

    def visit_Block(self, block: Block) -> Block:
        iter_vars = self.visit(block.iter_vars)
        with ExitStack() as stack:
            for iv in iter_vars:
                stack.enter_context(self.analyzer.binding(iv.var, iv.dom))
            rest = {name: self.visit(getattr(block, name))
                    for name in block._init_fields if name not in ("name_hint", "iter_vars")}
        changed = {k: v for k, v in rest.items() if v is not getattr(block, k)}
        return block.with_(iter_vars=iter_vars, **changed)

    def visit_LetStmt(self, let: LetStmt) -> Stmt:
        value = self.visit(let.value)
        with self.analyzer.binding(let.var, value):
            body = self.visit(let.body)
        if isinstance(value, (IntImm, FloatImm)) and not uses_var(body, let.var):
            return body  # the constant replaced every use
        return let.with_(value=value, body=body)

    def visit_AttrStmt(self, attr: AttrStmt) -> Stmt:
        node = self.visit(attr.node) if isinstance(attr.node, IterVar) else attr.node
        value = self.visit(attr.value)
        with ExitStack() as stack:
            if attr.attr_key == "thread_extent" and isinstance(node, IterVar):
                stack.enter_context(self.analyzer.binding(node.var, Range(const(0, value.dtype),
                                                                          value)))
            body = self.visit(attr.body)
        return attr.with_(node=node, value=value, body=body)

    # ------------------------------------------------------------ control flow

    def visit_IfThenElse(self, op: IfThenElse) -> Stmt:
        cond = self.visit(op.condition)
        if _is_bool(cond, True):
            return self.visit(op.then_case)
        if _is_bool(cond, False):
            return self.visit(op.else_case) if op.else_case is not None else _nop()
        with self.analyzer.constraint(cond):
            then_case = self.visit(op.then_case)
        else_case = op.else_case
        if else_case is not None:
            with self.analyzer.constraint(Not(cond)):
                else_case = self.visit(else_case)
        return op.with_(condition=cond, then_case=then_case, else_case=else_case)

    def visit_SeqStmt(self, op: SeqStmt) -> Stmt:
        kept = [s for s in _flatten([self.visit(s) for s in op.seq]) if not _is_nop(s)]
        if len(kept) == len(op.seq) and all(new is old for new, old in zip(kept, op.seq)):
            return op
        return seq(*kept) if kept else _nop()


class _UsesVar(Visitor):
    """Finds a variable anywhere, buffer shapes, strides and offsets included."""

    def __init__(self, var: Var) -> None:
        self.var, self.found = var, False

    def visit_Var(self, var: Var) -> None:
        self.found |= var is self.var

    def visit_Buffer(self, buffer) -> None:
        self.visit((buffer.shape, buffer.strides, buffer.elem_offset))


def uses_var(stmt: Stmt, var: Var) -> bool:
    finder = _UsesVar(var)
    finder.visit(stmt)
    return finder.found


def _flatten(stmts: list[Stmt]) -> list[Stmt]:
    out: list[Stmt] = []
    for s in stmts:
        out.extend(s.seq if isinstance(s, SeqStmt) else [s])
    return out


def _is_nop(stmt: Stmt) -> bool:
    return isinstance(stmt, Evaluate) and isinstance(stmt.value, (IntImm, FloatImm, StringImm))


def _nop() -> Stmt:
    return Evaluate(const(0))


def _is_one(expr: PrimExpr) -> bool:
    return isinstance(expr, IntImm) and expr.value == 1


def _is_bool(expr: PrimExpr, value: bool) -> bool:
    return isinstance(expr, IntImm) and expr.dtype.is_bool and expr.value == int(value)
