"""Loop primitives: split, fuse, reorder, loop kinds, thread binding, annotations, unit loops.

Loops keep their loop variable while only their body or kind changes (``parallel``,
``annotate``, ``reorder``), so old handles stay valid; ``split``, ``fuse`` and ``add_unit_loop``
make new loops with new variables and return new handles. Block iterator bindings are rewritten
in terms of the new loops and simplified with the Analyzer; block regions are written in the
blocks' own iterators, which do not change.
"""

from __future__ import annotations

import itertools
import math
import numbers
from typing import Any

import numpy as np

from ..arith import Analyzer
from ..ir import expr as E
from ..ir import stmt as S
from ..ir.dtype import INT32
from ..ir.expr import IntImm, PrimExpr, Range, Var
from ..ir.functor import Mutator, Visitor, substitute
from .arguments import dtype_problem
from .errors import ScheduleError
from .handles import BlockRV, IntRV, LoopRV
from .schedule import Schedule, register_primitive
from .state import Location, replace

THREAD_TAGS = ("blockIdx.x", "blockIdx.y", "blockIdx.z", "threadIdx.x", "threadIdx.y",
               "threadIdx.z", "vthread", "vthread.x", "vthread.y", "vthread.z")


# ---------------------------------------------------------------- helpers


def _loop_loc(sch: Schedule, loop: LoopRV) -> Location:
    return sch.loc(loop)


def _name(loop: S.For) -> str:
    return f"loop `{loop.loop_var.name}`"


def _uses(obj: Any, var: Var) -> bool:
    found = False

    class _Find(Visitor):
        def visit_Var(self, v: Var) -> None:
            nonlocal found
            found = found or v is var

    _Find().visit(obj)
    return found


def _analyzer(path: tuple[S.Stmt, ...]) -> Analyzer:
    """An Analyzer that knows the ranges of every loop on ``path``."""
    ana = Analyzer()
    for stmt in path:
        if isinstance(stmt, S.For):
            ana.bind(stmt.loop_var, Range(stmt.min, stmt.extent))
    return ana


def _const(value: int, dtype: Any) -> PrimExpr:
    return E.const(int(value), dtype)


class _SimplifyBindings(Mutator):
    """Simplify block bindings and predicates, knowing the ranges of the loops around them."""

    def __init__(self, ana: Analyzer, keep: frozenset = frozenset()) -> None:
        self.ana = ana
        self.keep = keep  # unit loops left unbound, so bindings keep them (preserve_unit_iters)

    def visit_For(self, loop: S.For) -> S.Stmt:
        if loop.loop_var in self.keep:
            return self.generic_visit(loop)
        with self.ana.binding(loop.loop_var, Range(loop.min, loop.extent)):
            return self.generic_visit(loop)

    def visit_BlockRealize(self, realize: S.BlockRealize) -> S.Stmt:
        values = tuple(self.ana.simplify(v) for v in realize.iter_values)
        pred = self.ana.simplify(realize.predicate)
        block = self.visit(realize.block)
        return realize.with_(iter_values=values, predicate=pred, block=block)


def _simplify_bindings(stmt: S.Stmt, path: tuple[S.Stmt, ...], keep: frozenset = frozenset()) -> S.Stmt:
    return _SimplifyBindings(_analyzer(path), keep).visit(stmt)


def _guard(body: S.Stmt, cond: PrimExpr) -> S.Stmt:
    """Skip ``body`` where ``cond`` fails: as a block predicate when the body is only blocks."""
    if _only_blocks(body):
        return _AddPredicate(cond).visit(body)
    return S.IfThenElse(cond, body)


def _only_blocks(stmt: S.Stmt) -> bool:
    if isinstance(stmt, S.BlockRealize):
        return True
    if isinstance(stmt, S.SeqStmt):
        return all(_only_blocks(s) for s in stmt.seq)
    if isinstance(stmt, S.For):
        return _only_blocks(stmt.body)
    return False


class _AddPredicate(Mutator):
    def __init__(self, cond: PrimExpr) -> None:
        self.cond = cond

    def visit_BlockRealize(self, realize: S.BlockRealize) -> S.Stmt:
        pred = realize.predicate
        new = self.cond if E.is_const_int(pred, 1) else E.And(pred, self.cond)
        return realize.with_(predicate=new)


def _leaf_realizes(stmt: S.Stmt) -> list[S.BlockRealize]:
    """Blocks under ``stmt`` (any depth, nested ones included)."""
    out: list[S.BlockRealize] = []

    class _Collect(Visitor):
        def visit_BlockRealize(self, r: S.BlockRealize) -> None:
            out.append(r)
            self.generic_visit(r)

    _Collect().visit(stmt)
    return out


def _int(value: Any, what: str) -> int | None:
    """A Python int from an int / IntRV / IntImm, None for None; ScheduleError otherwise."""
    if value is None:
        return None
    if isinstance(value, IntImm):
        return value.value
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise ScheduleError(f"{what} must be an integer or None, got {value!r}")
    return int(value)


# ---------------------------------------------------------------- split


@register_primitive("split")
def split(sch: Schedule, loop: LoopRV, factors: list, preserve_unit_iters: bool = True) -> list[LoopRV]:
    """Split a loop into nested loops whose extents are ``factors`` (one may be None: inferred).

    Before::

        for i in range(128):
            with T.block("B"):
                vi = T.axis.spatial(128, i)

    After ``sch.split(i, factors=[None, 32])``::

        for i_0, i_1 in T.grid(4, 32):
            with T.block("B"):
                vi = T.axis.spatial(128, i_0 * 32 + i_1)

    When the factors' product exceeds the extent, the blocks under the loop get the predicate
    ``T.where(i_0 * 32 + i_1 < extent)`` (an ``if`` around non-block statements).
    """
    loc = _loop_loc(sch, loop)
    node: S.For = loc.node
    ints = _split_factors(node, factors)
    dt = node.loop_var.dtype
    ana = _analyzer(loc.path[:-1])
    extent = node.extent
    known = math.prod(f for f in ints if f is not None)
    _check_product(node, ints, known)
    exprs: list[PrimExpr] = []
    for f in ints:
        exprs.append(_const(f, dt) if f is not None else _inferred(extent, known, dt, ana))
    if None not in ints and not ana.can_prove(E.GE(_const(known, dt), extent)):
        raise ScheduleError(
            f"the factors {list(ints)} of {_name(node)} multiply to {known}, less than its "
            f"extent {extent.script() if not isinstance(extent, IntImm) else extent.value}")
    new_vars = [Var(f"{node.loop_var.name}_{i}", dt) for i in range(len(ints))]
    fused: PrimExpr = new_vars[0]
    for v, ext in zip(new_vars[1:], exprs[1:]):
        fused = fused * ext + v
    unit = {v: _const(0, dt) for v, ext in zip(new_vars, exprs)
            if not preserve_unit_iters and E.is_const_int(ext, 1)}
    value = substitute(fused, unit)
    if not E.is_const_int(node.min, 0):
        value = value + node.min
    body = substitute(node.body, {node.loop_var: value})
    for v, ext in zip(new_vars, exprs):
        ana.bind(v, Range(_const(0, dt), ext))
    cond = substitute(fused, unit) < extent
    if not ana.can_prove(cond):
        body = _guard(body, cond)
    for v, ext in reversed(list(zip(new_vars, exprs))):
        body = S.For(v, _const(0, dt), ext, S.ForKind.SERIAL, body)
    keep = frozenset(v for v, ext in zip(new_vars, exprs)
                     if preserve_unit_iters and E.is_const_int(ext, 1))
    body = _simplify_bindings(body, loc.path[:-1], keep)
    sch.commit(replace(sch.func, node, body))
    return [LoopRV(v) for v in new_vars]


def _split_factors(node: S.For, factors: Any) -> list[int | None]:
    if not isinstance(factors, (list, tuple)) or not factors:
        raise ScheduleError(f"split of {_name(node)} needs a non-empty list of factors, got {factors!r}")
    ints = [_int(f, f"a split factor of {_name(node)}") for f in factors]
    if ints.count(None) > 1:
        raise ScheduleError(f"split of {_name(node)} takes at most one None factor, got {list(factors)}")
    bad = [f for f in ints if f is not None and f <= 0]
    if bad:
        raise ScheduleError(f"split factors of {_name(node)} must be positive, got {bad[0]}")
    for f in ints:
        problem = f is not None and dtype_problem(f, node.loop_var.dtype)
        if problem:
            raise ScheduleError(f"split factor {f} of {_name(node)} {problem}")
    return ints


def _inferred(extent: PrimExpr, known: int, dt: Any, ana: Analyzer) -> PrimExpr:
    """``ceil(extent / known)``, computed in Python for a constant extent (in the loop's dtype
    ``extent + known - 1`` may overflow)."""
    if isinstance(extent, IntImm):
        return _const(-(-extent.value // known), dt)
    return ana.simplify(E.FloorDiv(extent + _const(known - 1, dt), _const(known, dt)))


def _check_product(node: S.For, ints: list[int | None], known: int) -> None:
    """The loops' extents multiply to a value of the loop's dtype (``outer * inner + ...``
    reaches it minus one); the inferred factor is computed here for a constant extent, where
    the expression for it would itself overflow."""
    if None in ints and isinstance(node.extent, IntImm):
        ints = [-(-node.extent.value // known) if f is None else f for f in ints]
    total = math.prod(f for f in ints if f is not None)
    problem = dtype_problem(total, node.loop_var.dtype)
    if problem:
        raise ScheduleError(f"the factors {ints} of {_name(node)} multiply to {total}, which "
                            f"{problem}")


# ---------------------------------------------------------------- fuse


@register_primitive("fuse")
def fuse(sch: Schedule, *loops: LoopRV, preserve_unit_iters: bool = True) -> LoopRV:
    """Fuse consecutive perfectly nested loops into one loop.

    Before::

        for i, j in T.grid(64, 128):
            with T.block("B"):
                vi, vj = T.axis.remap("SS", [i, j])

    After ``sch.fuse(i, j)``::

        for i_j_fused in range(8192):
            with T.block("B"):
                vi = T.axis.spatial(64, i_j_fused // 128)
                vj = T.axis.spatial(128, i_j_fused % 128)
    """
    if not loops:
        raise ScheduleError("fuse needs at least one loop")
    locs = [_loop_loc(sch, lp) for lp in loops]
    nodes: list[S.For] = [loc.node for loc in locs]
    _check_distinct(nodes, "fuse")
    for outer, inner in itertools.pairwise(nodes):
        if outer.body is not inner:
            raise ScheduleError(
                f"cannot fuse {_name(outer)} and {_name(inner)}: {_name(inner)} is not the only "
                f"statement in the body of {_name(outer)} (fuse takes consecutive, perfectly "
                "nested loops, outermost first)")
    dt = nodes[0].loop_var.dtype
    ana = _analyzer(locs[0].path[:-1])
    for lp in nodes:
        if lp.loop_var.dtype != dt:
            raise ScheduleError(f"cannot fuse loops of different dtypes ({_name(lp)} is {lp.loop_var.dtype})")
    _check_fused_extent(nodes)
    kept = [lp for lp in nodes if preserve_unit_iters or not E.is_const_int(lp.extent, 1)] or nodes[-1:]
    fused_var = Var("_".join(lp.loop_var.name for lp in nodes) + "_fused", dt)
    vmap: dict[Var, PrimExpr] = {}
    stride: PrimExpr = _const(1, dt)
    for lp in reversed(nodes):
        if lp not in kept:
            vmap[lp.loop_var] = lp.min
            continue
        value: PrimExpr = fused_var if E.is_const_int(stride, 1) else E.FloorDiv(fused_var, stride)
        if lp is not kept[0]:
            value = E.FloorMod(value, lp.extent)
        vmap[lp.loop_var] = value if E.is_const_int(lp.min, 0) else value + lp.min
        stride = ana.simplify(stride * lp.extent)
    body = substitute(nodes[-1].body, vmap)
    new = S.For(fused_var, _const(0, dt), stride, S.ForKind.SERIAL, body)
    new = _simplify_bindings(new, locs[0].path[:-1])
    sch.commit(replace(sch.func, nodes[0], new))
    return LoopRV(fused_var)


def _check_fused_extent(nodes: list[S.For]) -> None:
    """The fused loop's extent is a value of the loops' dtype (constant extents only: a
    symbolic one is as large as the program makes it)."""
    extents = [lp.extent.value for lp in nodes if isinstance(lp.extent, IntImm)]
    total = math.prod(extents)
    problem = dtype_problem(total, nodes[0].loop_var.dtype)
    if problem:
        names = ", ".join(f"`{lp.loop_var.name}`" for lp in nodes)
        raise ScheduleError(f"cannot fuse loops {names}: their fused extent {total} {problem}")


def _check_distinct(nodes: list[S.For], what: str) -> None:
    seen: set[int] = set()
    for lp in nodes:
        if id(lp) in seen:
            raise ScheduleError(f"{what} got {_name(lp)} twice")
        seen.add(id(lp))


# ---------------------------------------------------------------- reorder


@register_primitive("reorder")
def reorder(sch: Schedule, *loops: LoopRV) -> None:
    """Reorder loops of one perfectly nested chain into the order given (outermost first).

    Loops of the chain that are not named keep their places. Before::

        for i, j, k in T.grid(64, 64, 64):

    After ``sch.reorder(k, i)``::

        for k, j, i in T.grid(64, 64, 64):
    """
    if not loops:
        return
    locs = [_loop_loc(sch, lp) for lp in loops]
    nodes: list[S.For] = [loc.node for loc in locs]
    _check_distinct(nodes, "reorder")
    deepest = max(locs, key=lambda loc: len(loc.path))
    on_path = {id(s): i for i, s in enumerate(deepest.path)}
    for lp in nodes:
        if id(lp) not in on_path:
            raise ScheduleError(
                f"cannot reorder {_name(lp)} and {_name(deepest.node)}: they are not nested in "
                "one another (reorder takes loops of one chain)")
    top = min(on_path[id(lp)] for lp in nodes)
    chain = list(deepest.path[top:])
    for stmt, nxt in itertools.pairwise(chain):
        if isinstance(stmt, (S.Block, S.BlockRealize)):
            block = stmt.block if isinstance(stmt, S.BlockRealize) else stmt
            raise ScheduleError(
                f"cannot reorder {_name(chain[0])} and {_name(deepest.node)}: they are under "
                f"different blocks (block `{block.name_hint}` lies between them)")
        if not isinstance(stmt, S.For) or stmt.body is not nxt:
            what = _name(stmt) if isinstance(stmt, S.For) else f"a {type(stmt).__name__}"
            raise ScheduleError(
                f"cannot reorder: the loops between {_name(chain[0])} and {_name(deepest.node)} "
                f"are not a perfect chain ({what} has a body other than the next loop)")
    _check_reorder_blocks(chain)
    named = {id(lp) for lp in nodes}
    order = iter(nodes)
    new_chain = [next(order) if id(lp) in named else lp for lp in chain]
    _check_extent_dependencies(new_chain)
    body = chain[-1].body
    for lp in reversed(new_chain):
        body = lp.with_(body=body)
    sch.commit(replace(sch.func, chain[0], body))


def _check_reorder_blocks(chain: list[S.For]) -> None:
    loop_vars = [lp.loop_var for lp in chain]
    for realize in _leaf_realizes(chain[-1].body):
        block = realize.block
        for iv, value in zip(block.iter_vars, realize.iter_values):
            if iv.iter_type in (S.IterType.SPATIAL, S.IterType.REDUCE):
                continue
            for v in loop_vars:
                if _uses(value, v):
                    raise ScheduleError(
                        f"cannot reorder loop `{v.name}`: it is bound to the {iv.iter_type.value} "
                        f"iterator `{iv.var.name}` of block `{block.name_hint}`, whose order matters")


def _check_extent_dependencies(new_chain: list[S.For]) -> None:
    for i, lp in enumerate(new_chain):
        for inner in new_chain[i:]:
            if _uses((lp.min, lp.extent), inner.loop_var):
                raise ScheduleError(
                    f"cannot reorder: the range of {_name(lp)} depends on {_name(inner)}, "
                    "which would be inside it")


# ---------------------------------------------------------------- loop kinds


def _check_no_reduction(loop: S.For, action: str, allow_reduce: bool = False) -> None:
    """No block under ``loop`` binds a non-spatial iterator to an expression of its variable."""
    for realize in _leaf_realizes(loop.body):
        block = realize.block
        for iv, value in zip(block.iter_vars, realize.iter_values):
            if iv.iter_type == S.IterType.SPATIAL or not _uses(value, loop.loop_var):
                continue
            if iv.iter_type == S.IterType.REDUCE:
                if allow_reduce:
                    continue
                raise ScheduleError(
                    f"{_name(loop)} carries a reduction and cannot be {action} (it is bound to "
                    f"the reduction iterator `{iv.var.name}` of block `{block.name_hint}`)")
            raise ScheduleError(
                f"{_name(loop)} cannot be {action}: it is bound to the {iv.iter_type.value} "
                f"iterator `{iv.var.name}` of block `{block.name_hint}`")


def _set_kind(sch: Schedule, loop: LoopRV, kind: S.ForKind, action: str | None,
              thread_tag: str = "") -> None:
    loc = _loop_loc(sch, loop)
    node: S.For = loc.node
    if action is not None:
        _check_no_reduction(node, action, allow_reduce=thread_tag.startswith("threadIdx"))
    sch.commit(replace(sch.func, node, node.with_(kind=kind, thread_tag=thread_tag)))


@register_primitive("parallel")
def parallel(sch: Schedule, loop: LoopRV) -> None:
    """Run the iterations of a loop on all CPU cores.

    Before: ``for i in range(64):``   After: ``for i in T.parallel(64):``
    """
    _set_kind(sch, loop, S.ForKind.PARALLEL, "parallelized")


@register_primitive("vectorize")
def vectorize(sch: Schedule, loop: LoopRV) -> None:
    """Run the iterations of a loop as SIMD lanes (lowering falls back to a loop if it must).

    Before: ``for j in range(8):``   After: ``for j in T.vectorized(8):``
    """
    _set_kind(sch, loop, S.ForKind.VECTORIZED, "vectorized")


@register_primitive("unroll")
def unroll(sch: Schedule, loop: LoopRV) -> None:
    """Unroll a loop completely.

    Before: ``for k in range(4):``   After: ``for k in T.unroll(4):``
    """
    _set_kind(sch, loop, S.ForKind.UNROLLED, None)


@register_primitive("bind")
def bind(sch: Schedule, loop: LoopRV, thread_axis: str) -> None:
    """Bind a loop to a GPU thread axis (``blockIdx.x``, ``threadIdx.y``, ``vthread`` ...).

    Before: ``for i in range(128):``
    After ``sch.bind(i, "threadIdx.x")``: ``for i in T.thread_binding(128, thread="threadIdx.x"):``

    A loop carrying a reduction may only be bound to ``threadIdx.*`` (cross-thread reduction).
    Binding a bound loop again to its own axis changes nothing; to another axis it is refused
    (a loop is one thread axis).
    """
    node = sch.get(loop)
    if thread_axis not in THREAD_TAGS:
        raise ScheduleError(
            f"cannot bind loop `{node.loop_var.name}` to {thread_axis!r}: not a thread "
            f"axis (expected one of {', '.join(THREAD_TAGS)})")
    if isinstance(node, S.For) and node.kind == S.ForKind.THREAD_BINDING:
        if node.thread_tag == thread_axis:
            return
        raise ScheduleError(f"loop `{node.loop_var.name}` is already bound to "
                            f"{node.thread_tag}; it cannot be bound to {thread_axis} too")
    _set_kind(sch, loop, S.ForKind.THREAD_BINDING, f"bound to {thread_axis}", thread_tag=thread_axis)


# ---------------------------------------------------------------- annotations


def _annotation_value(value: Any) -> Any:
    if isinstance(value, IntRV):
        return int(value)
    if isinstance(value, (list, tuple)):
        return [_annotation_value(v) for v in value]
    if isinstance(value, dict):
        return {k: _annotation_value(v) for k, v in value.items()}
    if isinstance(value, (bool, int, float, str, PrimExpr)):
        return value
    raise ScheduleError(f"annotation values are ints, floats, strings, expressions, lists or "
                        f"dicts of them, got {value!r}")


def _target(sch: Schedule, rv: LoopRV | BlockRV) -> tuple[S.Stmt, str]:
    node = sch.get(rv)
    return node, (_name(node) if isinstance(node, S.For) else f"block `{node.name_hint}`")


@register_primitive("annotate")
def annotate(sch: Schedule, target: LoopRV | BlockRV, key: str, value: Any) -> None:
    """Attach ``key: value`` to a loop's or block's annotations (replacing an old value).

    Before: ``for i in range(64):``
    After ``sch.annotate(i, "pragma_unroll_explicit", 1)``:
    ``for i in T.serial(64, annotations={"pragma_unroll_explicit": 1}):`` (on a block:
    ``T.block_attr({...})``)
    """
    node, _ = _target(sch, target)
    new = dict(node.annotations)
    new[key] = _annotation_value(value)
    sch.commit(replace(sch.func, node, node.with_(annotations=new)))


@register_primitive("unannotate")
def unannotate(sch: Schedule, target: LoopRV | BlockRV, key: str) -> None:
    """Remove the annotation ``key`` from a loop or block (it must be there).

    Before: ``for i in T.serial(64, annotations={"k": 1}):``
    After ``sch.unannotate(i, "k")``: ``for i in range(64):``
    """
    node, what = _target(sch, target)
    if key not in node.annotations:
        have = ", ".join(f"`{k}`" for k in node.annotations) or "none"
        raise ScheduleError(f"{what} has no annotation `{key}` (it has {have})")
    new = {k: v for k, v in node.annotations.items() if k != key}
    sch.commit(replace(sch.func, node, node.with_(annotations=new)))


# ---------------------------------------------------------------- unit loops


@register_primitive("add_unit_loop")
def add_unit_loop(sch: Schedule, target: BlockRV | LoopRV) -> LoopRV:
    """Wrap a block or loop in a new loop of extent 1 (``u``); returns the new loop.

    Before::

        with T.block("B"):
            ...

    After ``sch.add_unit_loop(b)``::

        for u in range(1):
            with T.block("B"):
                ...
    """
    loc = sch.loc(target)
    if isinstance(loc.node, S.Block):
        if loc.node.name_hint == "root" and len(loc.path) <= 2:
            raise ScheduleError("cannot add a loop above the root block `root`")
        stmt = loc.path[-2]
        dt = INT32
    else:
        stmt = loc.node
        dt = loc.node.loop_var.dtype
    var = Var("u", dt)
    new = S.For(var, _const(0, dt), _const(1, dt), S.ForKind.SERIAL, stmt)
    sch.commit(replace(sch.func, stmt, new))
    return LoopRV(var)


__all__ = [
    "THREAD_TAGS",
    "add_unit_loop",
    "annotate",
    "bind",
    "fuse",
    "parallel",
    "reorder",
    "split",
    "unannotate",
    "unroll",
    "vectorize",
]
