"""``instrument-bound-checkers``: an ``assert`` before every access that may leave its buffer.

Why: an index that depends on a run-time value (a scalar argument, a loaded value) cannot be
proved in bounds by ``verify``, and a compiled kernel that reads past its buffer crashes the
process or returns garbage. With ``PassContext(config={"tir.instrument_bound_checkers": True})``
``build`` runs this pass first (on the LLVM target, in the default pipeline; on the interpreter,
before translation), so such an access raises ``RuntimeError`` naming the function, the access
and the extent instead. Indices the analyzer proves in bounds (under the enclosing loops, block
iterators, lets and guards) get no check, so ordinary kernels keep their speed::

    for i in range(16):                          for i in range(16):
        B[i] = A[i + n]                   →          assert 0 <= i + n and i + n < 16, \\
                                                         "read of `A[i + n]` is out of bounds: ..."
                                                     B[i] = A[i + n]

The checks follow the evaluation order: a load under ``T.if_then_else(c, ...)`` is checked only
where ``c`` holds (as ``T.if_then_else(c, check, True)``); ``T.Select``, ``and`` and ``or``
evaluate both sides in compiled code, so their loads are checked unconditionally. Each index is
checked against its own dimension (before flattening), in the user's terms; a ``Ramp`` index is
checked at its first and last lane. Not checked: loads inside block bindings, ``T.where``
predicates and allocation extents, and the addresses passed to ``T.address_of`` /
``T.tvm_access_ptr`` (an intrinsic may read any number of elements from there).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from tvmscript.analysis.bounds import ADDRESS_CALLS, Scopes, checked_dims
from tvmscript.ir import (
    LE, LT, AssertStmt, Buffer, BufferLoad, Call, Evaluate, Let, Mutator, Not, PrimExpr,
    PrimFunc, Stmt, StringImm, const, seq,
)
from tvmscript.ir.expr import Broadcast, Ramp, binary
from tvmscript.ir.functor import Visitor
from tvmscript.ir.rewrite import all_of
from tvmscript.ir.verify import _text  # expressions named as verify's messages name them

from .infra import PassContext, prim_func_pass

Check = tuple[PrimExpr, str]  # (condition that must hold, message when it does not)


@prim_func_pass("instrument-bound-checkers", opt_level=0)
def instrument_bound_checkers(func: PrimFunc, ctx: PassContext) -> PrimFunc:
    """Guard every access not provably in bounds with an ``assert`` naming it."""
    if func.body is None:
        return func
    body = _Instrument().visit(func.body)
    return func if body is func.body else func.with_(body=body)


# ---------------------------------------------------------------- statements


class _Instrument(Mutator):
    """Puts each statement's checks in front of it, walking with the known ranges."""

    def __init__(self) -> None:
        self.scopes = Scopes()

    def checks(self, *exprs: Any) -> list[Check]:
        return _Collect(self.scopes).of(exprs)

    def under(self, scope: Any, stmt: Stmt | None) -> Stmt | None:
        """``stmt`` instrumented inside ``scope``; dead code stays as it is."""
        with scope as live:
            return self.visit(stmt) if live and stmt is not None else stmt

    def visit_BufferStore(self, store: Any) -> Stmt:
        collect = _Collect(self.scopes)
        collect.visit((store.value, store.indices))
        collect.access(store, "store to", store.buffer, store.indices)
        return _guarded(store, collect.found)

    def visit_Evaluate(self, stmt: Evaluate) -> Stmt:
        return _guarded(stmt, self.checks(stmt.value))

    def visit_IfThenElse(self, node: Any) -> Stmt:
        then = self.under(self.scopes.assuming(node.condition), node.then_case)
        other = self.under(self.scopes.assuming(Not(node.condition)), node.else_case)
        return _guarded(node.with_(then_case=then, else_case=other), self.checks(node.condition))

    def visit_While(self, node: Any) -> Stmt:
        checks = self.checks(node.condition)  # evaluated before each iteration
        body = seq(self.visit(node.body), _guarded(Evaluate(const(0)), checks)) if checks \
            else self.visit(node.body)
        return _guarded(node.with_(body=body), checks)

    def visit_For(self, loop: Any) -> Stmt:
        body = self.under(self.scopes.loop(loop), loop.body)
        return _guarded(loop.with_(body=body), self.checks(loop.min, loop.extent))

    def visit_LetStmt(self, let: Any) -> Stmt:
        body = self.under(self.scopes.binding(let.var, let.value), let.body)
        return _guarded(let.with_(body=body), self.checks(let.value))

    def visit_AssertStmt(self, node: Any) -> Stmt:
        body = self.under(self.scopes.assuming(node.condition), node.body)
        return _guarded(node.with_(body=body), self.checks(node.condition))

    def visit_AttrStmt(self, attr: Any) -> Stmt:
        return attr.with_(body=self.under(self.scopes.thread(attr), attr.body))

    def visit_BlockRealize(self, realize: Any) -> Stmt:
        return realize.with_(block=self.under(self.scopes.block(realize), realize.block))

    def visit_Block(self, block: Any) -> Stmt:
        init = None if block.init is None else self.visit(block.init)
        return block.with_(init=init, body=self.visit(block.body))

    def visit_PrimExpr(self, expr: PrimExpr) -> PrimExpr:
        return expr  # expressions are checked by the statement holding them


def _guarded(stmt: Stmt, checks: Sequence[Check]) -> Stmt:
    """``stmt`` behind one ``assert`` per check, the first check outermost."""
    for cond, message in reversed(checks):
        stmt = AssertStmt(cond, StringImm(message), stmt).with_span(stmt.span)
    return stmt


# ---------------------------------------------------------------- expressions


class _Collect(Visitor):
    """The checks of the accesses in expressions, in evaluation order, each wrapped in the
    conditions (``T.if_then_else``) and lets it sits under."""

    def __init__(self, scopes: Scopes) -> None:
        self.scopes = scopes
        self.context: list[tuple] = []  # ("if", cond) or ("let", var, value), outermost first
        self.found: list[Check] = []

    def of(self, exprs: Any) -> list[Check]:
        self.visit(exprs)
        return self.found

    def visit_BufferLoad(self, load: BufferLoad) -> None:
        self.visit(load.indices)
        self.access(load, "read of", load.buffer, load.indices)

    def visit_Call(self, call: Call) -> None:
        if call.op == "tir.if_then_else" and len(call.args) == 3:
            cond, then, other = call.args
            self.visit(cond)
            self.visit_within(("if", cond), self.scopes.assuming(cond), then)
            self.visit_within(("if", Not(cond)), self.scopes.assuming(Not(cond)), other)
        elif call.op in ADDRESS_CALLS and call.args and isinstance(call.args[0], BufferLoad):
            self.visit((call.args[0].indices, call.args[1:]))
        else:
            self.generic_visit(call)

    def visit_Let(self, let: Let) -> None:
        self.visit(let.value)
        self.visit_within(("let", let.var, let.value),
                          self.scopes.binding(let.var, let.value), let.body)

    def visit_within(self, frame: tuple, scope: Any, expr: PrimExpr) -> None:
        with scope as live, self._frame(frame):
            if live:
                self.visit(expr)

    @contextmanager
    def _frame(self, frame: tuple) -> Iterator[None]:
        self.context.append(frame)
        try:
            yield
        finally:
            self.context.pop()

    def access(self, node: Any, what: str, buffer: Buffer, indices: Sequence[PrimExpr]) -> None:
        for dim, index in checked_dims(buffer, indices):
            cond = self.in_bounds(index, buffer.shape[dim])
            if cond is not None:
                self.found.append((self.wrap(cond), _message(node, what, buffer, dim)))

    def in_bounds(self, index: PrimExpr, extent: PrimExpr) -> PrimExpr | None:
        """``0 <= index < extent`` for every lane, or None when proved (or not checkable)."""
        if isinstance(index, Broadcast):
            index = index.value
        if isinstance(index, Ramp):
            if index.stride.dtype != index.base.dtype:
                return None  # ill-typed (verify's business), not checkable
            last = index.base + index.stride * (index.lanes - 1)
            parts = [self.in_bounds(index.base, extent), self.in_bounds(last, extent)]
            parts = [p for p in parts if p is not None]
            return all_of(parts) if parts else None
        if index.dtype.lanes != 1:
            return None
        parts = [c for c in (binary(LE, 0, index), binary(LT, index, extent))
                 if not self.proved(c)]
        return all_of(parts) if parts else None

    def proved(self, cond: PrimExpr) -> bool:
        return self.scopes.proves(cond)

    def wrap(self, cond: PrimExpr) -> PrimExpr:
        for frame in reversed(self.context):
            if frame[0] == "if":
                cond = Call(cond.dtype, "tir.if_then_else", (frame[1], cond, const(True)))
            else:
                cond = Let(frame[1], frame[2], cond)
        return cond


def _message(node: Any, what: str, buffer: Buffer, dim: int) -> str:
    """What the user reads when the check fails (the runtime adds the function's name)."""
    access = f"{buffer.name}[{', '.join(_text(i) for i in node.indices)}]"
    where = f" (written at {node.span})" if node.span is not None else ""
    return (f"{what} `{access}` is out of bounds{where}: index "
            f"`{_text(node.indices[dim])}` of dimension {dim} must lie in "
            f"[0, {_text(buffer.shape[dim])})")
