"""Region and bound inference shared by schedule primitives (and the tuner).

The question every "move a computation" primitive asks: when a block runs for every iteration of
some loops, which part of each buffer does it touch? Answer: take the block's read or write
regions, replace its iterators by their bindings, and relax each index over the ranges of the
loop variables that vary (the loops between a target position and the block). What stays fixed
(outer loop variables) stays symbolic. Example, the consumer of ``B`` tiled by 32::

    for i0 in range(4):                   # fixed
        for i1 in range(32):              # relaxed
            with T.block("C"):
                vi = T.axis.spatial(128, i0 * 32 + i1)
                C[vi] = B[vi] + 1

    block_regions(realize_C, relax=[loop_i1], reads=True)[B]   # B[i0 * 32:i0 * 32 + 32]

Intervals are inclusive ``(lo, hi)`` pairs of expressions (``None`` when nothing is known, which
means "the whole dimension"). Linear index expressions are relaxed exactly term by term; floor
division and modulo by a positive constant, ``min`` and ``max`` are relaxed monotonically; any
other term that depends on a relaxed variable falls back to its constant bound.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import ExitStack

from ..arith import Analyzer, from_linear, to_linear
from ..ir import expr as E
from ..ir import stmt as S
from ..ir.buffer import Buffer, BufferRegion
from ..ir.expr import IntImm, PrimExpr, Range, Var, binary, const
from ..ir.functor import Visitor, substitute
from ..ir.structural import structural_equal

Interval = tuple[PrimExpr, PrimExpr]  # inclusive bounds

__all__ = [
    "Interval", "block_regions", "bound_loops", "clamp_to_buffer", "relax_expr", "relax_region",
    "to_range", "union_interval", "uses_vars",
]


# ---------------------------------------------------------------- expressions


def uses_vars(expr: PrimExpr, variables: set[Var] | dict) -> bool:
    """Whether ``expr`` mentions any of ``variables``."""
    if not variables:
        return False
    found = False

    class _Find(Visitor):
        def visit_Var(self, v: Var) -> None:
            nonlocal found
            found = found or v in variables

    _Find().visit(expr)
    return found


def relax_expr(expr: PrimExpr, dom: dict[Var, Range], ana: Analyzer | None = None) -> Interval | None:
    """The inclusive interval ``expr`` covers while each variable in ``dom`` ranges over its Range.

    Variables not in ``dom`` stay symbolic. A range may depend on other relaxed variables (a loop
    whose min is an outer relaxed loop); such bounds are relaxed again until they are free of them.
    Returns ``None`` when no finite interval is known.
    """
    ana = ana or Analyzer()
    interval = _relax(expr, dom, ana)
    for _ in range(len(dom)):
        if interval is None or not (uses_vars(interval[0], dom) or uses_vars(interval[1], dom)):
            break
        lo, hi = _relax(interval[0], dom, ana), _relax(interval[1], dom, ana)
        interval = (lo[0], hi[1]) if lo and hi else None
    if interval is None or uses_vars(interval[0], dom) or uses_vars(interval[1], dom):
        return None
    return ana.simplify(interval[0]), ana.simplify(interval[1])


def _relax(expr: PrimExpr, dom: dict[Var, Range], ana: Analyzer) -> Interval | None:
    if not uses_vars(expr, dom):
        return expr, expr
    if not expr.dtype.is_integer or expr.dtype.lanes != 1:
        return None
    form = to_linear(expr)
    lo = hi = const(form.constant, expr.dtype)
    for term, coeff in form.terms.items():
        part = _relax_term(term, dom, ana)
        if part is None:
            return None
        a, b = _scale(part[0], coeff), _scale(part[1], coeff)
        if coeff < 0:
            a, b = b, a
        lo, hi = lo + a, hi + b
    return _canon(lo), _canon(hi)


def _relax_term(term: PrimExpr, dom: dict[Var, Range], ana: Analyzer) -> Interval | None:
    if not uses_vars(term, dom):
        return term, term
    if isinstance(term, Var):
        r = dom[term]
        return r.min, _canon(r.min + r.extent - 1)
    if isinstance(term, E.FloorDiv) and _positive_const(term.b):
        a = _relax(term.a, dom, ana)
        return (_canon_div(a[0], term.b), _canon_div(a[1], term.b)) if a else None
    if isinstance(term, E.FloorMod) and _positive_const(term.b):
        a = _relax(term.a, dom, ana)
        if a and ana.can_prove_equal(_canon_div(a[0], term.b), _canon_div(a[1], term.b)):
            return ana.simplify(binary(E.FloorMod, a[0], term.b)), ana.simplify(binary(E.FloorMod, a[1], term.b))
        return const(0, term.dtype), const(term.b.value - 1, term.dtype)
    if isinstance(term, (E.Min, E.Max)):
        a, b = _relax(term.a, dom, ana), _relax(term.b, dom, ana)
        if a and b:
            return binary(type(term), a[0], b[0]), binary(type(term), a[1], b[1])
        return None
    return _const_fallback(term, dom, ana)


def _const_fallback(term: PrimExpr, dom: dict[Var, Range], ana: Analyzer) -> Interval | None:
    """Constant bounds of a term no rule handles, with the relaxed variables bound to their ranges."""
    with ExitStack() as stack:
        for var, r in dom.items():
            lo = relax_expr(r.min, {k: v for k, v in dom.items() if k is not var}, ana)
            if lo is None:
                return None
            lo_min, hi_max = ana.const_int_bound(lo[0]).min, ana.const_int_bound(lo[1]).max
            ext = ana.const_int_bound(r.extent).max
            stack.enter_context(ana.binding(var, Range(const(lo_min, var.dtype),
                                                       const(hi_max + ext - lo_min, var.dtype))))
        bound = ana.const_int_bound(term)
    full = Analyzer.dtype_bound(term.dtype)
    if bound.min <= full.min or bound.max >= full.max:
        return None
    return const(bound.min, term.dtype), const(bound.max, term.dtype)


def _positive_const(e: PrimExpr) -> bool:
    return isinstance(e, IntImm) and e.value > 0


def _scale(e: PrimExpr, c: int) -> PrimExpr:
    return e if c == 1 else e * c


def _canon(e: PrimExpr) -> PrimExpr:
    return from_linear(to_linear(e)) if e.dtype.is_integer and e.dtype.lanes == 1 else e


def _canon_div(e: PrimExpr, d: IntImm) -> PrimExpr:
    if isinstance(e, IntImm):
        return const(e.value // d.value, e.dtype)
    return binary(E.FloorDiv, e, d)


def union_interval(a: Interval | None, b: Interval | None, ana: Analyzer | None = None) -> Interval | None:
    """The smallest interval holding both (``None``, the whole dimension, absorbs)."""
    if a is None or b is None:
        return None
    ana = ana or Analyzer()
    return _pick(a[0], b[0], E.Min, ana), _pick(a[1], b[1], E.Max, ana)


def _pick(x: PrimExpr, y: PrimExpr, cls: type, ana: Analyzer) -> PrimExpr:
    if structural_equal(x, y):
        return x
    if x.dtype.is_integer and x.dtype == y.dtype:
        diff = to_linear(x).minus(to_linear(y))  # index arithmetic: offsets do not wrap
        if diff.is_const:
            smaller = x if diff.constant <= 0 else y
            return smaller if cls is E.Min else (y if smaller is x else x)
    first_smaller = ana.can_prove(x <= y)
    if cls is E.Min:
        if first_smaller or ana.can_prove(y >= x):
            return x
        if ana.can_prove(y <= x):
            return y
    else:
        if ana.can_prove(y <= x):
            return x
        if first_smaller:
            return y
    return ana.simplify(binary(cls, x, y))


# ---------------------------------------------------------------- regions


def relax_region(region: BufferRegion, dom: dict[Var, Range], ana: Analyzer | None = None,
                 vmap: dict | None = None) -> list[Interval | None]:
    """Per dimension, the interval ``region`` covers (after substituting ``vmap``) over ``dom``."""
    ana = ana or Analyzer()
    out: list[Interval | None] = []
    for r in region.region:
        lo = substitute(r.min, vmap or {})
        last = substitute(r.min + r.extent - 1, vmap or {}) if not _is_one(r.extent) else lo
        a, b = relax_expr(lo, dom, ana), relax_expr(last, dom, ana)
        out.append((a[0], b[1]) if a and b else None)
    return out


def clamp_to_buffer(intervals: Sequence[Interval | None], buffer: Buffer,
                    ana: Analyzer | None = None) -> list[Interval]:
    """Intervals cut to the buffer's shape (``None`` becomes the whole dimension)."""
    ana = ana or Analyzer()
    out: list[Interval] = []
    for dim, iv in enumerate(intervals):
        extent = buffer.shape[dim]
        zero, last = const(0, extent.dtype), ana.simplify(extent - 1)
        if iv is None:
            out.append((zero, last))
            continue
        lo, hi = iv
        if not ana.can_prove(lo >= 0):
            lo = ana.simplify(binary(E.Max, lo, zero))
        if not ana.can_prove(hi <= last):
            hi = ana.simplify(binary(E.Min, hi, last))
        out.append((lo, hi))
    return out


def to_range(iv: Interval, ana: Analyzer | None = None) -> Range:
    """``Range(lo, hi - lo + 1)`` with the extent simplified."""
    ana = ana or Analyzer()
    return Range(iv[0], ana.simplify(iv[1] - iv[0] + 1))


def bound_loops(ana: Analyzer, loops: Iterable[S.For]) -> Analyzer:
    """Bind each loop's variable to its range in ``ana`` (outer loops first); returns ``ana``."""
    for loop in loops:
        ana.bind(loop.loop_var, Range(loop.min, loop.extent))
    return ana


def block_regions(realize: S.BlockRealize, relax: Sequence[S.For] = (), *, reads: bool = True,
                  ana: Analyzer | None = None, clamp: bool = True,
                  buffers: set[Buffer] | None = None) -> dict[Buffer, BufferRegion]:
    """The regions of each buffer a block reads (``reads=True``) or writes, relaxed over ``relax``.

    ``relax`` are the loops whose iterations the result covers (typically the loops between a
    target loop and the block). Iterators are replaced by their bindings; several regions of one
    buffer are united; with ``clamp`` the result is cut to the buffer's shape. ``buffers``
    restricts the answer to those buffers.
    """
    ana = ana or Analyzer()
    block = realize.block
    vmap = {iv.var: v for iv, v in zip(block.iter_vars, realize.iter_values)}
    dom = {loop.loop_var: Range(loop.min, loop.extent) for loop in relax}
    found: dict[Buffer, list[Interval | None]] = {}
    for region in (block.reads if reads else block.writes):
        if buffers is not None and region.buffer not in buffers:
            continue
        dims = relax_region(region, dom, ana, vmap)
        old = found.get(region.buffer)
        found[region.buffer] = dims if old is None else [
            union_interval(a, b, ana) for a, b in zip(old, dims)]
    out = {}
    for buffer, dims in found.items():
        ivs = clamp_to_buffer(dims, buffer, ana) if clamp else [
            iv if iv is not None else (const(0, s.dtype), ana.simplify(s - 1))
            for iv, s in zip(dims, buffer.shape)]
        out[buffer] = BufferRegion(buffer, tuple(to_range(iv, ana) for iv in ivs))
    return out


def union_regions(a: BufferRegion, b: BufferRegion, ana: Analyzer | None = None) -> BufferRegion:
    """The smallest region of one buffer holding both."""
    ana = ana or Analyzer()
    dims = []
    for ra, rb in zip(a.region, b.region):
        ia = (ra.min, ana.simplify(ra.min + ra.extent - 1))
        ib = (rb.min, ana.simplify(rb.min + rb.extent - 1))
        dims.append(to_range(union_interval(ia, ib, ana), ana))
    return BufferRegion(a.buffer, tuple(dims))


def _is_one(e: PrimExpr) -> bool:
    return isinstance(e, IntImm) and e.value == 1


__all__ += ["union_regions"]
