"""Reduction primitives: decompose_reduction and rfactor.

Before → after pairs written in the script, numbers of scheduled against unscheduled kernels
(LLVM and interpreter) on matmul, conv2d, softmax, layer_norm and pooling, every documented
error (schedule unchanged afterwards), and trace replay.
"""

from __future__ import annotations


import numpy as np
import pytest

import tvmscript
from tests.corpus.tir_programs import PROGRAMS
from tests.schedule_testing import check_numbers, expect_error, outputs
from tvmscript import Schedule
from tvmscript.ir import stmt as S
from tvmscript.schedule.state import walk


def prim(text: str) -> tvmscript.PrimFunc:
    return tvmscript.from_source(text)


def corpus(name: str) -> tvmscript.PrimFunc:
    return prim(PROGRAMS[name])



def check_replay(before: tvmscript.PrimFunc, sch: Schedule) -> None:
    tvmscript.assert_structural_equal(sch.trace.apply_to(before).mod, sch.mod)
    again = tvmscript.Trace.from_json(sch.trace.to_json())
    tvmscript.assert_structural_equal(again.apply_to(before).mod, sch.mod)


ROW_SUM = '''
@T.prim_func
def rsum(A: T.Buffer((128, 128), "float32"), B: T.Buffer((128,), "float32")):
    for i, k in T.grid(128, 128):
        with T.block("B"):
            vi, vk = T.axis.remap("SR", [i, k])
            with T.init():
                B[vi] = T.float32(0)
            B[vi] = B[vi] + A[vi, vk]
'''


# ---------------------------------------------------------------- decompose_reduction


def test_decompose_reduction_at_inner_loop_matches_expected():
    before = prim(ROW_SUM)
    sch = Schedule(before)
    b = sch.get_block("B")
    _, k = sch.get_loops(b)
    init = sch.decompose_reduction(b, k)
    assert init.name == "B_init"
    expected = prim('''
@T.prim_func
def rsum(A: T.Buffer((128, 128), "float32"), B: T.Buffer((128,), "float32")):
    for i in range(128):
        with T.block("B_init"):
            vi = T.axis.spatial(128, i)
            T.reads()
            T.writes(B[vi])
            B[vi] = T.float32(0)
        for k in range(128):
            with T.block("B"):
                vi, vk = T.axis.remap("SR", [i, k])
                T.reads(B[vi], A[vi, vk])
                T.writes(B[vi])
                B[vi] = B[vi] + A[vi, vk]
''')
    tvmscript.assert_structural_equal(sch.func, expected)
    check_numbers(before, sch)
    check_replay(before, sch)


def test_decompose_reduction_at_outer_loop_copies_spatial_loops():
    before = corpus("matmul")
    sch = Schedule(before)
    b = sch.get_block("C")
    i, _, _ = sch.get_loops(b)
    sch.decompose_reduction(b, i)
    expected = prim('''
@T.prim_func
def matmul(A: T.Buffer((128, 128), "float32"), B: T.Buffer((128, 128), "float32"), C: T.Buffer((128, 128), "float32")):
    for i_init, j_init in T.grid(128, 128):
        with T.block("C_init"):
            vi, vj = T.axis.remap("SS", [i_init, j_init])
            T.reads()
            T.writes(C[vi, vj])
            C[vi, vj] = T.float32(0)
    for i, j, k in T.grid(128, 128, 128):
        with T.block("C"):
            vi, vj, vk = T.axis.remap("SSR", [i, j, k])
            T.reads(C[vi, vj], A[vi, vk], B[vk, vj])
            T.writes(C[vi, vj])
            C[vi, vj] = C[vi, vj] + A[vi, vk] * B[vk, vj]
''')
    tvmscript.assert_structural_equal(sch.func, expected)
    check_numbers(before, sch)


@pytest.mark.parametrize("name,block,depth", [
    ("matmul", "C", 1), ("matmul", "C", 2), ("conv2d_pad", "conv", 3), ("softmax", "max", 1),
    ("softmax", "sum", 0), ("layer_norm", "stats", 1), ("pooling", "pool", 4),
])
def test_decompose_reduction_preserves_numbers(name, block, depth):
    before = corpus(name)
    sch = Schedule(before)
    b = sch.get_block(block)
    loops = sch.get_loops(b)
    sch.decompose_reduction(b, loops[depth])
    assert sch.get(b).init is None
    check_numbers(before, sch)


def test_decompose_reduction_on_tiled_matmul():
    before = corpus("matmul")
    sch = Schedule(before)
    b = sch.get_block("C")
    i, j, k = sch.get_loops(b)
    i0, i1 = sch.split(i, [None, 16])
    j0, j1 = sch.split(j, [None, 16])
    k0, k1 = sch.split(k, [None, 8])
    sch.reorder(i0, j0, k0, i1, k1, j1)
    sch.decompose_reduction(b, k0)
    check_numbers(before, sch)
    check_replay(before, sch)


def test_decompose_reduction_errors():
    sch = Schedule(corpus("softmax"))
    exp = sch.get_block("exp")
    exp_i = sch.get_loops(exp)[0]
    expect_error(sch, lambda: sch.decompose_reduction(exp, exp_i),
                 "block `exp`", "no T.init()")
    mx = sch.get_block("max")
    expect_error(sch, lambda: sch.decompose_reduction(mx, exp_i),
                 "does not enclose block `max`")
    sch = Schedule(corpus("matmul"))
    b = sch.get_block("C")
    i, j, k = sch.get_loops(b)
    sch.reorder(k, i, j)
    expect_error(sch, lambda: sch.decompose_reduction(b, i),
                 "loop `i` is inside loop `k`", "reduction iterator of block `C`")


# ---------------------------------------------------------------- rfactor


def test_rfactor_row_sum_matches_expected():
    before = prim(ROW_SUM)
    sch = Schedule(before)
    b = sch.get_block("B")
    _, k = sch.get_loops(b)
    _, k1 = sch.split(k, [None, 4])
    rf = sch.rfactor(k1, 0)
    assert rf.name == "B_rf"
    expected = prim('''
@T.prim_func
def rsum(A: T.Buffer((128, 128), "float32"), B: T.Buffer((128,), "float32")):
    B_rf = T.alloc_buffer((4, 128), "float32")
    for i, k_0, k_1 in T.grid(128, 32, 4):
        with T.block("B_rf"):
            vk_1, vi, vk_0 = T.axis.remap("SSR", [k_1, i, k_0])
            T.reads(A[vi, vk_0 * 4 + vk_1])
            T.writes(B_rf[vk_1, vi])
            with T.init():
                B_rf[vk_1, vi] = T.float32(0)
            B_rf[vk_1, vi] = B_rf[vk_1, vi] + A[vi, vk_0 * 4 + vk_1]
    for i, k_1 in T.grid(128, 4):
        with T.block("B"):
            vk_1, vi = T.axis.remap("RS", [k_1, i])
            T.reads(B_rf[vk_1, vi])
            T.writes(B[vi])
            with T.init():
                B[vi] = T.float32(0)
            B[vi] = B[vi] + B_rf[vk_1, vi]
''')
    tvmscript.assert_structural_equal(sch.func, expected)
    check_numbers(before, sch)
    check_replay(before, sch)


def test_rfactor_whole_reduction_loop_and_last_axis():
    before = prim(ROW_SUM)
    sch = Schedule(before)
    b = sch.get_block("B")
    _, k = sch.get_loops(b)
    sch.rfactor(k, -1)
    rf_buf = sch.func.root_block.alloc_buffers[-1]
    assert [s.value for s in rf_buf.shape] == [128, 128]
    check_numbers(before, sch)


@pytest.mark.parametrize("axis", [0, 1, 2, -1])
def test_rfactor_matmul_factor_axes(axis):
    before = corpus("matmul")
    sch = Schedule(before)
    b = sch.get_block("C")
    _, _, k = sch.get_loops(b)
    _, k1 = sch.split(k, [None, 8])
    sch.rfactor(k1, axis)
    shape = [s.value for s in sch.func.root_block.alloc_buffers[-1].shape]
    assert shape == [128, 128][:axis % 3] + [8] + [128, 128][axis % 3:]
    check_numbers(before, sch)
    check_replay(before, sch)


@pytest.mark.parametrize("name,block,depth,factor", [
    ("softmax", "max", 1, 16), ("softmax", "sum", 1, 32), ("pooling", "pool", 4, None),
    ("conv2d_pad", "conv", 4, 2), ("dense_relu_fused", "dense", 2, 16),
])
def test_rfactor_preserves_numbers(name, block, depth, factor):
    before = corpus(name)
    sch = Schedule(before)
    b = sch.get_block(block)
    loop = sch.get_loops(b)[depth]
    if factor is not None:
        loop = sch.split(loop, [None, factor])[1]
    rf = sch.rfactor(loop, 0)
    check_numbers(before, sch)
    # the rf block is a reduction block again, so the two compose
    sch.decompose_reduction(rf, sch.get_loops(rf)[0])
    check_numbers(before, sch)


def test_rfactor_then_parallel_rf_loop():
    before = corpus("matmul")
    sch = Schedule(before)
    b = sch.get_block("C")
    i, j, k = sch.get_loops(b)
    k0, k1 = sch.split(k, [4, None])
    sch.reorder(k0, i, j, k1)
    sch.rfactor(k0, 0)
    sch.parallel(k0)
    check_numbers(before, sch)


def test_rfactor_errors():
    sch = Schedule(corpus("matmul"))
    b = sch.get_block("C")
    i, _, k = sch.get_loops(b)
    expect_error(sch, lambda: sch.rfactor(i, 0), "loop `i` is bound to a spatial iterator",
                 "block `C`")
    expect_error(sch, lambda: sch.rfactor(k, 3), "factor_axis 3 is out of range")
    expect_error(sch, lambda: sch.rfactor(k, -4), "factor_axis -4 is out of range")

    sch = Schedule(corpus("softmax"))
    e_k = sch.get_loops(sch.get_block("exp"))[1]
    expect_error(sch, lambda: sch.rfactor(e_k, 0),
                 "block `exp` has no T.init()")
    sch = Schedule(corpus("layer_norm"))
    s_k = sch.get_loops(sch.get_block("stats"))[1]
    expect_error(sch, lambda: sch.rfactor(s_k, 0),
                 "block `stats` is not a single store")

    bad_init = ROW_SUM.replace("B[vi] = T.float32(0)", "B[vi] = T.float32(1)")
    sch = Schedule(prim(bad_init))
    k = sch.get_loops(sch.get_block("B"))[1]
    expect_error(sch, lambda: sch.rfactor(k, 0),
                 "not the identity of its `add` reduction")

    mixed = prim('''
@T.prim_func
def f(A: T.Buffer((16, 16), "float32"), B: T.Buffer((16,), "float32")):
    for i, k in T.grid(16, 16):
        with T.block("B"):
            vi = T.axis.spatial(16, i)
            vk = T.axis.reduce(16, (k + i) % 16)
            with T.init():
                B[vi] = T.float32(0)
            B[vi] = B[vi] + A[vi, vk]
''')
    sch = Schedule(mixed)
    k = sch.get_loops(sch.get_block("B"))[1]
    expect_error(sch, lambda: sch.rfactor(k, 0),
                 "loop `i` is bound to both spatial and reduction iterators")

    two = prim('''
@T.prim_func
def f(A: T.Buffer((16,), "float32"), B: T.Buffer((1,), "float32"), C: T.Buffer((16,), "float32")):
    for k in range(16):
        with T.block("B"):
            vk = T.axis.reduce(16, k)
            with T.init():
                B[0] = T.float32(0)
            B[0] = B[0] + A[vk]
        with T.block("C"):
            vc = T.axis.spatial(16, k)
            C[vc] = A[vc]
''')
    sch = Schedule(two)
    k = sch.get_loops(sch.get_block("B"))[0]
    expect_error(sch, lambda: sch.rfactor(k, 0),
                 "loop `k` must contain exactly one block")


ROW_SUM_4x12 = '''
@T.prim_func
def rsum(A: T.Buffer((4, 12), "float32"), B: T.Buffer((4,), "float32")):
    for i, k in T.grid(4, 12):
        with T.block("B"):
            vi, vk = T.axis.remap("SR", [i, k])
            with T.init():
                B[vi] = T.float32(0)
            B[vi] = B[vi] + A[vi, vk]
'''


@pytest.mark.parametrize("factors,which", [
    ([5, 3], 0), ([5, 3], 1), ([None, 5], 0), ([None, 5], 1), ([7, 2], 0), ([2, 7], 1),
    ([2, 2, 4], 1), ([3, 2, 3], 0),
])
def test_rfactor_after_non_dividing_split_initialises_every_slot(factors, which):
    # k of 12 split into [5, 3] runs k_0 = 4 only where k_0 * 3 + k_1 < 12 never holds: the
    # slot B_rf[4, i] was read by the write-back without ever being initialised (NaN in LLVM)
    before = prim(ROW_SUM_4x12)
    sch = Schedule(before)
    _, k = sch.get_loops(sch.get_block("B"))
    parts = sch.split(k, factors)
    sch.rfactor(parts[which], 0)
    args = [np.random.default_rng(1).random((4, 12), dtype="float32"),
            np.full(4, np.nan, "float32")]
    for target in ("interpreter", "llvm"):
        got = outputs(sch.func, args, target)[1]
        np.testing.assert_allclose(got, args[0].sum(axis=1), rtol=1e-5, err_msg=target)
    check_numbers(before, sch)
    check_replay(before, sch)


def test_rfactor_write_back_skips_slots_the_predicate_masks():
    sch = Schedule(prim(ROW_SUM_4x12))
    _, k = sch.get_loops(sch.get_block("B"))
    k0, _ = sch.split(k, [5, 3])
    sch.rfactor(k0, 0)
    write_back = sch.get(sch.get_block("B"))
    realize = next(loc.node for loc in walk(sch.func.body)
                   if isinstance(loc.node, S.BlockRealize) and loc.node.block is write_back)
    assert realize.predicate.script() == "k_0 * 3 < 12"


def test_rfactor_refuses_a_predicate_that_skips_a_slots_first_iteration():
    before = prim('''
@T.prim_func
def rsum(A: T.Buffer((4, 12), "float32"), B: T.Buffer((4,), "float32")):
    for i, k_0, k_1 in T.grid(4, 4, 3):
        with T.block("B"):
            vi = T.axis.spatial(4, i)
            vk = T.axis.reduce(12, k_0 * 3 + k_1)
            T.where(k_0 == 0 or k_1 >= 1)
            with T.init():
                B[vi] = T.float32(0)
            B[vi] = B[vi] + A[vi, vk]
''')
    sch = Schedule(before)
    _, k_0, _ = sch.get_loops(sch.get_block("B"))
    expect_error(sch, lambda: sch.rfactor(k_0, 0),
                 "rfactor: the predicate `k_0 == 0 or k_1 >= 1` may skip the first iteration of "
                 "loops ['k_1'] while later ones run, so slots of `B_rf` could be updated "
                 "without being initialised")
