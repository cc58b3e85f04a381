"""``blockize``: wrap the loops under a loop, with their block, into a new outer block.

Each binding of the inner block is divided between the loops outside ``loop`` (*outer*) and the
loops from ``loop`` down (*inner*): ``binding = offset + outer * E + inner`` with ``inner`` in
``[0, E)``. The outer block gets one iterator per binding that uses outer loops (kind copied
from the inner iterator); the inner block gets fresh iterators over the inner parts, and its
body reads ``vi -> vi_o * E + vi_i``. The outer block's regions are the inner ones relaxed over
the inner loops. A reduction's ``T.init()`` moves to the outer block as a loop nest over the
inner spatial iterators (TVM's behaviour), so the inner block is a pure update — the shape
tensorize matches against.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..analysis.access_region import reads_without_init
from ..arith import Analyzer
from ..arith.linear import to_linear
from ..ir import stmt as S
from ..ir.expr import IntImm, PrimExpr, Range, Var, const
from ..ir.functor import Mutator, substitute
from ..ir.region_cover import widen_to_cover
from .errors import ScheduleError
from .handles import BlockRV, LoopRV
from .reduction import SPATIAL, all_of, conjuncts, vars_of, with_regions
from .schedule import Schedule, register_primitive
from .state import fresh_block_name, replace


@register_primitive("blockize")
def blockize(sch: Schedule, loop: LoopRV, preserve_unit_iters: bool = True) -> BlockRV:
    """Make the subtree under ``loop`` (one block and its loops) a new block ``<name>_o``.

    Returns the outer block. The inner block keeps its name; its bindings become the inner
    loops' part, its body uses ``outer * extent + inner`` for each iterator.

    Before (``blockize(i_1)``)::

        for i_0, j_0, i_1, j_1 in T.grid(8, 8, 16, 16):
            with T.block("B"):
                vi = T.axis.spatial(128, i_0 * 16 + i_1)
                vj = T.axis.spatial(128, j_0 * 16 + j_1)
                B[vi, vj] = A[vi, vj] * T.float32(2)

    After::

        for i_0, j_0 in T.grid(8, 8):
            with T.block("B_o"):
                vi_o, vj_o = T.axis.remap("SS", [i_0, j_0])
                T.reads(A[vi_o * 16:vi_o * 16 + 16, vj_o * 16:vj_o * 16 + 16])
                T.writes(B[vi_o * 16:vi_o * 16 + 16, vj_o * 16:vj_o * 16 + 16])
                for i_1, j_1 in T.grid(16, 16):
                    with T.block("B"):
                        vi_i, vj_i = T.axis.remap("SS", [i_1, j_1])
                        B[vi_o * 16 + vi_i, vj_o * 16 + vj_i] = A[...] * T.float32(2)
    """
    what = "blockize"
    loc = sch.loc(loop)
    top: S.For = loc.node
    if not isinstance(top, S.For):
        raise ScheduleError(f"{what}: expected a loop, got {loop!r}")
    name = top.loop_var.name
    inner_loops, realize = _single_block_nest(top, name)
    blk = realize.block
    outer_loops = loc.loops()
    inner_set = {l.loop_var for l in inner_loops}
    ana = Analyzer()
    for l in outer_loops + inner_loops:
        ana.bind(l.loop_var, Range(l.min, l.extent))
    outer_ivs, outer_values, inner_ivs, inner_values = [], [], [], []
    subst: dict = {}
    outer_of_loop: dict = {}
    for iv, value in zip(blk.iter_vars, realize.iter_values):
        parts = _divide(value, iv, inner_set, ana)
        if parts is None:
            raise ScheduleError(
                f"{what}: the binding `{value!r}` of iterator `{iv.var.name}` of block "
                f"`{blk.name_hint}` mixes loops inside and outside loop `{name}` in a way that "
                "cannot be divided into an outer and an inner part")
        offset, outer, outer_dom, inner, inner_dom = parts
        expr: PrimExpr = offset
        if outer is not None:
            ov = Var(f"{iv.var.name}_o", iv.var.dtype)
            outer_ivs.append(S.IterVar(ov, outer_dom, iv.iter_type))
            outer_values.append(outer)
            if isinstance(outer, Var):
                outer_of_loop[outer] = ov
            term = ov * inner_dom.extent if inner is not None else ov
            expr = term if _is_zero(expr) else expr + term
        if inner is not None:
            nv = Var(f"{iv.var.name}_i", iv.var.dtype)
            inner_ivs.append(S.IterVar(nv, inner_dom, iv.iter_type))
            inner_values.append(inner)
            expr = nv if _is_zero(expr) else expr + nv
        subst[iv.var] = expr
    rewrite = _rewriter(subst, outer_ivs + inner_ivs)
    # the predicate: outer-only conjuncts go to the outer block, the rest stays inside
    outer_pred, inner_pred = [], []
    for c in conjuncts(realize.predicate):
        used = vars_of(c)
        if not used & inner_set:
            outer_pred.append(c)
            continue
        c = substitute(c, outer_of_loop)
        leaking = used & {l.loop_var for l in outer_loops} - set(outer_of_loop)
        if leaking:
            raise ScheduleError(
                f"{what}: the T.where of block `{blk.name_hint}` uses loop "
                f"`{min(v.name for v in leaking)}` outside loop `{name}` together with "
                "loops inside it, and it is not bound to an outer iterator")
        inner_pred.append(c)
    inner_block = blk.with_(iter_vars=tuple(inner_ivs), init=None, body=rewrite(blk.body),
                            reads=rewrite(reads_without_init(blk)), writes=rewrite(blk.writes),
                            match_buffers=rewrite(blk.match_buffers))
    init = None
    if blk.init is not None:
        init = _outer_init(sch, blk, inner_ivs, inner_values, rewrite, inner_pred)
    new_inner: S.Stmt = S.BlockRealize(tuple(inner_values), all_of(inner_pred), inner_block)
    for l in reversed(inner_loops):
        new_inner = l.with_(body=new_inner)
    outer_block = widen_to_cover(with_regions(S.Block(
        fresh_block_name(sch.func, f"{blk.name_hint}_o"), tuple(outer_ivs), init=init,
        body=new_inner)))
    outer = S.BlockRealize(tuple(outer_values), all_of(outer_pred), outer_block)
    sch.commit(replace(sch.func, top, outer))
    return BlockRV(outer_block.name_hint)


def _rewriter(subst: dict, ivs: list[S.IterVar]) -> Callable[[Any], Any]:
    """Substitute the iterator map, then simplify each ``//`` and ``%`` with the iterators'
    domains, so a transformed layout's ``(vj_o * 16 + vj_i) // 16`` reads ``vj_o`` and the
    outer block's regions stay provable (verify cannot see through the division)."""
    ana = Analyzer()
    for iv in ivs:
        ana.bind(iv.var, iv.dom)
    return lambda node: _SimplifyDivMod(ana).visit(substitute(node, subst))


class _SimplifyDivMod(Mutator):
    def __init__(self, ana: Analyzer) -> None:
        self.ana = ana

    def visit_FloorDiv(self, e: PrimExpr) -> PrimExpr:
        return self.ana.simplify(self.generic_visit(e))

    visit_FloorMod = visit_FloorDiv


def _single_block_nest(top: S.For, name: str) -> tuple[list[S.For], S.BlockRealize]:
    """The loops from ``top`` down to its one block, or ScheduleError."""
    loops: list[S.For] = []
    stmt: S.Stmt = top
    while isinstance(stmt, S.For):
        loops.append(stmt)
        stmt = stmt.body
    if not isinstance(stmt, S.BlockRealize):
        raise ScheduleError(f"blockize: the loops from `{name}` down must be a perfect nest over "
                            f"exactly one block; found a {type(stmt).__name__} instead")
    return loops, stmt


def _divide(value: PrimExpr, iv: S.IterVar, inner: set[Var], ana: Analyzer):
    """``(offset, outer, outer_dom, inner, inner_dom)`` with
    ``value = offset + outer * inner_dom.extent + inner``; a missing part is None."""
    used = vars_of(value)
    dt = value.dtype
    zero = const(0, dt)
    if not used & inner:
        return zero, value, iv.dom, None, None
    if not used - inner:
        return zero, None, None, value, iv.dom
    form = to_linear(value)
    inner_terms = {t: c for t, c in form.terms.items() if vars_of(t) & inner}
    outer_terms = {t: c for t, c in form.terms.items() if t not in inner_terms}
    if any(vars_of(t) - inner for t in inner_terms):
        return None
    inner_expr = _sum(inner_terms, dt)
    ib = ana.const_int_bound(inner_expr)
    extent = ib.max - ib.min + 1
    if any(c % extent for c in outer_terms.values()):
        return None
    outer_expr = _sum({t: c // extent for t, c in outer_terms.items()}, dt)
    ob = ana.const_int_bound(outer_expr)
    if ob.min < 0:
        return None
    offset = const(form.constant + ib.min, dt)
    inner_value = ana.simplify(inner_expr - ib.min) if ib.min else inner_expr
    return (offset, outer_expr, Range(zero, const(ob.max + 1, dt)), inner_value,
            Range(zero, const(extent, dt)))


def _sum(terms: dict, dt) -> PrimExpr:
    out: PrimExpr | None = None
    for t, c in terms.items():
        term = t if c == 1 else t * const(c, dt)
        out = term if out is None else out + term
    return out if out is not None else const(0, dt)


def _outer_init(sch: Schedule, blk: S.Block, inner_ivs: list[S.IterVar],
                inner_values: list[PrimExpr], rewrite: Callable[[Any], Any],
                inner_pred: list[PrimExpr]) -> S.Stmt:
    """The inner init as a loop nest over the inner spatial iterators, in block ``<name>_init``.

    It keeps the parts of the inner ``T.where`` that speak about spatial loops only (an uneven
    split's bound), so it initialises exactly the elements the update reduces into.
    """
    spatial = [(iv, v) for iv, v in zip(inner_ivs, inner_values) if iv.iter_type == SPATIAL]
    loops = [Var(f"{v.name}_init" if isinstance(v, Var) else f"{iv.var.name}_init", iv.var.dtype)
             for iv, v in spatial]
    direct = {v: l for (_, v), l in zip(spatial, loops) if isinstance(v, Var)}
    reduce_loops = vars_of(tuple(v for iv, v in zip(inner_ivs, inner_values)
                                 if iv.iter_type != SPATIAL))
    spatial_loops = vars_of(tuple(v for _, v in spatial))
    init_pred = []
    for c in inner_pred:
        used = vars_of(c)
        if used & reduce_loops:
            continue
        if (used & spatial_loops) - set(direct):
            raise ScheduleError(
                f"blockize: the T.where of block `{blk.name_hint}` constrains spatial loops that "
                "are not bound directly to iterators, so the init cannot be moved out with it")
        init_pred.append(substitute(c, direct))
    new_ivs = [S.IterVar(Var(f"{iv.var.name}_init", iv.var.dtype), iv.dom, SPATIAL)
               for iv, _ in spatial]
    rename = {iv.var: n.var for (iv, _), n in zip(spatial, new_ivs)}
    body = substitute(rewrite(blk.init), rename)
    init_block = with_regions(S.Block(fresh_block_name(sch.func, f"{blk.name_hint}_init"),
                                      tuple(new_ivs), body=body))
    stmt: S.Stmt = S.BlockRealize(tuple(loops), all_of(init_pred), init_block)
    for var, (iv, _) in reversed(list(zip(loops, spatial))):
        stmt = S.For(var, iv.dom.min, iv.dom.extent, body=stmt)
    return stmt


def _is_zero(e: PrimExpr) -> bool:
    return isinstance(e, IntImm) and e.value == 0


def _is_one(e: PrimExpr) -> bool:
    return isinstance(e, IntImm) and e.value == 1


__all__ = ["blockize"]
