"""Reduction primitives: ``decompose_reduction`` and ``rfactor``.

Both work on a *reduction block*: a block with ``T.init()`` whose iterators are spatial or
reduction ones and whose body is one store ``X[idx] = X[idx] op rhs`` (``op`` one of ``+``,
``*``, ``T.max``, ``T.min``), the init storing the identity of ``op`` to ``X[idx]``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from ..analysis import infer_block_access_regions
from ..analysis.access_region import reads_without_init
from ..arith import Analyzer
from ..ir import expr as E
from ..ir import stmt as S
from ..ir.buffer import Buffer
from ..ir.expr import BufferLoad, PrimExpr, Range, Var, const
from ..ir.functor import post_order_visit, substitute
from ..ir.structural import structural_equal
from .errors import ScheduleError
from .handles import BlockRV, LoopRV
from .schedule import Schedule, register_primitive
from .state import Location, find_block, fresh_block_name, replace

SPATIAL, REDUCE = S.IterType.SPATIAL, S.IterType.REDUCE


# ---------------------------------------------------------------- shared helpers


def vars_of(expr: object) -> set[Var]:
    """Every variable used in ``expr`` (an expression, statement or tuple of them)."""
    found: set[Var] = set()
    post_order_visit(expr, lambda n: found.add(n) if isinstance(n, Var) else None)
    return found


def conjuncts(cond: PrimExpr) -> list[PrimExpr]:
    if isinstance(cond, E.And):
        return conjuncts(cond.a) + conjuncts(cond.b)
    if isinstance(cond, E.IntImm) and cond.value == 1:
        return []
    return [cond]


def all_of(conds: list[PrimExpr]) -> PrimExpr:
    out: PrimExpr = const(True)
    for c in conds:
        out = c if isinstance(out, E.IntImm) else E.And(out, c)
    return out


def keep_predicate(pred: PrimExpr, allowed: set[Var], vmap: dict) -> PrimExpr:
    """The conjuncts of ``pred`` that only use ``allowed`` variables, renamed by ``vmap``."""
    return all_of([substitute(c, vmap) for c in conjuncts(pred) if vars_of(c) <= allowed])


def insert_before(func, loc: Location, new: S.Stmt):
    """``func`` with ``new`` placed right before the statement at ``loc`` (flat sequences)."""
    parent = loc.parent
    if isinstance(parent, S.SeqStmt):
        items = []
        for s in parent.seq:
            items += [new, s] if s is loc.node else [s]
        return replace(func, parent, S.SeqStmt(tuple(items)))
    return replace(func, loc.node, S.SeqStmt((new, loc.node)))


def with_regions(block: S.Block) -> S.Block:
    reads, writes = infer_block_access_regions(block)
    return block.with_(reads=reads, writes=writes)


def block_and_loops(sch: Schedule, block: BlockRV, loop: LoopRV, what: str):
    """The block's location, realize, enclosing loops and the index of ``loop`` among them."""
    loc = sch.loc(block)
    loop_node = sch.get(loop)
    loops = loc.loops()
    index = next((k for k, l in enumerate(loops) if l is loop_node), None)
    if index is None:
        raise ScheduleError(f"{what}: loop `{loop_node.loop_var.name}` does not enclose block "
                            f"`{loc.node.name_hint}`")
    return loc, loc.path[-2], loops, index


# ---------------------------------------------------------------- reducers


@dataclass(frozen=True)
class Reducer:
    name: str
    combine: Callable[[PrimExpr, PrimExpr], PrimExpr]

    def identity(self, dtype) -> PrimExpr:
        if self.name == "add":
            return const(0, dtype)
        if self.name == "mul":
            return const(1, dtype)
        big = math.inf if dtype.is_float else None
        if big is None:
            from ..arith import dtype_range

            r = dtype_range(dtype)
            return const(r.min if self.name == "max" else r.max, dtype)
        return const(-big if self.name == "max" else big, dtype)

    def is_identity(self, value: PrimExpr) -> bool:
        if not isinstance(value, (E.IntImm, E.FloatImm)):
            return False
        v = value.value
        if self.name == "add":
            return v == 0
        if self.name == "mul":
            return v == 1
        if value.dtype.is_float:
            lowest = -3.4028234663852886e38 if value.dtype.bits == 32 else -65504.0 \
                if value.dtype.bits == 16 else -1.7976931348623157e308
            return v <= lowest if self.name == "max" else v >= -lowest
        from ..arith import dtype_range

        r = dtype_range(value.dtype)
        return v == (r.min if self.name == "max" else r.max)


_REDUCERS = {
    E.Add: Reducer("add", lambda a, b: E.Add(a, b)),
    E.Mul: Reducer("mul", lambda a, b: E.Mul(a, b)),
    E.Max: Reducer("max", lambda a, b: E.Max(a, b)),
    E.Min: Reducer("min", lambda a, b: E.Min(a, b)),
}


@dataclass(frozen=True)
class ReductionInfo:
    buffer: Buffer
    indices: tuple[PrimExpr, ...]
    rhs: PrimExpr
    reducer: Reducer


def reduction_info(block: S.Block, what: str) -> ReductionInfo:
    """The reduction ``X[idx] = X[idx] op rhs`` of ``block`` (init checked), or ScheduleError."""
    name = block.name_hint
    if block.init is None:
        raise ScheduleError(f"{what}: block `{name}` has no T.init(), so it is not a "
                            "reduction block")
    bad = [iv.var.name for iv in block.iter_vars if iv.iter_type not in (SPATIAL, REDUCE)]
    if bad:
        raise ScheduleError(f"{what}: block `{name}` has iterators {bad} that are neither "
                            "spatial nor reduction")
    body = block.body
    if not isinstance(body, S.BufferStore) or type(body.value) not in _REDUCERS:
        raise ScheduleError(f"{what}: the body of block `{name}` is not a single store "
                            "`X[idx] = X[idx] op rhs` with op one of + * max min")
    reducer = _REDUCERS[type(body.value)]
    a, b = body.value.a, body.value.b
    if _is_self_load(a, body):
        rhs = b
    elif _is_self_load(b, body):
        rhs = a
    else:
        raise ScheduleError(f"{what}: the body of block `{name}` does not combine "
                            f"`{body.buffer.name}[...]` with a value (`X[idx] = X[idx] op rhs`)")
    init = block.init
    if not (isinstance(init, S.BufferStore) and init.buffer is body.buffer
            and structural_equal(init.indices, body.indices)):
        raise ScheduleError(f"{what}: the init of block `{name}` does not store to the reduced "
                            f"element `{body.buffer.name}[...]` alone")
    if not reducer.is_identity(init.value):
        raise ScheduleError(f"{what}: the init of block `{name}` stores `{init.value!r}`, which "
                            f"is not the identity of its `{reducer.name}` reduction")
    reduce_vars = {iv.var for iv in block.iter_vars if iv.iter_type == REDUCE}
    if vars_of(body.indices) & reduce_vars:
        raise ScheduleError(f"{what}: block `{name}` writes `{body.buffer.name}` at indices that "
                            "depend on reduction iterators")
    return ReductionInfo(body.buffer, body.indices, rhs, reducer)


def _is_self_load(e: PrimExpr, store: S.BufferStore) -> bool:
    return (isinstance(e, BufferLoad) and e.buffer is store.buffer
            and structural_equal(e.indices, store.indices))


# ---------------------------------------------------------------- decompose_reduction


@register_primitive("decompose_reduction")
def decompose_reduction(sch: Schedule, block: BlockRV, loop: LoopRV) -> BlockRV:
    """Move a reduction block's init into its own block ``<name>_init`` right before ``loop``.

    The init block loops over the loops under ``loop`` that its (spatial) bindings use; the
    update block keeps its name and loses its ``T.init()``. Returns the init block. ``loop``
    must enclose the block and lie above every loop bound to a reduction iterator.

    Before (``decompose_reduction(C, i)``)::

        for i, j, k in T.grid(128, 128, 128):
            with T.block("C"):
                vi, vj, vk = T.axis.remap("SSR", [i, j, k])
                with T.init():
                    C[vi, vj] = T.float32(0)
                C[vi, vj] = C[vi, vj] + A[vi, vk] * B[vk, vj]

    After::

        for i_init, j_init in T.grid(128, 128):
            with T.block("C_init"):
                vi_init, vj_init = T.axis.remap("SS", [i_init, j_init])
                C[vi_init, vj_init] = T.float32(0)
        for i, j, k in T.grid(128, 128, 128):
            with T.block("C"):
                vi, vj, vk = T.axis.remap("SSR", [i, j, k])
                C[vi, vj] = C[vi, vj] + A[vi, vk] * B[vk, vj]
    """
    what = "decompose_reduction"
    loc, realize, loops, index = block_and_loops(sch, block, loop, what)
    blk: S.Block = loc.node
    if blk.init is None:
        raise ScheduleError(f"{what}: block `{blk.name_hint}` has no T.init() to decompose")
    pairs = list(zip(blk.iter_vars, realize.iter_values))
    bad = [iv.var.name for iv, _ in pairs if iv.iter_type not in (SPATIAL, REDUCE)]
    if bad:
        raise ScheduleError(f"{what}: block `{blk.name_hint}` has iterators {bad} that are "
                            "neither spatial nor reduction")
    reduce_loop_vars = vars_of(tuple(v for iv, v in pairs if iv.iter_type == REDUCE))
    for outer in loops[:index]:
        if outer.loop_var in reduce_loop_vars:
            raise ScheduleError(
                f"{what}: loop `{loops[index].loop_var.name}` is inside loop "
                f"`{outer.loop_var.name}`, which is bound to a reduction iterator of block "
                f"`{blk.name_hint}`; the init must go above every reduction loop")
    # the init block: spatial iterators only, under copies of the loops its bindings use
    vmap: dict = {}
    init_ivs, init_values = [], []
    for iv, value in pairs:
        if iv.iter_type == SPATIAL:
            new = Var(f"{iv.var.name}_init", iv.var.dtype)
            vmap[iv.var] = new
            init_ivs.append(S.IterVar(new, iv.dom, SPATIAL))
            init_values.append(value)
    used = vars_of(tuple(init_values))
    kept = [l for l in loops[index:] if l.loop_var in used]
    lmap = {l.loop_var: Var(f"{l.loop_var.name}_init", l.loop_var.dtype) for l in kept}
    outer_vars = {l.loop_var for l in loops[:index]}
    allowed = outer_vars | set(lmap) | (vars_of(realize.predicate) - {l.loop_var for l in loops})
    init_block = with_regions(S.Block(
        fresh_block_name(sch.func, f"{blk.name_hint}_init"), tuple(init_ivs),
        body=substitute(blk.init, vmap)))
    body: S.Stmt = S.BlockRealize(
        tuple(substitute(v, lmap) for v in init_values),
        keep_predicate(realize.predicate, allowed, lmap), init_block)
    for l in reversed(kept):
        body = l.with_(loop_var=lmap[l.loop_var], min=substitute(l.min, lmap),
                       extent=substitute(l.extent, lmap), body=body)
    func = replace(sch.func, blk, blk.with_(init=None, reads=reads_without_init(blk)))
    sch.commit(insert_before(func, _relocate(func, loops[index].loop_var), body))
    return BlockRV(init_block.name_hint)


def _relocate(func, var: Var) -> Location:
    from .state import find_loop

    return find_loop(func, var)


# ---------------------------------------------------------------- rfactor


@register_primitive("rfactor")
def rfactor(sch: Schedule, loop: LoopRV, factor_axis: int = 0) -> BlockRV:
    """Make reduction loop ``loop`` spatial: partial results go to a new buffer ``<X>_rf``.

    The block becomes ``<name>_rf``, which reduces into ``X_rf`` (``X``'s shape with the
    extent of ``loop`` inserted at ``factor_axis``) with ``loop`` bound to a new spatial
    iterator; a write-back block keeping the original name then reduces ``X_rf`` over that
    iterator into ``X``, under copies of the loops its bindings need. Returns the rf block.
    ``loop`` must be bound only to reduction iterators of a reduction block (+ * max min).

    Before (``rfactor(ki, 0)``, ``k`` split into ``ko, ki``)::

        for i, ko, ki in T.grid(128, 32, 4):
            with T.block("B"):
                vi = T.axis.spatial(128, i)
                vk = T.axis.reduce(128, ko * 4 + ki)
                with T.init():
                    B[vi] = T.float32(0)
                B[vi] = B[vi] + A[vi, vk]

    After::

        B_rf = T.alloc_buffer((4, 128))
        for i, ko, ki in T.grid(128, 32, 4):
            with T.block("B_rf"):
                vki, vi, vko = T.axis.remap("SSR", [ki, i, ko])
                with T.init():
                    B_rf[vki, vi] = T.float32(0)
                B_rf[vki, vi] = B_rf[vki, vi] + A[vi, vko * 4 + vki]
        for i, ki in T.grid(128, 4):
            with T.block("B"):
                vki, vi = T.axis.remap("RS", [ki, i])
                with T.init():
                    B[vi] = T.float32(0)
                B[vi] = B[vi] + B_rf[vki, vi]
    """
    what = "rfactor"
    rf_loop: S.For = sch.get(loop)
    name = rf_loop.loop_var.name
    blocks = _blocks_under(rf_loop)
    if len(blocks) != 1:
        raise ScheduleError(f"{what}: loop `{name}` must contain exactly one block, it contains "
                            f"{len(blocks)}")
    loc, realize, loops, _ = block_and_loops(sch, BlockRV(blocks[0].name_hint), loop, what)
    blk: S.Block = loc.node
    info = reduction_info(blk, what)
    pairs = list(zip(blk.iter_vars, realize.iter_values))
    rv = rf_loop.loop_var
    spatial_vars = vars_of(tuple(v for iv, v in pairs if iv.iter_type == SPATIAL))
    reduce_vars = vars_of(tuple(v for iv, v in pairs if iv.iter_type == REDUCE))
    if rv in spatial_vars:
        raise ScheduleError(f"{what}: loop `{name}` is bound to a spatial iterator of block "
                            f"`{blk.name_hint}`; rfactor needs a loop bound only to reduction "
                            "iterators")
    if rv not in reduce_vars:
        raise ScheduleError(f"{what}: loop `{name}` is not bound to any reduction iterator of "
                            f"block `{blk.name_hint}`, so it is not a reduction loop")
    for l in loops:
        if l.loop_var in spatial_vars and l.loop_var in reduce_vars:
            raise ScheduleError(f"{what}: loop `{l.loop_var.name}` is bound to both spatial and "
                                f"reduction iterators of block `{blk.name_hint}`")
    ndim = len(info.indices)
    if not -(ndim + 1) <= factor_axis <= ndim:
        raise ScheduleError(f"{what}: factor_axis {factor_axis} is out of range for "
                            f"`{info.buffer.name}`, which has {ndim} dimensions (allowed: "
                            f"{-(ndim + 1)} to {ndim})")
    axis = factor_axis + ndim + 1 if factor_axis < 0 else factor_axis
    if not (isinstance(rf_loop.extent, E.IntImm) and isinstance(rf_loop.min, E.IntImm)):
        raise ScheduleError(f"{what}: loop `{name}` must have a constant range")
    scope = loc.enclosing_block()
    if scope is None:
        raise ScheduleError(f"{what}: block `{blk.name_hint}` is not inside a root block")

    rf_buf = Buffer(f"{info.buffer.name}_rf", info.buffer.dtype,
                    info.buffer.shape[:axis] + (rf_loop.extent,) + info.buffer.shape[axis:],
                    scope=info.buffer.scope)
    rf_block, rf_values = _rf_block(sch, blk, pairs, info, rf_loop, rf_buf, axis, loops)
    wb_nest = _write_back(blk, realize, pairs, info, rf_loop, rf_buf, axis, loops)

    rf_realize = S.BlockRealize(tuple(rf_values), realize.predicate, rf_block)
    func = replace(sch.func, realize, rf_realize)
    top = _relocate(func, loops[0].loop_var)
    func = replace(func, top.node, S.SeqStmt((top.node, wb_nest)))
    scope_loc = find_block(func, scope.name_hint)
    func = replace(func, scope_loc.node,
                   scope_loc.node.with_(alloc_buffers=scope_loc.node.alloc_buffers + (rf_buf,)))
    sch.commit(_flatten_seqs(func))
    return BlockRV(rf_block.name_hint)


def _blocks_under(stmt: S.Stmt) -> list[S.Block]:
    found: list[S.Block] = []
    post_order_visit(stmt, lambda n: found.append(n) if isinstance(n, S.Block) else None)
    return found


def _loop_range(l: S.For) -> Range:
    return Range(l.min, l.extent)


def _rf_block(sch, blk, pairs, info, rf_loop, rf_buf, axis, loops):
    rv = rf_loop.loop_var
    extra = S.IterVar(Var(f"v{rv.name}", rv.dtype), _loop_range(rf_loop), SPATIAL)
    ivs, values = [extra], [rv]
    loop_map: dict = {rv: extra.var}
    var_map: dict = {}
    by_var = {l.loop_var: l for l in loops}
    for iv, value in pairs:
        if iv.iter_type == SPATIAL or rv not in vars_of(value):
            ivs.append(iv)
            values.append(value)
            continue
        for lv in _ordered_vars(value):
            if lv is rv or lv in loop_map or lv not in by_var:
                continue
            new = S.IterVar(Var(f"v{lv.name}", lv.dtype), _loop_range(by_var[lv]), REDUCE)
            loop_map[lv] = new.var
            ivs.append(new)
            values.append(lv)
        var_map[iv.var] = substitute(value, loop_map)
    idx = tuple(substitute(i, var_map) for i in info.indices)
    rf_idx = idx[:axis] + (extra.var - rf_loop.min if not _is_zero(rf_loop.min) else extra.var,) \
        + idx[axis:]
    load = BufferLoad(rf_buf, rf_idx)
    body = S.BufferStore(rf_buf, info.reducer.combine(load, substitute(info.rhs, var_map)), rf_idx)
    init = S.BufferStore(rf_buf, blk.init.value, rf_idx)
    block = with_regions(S.Block(fresh_block_name(sch.func, f"{blk.name_hint}_rf"), tuple(ivs),
                                 init=init, body=body, annotations=blk.annotations))
    return block, values


def _is_zero(e: PrimExpr) -> bool:
    return isinstance(e, E.IntImm) and e.value == 0


def _ordered_vars(e: PrimExpr) -> list[Var]:
    out: list[Var] = []
    post_order_visit(e, lambda n: out.append(n) if isinstance(n, Var) and n not in out else None)
    return out


def _write_back(blk, realize, pairs, info, rf_loop, rf_buf, axis, loops) -> S.Stmt:
    rv = rf_loop.loop_var
    extra = S.IterVar(Var(f"v{rv.name}", rv.dtype), _loop_range(rf_loop), REDUCE)
    ivs, values = [extra], [rv]
    var_map: dict = {}
    for iv, value in pairs:
        if iv.iter_type == SPATIAL:
            new = S.IterVar(Var(iv.var.name, iv.var.dtype), iv.dom, SPATIAL)
            var_map[iv.var] = new.var
            ivs.append(new)
            values.append(value)
    idx = tuple(substitute(i, var_map) for i in info.indices)
    rf_idx = idx[:axis] + (extra.var - rf_loop.min if not _is_zero(rf_loop.min) else extra.var,) \
        + idx[axis:]
    body = S.BufferStore(info.buffer, info.reducer.combine(BufferLoad(info.buffer, idx),
                                                           BufferLoad(rf_buf, rf_idx)), idx)
    init = S.BufferStore(info.buffer, blk.init.value, idx)
    block = with_regions(S.Block(blk.name_hint, tuple(ivs), init=init, body=body))
    used = vars_of(tuple(values))
    kept = [l for l in loops if l.loop_var in used]
    lmap = {l.loop_var: Var(l.loop_var.name, l.loop_var.dtype) for l in kept}
    loop_vars = {l.loop_var for l in loops}
    allowed = set(lmap) | (vars_of(realize.predicate) - loop_vars)
    pred = _slot_predicate(realize.predicate, [l for l in loops if l not in kept], loops,
                           f"`{rf_buf.name}`")
    stmt: S.Stmt = S.BlockRealize(tuple(substitute(v, lmap) for v in values),
                                  keep_predicate(pred, allowed, lmap), block)
    for l in reversed(kept):
        stmt = l.with_(loop_var=lmap[l.loop_var], min=substitute(l.min, lmap),
                       extent=substitute(l.extent, lmap), body=stmt)
    return stmt


def _slot_predicate(pred: PrimExpr, dropped: list[S.For], loops: list[S.For],
                    what: str) -> PrimExpr:
    """Which slots of the rf buffer the rf block initialises: ``pred`` at the first iteration
    of the loops the write-back drops (the rf block's init runs there).

    The write-back must not read a slot the predicate masks entirely (it would be read
    uninitialised). Each conjunct is evaluated at the dropped loops' minimum, which is exact
    when the conjunct holding anywhere implies it holds there (``k_0 * 3 + k_1 < 12`` holds
    for some ``k_1`` iff ``k_0 * 3 < 12``); otherwise a slot could also be updated without its
    init, so rfactor is refused.
    """
    mins = {l.loop_var: l.min for l in dropped}
    ana = Analyzer()
    for l in loops:
        ana.bind(l.loop_var, _loop_range(l))
    out = []
    for c in conjuncts(pred):
        if not vars_of(c) & set(mins):
            out.append(c)
            continue
        at_min = substitute(c, mins)
        if vars_of(at_min) & set(mins) or not _holds_at_min(c, mins, ana):
            raise ScheduleError(
                f"rfactor: the predicate `{c.script()}` may skip the first iteration of loops "
                f"{[l.loop_var.name for l in dropped]} while later ones run, so slots of {what} "
                "could be updated without being initialised")
        out.append(ana.simplify(at_min))
    return all_of(out)


def _holds_at_min(cond: PrimExpr, mins: dict, ana: Analyzer) -> bool:
    """``cond`` (an ordering) implies itself with ``mins`` substituted: its smaller side does
    not grow and its larger side does not shrink there."""
    if isinstance(cond, (E.LT, E.LE)):
        small, big = cond.a, cond.b
    elif isinstance(cond, (E.GT, E.GE)):
        small, big = cond.b, cond.a
    else:
        return False
    return (ana.can_prove(E.LE(substitute(small, mins), small))
            and ana.can_prove(E.GE(substitute(big, mins), big)))


def _flatten_seqs(func):
    from ..ir.functor import Mutator

    class _Flat(Mutator):
        def visit_SeqStmt(self, s: S.SeqStmt) -> S.Stmt:
            s = self.generic_visit(s)
            if any(isinstance(x, S.SeqStmt) for x in s.seq):
                return S.seq(*s.seq)
            return s

    return _Flat().visit(func)


__all__ = ["Reducer", "ReductionInfo", "decompose_reduction", "reduction_info", "rfactor"]
