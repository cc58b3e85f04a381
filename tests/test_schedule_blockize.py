"""blockize: before → after pairs in the script, numbers (LLVM and interpreter) on element-wise
chains, matmul with 2- and 3-level tilings, conv2d, softmax and pooling, errors, trace replay."""

from __future__ import annotations

import pytest

import tvmscript
from tests.schedule_testing import check_numbers, expect_error
from tests.test_schedule_reduction import check_replay, corpus, prim
from tvmscript import Schedule

SCALE = '''
@T.prim_func
def scale(A: T.Buffer((128, 128), "float32"), B: T.Buffer((128, 128), "float32")):
    for i_0, j_0, i_1, j_1 in T.grid(8, 8, 16, 16):
        with T.block("B"):
            vi = T.axis.spatial(128, i_0 * 16 + i_1)
            vj = T.axis.spatial(128, j_0 * 16 + j_1)
            T.reads(A[vi, vj])
            T.writes(B[vi, vj])
            B[vi, vj] = A[vi, vj] * T.float32(2)
'''


def test_blockize_elementwise_matches_expected():
    before = prim(SCALE)
    sch = Schedule(before)
    b = sch.get_block("B")
    loops = sch.get_loops(b)
    outer = sch.blockize(loops[2])
    assert outer.name == "B_o"
    expected = prim('''
@T.prim_func
def scale(A: T.Buffer((128, 128), "float32"), B: T.Buffer((128, 128), "float32")):
    for i_0, j_0 in T.grid(8, 8):
        with T.block("B_o"):
            vi_o, vj_o = T.axis.remap("SS", [i_0, j_0])
            T.reads(A[vi_o * 16:vi_o * 16 + 16, vj_o * 16:vj_o * 16 + 16])
            T.writes(B[vi_o * 16:vi_o * 16 + 16, vj_o * 16:vj_o * 16 + 16])
            for i_1, j_1 in T.grid(16, 16):
                with T.block("B"):
                    vi_i, vj_i = T.axis.remap("SS", [i_1, j_1])
                    T.reads(A[vi_o * 16 + vi_i, vj_o * 16 + vj_i])
                    T.writes(B[vi_o * 16 + vi_i, vj_o * 16 + vj_i])
                    B[vi_o * 16 + vi_i, vj_o * 16 + vj_i] = A[vi_o * 16 + vi_i, vj_o * 16 + vj_i] * T.float32(2)
''')
    tvmscript.assert_structural_equal(sch.func, expected)
    check_numbers(before, sch)
    check_replay(before, sch)
    # the printed result parses back to the same function
    tvmscript.assert_structural_equal(prim(sch.func.script()), sch.func)


def _tiled_matmul(sch: Schedule, tiles: list[list[int]], order: str):
    b = sch.get_block("C")
    i, j, k = sch.get_loops(b)
    parts = {"i": sch.split(i, tiles[0]), "j": sch.split(j, tiles[1]), "k": sch.split(k, tiles[2])}
    loops = [parts[name][int(level)] for name, level in order.split()]
    sch.reorder(*loops)
    return b, loops


def test_blockize_matmul_two_level_tiling_matches_expected():
    before = corpus("matmul")
    sch = Schedule(before)
    _, loops = _tiled_matmul(sch, [[None, 16]] * 3, "i0 j0 k0 i1 j1 k1")
    outer = sch.blockize(loops[3])
    assert outer.name == "C_o"
    # C_o holds the init, so its reads leave C out (TVM's rule); the inner C lost its init
    # and reads C first again
    expected = prim('''
@T.prim_func
def matmul(A: T.Buffer((128, 128), "float32"), B: T.Buffer((128, 128), "float32"), C: T.Buffer((128, 128), "float32")):
    for i_0, j_0, k_0 in T.grid(8, 8, 8):
        with T.block("C_o"):
            vi_o, vj_o, vk_o = T.axis.remap("SSR", [i_0, j_0, k_0])
            T.reads(A[vi_o * 16:vi_o * 16 + 16, vk_o * 16:vk_o * 16 + 16], B[vk_o * 16:vk_o * 16 + 16, vj_o * 16:vj_o * 16 + 16])
            T.writes(C[vi_o * 16:vi_o * 16 + 16, vj_o * 16:vj_o * 16 + 16])
            with T.init():
                for i_1_init, j_1_init in T.grid(16, 16):
                    with T.block("C_init"):
                        vi_i_init, vj_i_init = T.axis.remap("SS", [i_1_init, j_1_init])
                        T.reads()
                        T.writes(C[vi_o * 16 + vi_i_init, vj_o * 16 + vj_i_init])
                        C[vi_o * 16 + vi_i_init, vj_o * 16 + vj_i_init] = T.float32(0)
            for i_1, j_1, k_1 in T.grid(16, 16, 16):
                with T.block("C"):
                    vi_i, vj_i, vk_i = T.axis.remap("SSR", [i_1, j_1, k_1])
                    T.reads(C[vi_o * 16 + vi_i, vj_o * 16 + vj_i], A[vi_o * 16 + vi_i, vk_o * 16 + vk_i], B[vk_o * 16 + vk_i, vj_o * 16 + vj_i])
                    T.writes(C[vi_o * 16 + vi_i, vj_o * 16 + vj_i])
                    C[vi_o * 16 + vi_i, vj_o * 16 + vj_i] = C[vi_o * 16 + vi_i, vj_o * 16 + vj_i] + A[vi_o * 16 + vi_i, vk_o * 16 + vk_i] * B[vk_o * 16 + vk_i, vj_o * 16 + vj_i]
''')
    tvmscript.assert_structural_equal(sch.func, expected)
    tvmscript.assert_structural_equal(prim(sch.func.script()), sch.func)
    check_numbers(before, sch)
    check_replay(before, sch)


@pytest.mark.parametrize("tiles,order,at", [
    ([[None, 4, 8], [None, 4, 8], [None, 16]], "i0 j0 i1 j1 k0 i2 j2 k1", 5),
    ([[None, 4, 8], [None, 4, 8], [None, 16]], "i0 j0 i1 j1 k0 i2 j2 k1", 2),
    ([[None, 4, 8], [None, 4, 8], [None, 4, 4]], "i0 j0 k0 i1 j1 k1 i2 j2 k2", 6),
    ([[None, 4, 8], [None, 4, 8], [None, 4, 4]], "i0 j0 k0 i1 j1 k1 i2 j2 k2", 3),
    ([[None, 16], [None, 16], [None, 16]], "i0 j0 i1 k0 j1 k1", 2),  # i1 inside, k split
    ([[None, 16], [None, 16], [None, 16]], "i0 j0 k0 i1 j1 k1", 0),  # whole nest
])
def test_blockize_matmul_multi_level_tilings(tiles, order, at):
    before = corpus("matmul")
    sch = Schedule(before)
    _, loops = _tiled_matmul(sch, tiles, order)
    outer = sch.blockize(loops[at])
    check_numbers(before, sch)
    # the blockized result can be decomposed and blockized again one level up
    if at >= 3:
        sch.blockize(sch.get_loops(outer)[-1])
        check_numbers(before, sch)
    check_replay(before, sch)


def test_blockize_split_reduction_inner_only():
    """Only reduction loops inside: the outer block is spatial and keeps an init nest."""
    before = corpus("matmul")
    sch = Schedule(before)
    b = sch.get_block("C")
    _, _, k = sch.get_loops(b)
    _, k1 = sch.split(k, [None, 32])
    outer = sch.blockize(k1)
    blk = sch.get(outer)
    assert [iv.iter_type.value for iv in blk.iter_vars] == ["spatial", "spatial", "reduce"]
    check_numbers(before, sch)


@pytest.mark.parametrize("name,block,depth", [
    ("conv2d_pad", "conv", 4), ("conv2d_pad", "pad", 2), ("softmax", "exp", 1),
    ("softmax", "sum", 1), ("pooling", "pool", 4), ("elementwise_blocks_relu", None, 1),
    ("layer_norm", "stats", 1),
])
def test_blockize_preserves_numbers(name, block, depth):
    before = corpus(name)
    sch = Schedule(before)
    names = _blocks(before) if block is None else [block]
    for bname in names:
        b = sch.get_block(bname)
        loops = sch.get_loops(b)
        sch.blockize(loops[min(depth, len(loops) - 1)])
    check_numbers(before, sch)


def _blocks(func):
    from tvmscript.schedule.state import block_names

    return block_names(func)


def test_blockize_with_predicate_from_uneven_split():
    before = prim('''
@T.prim_func
def f(A: T.Buffer((100,), "float32"), B: T.Buffer((100,), "float32")):
    for i in range(100):
        with T.block("B"):
            vi = T.axis.spatial(100, i)
            B[vi] = A[vi] + T.float32(1)
''')
    sch = Schedule(before)
    b = sch.get_block("B")
    i, = sch.get_loops(b)
    _, i1 = sch.split(i, [None, 16])
    sch.blockize(i1)
    check_numbers(before, sch)


def test_blockize_errors():
    two = prim('''
@T.prim_func
def f(A: T.Buffer((16,), "float32"), B: T.Buffer((16,), "float32"), C: T.Buffer((16,), "float32")):
    for i in range(16):
        with T.block("B"):
            vi = T.axis.spatial(16, i)
            B[vi] = A[vi]
        with T.block("C"):
            vi = T.axis.spatial(16, i)
            C[vi] = A[vi]
''')
    sch = Schedule(two)
    i, = sch.get_loops(sch.get_block("B"))
    expect_error(sch, lambda: sch.blockize(i), "blockize", "loops from `i` down",
                 "exactly one block")
    odd = prim('''
@T.prim_func
def f(A: T.Buffer((64,), "float32"), B: T.Buffer((64,), "float32")):
    for i0, i1 in T.grid(10, 4):
        with T.block("B"):
            vi = T.axis.spatial(64, i0 * 6 + i1)
            B[vi] = A[vi]
''')
    sch = Schedule(odd)
    _, i1 = sch.get_loops(sch.get_block("B"))
    expect_error(sch, lambda: sch.blockize(i1), "iterator `vi` of block `B`",
                 "cannot be divided")


def test_blockize_reduction_with_uneven_split_guards_the_moved_init():
    before = corpus("layer_norm")
    sch = Schedule(before)
    b = sch.get_block("stats")
    i, _ = sch.get_loops(b)
    _, i1 = sch.split(i, [None, 3])
    sch.blockize(i1)
    init = sch.get(sch.get_block("stats_init"))
    assert init is not None
    check_numbers(before, sch)
    check_replay(before, sch)
