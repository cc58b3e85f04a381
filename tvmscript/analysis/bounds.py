"""Out-of-bounds buffer accesses: what ``verify`` can prove, and the scopes both it and the
bounds-checking pass (``passes/instrument_bound_checkers.py``) walk with.

Why only *provable* ones: ``verify`` runs on every program (after every pass in the tests), so it
must never reject a correct kernel; padding kernels, ``T.where`` tails and symbolic shapes all
write indices whose interval over the loops leaves the buffer while every executed access stays
inside. The rule: an access is reported when, on every path that reaches it, some index lies
outside ``[0, extent)``, i.e. the interval of the index, under the ranges of the enclosing loops,
block iterators and lets and the conditions guarding it (``if``, ``T.if_then_else``,
``T.Select``, ``T.where``, ``assert``), is entirely below 0 or entirely at or above every value
the extent can take. Code the analyzer proves unreachable (a guard it proves false, a loop of no
iterations) is skipped. Example::

    for i in range(16):
        B[i] = A[i + 1000000]        # reported: index in [1000000, 1000015], extent 16
        B[i] = A[i + 1]              # not reported: only the last iteration leaves A
"""

from __future__ import annotations

from contextlib import ExitStack, contextmanager
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from ..arith import Analyzer, Bound
from ..arith.int_bound import is_integral
from ..ir.buffer import Buffer
from ..ir.expr import BufferLoad, Call, Not, PrimExpr, Range, Select, Var, const
from ..ir.function import PrimFunc
from ..ir.functor import Visitor, post_order_visit
from ..ir.node import IdentityNode, Node
from ..ir.stmt import AttrStmt, BlockRealize, For, IterVar

__all__ = ["OutOfBounds", "Scopes", "checked_dims", "out_of_bounds_accesses"]

# Calls whose BufferLoad argument names an address, not a value that is read.
ADDRESS_CALLS = ("tir.address_of", "tir.tvm_access_ptr")


@dataclass(frozen=True)
class OutOfBounds:
    """One access proved out of bounds; ``path`` holds its enclosing nodes, outermost first."""

    message: str
    node: Node
    path: tuple[Node, ...]


def checked_dims(buffer: Buffer, indices: Sequence[PrimExpr]) -> list[tuple[int, PrimExpr]]:
    """``(dimension, index)`` for each index that has an integer extent to check against
    (a vector index is checked through its lanes' interval)."""
    if len(indices) != len(buffer.shape):
        return []  # an arity slip, which verify's other checks report
    return [(d, index) for d, (index, extent) in enumerate(zip(indices, buffer.shape))
            if is_integral(index.dtype) and is_integral(extent.dtype)]


class Scopes:
    """An ``Analyzer`` that follows a walk into loops, lets, blocks and guarded code.

    Each context manager yields whether the code inside can run at all, as far as the analyzer
    can tell (False: a guard it proves false, a loop it proves empty)."""

    def __init__(self) -> None:
        self.ana = Analyzer()

    @contextmanager
    def assuming(self, cond: PrimExpr) -> Iterator[bool]:
        """Inside: ``cond`` holds (the then-side of an ``if``, the body of an ``assert``)."""
        if not (cond.dtype.is_bool and cond.dtype.lanes == 1):
            yield True
            return
        if self.ana.can_prove(Not(cond)):
            yield False
            return
        with self.ana.constraint(cond):
            yield all(self._nonempty(var) for var in _vars_of(cond))

    @contextmanager
    def binding(self, var: Var, value: PrimExpr | Range) -> Iterator[bool]:
        """Inside: ``var`` lies in a range or equals a value (loops, lets, block iterators)."""
        if not var.dtype.is_integer or var.dtype.lanes != 1:
            yield True
            return
        if isinstance(value, Range) and self.ana.const_int_bound(value.extent).max <= 0:
            yield False  # a loop of no iterations never runs its body
            return
        if isinstance(value, PrimExpr) and not is_integral(value.dtype):
            yield True
            return
        with self.ana.binding(var, value):
            yield self._nonempty(var)

    @contextmanager
    def loop(self, loop: For) -> Iterator[bool]:
        with self.binding(loop.loop_var, Range(loop.min, loop.extent)) as live:
            yield live

    @contextmanager
    def block(self, realize: BlockRealize) -> Iterator[bool]:
        """Inside a block: its iterators equal their bindings, and its ``T.where`` holds."""
        with ExitStack() as stack:
            live = True
            for iv, value in zip(realize.block.iter_vars, realize.iter_values):
                live = stack.enter_context(self.binding(iv.var, value)) and live
            live = stack.enter_context(self.assuming(realize.predicate)) and live
            yield live

    @contextmanager
    def thread(self, attr: AttrStmt) -> Iterator[bool]:
        """Inside ``T.launch_thread``: the thread index ranges over the launch extent."""
        if attr.attr_key != "thread_extent" or not isinstance(attr.node, IterVar):
            yield True
            return
        with self.binding(attr.node.var, Range(const(0, attr.value.dtype), attr.value)) as live:
            yield live

    def bound(self, expr: PrimExpr) -> Bound:
        return self.ana.const_int_bound(expr)

    def _nonempty(self, var: Var) -> bool:
        if not var.dtype.is_integer or var.dtype.lanes != 1:
            return True
        bound = self.ana.const_int_bound(var)
        return bound.min <= bound.max


def _vars_of(expr: PrimExpr) -> list[Var]:
    found: list[Var] = []
    post_order_visit(expr, lambda n: found.append(n) if isinstance(n, Var) else None)
    return found


# ---------------------------------------------------------------- verify's check


def out_of_bounds_accesses(func: PrimFunc, text: Callable[[Any], str]) -> list[OutOfBounds]:
    """Every access of ``func`` proved out of bounds (see the module docstring for the rule);
    ``text`` renders expressions for the messages."""
    walk = _Walk(text)
    if func.body is not None:
        walk.visit(func.body)
    return walk.found


class _Walk(Visitor):
    """Visits what can run, with the analyzer knowing the ranges and conditions around it."""

    def __init__(self, text: Callable[[Any], str]) -> None:
        self.scopes = Scopes()
        self.text = text
        self.path: list[Node] = []
        self.found: list[OutOfBounds] = []

    def visit(self, obj: Any) -> Any:
        if isinstance(obj, Node) and not isinstance(obj, IdentityNode):
            self.path.append(obj)
            try:
                return super().visit(obj)
            finally:
                self.path.pop()
        return super().visit(obj)

    def visit_under(self, scope: Any, body: Any) -> None:
        with scope as live:
            if live:
                self.visit(body)

    # -------------------------------------------------------- statements

    def visit_For(self, loop: For) -> None:
        self.visit((loop.min, loop.extent))
        self.visit_under(self.scopes.loop(loop), loop.body)

    def visit_LetStmt(self, let: Any) -> None:
        self.visit(let.value)
        self.visit_under(self.scopes.binding(let.var, let.value), let.body)

    def visit_IfThenElse(self, node: Any) -> None:
        self.visit(node.condition)
        self.visit_under(self.scopes.assuming(node.condition), node.then_case)
        if node.else_case is not None:
            self.visit_under(self.scopes.assuming(Not(node.condition)), node.else_case)

    def visit_AssertStmt(self, node: Any) -> None:
        self.visit((node.condition, node.message))
        self.visit_under(self.scopes.assuming(node.condition), node.body)

    def visit_AttrStmt(self, attr: AttrStmt) -> None:
        self.visit(attr.value)
        self.visit_under(self.scopes.thread(attr), attr.body)

    def visit_BlockRealize(self, realize: BlockRealize) -> None:
        self.visit((realize.iter_values, realize.predicate))
        self.visit_under(self.scopes.block(realize), realize.block)

    def visit_Block(self, block: Any) -> None:
        self.visit((block.init, block.body))  # regions and views are checked elsewhere

    def visit_BufferStore(self, store: Any) -> None:
        self.visit((store.value, store.indices))
        self.check(store, "store to", store.buffer, store.indices)

    # -------------------------------------------------------- expressions

    def visit_BufferLoad(self, load: BufferLoad) -> None:
        self.visit(load.indices)
        self.check(load, "read of", load.buffer, load.indices)

    def visit_Let(self, let: Any) -> None:
        self.visit(let.value)
        self.visit_under(self.scopes.binding(let.var, let.value), let.body)

    def visit_Select(self, op: Select) -> None:
        self.visit_guarded(op.condition, op.true_value, op.false_value)

    def visit_Call(self, call: Call) -> None:
        if call.op == "tir.if_then_else" and len(call.args) == 3:
            self.visit_guarded(*call.args)
        elif call.op in ADDRESS_CALLS and call.args and isinstance(call.args[0], BufferLoad):
            self.visit((call.args[0].indices, call.args[1:]))  # an address, not a read
        else:
            self.generic_visit(call)

    def visit_guarded(self, cond: PrimExpr, then: PrimExpr, other: PrimExpr) -> None:
        self.visit(cond)
        self.visit_under(self.scopes.assuming(cond), then)
        self.visit_under(self.scopes.assuming(Not(cond)), other)

    # -------------------------------------------------------- the rule

    def check(self, node: Node, what: str, buffer: Buffer, indices: Sequence[PrimExpr]) -> None:
        for dim, index in checked_dims(buffer, indices):
            index_bound = self.scopes.bound(index)
            extent_bound = self.scopes.bound(buffer.shape[dim])
            if index_bound.min > index_bound.max:
                continue  # no value reaches here
            if index_bound.max < 0 or index_bound.min >= extent_bound.max:
                self.report(node, what, buffer, indices, dim, index_bound)

    def report(self, node: Node, what: str, buffer: Buffer, indices: Sequence[PrimExpr],
               dim: int, index_bound: Bound) -> None:
        access = f"{buffer.name}[{', '.join(self.text(i) for i in indices)}]"
        extent = self.text(buffer.shape[dim])
        where = f" (written at {node.span})" if node.span is not None else ""
        message = (f"{what} `{access}` is out of bounds{where}: index `{self.text(indices[dim])}`"
                   f" of dimension {dim} is always in {_interval(index_bound)}, outside "
                   f"[0, {extent}) of buffer `{buffer.name}`")
        self.found.append(OutOfBounds(message, node, tuple(self.path)))


def _interval(bound: Bound) -> str:
    return str(bound.min) if bound.is_const else f"[{bound.min}, {bound.max}]"
