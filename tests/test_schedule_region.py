"""Region and bound inference (tvmscript/schedule/region.py)."""

from __future__ import annotations

import tvmscript
from tvmscript.arith import Analyzer
from tvmscript.ir import stmt as S
from tvmscript.ir.buffer import Buffer, BufferRegion
from tvmscript.ir.expr import IntImm, Range, Var, const
from tvmscript.ir.structural import structural_equal
from tvmscript.schedule.region import (
    block_regions,
    bound_loops,
    clamp_to_buffer,
    relax_expr,
    relax_region,
    union_interval,
    union_regions,
)
from tvmscript.schedule.state import walk


def R(lo, ext):
    return Range.from_min_extent(lo, ext)


def same(a, b) -> bool:
    return structural_equal(a, b)


def ints(iv):
    return tuple(x.value for x in iv)


i, a, b = Var("i"), Var("a"), Var("b")


def test_linear_relax_keeps_fixed_variables_symbolic():
    lo, hi = relax_expr(i * 32 + a, {a: R(0, 32)})
    assert same(lo, i * 32) and same(hi, i * 32 + 31)


def test_negative_coefficient_swaps_bounds():
    lo, hi = relax_expr(i * 4 - a * 2, {a: R(0, 8)})
    assert same(lo, i * 4 - 14) and same(hi, i * 4)


def test_constant_interval():
    assert ints(relax_expr(a + b * 3, {a: R(0, 3), b: R(0, 14)})) == (0, 41)


def test_floordiv_and_floormod():
    ana = Analyzer()
    ana.bind(i, R(0, 4))
    lo, hi = relax_expr((i * 32 + a) // 4, {a: R(0, 32)}, ana)
    assert same(lo, i * 8) and same(hi, i * 8 + 7)
    assert ints(relax_expr((i * 32 + a) % 8, {a: R(0, 32)}, ana)) == (0, 7)
    assert ints(relax_expr(a % 16, {a: R(0, 4)})) == (0, 3)


def test_range_depending_on_relaxed_variable():
    lo, hi = relax_expr(a + b, {a: R(i * 4, 4), b: R(0, 2)})
    assert same(lo, i * 4) and same(hi, i * 4 + 4)
    assert ints(relax_expr(b, {a: R(0, 4), b: R(a * 2, 2)})) == (0, 7)


def test_min_max_and_fallback():
    from tvmscript.ir.expr import Max, binary

    lo, hi = relax_expr(binary(Max, a - 1, const(0)), {a: R(0, 16)})
    assert ints((Analyzer().simplify(lo), Analyzer().simplify(hi))) == (0, 14)
    assert ints(relax_expr((a * b) % 7, {a: R(0, 4), b: R(0, 2)})) == (0, 3)


def test_unknown_gives_none():
    n = Var("n")
    assert relax_expr(a * n, {a: R(0, 4)}) is None


def test_union_and_clamp():
    buf = Buffer("X", "float32", (16,))
    ana = Analyzer()
    u = union_interval((i, i + 2), (i + 1, i + 5), ana)
    assert same(u[0], i) and same(u[1], i + 5)
    assert union_interval(None, (i, i), ana) is None
    ana.bind(i, R(0, 16))
    (lo, hi), = clamp_to_buffer([(i - 1, i + 1)], buf, ana)
    assert "max" in lo.script().lower() and "min" in hi.script().lower()
    (lo, hi), = clamp_to_buffer([None], buf, ana)
    assert ints((lo, hi)) == (0, 15)
    r = union_regions(BufferRegion(buf, (R(0, 4),)), BufferRegion(buf, (R(2, 8),)))
    assert ints((r.region[0].min, r.region[0].extent)) == (0, 10)


def test_relax_region_substitutes_bindings():
    buf = Buffer("X", "float32", (128,))
    v = Var("v")
    region = BufferRegion(buf, (R(v, 3),))
    (iv,) = relax_region(region, {a: R(0, 8)}, vmap={v: i * 8 + a})
    assert same(iv[0], i * 8) and same(iv[1], i * 8 + 9)


CONV = '''
@T.prim_func
def conv(X: T.Buffer((1, 8, 14, 14), "float32"), W: T.Buffer((16, 8, 3, 3), "float32"), Y: T.Buffer((1, 16, 14, 14), "float32")):
    Xp = T.alloc_buffer((1, 8, 16, 16), "float32")
    for n, c, h, w in T.grid(1, 8, 16, 16):
        with T.block("pad"):
            vn, vc, vh, vw = T.axis.remap("SSSS", [n, c, h, w])
            Xp[vn, vc, vh, vw] = T.if_then_else(1 <= vh and vh < 15 and 1 <= vw and vw < 15, X[vn, vc, vh - 1, vw - 1], T.float32(0))
    for n, k, h0, h1, w, c, r, s in T.grid(1, 16, 7, 2, 14, 8, 3, 3):
        with T.block("conv"):
            vn, vk = T.axis.remap("SS", [n, k])
            vh = T.axis.spatial(14, h0 * 2 + h1)
            vw, vc, vr, vs = T.axis.remap("SRRR", [w, c, r, s])
            with T.init():
                Y[vn, vk, vh, vw] = T.float32(0)
            Y[vn, vk, vh, vw] = Y[vn, vk, vh, vw] + Xp[vn, vc, vh + vr, vw + vs] * W[vk, vc, vr, vs]
'''


def _realize_and_loops(func, name):
    for loc in walk(func.body):
        if isinstance(loc.node, S.Block) and loc.node.name_hint == name:
            return loc.path[-2], [s for s in loc.path if isinstance(s, S.For)]
    raise KeyError(name)


def test_block_regions_of_a_tiled_consumer():
    func = tvmscript.from_source(CONV)
    realize, loops = _realize_and_loops(func, "conv")
    ana = bound_loops(Analyzer(), loops[:3])  # n, k, h0 fixed
    regions = block_regions(realize, loops[3:], ana=ana)
    xp = next(buf for buf in regions if buf.name == "Xp")
    (n_r, c_r, h_r, w_r) = regions[xp].region
    assert ints((c_r.min, c_r.extent)) == (0, 8)
    assert same(h_r.min, loops[2].loop_var * 2) and ints((h_r.extent,)) == (4,)
    assert ints((w_r.min, w_r.extent)) == (0, 16)
    writes = block_regions(realize, loops[3:], ana=ana, reads=False)
    (y,) = writes
    assert ints((writes[y].region[3].min, writes[y].region[3].extent)) == (0, 14)


def test_block_regions_clamps_to_the_buffer():
    text = '''
@T.prim_func
def f(A: T.Buffer((16,), "float32"), B: T.Buffer((16,), "float32")):
    for i in range(16):
        with T.block("B"):
            vi = T.axis.remap("S", [i])
            T.reads(A[vi - 1:vi + 2])
            T.writes(B[vi])
            B[vi] = A[T.max(vi - 1, 0)] + A[vi] + A[T.min(vi + 1, 15)]
'''
    func = tvmscript.from_source(text)
    realize, loops = _realize_and_loops(func, "B")
    regions = block_regions(realize, loops)
    (r,) = regions.values()
    assert ints((r.region[0].min, r.region[0].extent)) == (0, 16)
    raw = block_regions(realize, loops, clamp=False)
    (r,) = raw.values()
    assert ints((r.region[0].min, r.region[0].extent)) == (-1, 18)
    assert isinstance(r.region[0].extent, IntImm)
