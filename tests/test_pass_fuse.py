"""Operator fusion: ``annotate-op-pattern`` classifies kernels as TVM does, ``fuse-ops`` groups
kernel calls by TVM's rules into ``Primitive`` functions, ``fuse-tir`` merges each group into one
kernel; fused modules compute what the unfused ones compute."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tvmscript
from backends.build import build as build_unfused
from backends.signature import KernelSignature, unbound_shape_vars
from passes import PassContext
from passes.fuse_ops import MAX_DEPTH_KEY, fuse_ops
from passes.fuse_tir import FuseTIRError, fuse, fuse_tir
from passes.legalize_ops import legalize_ops
from passes.op_pattern import OpPattern, annotate_op_pattern, op_pattern


def module(*parts: str) -> tvmscript.IRModule:
    return tvmscript.from_source("@I.ir_module\nclass Module:\n" + "\n".join(parts))


def check(run, before: tvmscript.IRModule, expected: tvmscript.IRModule) -> None:
    after = run(before)
    tvmscript.verify(after)
    tvmscript.assert_structural_equal(after, expected)
    tvmscript.assert_structural_equal(tvmscript.from_source(after.script()), after)


def same_results(before: tvmscript.IRModule, after: tvmscript.IRModule, *args) -> None:
    """``after`` built as a model computes what ``before`` computes unfused (each kernel as
    legalized, no fusion, no schedule: ``tvmscript.build`` would fuse it too)."""
    expected = build_unfused(before)["main"](*args)
    got = tvmscript.build(after)["main"](*args)
    for e, g in zip(expected if isinstance(expected, tuple) else (expected,),
                    got if isinstance(got, tuple) else (got,)):
        np.testing.assert_allclose(g, e, rtol=1e-4, atol=1e-5)


rng = np.random.default_rng(0)


def randn(*shape: int) -> np.ndarray:
    return rng.standard_normal(shape).astype("float32")


# ---------------------------------------------------------------- op patterns

ROW_SUM = '''
    @T.prim_func(private=True)
    def row_sum(A: T.Buffer((4, 8), "float32"), B: T.Buffer((4,), "float32")):
        for i, k in T.grid(4, 8):
            with T.block("row_sum"):
                vi, vk = T.axis.remap("SR", [i, k])
                with T.init():
                    B[vi] = T.float32(0)
                B[vi] = B[vi] + A[vi, vk]
'''
PATTERN_KERNELS = {
    "dot_rows": (OpPattern.COMM_REDUCE, '''
    @T.prim_func
    def dot_rows(A: T.Buffer((4, 8), "float32"), B: T.Buffer((4, 8), "float32"), C: T.Buffer((4,), "float32")):
        for i, k in T.grid(4, 8):
            with T.block("C"):
                vi, vk = T.axis.remap("SR", [i, k])
                with T.init():
                    C[vi] = T.float32(0)
                C[vi] = C[vi] + A[vi, vk] * B[vi, vk]
'''),
    "mm": (OpPattern.OUT_EWISE_FUSABLE, '''
    @T.prim_func
    def mm(A: T.Buffer((4, 8), "float32"), B: T.Buffer((8, 4), "float32"), C: T.Buffer((4, 4), "float32")):
        for i, j, k in T.grid(4, 4, 8):
            with T.block("C"):
                vi, vj, vk = T.axis.remap("SSR", [i, j, k])
                with T.init():
                    C[vi, vj] = T.float32(0)
                C[vi, vj] = C[vi, vj] + A[vi, vk] * B[vk, vj]
'''),
    "pool": (OpPattern.OUT_EWISE_FUSABLE, '''
    @T.prim_func
    def pool(A: T.Buffer((8,), "float32"), C: T.Buffer((4,), "float32")):
        for i, k in T.grid(4, 2):
            with T.block("C"):
                vi, vk = T.axis.remap("SR", [i, k])
                with T.init():
                    C[vi] = T.float32(-1e30)
                C[vi] = T.max(C[vi], A[vi * 2 + vk])
'''),
    "sum_then_scale": (OpPattern.OUT_EWISE_FUSABLE, '''
    @T.prim_func
    def sum_then_scale(A: T.Buffer((4, 8), "float32"), C: T.Buffer((4,), "float32")):
        D = T.alloc_buffer((4,))
        for i, k in T.grid(4, 8):
            with T.block("D"):
                vi, vk = T.axis.remap("SR", [i, k])
                with T.init():
                    D[vi] = T.float32(0)
                D[vi] = D[vi] + A[vi, vk]
        for i in range(4):
            with T.block("C"):
                vi = T.axis.remap("S", [i])
                C[vi] = D[vi] * T.float32(2)
'''),
    "unit_dims": (OpPattern.ELEM_WISE, '''
    @T.prim_func
    def unit_dims(A: T.Buffer((1, 4), "float32"), B: T.Buffer((1, 4), "float32"), C: T.Buffer((1, 4), "float32")):
        for i, j in T.grid(1, 4):
            with T.block("C"):
                vi, vj = T.axis.remap("SS", [i, j])
                C[vi, vj] = A[0, vj] + B[0, vj]
'''),
    "fill": (OpPattern.ELEM_WISE, '''
    @T.prim_func
    def fill(C: T.Buffer((4,), "float32")):
        for i in range(4):
            with T.block("C"):
                vi = T.axis.remap("S", [i])
                C[vi] = T.float32(0)
'''),
    "transpose": (OpPattern.INJECTIVE, '''
    @T.prim_func
    def transpose(A: T.Buffer((4, 4), "float32"), C: T.Buffer((4, 4), "float32")):
        for i, j in T.grid(4, 4):
            with T.block("C"):
                vi, vj = T.axis.remap("SS", [i, j])
                C[vi, vj] = A[vj, vi]
'''),
    "bcast_row": (OpPattern.BROADCAST, '''
    @T.prim_func
    def bcast_row(A: T.Buffer((4,), "float32"), C: T.Buffer((4, 4), "float32")):
        for i, j in T.grid(4, 4):
            with T.block("C"):
                vi, vj = T.axis.remap("SS", [i, j])
                C[vi, vj] = A[vj]
'''),
    "plain_loops": (OpPattern.OPAQUE, '''
    @T.prim_func
    def plain_loops(A: T.Buffer((4,), "float32"), C: T.Buffer((4,), "float32")):
        for i in range(4):
            C[i] = A[i]
'''),
    "two_stores": (OpPattern.OPAQUE, '''
    @T.prim_func
    def two_stores(A: T.Buffer((4,), "float32"), C: T.Buffer((4,), "float32")):
        for i in range(4):
            with T.block("C"):
                vi = T.axis.remap("S", [i])
                C[vi] = A[vi]
                C[vi] = C[vi] + A[vi]
'''),
}


@pytest.mark.parametrize("name", sorted(PATTERN_KERNELS))
def test_op_pattern_of_kernels(name):
    kind, text = PATTERN_KERNELS[name]
    assert op_pattern(tvmscript.from_source(textwrap.dedent(text))) == kind


def graph(signature: str, body: str, ret: str = "") -> tvmscript.IRModule:
    ret = f" -> {ret}" if ret else ""
    text = f"@R.function\ndef main({signature}){ret}:\n    with R.dataflow():\n{body}\n" \
           "        R.output(gv)\n    return gv\n"
    return tvmscript.IRModule.from_function(tvmscript.from_source(text), "main")


@pytest.mark.parametrize("op, kind", [
    ("R.add(x, x)", OpPattern.ELEM_WISE),
    ("R.add(x, b)", OpPattern.ELEM_WISE),  # element-wise beside a broadcast input
    ("R.nn.gelu(x)", OpPattern.ELEM_WISE),
    ("R.permute_dims(x, axes=[1, 0])", OpPattern.INJECTIVE),
    ("R.reshape(x, R.shape([8, 4]))", OpPattern.INJECTIVE),
    ("R.sum(x, axis=[1])", OpPattern.COMM_REDUCE),
    ("R.matmul(x, w)", OpPattern.OUT_EWISE_FUSABLE),
    ("R.nn.softmax(x, axis=1)", OpPattern.OUT_EWISE_FUSABLE),
])
def test_annotate_legalized_operators(op, kind):
    mod = graph('x: R.Tensor((4, 8), "float32"), b: R.Tensor((8,), "float32"), '
                'w: R.Tensor((8, 8), "float32")', f"        gv = {op}")
    mod = annotate_op_pattern(legalize_ops(mod))
    (kernel,) = [f for f in mod.functions.values() if isinstance(f, tvmscript.PrimFunc)]
    assert kernel.attrs["op_pattern"] == kind


def test_annotate_keeps_a_given_pattern():
    func = tvmscript.from_source(textwrap.dedent(PATTERN_KERNELS["transpose"][1]))
    func = func.with_attr("op_pattern", 8)
    assert annotate_op_pattern(func).attrs["op_pattern"] == 8


# ---------------------------------------------------------------- conv2d + bias + relu

CONV = '''
    @T.prim_func(private=True)
    def conv2d(X: T.Buffer((1, 2, 5, 5), "float32"), W: T.Buffer((2, 2, 3, 3), "float32"), Y: T.Buffer((1, 2, 3, 3), "float32")):
        for n, k, p, q, c, r, s in T.grid(1, 2, 3, 3, 2, 3, 3):
            with T.block("conv2d"):
                vn, vk, vp, vq, vc, vr, vs = T.axis.remap("SSSSRRR", [n, k, p, q, c, r, s])
                with T.init():
                    Y[vn, vk, vp, vq] = T.float32(0)
                Y[vn, vk, vp, vq] = Y[vn, vk, vp, vq] + X[vn, vc, vp + vr, vq + vs] * W[vk, vc, vr, vs]

    @T.prim_func(private=True)
    def add_bias(A: T.Buffer((1, 2, 3, 3), "float32"), B: T.Buffer((1, 2, 1, 1), "float32"), C: T.Buffer((1, 2, 3, 3), "float32")):
        for n, k, p, q in T.grid(1, 2, 3, 3):
            with T.block("add_bias"):
                vn, vk, vp, vq = T.axis.remap("SSSS", [n, k, p, q])
                C[vn, vk, vp, vq] = A[vn, vk, vp, vq] + B[0, vk, 0, 0]

    @T.prim_func(private=True)
    def relu(A: T.Buffer((1, 2, 3, 3), "float32"), B: T.Buffer((1, 2, 3, 3), "float32")):
        for n, k, p, q in T.grid(1, 2, 3, 3):
            with T.block("relu"):
                vn, vk, vp, vq = T.axis.remap("SSSS", [n, k, p, q])
                B[vn, vk, vp, vq] = T.max(A[vn, vk, vp, vq], T.float32(0))
'''
CONV_SIG = ('x: R.Tensor((1, 2, 5, 5), "float32"), w: R.Tensor((2, 2, 3, 3), "float32"), '
            'b: R.Tensor((1, 2, 1, 1), "float32")')
CONV_MAIN = f'''
    @R.function
    def main({CONV_SIG}) -> R.Tensor((1, 2, 3, 3), "float32"):
        cls = Module
        with R.dataflow():
            y = R.call_tir(cls.conv2d, (x, w), out_sinfo=R.Tensor((1, 2, 3, 3), "float32"))
            z = R.call_tir(cls.add_bias, (y, b), out_sinfo=R.Tensor((1, 2, 3, 3), "float32"))
            gv = R.call_tir(cls.relu, (z,), out_sinfo=R.Tensor((1, 2, 3, 3), "float32"))
            R.output(gv)
        return gv
'''
CONV_GROUPED = f'''
    @R.function
    def main({CONV_SIG}) -> R.Tensor((1, 2, 3, 3), "float32"):
        cls = Module
        with R.dataflow():
            gv = cls.fused_conv2d_add_bias_relu(x, w, b)
            R.output(gv)
        return gv

    @R.function(private=True)
    def fused_conv2d_add_bias_relu({CONV_SIG}) -> R.Tensor((1, 2, 3, 3), "float32"):
        R.func_attr({{"Primitive": True}})
        cls = Module
        with R.dataflow():
            y = R.call_tir(cls.conv2d, (x, w), out_sinfo=R.Tensor((1, 2, 3, 3), "float32"))
            z = R.call_tir(cls.add_bias, (y, b), out_sinfo=R.Tensor((1, 2, 3, 3), "float32"))
            gv = R.call_tir(cls.relu, (z,), out_sinfo=R.Tensor((1, 2, 3, 3), "float32"))
            R.output(gv)
        return gv
'''
CONV_FUSED = f'''
    @R.function
    def main({CONV_SIG}) -> R.Tensor((1, 2, 3, 3), "float32"):
        cls = Module
        with R.dataflow():
            gv = R.call_tir(cls.fused_conv2d_add_bias_relu, (x, w, b), out_sinfo=R.Tensor((1, 2, 3, 3), "float32"))
            R.output(gv)
        return gv

    @T.prim_func(private=True)
    def fused_conv2d_add_bias_relu(x: T.Buffer((T.int64(1), T.int64(2), T.int64(5), T.int64(5)), "float32"), w: T.Buffer((T.int64(2), T.int64(2), T.int64(3), T.int64(3)), "float32"), b: T.Buffer((T.int64(1), T.int64(2), T.int64(1), T.int64(1)), "float32"), gv: T.Buffer((T.int64(1), T.int64(2), T.int64(3), T.int64(3)), "float32")):
        T.func_attr({{"tir.noalias": True}})
        y = T.alloc_buffer((T.int64(1), T.int64(2), T.int64(3), T.int64(3)), "float32")
        z = T.alloc_buffer((T.int64(1), T.int64(2), T.int64(3), T.int64(3)), "float32")
        for n, k, p, q, c, r, s in T.grid(1, 2, 3, 3, 2, 3, 3):
            with T.block("conv2d"):
                vn, vk, vp, vq, vc, vr, vs = T.axis.remap("SSSSRRR", [n, k, p, q, c, r, s])
                with T.init():
                    y[vn, vk, vp, vq] = T.float32(0)
                y[vn, vk, vp, vq] = y[vn, vk, vp, vq] + x[vn, vc, vp + vr, vq + vs] * w[vk, vc, vr, vs]
        for n, k, p, q in T.grid(1, 2, 3, 3):
            with T.block("add_bias"):
                vn, vk, vp, vq = T.axis.remap("SSSS", [n, k, p, q])
                z[vn, vk, vp, vq] = y[vn, vk, vp, vq] + b[vn, vk, 0, 0]
        for n, k, p, q in T.grid(1, 2, 3, 3):
            with T.block("relu"):
                vn, vk, vp, vq = T.axis.remap("SSSS", [n, k, p, q])
                gv[vn, vk, vp, vq] = T.max(z[vn, vk, vp, vq], T.float32(0))
'''


def test_conv2d_bias_relu_is_one_group():
    check(fuse_ops, module(CONV, CONV_MAIN), module(CONV, CONV_GROUPED))


def test_conv2d_bias_relu_is_one_kernel():
    # the bias is read at b[vn, vk, 0, 0]: the unit batch index is the block's own iterator
    check(fuse_tir, module(CONV, CONV_GROUPED), module(CONV_FUSED))
    before = module(CONV, CONV_MAIN)
    same_results(before, fuse(before), randn(1, 2, 5, 5), randn(2, 2, 3, 3), randn(1, 2, 1, 1))


def block_names(mod: tvmscript.IRModule) -> list[str]:
    names: list[str] = []
    tvmscript.ir.post_order_visit(mod, lambda n: names.append(n.name_hint)
                                  if isinstance(n, tvmscript.ir.Block) else None)
    return sorted(names)


@pytest.mark.parametrize("primitive, block, left", [
    ("compute_inline", "add_bias", ["conv2d", "relu", "root"]),
    ("reverse_compute_inline", "relu", ["add_bias", "conv2d", "root"]),
])
def test_fused_blocks_can_be_inlined(primitive, block, left):
    fused = fuse(module(CONV, CONV_MAIN))
    sch = tvmscript.Schedule(fused, func_name="fused_conv2d_add_bias_relu")
    getattr(sch, primitive)(sch.get_block(block))
    assert block_names(sch.mod) == left
    same_results(fused, sch.mod, randn(1, 2, 5, 5), randn(2, 2, 3, 3), randn(1, 2, 1, 1))


# ---------------------------------------------------------------- matmul + bias + gelu

MATMUL = '''
    @T.prim_func(private=True)
    def matmul(A: T.Buffer((4, 8), "float32"), B: T.Buffer((8, 4), "float32"), C: T.Buffer((4, 4), "float32")):
        for i, j, k in T.grid(4, 4, 8):
            with T.block("matmul"):
                vi, vj, vk = T.axis.remap("SSR", [i, j, k])
                with T.init():
                    C[vi, vj] = T.float32(0)
                C[vi, vj] = C[vi, vj] + A[vi, vk] * B[vk, vj]

    @T.prim_func(private=True)
    def add_row(A: T.Buffer((4, 4), "float32"), B: T.Buffer((4,), "float32"), C: T.Buffer((4, 4), "float32")):
        for i, j in T.grid(4, 4):
            with T.block("add_row"):
                vi, vj = T.axis.remap("SS", [i, j])
                C[vi, vj] = A[vi, vj] + B[vj]

    @T.prim_func(private=True)
    def gelu(A: T.Buffer((4, 4), "float32"), B: T.Buffer((4, 4), "float32")):
        for i, j in T.grid(4, 4):
            with T.block("gelu"):
                vi, vj = T.axis.remap("SS", [i, j])
                B[vi, vj] = T.float32(0.5) * A[vi, vj] * (T.float32(1) + T.erf(A[vi, vj] * T.float32(0.70710678)))
'''
MM_SIG = 'x: R.Tensor((4, 8), "float32"), w: R.Tensor((8, 4), "float32"), b: R.Tensor((4,), "float32")'
MM_CALLS = '''
            m = R.call_tir(cls.matmul, (x, w), out_sinfo=R.Tensor((4, 4), "float32"))
            a = R.call_tir(cls.add_row, (m, b), out_sinfo=R.Tensor((4, 4), "float32"))
            gv = R.call_tir(cls.gelu, (a,), out_sinfo=R.Tensor((4, 4), "float32"))
            R.output(gv)
        return gv
'''
MM_MAIN = f'''
    @R.function
    def main({MM_SIG}) -> R.Tensor((4, 4), "float32"):
        cls = Module
        with R.dataflow():{MM_CALLS}'''
MM_GROUPED = f'''
    @R.function
    def main({MM_SIG}) -> R.Tensor((4, 4), "float32"):
        cls = Module
        with R.dataflow():
            gv = cls.fused_matmul_add_row_gelu(x, w, b)
            R.output(gv)
        return gv

    @R.function(private=True)
    def fused_matmul_add_row_gelu({MM_SIG}) -> R.Tensor((4, 4), "float32"):
        R.func_attr({{"Primitive": True}})
        cls = Module
        with R.dataflow():{MM_CALLS}'''
MM_FUSED = f'''
    @R.function
    def main({MM_SIG}) -> R.Tensor((4, 4), "float32"):
        cls = Module
        with R.dataflow():
            gv = R.call_tir(cls.fused_matmul_add_row_gelu, (x, w, b), out_sinfo=R.Tensor((4, 4), "float32"))
            R.output(gv)
        return gv

    @T.prim_func(private=True)
    def fused_matmul_add_row_gelu(x: T.Buffer((T.int64(4), T.int64(8)), "float32"), w: T.Buffer((T.int64(8), T.int64(4)), "float32"), b: T.Buffer((T.int64(4),), "float32"), gv: T.Buffer((T.int64(4), T.int64(4)), "float32")):
        T.func_attr({{"tir.noalias": True}})
        m = T.alloc_buffer((T.int64(4), T.int64(4)), "float32")
        a = T.alloc_buffer((T.int64(4), T.int64(4)), "float32")
        for i, j, k in T.grid(4, 4, 8):
            with T.block("matmul"):
                vi, vj, vk = T.axis.remap("SSR", [i, j, k])
                with T.init():
                    m[vi, vj] = T.float32(0)
                m[vi, vj] = m[vi, vj] + x[vi, vk] * w[vk, vj]
        for i, j in T.grid(4, 4):
            with T.block("add_row"):
                vi, vj = T.axis.remap("SS", [i, j])
                a[vi, vj] = m[vi, vj] + b[vj]
        for i, j in T.grid(4, 4):
            with T.block("gelu"):
                vi, vj = T.axis.remap("SS", [i, j])
                gv[vi, vj] = T.float32(0.5) * a[vi, vj] * (T.float32(1) + T.erf(a[vi, vj] * T.float32(0.70710678)))
'''


def test_matmul_bias_gelu():
    check(fuse_ops, module(MATMUL, MM_MAIN), module(MATMUL, MM_GROUPED))
    check(fuse_tir, module(MATMUL, MM_GROUPED), module(MM_FUSED))
    before = module(MATMUL, MM_MAIN)
    same_results(before, fuse(before), randn(4, 8), randn(8, 4), randn(4))


def test_two_matmuls_never_share_a_group():
    mod = graph('x: R.Tensor((4, 8), "float32"), w: R.Tensor((8, 8), "float32")',
                "        a = R.matmul(x, w)\n        r = R.nn.relu(a)\n"
                "        gv = R.matmul(r, w)", 'R.Tensor((4, 8), "float32")')
    before = legalize_ops(mod)
    grouped = fuse_ops(annotate_op_pattern(before))
    calls = [b.value for b in grouped["main"].body.blocks[0].bindings]
    assert len(calls) == 2  # matmul + relu, then the second matmul alone
    fused = grouped[calls[0].op.name_hint]
    kernels = [grouped[b.value.args[0].name_hint] for b in fused.body.blocks[0].bindings]
    assert [k.attrs["op_pattern"] for k in kernels] == [OpPattern.OUT_EWISE_FUSABLE,
                                                        OpPattern.ELEM_WISE]
    assert grouped[calls[1].args[0].name_hint].attrs["op_pattern"] == OpPattern.OUT_EWISE_FUSABLE
    same_results(before, fuse(before), randn(4, 8), randn(8, 8))


# ---------------------------------------------------------------- injective chain

INJECTIVE = '''
    @T.prim_func(private=True)
    def transpose(A: T.Buffer((4, 8), "float32"), B: T.Buffer((8, 4), "float32")):
        for i, j in T.grid(8, 4):
            with T.block("transpose"):
                vi, vj = T.axis.remap("SS", [i, j])
                B[vi, vj] = A[vj, vi]

    @T.prim_func(private=True)
    def reshape(A: T.Buffer((8, 4), "float32"), B: T.Buffer((32,), "float32")):
        for i in range(32):
            with T.block("reshape"):
                vi = T.axis.remap("S", [i])
                B[vi] = A[vi // 4, vi % 4]

    @T.prim_func(private=True)
    def negative(A: T.Buffer((32,), "float32"), B: T.Buffer((32,), "float32")):
        for i in range(32):
            with T.block("negative"):
                vi = T.axis.remap("S", [i])
                B[vi] = T.float32(0) - A[vi]
'''
INJ_CALLS = '''
            t = R.call_tir(cls.transpose, (x,), out_sinfo=R.Tensor((8, 4), "float32"))
            r = R.call_tir(cls.reshape, (t,), out_sinfo=R.Tensor((32,), "float32"))
            gv = R.call_tir(cls.negative, (r,), out_sinfo=R.Tensor((32,), "float32"))
            R.output(gv)
        return gv
'''
INJ_MAIN = f'''
    @R.function
    def main(x: R.Tensor((4, 8), "float32")) -> R.Tensor((32,), "float32"):
        cls = Module
        with R.dataflow():{INJ_CALLS}'''
INJ_GROUPED = '''
    @R.function
    def main(x: R.Tensor((4, 8), "float32")) -> R.Tensor((32,), "float32"):
        cls = Module
        with R.dataflow():
            gv = cls.fused_transpose_reshape_negative(x)
            R.output(gv)
        return gv

    @R.function(private=True)
    def fused_transpose_reshape_negative(x: R.Tensor((4, 8), "float32")) -> R.Tensor((32,), "float32"):
        R.func_attr({"Primitive": True})
        cls = Module
        with R.dataflow():''' + INJ_CALLS
INJ_FUSED = '''
    @R.function
    def main(x: R.Tensor((4, 8), "float32")) -> R.Tensor((32,), "float32"):
        cls = Module
        with R.dataflow():
            gv = R.call_tir(cls.fused_transpose_reshape_negative, (x,), out_sinfo=R.Tensor((32,), "float32"))
            R.output(gv)
        return gv

    @T.prim_func(private=True)
    def fused_transpose_reshape_negative(x: T.Buffer((T.int64(4), T.int64(8)), "float32"), gv: T.Buffer((T.int64(32),), "float32")):
        T.func_attr({"tir.noalias": True})
        t = T.alloc_buffer((T.int64(8), T.int64(4)), "float32")
        r = T.alloc_buffer((T.int64(32),), "float32")
        for i, j in T.grid(8, 4):
            with T.block("transpose"):
                vi, vj = T.axis.remap("SS", [i, j])
                t[vi, vj] = x[vj, vi]
        for i in range(32):
            with T.block("reshape"):
                vi = T.axis.remap("S", [i])
                r[vi] = t[vi // 4, vi % 4]
        for i in range(32):
            with T.block("negative"):
                vi = T.axis.remap("S", [i])
                gv[vi] = T.float32(0) - r[vi]
'''


def test_injective_chain():
    check(fuse_ops, module(INJECTIVE, INJ_MAIN), module(INJECTIVE, INJ_GROUPED))
    check(fuse_tir, module(INJECTIVE, INJ_GROUPED), module(INJ_FUSED))
    before = module(INJECTIVE, INJ_MAIN)
    same_results(before, fuse(before), randn(4, 8))


def test_injective_producer_stays_out_of_a_reduction():
    # TVM's rule: only element-wise and broadcast producers join a reduction
    row_sum = ROW_SUM.replace("(4, 8)", "(8, 4)").replace("T.grid(4, 8)", "T.grid(8, 4)") \
        .replace("(4,)", "(8,)")
    before = module(INJECTIVE, row_sum, '''
    @R.function
    def main(x: R.Tensor((4, 8), "float32")) -> R.Tensor((8,), "float32"):
        cls = Module
        with R.dataflow():
            t = R.call_tir(cls.transpose, (x,), out_sinfo=R.Tensor((8, 4), "float32"))
            gv = R.call_tir(cls.row_sum, (t,), out_sinfo=R.Tensor((8,), "float32"))
            R.output(gv)
        return gv
''')
    assert fuse_ops(before) is before


# ---------------------------------------------------------------- a diamond

EXP = '''
    @T.prim_func(private=True)
    def exp(A: T.Buffer((4, 8), "float32"), B: T.Buffer((4, 8), "float32")):
        for i, j in T.grid(4, 8):
            with T.block("exp"):
                vi, vj = T.axis.remap("SS", [i, j])
                B[vi, vj] = T.exp(A[vi, vj])
'''
RELU = '''
    @T.prim_func(private=True)
    def relu(A: T.Buffer((4, 8), "float32"), B: T.Buffer((4, 8), "float32")):
        for i, j in T.grid(4, 8):
            with T.block("relu"):
                vi, vj = T.axis.remap("SS", [i, j])
                B[vi, vj] = T.max(A[vi, vj], T.float32(0))
'''
MULTIPLY = '''
    @T.prim_func(private=True)
    def multiply(A: T.Buffer((4, 8), "float32"), B: T.Buffer((4, 8), "float32"), C: T.Buffer((4, 8), "float32")):
        for i, j in T.grid(4, 8):
            with T.block("multiply"):
                vi, vj = T.axis.remap("SS", [i, j])
                C[vi, vj] = A[vi, vj] * B[vi, vj]
'''
EW = EXP + RELU + MULTIPLY
DIAMOND_CALLS = '''
            a = R.call_tir(cls.exp, (x,), out_sinfo=R.Tensor((4, 8), "float32"))
            b = R.call_tir(cls.relu, (a,), out_sinfo=R.Tensor((4, 8), "float32"))
            c = R.call_tir(cls.multiply, (a, x), out_sinfo=R.Tensor((4, 8), "float32"))
            gv = R.call_tir(cls.multiply, (b, c), out_sinfo=R.Tensor((4, 8), "float32"))
            R.output(gv)
        return gv
'''
DIAMOND_MAIN = '''
    @R.function
    def main(x: R.Tensor((4, 8), "float32")) -> R.Tensor((4, 8), "float32"):
        cls = Module
        with R.dataflow():''' + DIAMOND_CALLS
DIAMOND_GROUPED = '''
    @R.function
    def main(x: R.Tensor((4, 8), "float32")) -> R.Tensor((4, 8), "float32"):
        cls = Module
        with R.dataflow():
            gv = cls.fused_exp_relu_multiply_multiply(x)
            R.output(gv)
        return gv

    @R.function(private=True)
    def fused_exp_relu_multiply_multiply(x: R.Tensor((4, 8), "float32")) -> R.Tensor((4, 8), "float32"):
        R.func_attr({"Primitive": True})
        cls = Module
        with R.dataflow():''' + DIAMOND_CALLS
DIAMOND_FUSED = '''
    @R.function
    def main(x: R.Tensor((4, 8), "float32")) -> R.Tensor((4, 8), "float32"):
        cls = Module
        with R.dataflow():
            gv = R.call_tir(cls.fused_exp_relu_multiply_multiply, (x,), out_sinfo=R.Tensor((4, 8), "float32"))
            R.output(gv)
        return gv

    @T.prim_func(private=True)
    def fused_exp_relu_multiply_multiply(x: T.Buffer((T.int64(4), T.int64(8)), "float32"), gv: T.Buffer((T.int64(4), T.int64(8)), "float32")):
        T.func_attr({"tir.noalias": True})
        a = T.alloc_buffer((T.int64(4), T.int64(8)), "float32")
        b = T.alloc_buffer((T.int64(4), T.int64(8)), "float32")
        c = T.alloc_buffer((T.int64(4), T.int64(8)), "float32")
        for i, j in T.grid(4, 8):
            with T.block("exp"):
                vi, vj = T.axis.remap("SS", [i, j])
                a[vi, vj] = T.exp(x[vi, vj])
        for i, j in T.grid(4, 8):
            with T.block("relu"):
                vi, vj = T.axis.remap("SS", [i, j])
                b[vi, vj] = T.max(a[vi, vj], T.float32(0))
        for i, j in T.grid(4, 8):
            with T.block("multiply"):
                vi, vj = T.axis.remap("SS", [i, j])
                c[vi, vj] = a[vi, vj] * x[vi, vj]
        for i, j in T.grid(4, 8):
            with T.block("multiply_1"):
                vi, vj = T.axis.remap("SS", [i, j])
                gv[vi, vj] = b[vi, vj] * c[vi, vj]
'''


def test_diamond_fuses_whole():
    # the same kernel twice: two independent loop nests, the second block renamed
    check(fuse_ops, module(EW, DIAMOND_MAIN), module(EW, DIAMOND_GROUPED))
    check(fuse_tir, module(EW, DIAMOND_GROUPED), module(DIAMOND_FUSED))
    before = module(EW, DIAMOND_MAIN)
    same_results(before, fuse(before), randn(4, 8))


def test_value_used_after_the_group_is_not_an_intermediate():
    text = DIAMOND_MAIN.replace("R.output(gv)\n        return gv", "R.output(a, gv)\n        return (a, gv)") \
        .replace('-> R.Tensor((4, 8), "float32"):', '-> R.Tuple(R.Tensor((4, 8), "float32"), R.Tensor((4, 8), "float32")):')
    before = module(EW, text)
    after = fuse(before)
    main = after["main"].script()
    assert "R.call_tir(cls.exp, (x,)" in main  # a stays a value of main
    assert "cls.fused_relu_multiply_multiply, (a, x)" in main
    same_results(before, after, randn(4, 8))


# ---------------------------------------------------------------- reductions

RED_SIG = 'x: R.Tensor((4, 8), "float32"), y: R.Tensor((4, 8), "float32")'
RED_CALLS = '''
            m = R.call_tir(cls.multiply, (x, y), out_sinfo=R.Tensor((4, 8), "float32"))
            e = R.call_tir(cls.exp, (m,), out_sinfo=R.Tensor((4, 8), "float32"))
            gv = R.call_tir(cls.row_sum, (e,), out_sinfo=R.Tensor((4,), "float32"))
            R.output(gv)
        return gv
'''
RED_MAIN = f'''
    @R.function
    def main({RED_SIG}) -> R.Tensor((4,), "float32"):
        cls = Module
        with R.dataflow():{RED_CALLS}'''
RED_GROUPED = f'''
    @R.function
    def main({RED_SIG}) -> R.Tensor((4,), "float32"):
        cls = Module
        with R.dataflow():
            gv = cls.fused_multiply_exp_row_sum(x, y)
            R.output(gv)
        return gv

    @R.function(private=True)
    def fused_multiply_exp_row_sum({RED_SIG}) -> R.Tensor((4,), "float32"):
        R.func_attr({{"Primitive": True}})
        cls = Module
        with R.dataflow():{RED_CALLS}'''
RED_FUSED = f'''
    @R.function
    def main({RED_SIG}) -> R.Tensor((4,), "float32"):
        cls = Module
        with R.dataflow():
            gv = R.call_tir(cls.fused_multiply_exp_row_sum, (x, y), out_sinfo=R.Tensor((4,), "float32"))
            R.output(gv)
        return gv

    @T.prim_func(private=True)
    def fused_multiply_exp_row_sum(x: T.Buffer((T.int64(4), T.int64(8)), "float32"), y: T.Buffer((T.int64(4), T.int64(8)), "float32"), gv: T.Buffer((T.int64(4),), "float32")):
        T.func_attr({{"tir.noalias": True}})
        m = T.alloc_buffer((T.int64(4), T.int64(8)), "float32")
        e = T.alloc_buffer((T.int64(4), T.int64(8)), "float32")
        for i, j in T.grid(4, 8):
            with T.block("multiply"):
                vi, vj = T.axis.remap("SS", [i, j])
                m[vi, vj] = x[vi, vj] * y[vi, vj]
        for i, j in T.grid(4, 8):
            with T.block("exp"):
                vi, vj = T.axis.remap("SS", [i, j])
                e[vi, vj] = T.exp(m[vi, vj])
        for i, k in T.grid(4, 8):
            with T.block("row_sum"):
                vi, vk = T.axis.remap("SR", [i, k])
                with T.init():
                    gv[vi] = T.float32(0)
                gv[vi] = gv[vi] + e[vi, vk]
'''


def test_reduction_takes_its_elementwise_producers():
    check(fuse_ops, module(EW, ROW_SUM, RED_MAIN), module(EW, ROW_SUM, RED_GROUPED))
    # relu was never called: only the kernels merged away are dropped
    check(fuse_tir, module(EW, ROW_SUM, RED_GROUPED), module(RELU, RED_FUSED))
    before = module(EW, ROW_SUM, RED_MAIN)
    same_results(before, fuse(before), randn(4, 8), randn(4, 8))


DIVIDE = '''
    @T.prim_func(private=True)
    def divide(A: T.Buffer((4, 8), "float32"), B: T.Buffer((4,), "float32"), C: T.Buffer((4, 8), "float32")):
        for i, j in T.grid(4, 8):
            with T.block("divide"):
                vi, vj = T.axis.remap("SS", [i, j])
                C[vi, vj] = A[vi, vj] / B[vi]
'''
SOFTMAX_MAIN = f'''
    @R.function
    def main({RED_SIG}) -> R.Tensor((4, 8), "float32"):
        cls = Module
        with R.dataflow():
            m = R.call_tir(cls.multiply, (x, y), out_sinfo=R.Tensor((4, 8), "float32"))
            e = R.call_tir(cls.exp, (m,), out_sinfo=R.Tensor((4, 8), "float32"))
            s = R.call_tir(cls.row_sum, (e,), out_sinfo=R.Tensor((4,), "float32"))
            d = R.call_tir(cls.divide, (e, s), out_sinfo=R.Tensor((4, 8), "float32"))
            gv = R.call_tir(cls.relu, (d,), out_sinfo=R.Tensor((4, 8), "float32"))
            R.output(gv)
        return gv
'''
SOFTMAX_GROUPED = f'''
    @R.function
    def main({RED_SIG}) -> R.Tensor((4, 8), "float32"):
        cls = Module
        with R.dataflow():
            e = cls.fused_multiply_exp(x, y)
            s = R.call_tir(cls.row_sum, (e,), out_sinfo=R.Tensor((4,), "float32"))
            gv = cls.fused_divide_relu(e, s)
            R.output(gv)
        return gv

    @R.function(private=True)
    def fused_multiply_exp({RED_SIG}) -> R.Tensor((4, 8), "float32"):
        R.func_attr({{"Primitive": True}})
        cls = Module
        with R.dataflow():
            m = R.call_tir(cls.multiply, (x, y), out_sinfo=R.Tensor((4, 8), "float32"))
            e = R.call_tir(cls.exp, (m,), out_sinfo=R.Tensor((4, 8), "float32"))
            R.output(e)
        return e

    @R.function(private=True)
    def fused_divide_relu(e: R.Tensor((4, 8), "float32"), s: R.Tensor((4,), "float32")) -> R.Tensor((4, 8), "float32"):
        R.func_attr({{"Primitive": True}})
        cls = Module
        with R.dataflow():
            d = R.call_tir(cls.divide, (e, s), out_sinfo=R.Tensor((4, 8), "float32"))
            gv = R.call_tir(cls.relu, (d,), out_sinfo=R.Tensor((4, 8), "float32"))
            R.output(gv)
        return gv
'''


def test_softmax_like_diamond_through_a_reduction():
    # exp feeds the sum and the division: its post-dominator (divide) is reached through a
    # reduction, so exp stays out; the sum takes no consumers; divide + relu fuse
    check(fuse_ops, module(EW, ROW_SUM, DIVIDE, SOFTMAX_MAIN),
          module(EW, ROW_SUM, DIVIDE, SOFTMAX_GROUPED))
    before = module(EW, ROW_SUM, DIVIDE, SOFTMAX_MAIN)
    after = fuse(before)
    assert sorted(after.functions) == ["fused_divide_relu", "fused_multiply_exp", "main",
                                       "row_sum"]
    same_results(before, after, randn(4, 8), randn(4, 8))


def test_softmax_kernel_takes_elementwise_consumers_only():
    mod = graph('x: R.Tensor((4, 8), "float32")',
                "        a = R.multiply(x, x)\n        s = R.nn.softmax(a, axis=1)\n"
                "        gv = R.nn.relu(s)", 'R.Tensor((4, 8), "float32")')
    before = legalize_ops(mod)
    after = fuse(before)
    first, second = [b.value for b in after["main"].body.blocks[0].bindings]
    assert first.args[0].name_hint in before.functions  # multiply stays alone
    assert second.args[0].name_hint.startswith("fused_softmax")
    assert [a.name for a in second.args[1].fields] == ["a"]
    same_results(before, after, randn(4, 8))


# ---------------------------------------------------------------- limits and errors


def test_max_depth_limits_group_size():
    before = module(EW, DIAMOND_MAIN)
    with PassContext(config={MAX_DEPTH_KEY: 2}):
        after = fuse(before)
    # exp would bring relu and the first multiply along: 4 kernels; relu joins the last alone
    callees = [b.value.args[0].name_hint for b in after["main"].body.blocks[0].bindings]
    assert callees == ["exp", "multiply", "fused_relu_multiply"]
    same_results(before, after, randn(4, 8))
    with pytest.raises(ValueError, match="relax.FuseOps.max_depth.*at least 1"), \
            PassContext(config={MAX_DEPTH_KEY: 0}):
        fuse_ops(before)


def test_opaque_kernel_is_left_alone():
    opaque = PATTERN_KERNELS["plain_loops"][1].replace("(4,)", "(4, 8)").replace(
        "range(4)", "T.grid(4, 8)").replace("for i in", "for i, j in").replace("[i]", "[i, j]") \
        .replace("@T.prim_func", "@T.prim_func(private=True)")
    text = DIAMOND_MAIN.replace("cls.relu, (a,)", "cls.plain_loops, (a,)")
    after = fuse(module(EW, opaque, text))
    assert "R.call_tir(cls.plain_loops, (a,)" in after["main"].script()
    same_results(module(EW, opaque, text), after, randn(4, 8))


def test_constants_become_inputs_of_the_fused_kernel():
    mod = graph('x: R.Tensor((4, 8), "float32")',
                '        a = R.add(x, R.const(1.5, "float32"))\n        gv = R.nn.relu(a)')
    before = legalize_ops(mod)
    after = fuse(before)
    (call,) = [b.value for b in after["main"].body.blocks[0].bindings]
    assert [type(a).__name__ for a in call.args[1].fields] == ["GraphVar", "Constant"]
    same_results(before, after, randn(4, 8))


def test_bad_op_pattern_attribute_is_named():
    before = module(EW, DIAMOND_MAIN)
    before = before.with_function("exp", before["exp"].with_attr("op_pattern", 5))
    with pytest.raises(ValueError, match="kernel 'exp': attribute 'op_pattern' is 5, not one of"):
        fuse_ops(before)


def test_fuse_tir_refuses_a_primitive_function_of_operators():
    text = '''
    @R.function(private=True)
    def fused(x: R.Tensor((4, 8), "float32")) -> R.Tensor((4, 8), "float32"):
        R.func_attr({"Primitive": True})
        with R.dataflow():
            gv = R.add(x, x)
            R.output(gv)
        return gv
'''
    with pytest.raises(FuseTIRError, match="function 'fused': binding 'gv' cannot be merged: "
                                           "it is not R.call_tir"):
        fuse_tir(module(text))
    returns_param = '''
    @R.function(private=True)
    def fused(x: R.Tensor((4, 8), "float32")) -> R.Tensor((4, 8), "float32"):
        R.func_attr({"Primitive": True})
        cls = Module
        with R.dataflow():
            gv = R.call_tir(cls.exp, (x,), out_sinfo=R.Tensor((4, 8), "float32"))
            R.output(gv)
        return x
'''
    with pytest.raises(FuseTIRError, match="must return distinct values bound in its body"):
        fuse_tir(module(EXP, returns_param))


def test_symbolic_sizes():
    mod = legalize_ops(graph('x: R.Tensor(("n", 8), "float32"), b: R.Tensor((8,), "float32")',
                             "        a = R.add(x, b)\n        e = R.exp(a)\n"
                             "        gv = R.multiply(e, x)", 'R.Tensor(("n", 8), "float32")'))
    fused = fuse(mod)
    (kernel,) = [f for f in fused.functions.values() if isinstance(f, tvmscript.PrimFunc)]
    assert kernel.name == "fused_add_exp_multiply"
    tvmscript.assert_structural_equal(tvmscript.from_source(fused.script()), fused)
    for n in (1, 3):
        same_results(mod, fused, randn(n, 8), randn(8))


# ---------------------------------------------------------------- symbolic sizes, end to end


def model(signature: str, body: str, outs: str = "gv") -> tvmscript.IRModule:
    ret = f"({outs},)" if "," in outs else outs
    text = (f"@R.function\ndef main({signature}):\n    with R.dataflow():\n{body}\n"
            f"        R.output({outs})\n    return {ret}\n")
    return tvmscript.IRModule.from_function(tvmscript.from_source(text), "main")


def size_vars(obj) -> set:
    found: set = set()
    tvmscript.ir.post_order_visit(obj, lambda n: found.add(n)
                                  if isinstance(n, tvmscript.ir.Var) else None)
    return found


def check_bindable(fused: tvmscript.IRModule) -> None:
    """Every kernel binds its sizes from its parameters, and every call's ``out_sinfo`` is
    written with the sizes of the graph function's own parameters (not a fused function's)."""
    tvmscript.verify(fused)
    tvmscript.assert_structural_equal(tvmscript.from_source(fused.script()), fused)
    for name, func in fused.functions.items():
        if isinstance(func, tvmscript.PrimFunc):
            assert unbound_shape_vars(func, KernelSignature.of(func)) == [], name
    main = fused["main"]
    own = size_vars(tuple(p.sinfo for p in main.params))
    for block in main.body.blocks:
        for b in block.bindings:
            assert size_vars(b.value.sinfo_args) <= own, b.var.name


def check_model(mod: tvmscript.IRModule, reference, make_args, kernels: list[str],
                sizes=(1, 3)) -> None:
    """``mod`` fused and built as a model computes ``reference`` (numpy) at each size, as the
    unfused module does; ``kernels`` are the fused kernels expected."""
    before = legalize_ops(mod)
    fused = fuse(before)
    check_bindable(fused)
    assert sorted(n for n in fused.functions if n.startswith("fused_")) == sorted(kernels)
    built, unfused = tvmscript.build(mod), build_unfused(before)
    for n in sizes:
        args = make_args(n)
        want = reference(*args)
        for got in (built["main"](*args), unfused["main"](*args)):
            for g, w in zip(got if isinstance(got, tuple) else (got,),
                            want if isinstance(want, tuple) else (want,)):
                np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


def _slice_concat(x):
    r = x.reshape(-1, 2)
    return np.concatenate([r[:, :1], r], axis=1), r


@pytest.mark.parametrize("outs, kernels", [
    ("gv", ["fused_reshape_strided_slice_concatenate"]),
    # r is also returned: the fused kernel's input is r, of size n * 2 and no bare n
    ("gv, r", ["fused_strided_slice_concatenate"]),
])
def test_symbolic_reshape_slice_concat(outs, kernels):
    mod = model('x: R.Tensor(("n", 4), "float32")',
                "        r = R.reshape(x, (-1, 2))\n"
                "        s = R.strided_slice(r, axes=[1], begin=[0], end=[1])\n"
                "        gv = R.concat((s, r), axis=1)", outs)
    reference = _slice_concat if "," in outs else lambda x: _slice_concat(x)[0]
    check_model(mod, reference, lambda n: [randn(n, 4)], kernels)


def test_fused_kernel_binds_a_size_expression_by_a_variable_of_its_own():
    mod = model('x: R.Tensor(("n", 4), "float32")',
                "        r = R.reshape(x, (-1, 2))\n"
                "        s = R.strided_slice(r, axes=[1], begin=[0], end=[1])\n"
                "        gv = R.concat((s, r), axis=1)", "gv, r")
    fused = fuse(legalize_ops(mod))
    kernel = fused["fused_strided_slice_concatenate"]
    (d0,) = {d for b in kernel.buffers for d in b.shape if isinstance(d, tvmscript.ir.Var)}
    assert [tuple(getattr(d, "value", d) for d in b.shape) for b in kernel.buffers] == \
        [(d0, 2), (d0, 3)]
    (n,) = size_vars(fused["main"].params[0].sinfo)
    call = fused["main"].body.blocks[0].bindings[1].value
    tvmscript.assert_structural_equal(call.sinfo_args[0].shape[0], n * 2)


def test_symbolic_flatten_then_unflatten():
    # the kernel takes r (n * 2 -> d0) and returns (4, n): n is d0 // 2 inside it
    mod = model('x: R.Tensor(("n", 4), "float32")',
                "        r = R.reshape(x, (-1, 2))\n        t = R.reshape(r, (-1, 4))\n"
                "        gv = R.permute_dims(t, axes=[1, 0])", "gv, r")
    check_model(mod, lambda x: (x.T, x.reshape(-1, 2)), lambda n: [randn(n, 4)],
                ["fused_reshape1_permute_dims"])


def _softmax(a):
    e = np.exp(a - a.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def test_symbolic_batch_reshape_permute_add_softmax():
    mod = model('x: R.Tensor(("b", 8), "float32"), c: R.Tensor((2,), "float32")',
                "        r = R.reshape(x, (-1, 2, 4))\n"
                "        p = R.permute_dims(r, axes=[0, 2, 1])\n"
                "        a = R.add(p, c)\n        gv = R.nn.softmax(a, axis=-1)")
    check_model(mod, lambda x, c: _softmax(x.reshape(-1, 2, 4).transpose(0, 2, 1) + c),
                lambda b: [randn(b, 8), randn(2)], ["fused_reshape_permute_dims_add"])


def test_symbolic_rows_matmul_bias_relu():
    mod = model('x: R.Tensor(("m", 8), "float32"), w: R.Tensor((8, 4), "float32"), '
                'c: R.Tensor((4,), "float32")',
                "        y = R.matmul(x, w)\n        a = R.add(y, c)\n        gv = R.nn.relu(a)")
    check_model(mod, lambda x, w, c: np.maximum(x @ w + c, 0),
                lambda m: [randn(m, 8), randn(8, 4), randn(4)], ["fused_matmul_add_nn_relu"],
                sizes=(1, 5))


KERNELS_OF_THEIR_OWN_SIZES = '''
    @T.prim_func(private=True)
    def scale(a: T.handle, b: T.handle):
        m = T.int64()
        A = T.match_buffer(a, (m, 4), "float32")
        B = T.match_buffer(b, (m, 4), "float32")
        for i, j in T.grid(m, 4):
            with T.block("scale"):
                vi, vj = T.axis.remap("SS", [i, j])
                B[vi, vj] = A[vi, vj] * T.float32(2)

    @T.prim_func(private=True)
    def shift(a: T.handle, b: T.handle, c: T.handle):
        k = T.int32()
        A = T.match_buffer(a, (k, 4), "float32")
        B = T.match_buffer(b, (k, 4), "float32")
        C = T.match_buffer(c, (k, 4), "float32")
        for i, j in T.grid(k, 4):
            with T.block("shift"):
                vi, vj = T.axis.remap("SS", [i, j])
                C[vi, vj] = A[vi, vj] + B[vi, vj] + T.float32(1)

    @R.function
    def main(x: R.Tensor(("n", 2, 4), "float32")):
        n = T.int64()
        cls = Module
        with R.dataflow():
            r = R.reshape(x, (-1, 4))
            s = R.call_tir(cls.scale, (r,), out_sinfo=R.Tensor((n * 2, 4), "float32"))
            gv = R.call_tir(cls.shift, (s, r), out_sinfo=R.Tensor((n * 2, 4), "float32"))
            R.output(gv, r)
        return (gv, r)
'''


def test_kernels_with_different_size_variables_for_one_graph_size():
    # scale calls the rows m (int64), shift k (int32): both are n * 2 in the graph
    before = legalize_ops(module(KERNELS_OF_THEIR_OWN_SIZES))
    fused = fuse(before)
    check_bindable(fused)
    kernel = fused["fused_scale_shift"]
    assert len(size_vars(tuple(b.shape for b in kernel.buffers))) == 1
    built = tvmscript.build(fused)
    for n in (1, 3):
        x = randn(n, 2, 4)
        r = x.reshape(-1, 4)
        for got in (built["main"](x), build_unfused(before)["main"](x)):
            np.testing.assert_allclose(got[0], 3 * r + 1, rtol=1e-6)
            np.testing.assert_array_equal(got[1], r)


UNBINDABLE = '''
    @T.prim_func(private=True)
    def pad(a: T.handle, b: T.handle):
        p = T.int64()
        A = T.match_buffer(a, (p,), "float32")
        B = T.match_buffer(b, (p + 1,), "float32")
        for i in range(p + 1):
            with T.block("pad"):
                vi = T.axis.spatial(p + 1, i)
                B[vi] = T.if_then_else(vi < p, A[T.min(vi, p - 1)], T.float32(0))

    @T.prim_func(private=True)
    def drop(a: T.handle, b: T.handle):
        q = T.int64()
        A = T.match_buffer(a, (q,), "float32")
        B = T.match_buffer(b, (q - 1,), "float32")
        for i in range(q - 1):
            with T.block("drop"):
                vi = T.axis.spatial(q - 1, i)
                B[vi] = A[vi + 1]

    @T.prim_func(private=True)
    def neg(a: T.handle, b: T.handle):
        q = T.int64()
        A = T.match_buffer(a, (q,), "float32")
        B = T.match_buffer(b, (q,), "float32")
        for i in range(q):
            with T.block("neg"):
                vi = T.axis.spatial(q, i)
                B[vi] = T.float32(0) - A[vi]

    @R.function
    def main(x: R.Tensor(("n",), "float32")):
        n = T.int64()
        cls = Module
        with R.dataflow():
            r = R.call_tir(cls.pad, (x,), out_sinfo=R.Tensor((n + 1,), "float32"))
            a = R.call_tir(cls.drop, (r,), out_sinfo=R.Tensor((n,), "float32"))
            gv = R.call_tir(cls.neg, (a,), out_sinfo=R.Tensor((n,), "float32"))
            R.output(gv, r)
        return (gv, r)
'''


def test_group_whose_sizes_its_inputs_cannot_bind_is_not_fused():
    # drop and neg would take r, of size n + 1, and make a tensor of size n: no parameter of
    # the fused function would bind n, so they stay two kernels
    before = module(UNBINDABLE)
    after = fuse(before)
    check_bindable(after)
    assert not [n for n in after.functions if n.startswith("fused_")]
    x = randn(3)
    got = tvmscript.build(after)["main"](x)
    np.testing.assert_array_equal(got[0], -np.concatenate([x[1:], [0]]))


def test_fuse_tir_names_a_size_no_parameter_binds():
    text = '''
    @R.function(private=True)
    def fused(r: R.Tensor(("n + 1",), "float32")) -> R.Tensor(("n + 1",), "float32"):
        n = T.int64()
        R.func_attr({"Primitive": True})
        cls = Module
        with R.dataflow():
            a = R.call_tir(cls.drop, (r,), out_sinfo=R.Tensor((n,), "float32"))
            gv = R.call_tir(cls.pad, (a,), out_sinfo=R.Tensor((n + 1,), "float32"))
            R.output(gv)
        return gv
'''
    kernels = UNBINDABLE[:UNBINDABLE.index("    @R.function")]
    with pytest.raises(FuseTIRError, match=r"function 'fused': the shape \(n,\) of 'a' cannot "
                                           "be written with the sizes of the parameters"):
        fuse_tir(module(kernels, text))


# ---------------------------------------------------------------- random graphs

BASE = (1, 2, 4, 4)
UNARY = ["R.tanh", "R.sigmoid", "R.negative", "R.abs", "R.nn.relu", "R.nn.silu", "R.nn.gelu",
         "R.exp"]
BINARY = ["R.add", "R.subtract", "R.multiply", "R.maximum", "R.minimum"]


def _broadcast(a: tuple, b: tuple) -> tuple | None:
    try:
        return tuple(np.broadcast_shapes(a, b))
    except ValueError:
        return None


@st.composite
def random_graphs(draw):
    """A dataflow block of legalizable operators over x, y (BASE), b (a channel bias), a conv
    weight and a matmul weight; it returns its last value and maybe some earlier ones."""
    values = [("x", BASE), ("y", BASE), ("b", (1, 2, 1, 1))]
    lines = []
    for k in range(draw(st.integers(2, 7))):
        chain = draw(st.booleans())  # mostly chains, where fusion happens
        name, (src, shape) = f"v{k}", values[-1] if chain else draw(st.sampled_from(values))
        kinds = ["unary", "binary", "binary", "softmax", "transpose", "sum"]
        kinds += ["conv2d"] * (shape == BASE) + ["reshape"] * (shape[0] * shape[1] <= 4)
        kinds += ["matmul"] * (shape[-1] in (1, 2, 4))
        kind = draw(st.sampled_from(kinds))
        if kind == "unary":
            expr, out = f"{draw(st.sampled_from(UNARY))}({src})", shape
        elif kind == "binary":
            partners = [v for v in values if _broadcast(shape, v[1]) is not None]
            other, oshape = draw(st.sampled_from(partners))
            expr, out = f"{draw(st.sampled_from(BINARY))}({src}, {other})", _broadcast(shape, oshape)
        elif kind == "softmax":
            expr, out = f"R.nn.softmax({src}, axis=-1)", shape
        elif kind == "transpose":
            axes = list(range(len(shape)))[::-1]
            expr, out = f"R.permute_dims({src}, axes={axes})", shape[::-1]
        elif kind == "sum":
            expr, out = f"R.sum({src}, axis=[-1], keepdims=True)", shape[:-1] + (1,)
        elif kind == "matmul":
            expr, out = f"R.matmul({src}, m{shape[-1]})", shape[:-1] + (4,)
        elif kind == "conv2d":
            expr, out = f"R.nn.conv2d({src}, w, padding=[1, 1])", BASE
        else:
            expr, out = f"R.reshape({src}, R.shape([{shape[0] * shape[1]}, {shape[2]}, {shape[3]}, 1]))", \
                (shape[0] * shape[1], shape[2], shape[3], 1)
        lines.append(f"        {name} = {expr}")
        values.append((name, out))
    made = values[3:]
    extra = draw(st.lists(st.sampled_from(made[:-1]), max_size=2, unique=True)) if len(made) > 1 else []
    outs = [v for v in made if v in extra] + [made[-1]]
    return lines, outs


def _random_module(lines, outs) -> tvmscript.IRModule:
    sig = ", ".join([f'{n}: R.Tensor({s}, "float32")' for n, s in
                     [("x", BASE), ("y", BASE), ("b", (1, 2, 1, 1)), ("w", (2, 2, 3, 3))]] +
                    [f'm{k}: R.Tensor(({k}, 4), "float32")' for k in (1, 2, 4)])
    names = ", ".join(n for n, _ in outs)
    ret = names if len(outs) == 1 else f"({names},)"
    text = (f"@R.function\ndef main({sig}):\n    with R.dataflow():\n" + "\n".join(lines) +
            f"\n        R.output({names})\n    return {ret}\n")
    return tvmscript.IRModule.from_function(tvmscript.from_source(text), "main")


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_graphs())
def test_fused_random_graphs_compute_the_same(graph_lines):
    before = legalize_ops(_random_module(*graph_lines))
    after = fuse(before)
    tvmscript.verify(after)
    gen = np.random.default_rng(1)
    args = [gen.uniform(-1, 1, s).astype("float32")
            for s in [BASE, BASE, (1, 2, 1, 1), (2, 2, 3, 3), (1, 4), (2, 4), (4, 4)]]
    same_results(before, after, *args)
