"""Out-of-bounds buffer accesses: what ``verify`` can prove, and the scopes both it and the
bounds-checking pass (``passes/instrument_bound_checkers.py``) walk with.

Why only *provable* ones: ``verify`` runs on every program (after every pass in the tests), so it
must never reject a correct kernel; padding kernels, ``T.where`` tails and symbolic shapes all
write indices whose interval over the loops leaves the buffer while every executed access stays
inside. An access is reported by one of two rules:

1. *always outside*: on every path that reaches it, the index lies outside ``[0, extent)``: its
   interval, under the ranges of the enclosing loops, block iterators and lets and the conditions
   guarding it (``if``, ``T.if_then_else``, ``T.Select``, ``T.where``, ``assert``), is entirely
   below 0 or at or above every value the extent can take. Code the analyzer proves unreachable
   (a guard it proves false, a loop of no iterations) is skipped.
2. *surely reaches outside*: nothing guards the access (no condition of any kind between the
   function's entry and it, every enclosing loop has constant bounds and runs at least once), so
   every combination of the loop variables runs it; the index is linear in those variables
   (block iterators and lets replaced by their values), so its extremes are attained, not an
   over-approximation; and an extreme leaves ``[0, extent)`` of a constant extent.

Example::

    for i in range(16):
        B[i] = A[i + 1000000]        # rule 1: index in [1000000, 1000015], extent 16
        B[i] = A[i + 1]              # rule 2: i = 15 reads A[16]
        if i < 15:
            B[i] = A[i + 1]          # neither: guarded, and not always outside
"""

from __future__ import annotations

from contextlib import ExitStack, contextmanager, nullcontext
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from ..arith import Analyzer, Bound
from ..arith.int_bound import fit, is_integral
from ..arith.linear import linear_bound, to_linear
from ..arith.rewrite import is_true
from ..ir.buffer import Buffer
from ..ir.expr import (
    LT, BufferLoad, Call, IntImm, Not, PrimExpr, Range, Select, Var, binary, const,
)
from ..ir.function import PrimFunc
from ..ir.functor import PathVisitor, post_order_visit, substitute
from ..ir.node import Node
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
    can tell (False: a guard it proves false, a loop it proves empty). An ill-typed expression
    (a float inside an index; verify's dtype checks name it) teaches the analyzer nothing,
    rather than stopping the walk."""

    def __init__(self) -> None:
        self.ana = Analyzer()

    @contextmanager
    def assuming(self, cond: PrimExpr) -> Iterator[bool]:
        """Inside: ``cond`` holds (the then-side of an ``if``, the body of an ``assert``)."""
        with ExitStack() as stack:
            yield self._assume(stack, cond)

    @contextmanager
    def binding(self, var: Var, value: PrimExpr | Range) -> Iterator[bool]:
        """Inside: ``var`` lies in a range or equals a value (loops, lets, block iterators)."""
        with ExitStack() as stack:
            yield self._bind(stack, var, value)

    @contextmanager
    def loop(self, loop: For) -> Iterator[bool]:
        """Inside a loop: its variable's range, and ``var < min + extent`` as a fact (so a
        symbolic ``for i in range(n)`` proves ``i < n``)."""
        with ExitStack() as stack:
            live = self._bind(stack, loop.loop_var, Range(loop.min, loop.extent))
            end = _loop_end(loop)
            if live and end is not None:
                self._assume(stack, binary(LT, loop.loop_var, end))
            yield live

    @contextmanager
    def block(self, realize: BlockRealize) -> Iterator[bool]:
        """Inside a block: its iterators equal their bindings, and its ``T.where`` holds."""
        with ExitStack() as stack:
            live = True
            for iv, value in zip(realize.block.iter_vars, realize.iter_values):
                live = self._bind(stack, iv.var, value) and live
            yield self._assume(stack, realize.predicate) and live

    @contextmanager
    def thread(self, attr: AttrStmt) -> Iterator[bool]:
        """Inside ``T.launch_thread``: the thread index ranges over the launch extent."""
        with ExitStack() as stack:
            if attr.attr_key != "thread_extent" or not isinstance(attr.node, IterVar):
                yield True
            else:
                extent = Range(const(0, attr.value.dtype), attr.value)
                yield self._bind(stack, attr.node.var, extent)

    def bound(self, expr: PrimExpr) -> Bound | None:
        """The interval of ``expr``; None when it is ill-typed."""
        try:
            return self.ana.const_int_bound(expr)
        except TypeError:
            return None

    def proves(self, cond: PrimExpr) -> bool:
        try:
            return self.ana.can_prove(cond)
        except TypeError:
            return False

    def _assume(self, stack: ExitStack, cond: PrimExpr) -> bool:
        if not (cond.dtype.is_bool and cond.dtype.lanes == 1):
            return True
        if self.proves(Not(cond)):
            return False
        try:
            stack.enter_context(self.ana.constraint(cond))
        except TypeError:
            return True
        return all(self._nonempty(var) for var in _vars_of(cond))

    def _bind(self, stack: ExitStack, var: Var, value: PrimExpr | Range) -> bool:
        if not var.dtype.is_integer or var.dtype.lanes != 1:
            return True
        parts = (value.min, value.extent) if isinstance(value, Range) else (value,)
        bounds = [self.bound(p) if is_integral(p.dtype) else None for p in parts]
        if None in bounds:
            return True
        if isinstance(value, Range) and bounds[1].max <= 0:
            return False  # a loop of no iterations never runs its body
        stack.enter_context(self.ana.binding(var, value))
        return self._nonempty(var)

    def _nonempty(self, var: Var) -> bool:
        if not var.dtype.is_integer or var.dtype.lanes != 1:
            return True
        bound = self.ana.const_int_bound(var)
        return bound.min <= bound.max


def _loop_end(loop: For) -> PrimExpr | None:
    """``min + extent`` of the loop's dtype, or None when the loop is ill-typed or its bounds
    are constants (then its range already says all, and the fact would only cost time)."""
    if isinstance(loop.min, IntImm) and isinstance(loop.extent, IntImm):
        return None
    try:
        end = loop.min + loop.extent
    except TypeError:
        return None
    return end if end.dtype == loop.loop_var.dtype else None


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


class _Walk(PathVisitor):
    """Visits what can run, with the analyzer knowing the ranges and conditions around it, and
    (for the second rule) which loop iterations surely run: ``box`` holds the constant ranges of
    the loops around, ``values`` what block iterators and lets stand for, and ``unsure`` counts
    the conditions (or loops of unknown extent) between the function's entry and here."""

    def __init__(self, text: Callable[[Any], str]) -> None:
        self.scopes = Scopes()
        self.text = text
        super().__init__()
        self.found: list[OutOfBounds] = []
        self.box: dict[Var, Bound] = {}
        self.values: dict[Var, PrimExpr] = {}
        self.unsure = 0

    def visit_under(self, scope: Any, body: Any, unsure: bool = False,
                    box: dict | None = None, values: dict | None = None) -> None:
        with scope as live, self.surely_run(unsure, box or {}, values or {}):
            if live:
                self.visit(body)

    @contextmanager
    def surely_run(self, unsure: bool, box: dict, values: dict) -> Iterator[None]:
        saved = dict(self.box), dict(self.values), self.unsure
        self.box.update(box)
        self.values.update({var: substitute(v, self.values) for var, v in values.items()})
        self.unsure += unsure
        try:
            yield
        finally:
            self.box, self.values, self.unsure = saved

    # -------------------------------------------------------- statements

    def visit_For(self, loop: For) -> None:
        self.visit((loop.min, loop.extent))
        every = _constant_range(loop)
        self.visit_under(self.scopes.loop(loop), loop.body, unsure=every is None,
                         box={loop.loop_var: every} if every else None)

    def visit_LetStmt(self, let: Any) -> None:
        self.visit(let.value)
        self.visit_under(self.scopes.binding(let.var, let.value), let.body,
                         values={let.var: let.value})

    def visit_IfThenElse(self, node: Any) -> None:
        self.visit(node.condition)
        self.visit_under(self.scopes.assuming(node.condition), node.then_case, unsure=True)
        if node.else_case is not None:
            self.visit_under(self.scopes.assuming(Not(node.condition)), node.else_case,
                             unsure=True)

    def visit_AssertStmt(self, node: Any) -> None:
        self.visit((node.condition, node.message))
        self.visit_under(self.scopes.assuming(node.condition), node.body, unsure=True)

    def visit_While(self, node: Any) -> None:
        self.visit(node.condition)
        self.visit_under(nullcontext(True), node.body, unsure=True)

    def visit_AttrStmt(self, attr: AttrStmt) -> None:
        self.visit(attr.value)
        self.visit_under(self.scopes.thread(attr), attr.body,
                         unsure=attr.attr_key == "thread_extent")

    def visit_BlockRealize(self, realize: BlockRealize) -> None:
        self.visit((realize.iter_values, realize.predicate))
        bindings = dict(zip((iv.var for iv in realize.block.iter_vars), realize.iter_values))
        self.visit_under(self.scopes.block(realize), realize.block,
                         unsure=not is_true(realize.predicate), values=bindings)

    def visit_Block(self, block: Any) -> None:  # regions and views are checked elsewhere
        self.visit_under(nullcontext(True), block.init, unsure=True)  # the first iteration
        self.visit(block.body)

    def visit_BufferStore(self, store: Any) -> None:
        self.visit((store.value, store.indices))
        self.check(store, "store to", store.buffer, store.indices)

    # -------------------------------------------------------- expressions

    def visit_BufferLoad(self, load: BufferLoad) -> None:
        self.visit(load.indices)
        self.check(load, "read of", load.buffer, load.indices)

    def visit_Let(self, let: Any) -> None:
        self.visit(let.value)
        self.visit_under(self.scopes.binding(let.var, let.value), let.body,
                         values={let.var: let.value})

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
        self.visit_under(self.scopes.assuming(cond), then, unsure=True)
        self.visit_under(self.scopes.assuming(Not(cond)), other, unsure=True)

    def visit_And(self, op: Any) -> None:  # the interpreter skips ``b`` when ``a`` decides
        self.visit(op.a)
        self.visit_under(nullcontext(True), op.b, unsure=True)

    visit_Or = visit_And

    # -------------------------------------------------------- the rule

    def check(self, node: Node, what: str, buffer: Buffer, indices: Sequence[PrimExpr]) -> None:
        for dim, index in checked_dims(buffer, indices):
            finding = self.always_outside(index, buffer.shape[dim])
            finding = finding or self.surely_reaches_outside(index, buffer.shape[dim])
            if finding:
                self.report(node, what, buffer, indices, dim, finding)

    def always_outside(self, index: PrimExpr, extent: PrimExpr) -> str | None:
        """Rule 1: every value the index can take here lies outside ``[0, extent)``."""
        index_bound, extent_bound = self.scopes.bound(index), self.scopes.bound(extent)
        if index_bound is None or extent_bound is None or index_bound.min > index_bound.max:
            return None  # ill-typed, or no value reaches here
        if index_bound.max < 0 or index_bound.min >= extent_bound.max:
            return f"is always in {_interval(index_bound)}"
        return None

    def surely_reaches_outside(self, index: PrimExpr, extent: PrimExpr) -> str | None:
        """Rule 2: unguarded, inside loops of constant ranges (so every iteration runs), an
        index linear in their variables takes its extreme values, which leave the buffer."""
        if self.unsure or not isinstance(extent, IntImm) or index.dtype.lanes != 1:
            return None
        form = to_linear(substitute(index, self.values))
        if any(term not in self.box for term in form.terms):
            return None
        lo, hi = linear_bound(form, self.box.__getitem__)
        if (lo, hi) != tuple(fit(lo, hi, index.dtype)):
            return None  # the value may wrap around
        outside = lo if lo < 0 else hi if hi >= extent.value else None
        if outside is None:
            return None
        return f"reaches {outside} on an iteration that always runs (it spans [{lo}, {hi}])"

    def report(self, node: Node, what: str, buffer: Buffer, indices: Sequence[PrimExpr],
               dim: int, finding: str) -> None:
        access = f"{buffer.name}[{', '.join(self.text(i) for i in indices)}]"
        extent = self.text(buffer.shape[dim])
        where = f" (written at {node.span})" if node.span is not None else ""
        message = (f"{what} `{access}` is out of bounds{where}: index `{self.text(indices[dim])}`"
                   f" of dimension {dim} {finding}, outside [0, {extent}) of buffer "
                   f"`{buffer.name}`")
        self.found.append(OutOfBounds(message, node, tuple(self.path)))


def _constant_range(loop: For) -> Bound | None:
    """The loop variable's values when the loop surely runs each of them (constant bounds)."""
    if isinstance(loop.min, IntImm) and isinstance(loop.extent, IntImm) and loop.extent.value > 0:
        return Bound(loop.min.value, loop.min.value + loop.extent.value - 1)
    return None


def _interval(bound: Bound) -> str:
    return str(bound.min) if bound.is_const else f"[{bound.min}, {bound.max}]"
