"""``vectorize-loop``: a ``T.vectorized`` loop of constant extent becomes vector code.

The loop variable becomes ``Ramp(min, 1, extent)``, every index linear in it a Ramp, and the
scalars it meets are broadcast::

    for i in T.vectorized(8):                  A[j * 8:j * 8 + 8] = (
        A[j * 8 + i] = B[j * 8 + i] * T.float32(2)   →   B[j * 8:j * 8 + 8] * T.Broadcast(T.float32(2), 8))

When the body is not vectorizable (an ``if`` on the loop variable, a ``while``, an inner loop, a
let, an index that is not linear in the loop variable, a store that every lane would write to
the same element, a call with no vector form, ...) the loop stays a loop, of kind SERIAL, and is
correct as it is; codegen may still vectorize it. Like TVM, ``T.vectorized`` is the user's
promise that the iterations are independent: stores are not reordered against loads of other
iterations.
"""

from __future__ import annotations

from tvmscript.ir import (
    Broadcast,
    BufferLoad,
    BufferStore,
    Call,
    Cast,
    For,
    ForKind,
    IfThenElse,
    IntImm,
    Mutator,
    Not,
    PrimExpr,
    PrimFunc,
    Ramp,
    Select,
    SeqStmt,
    Stmt,
    StringImm,
    Var,
    Visitor,
    post_order_visit,
    substitute,
)
from tvmscript.ir.expr import Add, Mul, Sub

from .infra import PassContext, prim_func_pass
from .lower_intrinsics import VECTOR_OPS
from tvmscript.ir.rewrite import add, mul, renew, rewrite


class NotVectorizable(Exception):
    """Why a loop body cannot become vector code."""


def uses(obj, var: Var) -> bool:
    found = []
    post_order_visit(obj, lambda n: found.append(n) if n is var else None)
    return bool(found)


# ---------------------------------------------------------------- linear indices


class _Coef(Mutator):
    """The coefficient of ``var`` in an integer expression linear in it (else NotVectorizable)."""

    def __init__(self, var: Var) -> None:
        self.var = var

    def coef(self, expr: PrimExpr) -> PrimExpr:
        if not uses(expr, self.var):
            return IntImm(expr.dtype, 0)
        return self.visit(expr)

    def visit_Var(self, var: Var) -> PrimExpr:
        return IntImm(var.dtype, 1)

    def visit_Add(self, op) -> PrimExpr:
        return _fold(Add, self.coef(op.a), self.coef(op.b))

    def visit_Sub(self, op) -> PrimExpr:
        return _fold(Sub, self.coef(op.a), self.coef(op.b))

    def visit_Mul(self, op) -> PrimExpr:
        if not uses(op.a, self.var):
            return _fold(Mul, op.a, self.coef(op.b))
        if not uses(op.b, self.var):
            return _fold(Mul, self.coef(op.a), op.b)
        raise NotVectorizable("an index multiplies the loop variable by itself")

    def visit_Cast(self, cast: Cast) -> PrimExpr:
        if cast.dtype.is_integer and cast.value.dtype.is_integer \
                and cast.dtype.bits >= cast.value.dtype.bits:
            return _fold(Cast, cast.dtype, self.coef(cast.value))
        raise NotVectorizable("an index casts the loop variable to a narrower type")

    def generic_visit(self, node) -> PrimExpr:
        raise NotVectorizable(f"an index is not linear in the loop variable "
                              f"({type(node).__name__})")


def _fold(cls, a, b) -> PrimExpr:
    """``cls(a, b)`` with integer constants computed."""
    if cls is Cast:
        return IntImm(a, b.value) if isinstance(b, IntImm) else Cast(a, b)
    if cls is Mul and isinstance(b, IntImm) and b.value == 1:
        return a
    if cls is Mul and isinstance(a, IntImm) and a.value == 1:
        return b
    if isinstance(a, IntImm) and isinstance(b, IntImm):
        value = {Add: a.value + b.value, Sub: a.value - b.value, Mul: a.value * b.value}[cls]
        return IntImm(a.dtype, value)
    return cls(a, b)


# ---------------------------------------------------------------- the check


class _Check(Visitor):
    """Raises NotVectorizable at the first construct that has no vector form."""

    def __init__(self, var: Var) -> None:
        self.var = var

    def visit_Stmt(self, stmt: Stmt) -> None:
        raise NotVectorizable(f"the body holds a {type(stmt).__name__}")

    def visit_SeqStmt(self, stmt: SeqStmt) -> None:
        self.visit(stmt.seq)

    def visit_IfThenElse(self, stmt: IfThenElse) -> None:
        if uses(stmt.condition, self.var):
            raise NotVectorizable("an `if` depends on the loop variable")
        self.visit((stmt.condition, stmt.then_case, stmt.else_case))

    def visit_BufferStore(self, store: BufferStore) -> None:
        if not any(uses(i, self.var) for i in store.indices):
            raise NotVectorizable(f"every lane would store to the same element of "
                                  f"`{store.buffer.name}`")
        self.check_indices(store.indices)
        self.visit(store.value)

    def visit_BufferLoad(self, load: BufferLoad) -> None:
        self.check_indices(load.indices)

    def check_indices(self, indices) -> None:
        varying = [i for i in indices if uses(i, self.var)]
        if len(varying) > 1:
            raise NotVectorizable("the loop variable indexes more than one dimension")
        for index in indices:
            self.visit(index)
        for index in varying:
            _Coef(self.var).coef(index)

    def visit_PrimExpr(self, expr: PrimExpr) -> None:
        if expr.dtype.lanes > 1:
            raise NotVectorizable("the body already computes vectors")
        self.generic_visit(expr)

    def visit_Let(self, expr) -> None:
        raise NotVectorizable("the body holds a let")

    def visit_Call(self, call: Call) -> None:
        if call.op not in VECTOR_OPS:
            raise NotVectorizable(f"`{call.op}` has no vector form")
        self.visit_PrimExpr(call)


# ---------------------------------------------------------------- the rewrite


def broadcast(expr: PrimExpr, lanes: int) -> PrimExpr:
    return expr if expr.dtype.lanes == lanes or isinstance(expr, StringImm) \
        else Broadcast(expr, lanes)


class _Vectorize(Mutator):
    def __init__(self, var: Var, start: PrimExpr, lanes: int) -> None:
        self.var, self.start, self.lanes = var, start, lanes

    def index(self, index: PrimExpr) -> PrimExpr:
        if not uses(index, self.var):
            return index
        base = rewrite(index, {self.var: self.start}, fold=True)
        return Ramp(base, _Coef(self.var).coef(index), self.lanes)

    def visit_Var(self, var: Var) -> PrimExpr:
        return Ramp(self.start, IntImm(var.dtype, 1), self.lanes) if var is self.var else var

    def visit_BufferLoad(self, load: BufferLoad) -> PrimExpr:
        return load.with_(indices=tuple(self.index(i) for i in load.indices))

    def visit_BufferStore(self, store: BufferStore) -> Stmt:
        return store.with_(value=broadcast(self.visit(store.value), self.lanes),
                           indices=tuple(self.index(i) for i in store.indices))

    def visit_IfThenElse(self, stmt: IfThenElse) -> Stmt:
        return stmt.with_(then_case=self.visit(stmt.then_case),
                          else_case=self.visit(stmt.else_case))

    def widen(self, node, *operands: PrimExpr) -> tuple[PrimExpr, ...]:
        new = [self.visit(x) for x in operands]
        lanes = max(x.dtype.lanes for x in new)
        return tuple(broadcast(x, lanes) for x in new)

    def visit_BinaryOp(self, op) -> PrimExpr:
        return type(op)(*self.widen(op, op.a, op.b)).with_span(op.span)

    visit_CmpOp = visit_BinaryOp

    def visit_Not(self, op: Not) -> PrimExpr:
        return Not(self.visit(op.a))

    def visit_Select(self, op: Select) -> PrimExpr:
        return Select(*self.widen(op, op.condition, op.true_value, op.false_value))

    def visit_Cast(self, cast: Cast) -> PrimExpr:
        value = self.visit(cast.value)
        return Cast(cast.dtype.with_lanes(value.dtype.lanes), value)

    def visit_Call(self, call: Call) -> PrimExpr:
        args = self.widen(call, *call.args)
        lanes = max(a.dtype.lanes for a in args if not isinstance(a, StringImm))
        return Call(call.dtype.with_lanes(lanes), call.op, args)


DEFAULT_VECTORIZE_MAX_LANES = 64


def vectorize(loop: For, max_lanes: int = DEFAULT_VECTORIZE_MAX_LANES) -> Stmt:
    """The vector form of ``loop`` (its kind VECTORIZED), or the loop made SERIAL."""
    if not isinstance(loop.extent, IntImm):
        return loop.with_(kind=ForKind.SERIAL)
    if loop.extent.value == 1:
        return substitute(loop.body, {loop.loop_var: loop.min})
    try:
        _Check(loop.loop_var).visit(loop.body)
    except NotVectorizable:
        return loop.with_(kind=ForKind.SERIAL)
    if loop.extent.value > max_lanes:
        return _in_chunks(loop, max_lanes)
    return _Vectorize(loop.loop_var, loop.min, loop.extent.value).visit(loop.body)


def _in_chunks(loop: For, max_lanes: int) -> Stmt:
    """A serial loop over vectors of at most ``max_lanes`` lanes (the widest that divides the
    extent): LLVM aborts on, or takes minutes over, vectors of thousands of lanes."""
    extent = loop.extent.value
    lanes = max(d for d in range(1, max_lanes + 1) if extent % d == 0)
    if lanes == 1:
        return loop.with_(kind=ForKind.SERIAL)
    var = loop.loop_var
    outer, inner = Var(f"{var.name}_o", var.dtype), Var(f"{var.name}_v", var.dtype)
    start = add(loop.min, mul(outer, IntImm(var.dtype, lanes)))
    body = renew(loop.body, {var: add(start, inner)})
    vector = _Vectorize(inner, IntImm(var.dtype, 0), lanes).visit(body)
    return For(outer, IntImm(var.dtype, 0), IntImm(var.dtype, extent // lanes), ForKind.SERIAL,
               vector).with_span(loop.span)


class _VectorizeLoops(Mutator):
    def __init__(self, max_lanes: int) -> None:
        self.max_lanes = max_lanes

    def visit_For(self, loop: For) -> Stmt:
        loop = self.generic_visit(loop)  # inner loops first
        return vectorize(loop, self.max_lanes) if loop.kind == ForKind.VECTORIZED else loop


@prim_func_pass("vectorize-loop", opt_level=0, required=True)
def vectorize_loop(func: PrimFunc, ctx: PassContext) -> PrimFunc:
    """Turn vectorizable ``T.vectorized`` loops into Ramp/Broadcast code (loops wider than
    ``config["vectorize-max-lanes"]``, 64 by default, as a loop over such vectors); others go
    serial."""
    max_lanes = int(ctx.config.get("vectorize-max-lanes", DEFAULT_VECTORIZE_MAX_LANES))
    return _VectorizeLoops(max_lanes).visit(func)
