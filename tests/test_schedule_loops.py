"""Loop primitives: split, fuse, reorder, parallel, vectorize, unroll, bind, annotate,
unannotate, add_unit_loop.

Each primitive: a before → after pair compared structurally with a program written in the
script, numbers of the scheduled kernel (compiled with LLVM and interpreted) against the
unscheduled one compiled with LLVM, and every documented error, with the schedule unchanged
after a failed call.
"""

from __future__ import annotations


import pytest

import tvmscript
from tests.corpus.tir_programs import PROGRAMS
from tests.schedule_testing import check_numbers, expect_error
from tvmscript import Schedule
from tvmscript.ir import stmt as S
from tvmscript.schedule import BlockRV, LoopRV
from tvmscript.schedule.state import walk


def prim(text: str) -> tvmscript.PrimFunc:
    return tvmscript.from_source(text)


def corpus(name: str) -> tvmscript.PrimFunc:
    return prim(PROGRAMS[name])



def same(sch: Schedule, expected: tvmscript.PrimFunc) -> None:
    tvmscript.assert_structural_equal(sch.func, expected)


ELEMWISE = prim('''
@T.prim_func
def ew(A: T.Buffer((128, 64), "float32"), B: T.Buffer((128, 64), "float32")):
    for i, j in T.grid(128, 64):
        with T.block("B"):
            vi, vj = T.axis.remap("SS", [i, j])
            B[vi, vj] = A[vi, vj] * T.float32(2)
''')

SUM = prim('''
@T.prim_func
def rsum(A: T.Buffer((64, 32), "float32"), B: T.Buffer((64,), "float32")):
    for i, k in T.grid(64, 32):
        with T.block("B"):
            vi, vk = T.axis.remap("SR", [i, k])
            with T.init():
                B[vi] = T.float32(0)
            B[vi] = B[vi] + A[vi, vk]
''')


def loops_of(sch: Schedule, block: str) -> list:
    return sch.get_loops(sch.get_block(block))


# ---------------------------------------------------------------- split


def test_split_divisible() -> None:
    sch = Schedule(ELEMWISE)
    i, _ = loops_of(sch, "B")
    outer, inner = sch.split(i, factors=[None, 32])
    expected = prim('''
@T.prim_func
def ew(A: T.Buffer((128, 64), "float32"), B: T.Buffer((128, 64), "float32")):
    for i_0, i_1, j in T.grid(4, 32, 64):
        with T.block("B"):
            vi = T.axis.spatial(128, i_0 * 32 + i_1)
            vj = T.axis.spatial(64, j)
            T.reads(A[vi, vj])
            T.writes(B[vi, vj])
            B[vi, vj] = A[vi, vj] * T.float32(2)
''')
    same(sch, expected)
    assert sch.get(outer).extent.value == 4 and sch.get(inner).extent.value == 32
    check_numbers(ELEMWISE, sch)


def test_split_non_divisible_adds_predicate() -> None:
    sch = Schedule(ELEMWISE)
    _, j = loops_of(sch, "B")
    sch.split(j, factors=[None, 5])
    expected = prim('''
@T.prim_func
def ew(A: T.Buffer((128, 64), "float32"), B: T.Buffer((128, 64), "float32")):
    for i, j_0, j_1 in T.grid(128, 13, 5):
        with T.block("B"):
            vi = T.axis.spatial(128, i)
            vj = T.axis.spatial(64, j_0 * 5 + j_1)
            T.where(j_0 * 5 + j_1 < 64)
            T.reads(A[vi, vj])
            T.writes(B[vi, vj])
            B[vi, vj] = A[vi, vj] * T.float32(2)
''')
    same(sch, expected)
    check_numbers(ELEMWISE, sch)


def test_split_three_way_with_oversized_product() -> None:
    sch = Schedule(ELEMWISE)
    i, _ = loops_of(sch, "B")
    loops = sch.split(i, factors=[3, 7, 8])  # 168 >= 128: allowed, guarded
    assert len(loops) == 3
    assert "T.where(i_0 * 56 + i_1 * 8 + i_2 < 128)" in sch.mod.script()
    check_numbers(ELEMWISE, sch)


def test_split_preserve_unit_iters() -> None:
    for preserve in (True, False):
        sch = Schedule(ELEMWISE)
        i, _ = loops_of(sch, "B")
        i0, i1 = sch.split(i, factors=[1, 128], preserve_unit_iters=preserve)
        binding = sch.loc(sch.get_block("B")).path[-2].iter_values[0]
        expected = sch.get(i0).loop_var * 128 + sch.get(i1).loop_var if preserve else sch.get(i1).loop_var
        tvmscript.assert_structural_equal(binding, expected)
        check_numbers(ELEMWISE, sch, llvm=False)


def test_split_loop_without_blocks_guards_with_if() -> None:
    before = corpus("loop_min")  # for i in range(1, 63): no blocks, non-zero min
    sch = Schedule(before)
    sch.split(LoopRV(before.body.seq[0].loop_var), factors=[None, 8])
    expected = prim('''
@T.prim_func
def shifted(A: T.Buffer((64,), "float32"), B: T.Buffer((64,), "float32")):
    for i_0, i_1 in T.grid(8, 8):
        if i_0 * 8 + i_1 < 62:
            B[i_0 * 8 + i_1 + 1] = (A[i_0 * 8 + i_1 + 1 - 1] + A[i_0 * 8 + i_1 + 1] + A[i_0 * 8 + i_1 + 1 + 1]) / T.float32(3)
    for i in range(0, 1):
        B[i] = A[i]
''')
    same(sch, expected)
    check_numbers(before, sch)


def test_split_matmul_and_conv() -> None:
    for name, block in (("matmul", "C"), ("conv2d_pad", "conv")):
        before = corpus(name)
        sch = Schedule(before)
        loops = loops_of(sch, block)
        sch.split(loops[1], factors=[None, 3])
        sch.split(loops[-1], factors=[2, None])
        check_numbers(before, sch)


@pytest.mark.parametrize("factors, message", [
    ([2, 32], "multiply to 64, less than its extent 128"),
    ([None, None, 4], "at most one None"),
    ([None, 0], "must be positive, got 0"),
    ([-2, None], "must be positive, got -2"),
    ([], "non-empty list of factors"),
    ([1.5, None], "must be an integer or None"),
])
def test_split_errors(factors: list, message: str) -> None:
    sch = Schedule(ELEMWISE)
    i, _ = loops_of(sch, "B")
    expect_error(sch, lambda: sch.split(i, factors=factors), message)


def test_split_stale_loop_handle() -> None:
    sch = Schedule(ELEMWISE)
    i, _ = loops_of(sch, "B")
    sch.split(i, factors=[None, 32])
    expect_error(sch, lambda: sch.split(i, factors=[None, 2]), "loop `i` is no longer in the function")


# ---------------------------------------------------------------- fuse


def test_fuse_two_loops() -> None:
    sch = Schedule(ELEMWISE)
    i, j = loops_of(sch, "B")
    sch.fuse(i, j)
    expected = prim('''
@T.prim_func
def ew(A: T.Buffer((128, 64), "float32"), B: T.Buffer((128, 64), "float32")):
    for i_j_fused in range(8192):
        with T.block("B"):
            vi = T.axis.spatial(128, i_j_fused // 64)
            vj = T.axis.spatial(64, i_j_fused % 64)
            T.reads(A[vi, vj])
            T.writes(B[vi, vj])
            B[vi, vj] = A[vi, vj] * T.float32(2)
''')
    same(sch, expected)
    check_numbers(ELEMWISE, sch)


def test_fuse_three_loops_of_pooling_and_split_back() -> None:
    before = corpus("pooling")
    sch = Schedule(before)
    _, c, h, w, _, _ = loops_of(sch, "pool")
    fused = sch.fuse(c, h, w)
    assert sch.get(fused).extent.value == 256
    sch.split(fused, factors=[None, 16])
    check_numbers(before, sch)


def test_fuse_reduction_loops_of_conv() -> None:
    before = corpus("conv2d_pad")
    sch = Schedule(before)
    loops = loops_of(sch, "conv")
    sch.fuse(*loops[4:])
    assert "T.axis.reduce(8, c_r_s_fused // 9)" in sch.mod.script()
    check_numbers(before, sch)


def test_fuse_not_nested() -> None:
    sch = Schedule(corpus("softmax"))
    i, _ = loops_of(sch, "max")
    _, k2 = loops_of(sch, "exp")
    expect_error(sch, lambda: sch.fuse(i, k2), "is not the only statement in the body of loop `i`")


def test_fuse_wrong_order_and_duplicates() -> None:
    sch = Schedule(ELEMWISE)
    i, j = loops_of(sch, "B")
    expect_error(sch, lambda: sch.fuse(j, i), "cannot fuse loop `j` and loop `i`")
    expect_error(sch, lambda: sch.fuse(i, i), "fuse got loop `i` twice")
    expect_error(sch, lambda: sch.fuse(), "fuse needs at least one loop")


def test_fuse_not_perfect() -> None:
    # a loop whose body holds a sequence cannot be fused with one of the statements
    sch2 = Schedule(prim('''
@T.prim_func
def two(A: T.Buffer((8, 8), "float32"), B: T.Buffer((8, 8), "float32")):
    for i in range(8):
        for j in range(8):
            with T.block("A"):
                vi, vj = T.axis.remap("SS", [i, j])
                A[vi, vj] = T.float32(1)
        for j in range(8):
            with T.block("B"):
                vi, vj = T.axis.remap("SS", [i, j])
                B[vi, vj] = A[vi, vj]
'''))
    i, j = loops_of(sch2, "A")
    expect_error(sch2, lambda: sch2.fuse(i, j), "not the only statement")


# ---------------------------------------------------------------- reorder


def test_reorder_matmul() -> None:
    before = corpus("matmul")
    sch = Schedule(before)
    i, _, k = loops_of(sch, "C")
    sch.reorder(k, i)
    expected = prim('''
@T.prim_func
def matmul(A: T.Buffer((128, 128), "float32"), B: T.Buffer((128, 128), "float32"), C: T.Buffer((128, 128), "float32")):
    for k, j, i in T.grid(128, 128, 128):
        with T.block("C"):
            vi = T.axis.spatial(128, i)
            vj = T.axis.spatial(128, j)
            vk = T.axis.reduce(128, k)
            T.reads(A[vi, vk], B[vk, vj])
            T.writes(C[vi, vj])
            with T.init():
                C[vi, vj] = T.float32(0)
            C[vi, vj] = C[vi, vj] + A[vi, vk] * B[vk, vj]
''')
    same(sch, expected)
    check_numbers(before, sch)


def test_reorder_after_split_tiles() -> None:
    before = corpus("matmul")
    sch = Schedule(before)
    i, j, k = loops_of(sch, "C")
    i0, i1 = sch.split(i, factors=[None, 16])
    j0, j1 = sch.split(j, factors=[None, 16])
    sch.reorder(i0, j0, i1, j1)
    names = [sch.get(lp).loop_var.name for lp in loops_of(sch, "C")]
    assert names == ["i_0", "j_0", "i_1", "j_1", "k"]
    sch.reorder(k, i1)  # keeps kinds and the loops it does not name
    assert [sch.get(lp).loop_var.name for lp in loops_of(sch, "C")] == ["i_0", "j_0", "k", "j_1", "i_1"]
    check_numbers(before, sch)


def test_reorder_keeps_kinds_and_annotations() -> None:
    sch = Schedule(ELEMWISE)
    i, j = loops_of(sch, "B")
    sch.parallel(i)
    sch.annotate(j, "note", 3)
    sch.reorder(j, i)
    expected = prim('''
@T.prim_func
def ew(A: T.Buffer((128, 64), "float32"), B: T.Buffer((128, 64), "float32")):
    for j in T.serial(64, annotations={"note": 3}):
        for i in T.parallel(128):
            with T.block("B"):
                vi, vj = T.axis.remap("SS", [i, j])
                T.reads(A[vi, vj])
                T.writes(B[vi, vj])
                B[vi, vj] = A[vi, vj] * T.float32(2)
''')
    same(sch, expected)
    check_numbers(ELEMWISE, sch)


def test_reorder_errors() -> None:
    sch = Schedule(corpus("softmax"))
    i, k = loops_of(sch, "max")
    _, k2 = loops_of(sch, "exp")
    expect_error(sch, lambda: sch.reorder(k, k2), "they are not nested in one another")
    expect_error(sch, lambda: sch.reorder(k, i, k), "reorder got loop `k` twice")
    two = Schedule(prim('''
@T.prim_func
def two(A: T.Buffer((8, 8), "float32"), B: T.Buffer((8, 8), "float32")):
    for i in range(8):
        for j in range(8):
            with T.block("A"):
                vi, vj = T.axis.remap("SS", [i, j])
                A[vi, vj] = T.float32(1)
        for j in range(8):
            with T.block("B"):
                vi, vj = T.axis.remap("SS", [i, j])
                B[vi, vj] = A[vi, vj]
'''))
    i, j = loops_of(two, "A")
    expect_error(two, lambda: two.reorder(j, i), "not a perfect chain")


def test_reorder_dependent_extent() -> None:
    sch = Schedule(prim('''
@T.prim_func
def tri(A: T.Buffer((16, 16), "float32")):
    for i in range(16):
        for j in range(i):
            A[i, j] = T.float32(1)
'''))
    outer = sch.func.body
    i, j = LoopRV(outer.loop_var), LoopRV(outer.body.loop_var)
    expect_error(sch, lambda: sch.reorder(j, i), "the range of loop `j` depends on loop `i`")


def _all_loops(sch: Schedule) -> list:
    return [LoopRV(loc.node.loop_var) for loc in walk(sch.func.body) if isinstance(loc.node, S.For)]


def test_reorder_scan_iterator_error() -> None:
    sch = Schedule(prim('''
@T.prim_func
def scan(A: T.Buffer((8, 16), "float32"), B: T.Buffer((8, 16), "float32")):
    for i, j in T.grid(8, 16):
        with T.block("B"):
            vi = T.axis.spatial(8, i)
            vj = T.axis.scan(16, j)
            B[vi, vj] = A[vi, vj]
'''))
    i, j = loops_of(sch, "B")
    expect_error(sch, lambda: sch.reorder(j, i), "bound to the scan iterator `vj` of block `B`")


# ---------------------------------------------------------------- parallel / vectorize / unroll


def test_parallel_vectorize_unroll() -> None:
    before = corpus("matmul")
    sch = Schedule(before)
    i, j, k = loops_of(sch, "C")
    sch.reorder(i, k, j)
    _, j1 = sch.split(j, factors=[None, 8])
    sch.parallel(i)
    sch.vectorize(j1)
    _, k1 = sch.split(k, factors=[None, 4])
    sch.unroll(k1)
    expected = prim('''
@T.prim_func
def matmul(A: T.Buffer((128, 128), "float32"), B: T.Buffer((128, 128), "float32"), C: T.Buffer((128, 128), "float32")):
    for i in T.parallel(128):
        for k_0 in range(32):
            for k_1 in T.unroll(4):
                for j_0 in range(16):
                    for j_1 in T.vectorized(8):
                        with T.block("C"):
                            vi = T.axis.spatial(128, i)
                            vj = T.axis.spatial(128, j_0 * 8 + j_1)
                            vk = T.axis.reduce(128, k_0 * 4 + k_1)
                            T.reads(A[vi, vk], B[vk, vj])
                            T.writes(C[vi, vj])
                            with T.init():
                                C[vi, vj] = T.float32(0)
                            C[vi, vj] = C[vi, vj] + A[vi, vk] * B[vk, vj]
''')
    same(sch, expected)
    check_numbers(before, sch)


@pytest.mark.parametrize("name, block", [("softmax", "exp"), ("layer_norm", "norm"),
                                         ("elementwise_blocks_relu", "relu")])
def test_parallel_vectorize_corpus(name: str, block: str) -> None:
    before = corpus(name)
    sch = Schedule(before)
    i, j = loops_of(sch, block)
    sch.parallel(i)
    _, j1 = sch.split(j, factors=[None, 4])
    sch.vectorize(j1)
    check_numbers(before, sch)


def test_parallel_spatial_loop_of_reduction() -> None:
    before = corpus("softmax")
    sch = Schedule(before)
    for block in ("max", "sum"):
        i, k = loops_of(sch, block)
        sch.parallel(i)
        sch.unroll(k)  # unroll has no reduction check
    check_numbers(before, sch)


@pytest.mark.parametrize("primitive, word", [("parallel", "parallelized"), ("vectorize", "vectorized")])
def test_reduction_loop_cannot_be_parallel_or_vector(primitive: str, word: str) -> None:
    sch = Schedule(corpus("matmul"))
    _, _, k = loops_of(sch, "C")
    expect_error(sch, lambda: getattr(sch, primitive)(k),
                 f"loop `k` carries a reduction and cannot be {word} (it is bound to the "
                 "reduction iterator `vk` of block `C`)")


def test_fused_reduction_loop_is_still_reduction() -> None:
    sch = Schedule(SUM)
    i, k = loops_of(sch, "B")
    fused = sch.fuse(i, k)
    expect_error(sch, lambda: sch.parallel(fused), "carries a reduction")


def test_vectorize_symbolic_extent_allowed() -> None:
    before = corpus("symbolic_shape")
    sch = Schedule(before)
    loops = _all_loops(sch)
    sch.vectorize(loops[-1])
    assert sch.get(loops[-1]).kind == S.ForKind.VECTORIZED
    tvmscript.verify(sch.func)


def test_opaque_iterator_cannot_be_parallel() -> None:
    sch = Schedule(prim('''
@T.prim_func
def op(A: T.Buffer((16,), "float32")):
    for i in range(16):
        with T.block("A"):
            vi = T.axis.opaque(16, i)
            A[vi] = T.float32(1)
'''))
    i, = loops_of(sch, "A")
    expect_error(sch, lambda: sch.parallel(i), "loop `i` cannot be parallelized: it is bound to the "
                 "opaque iterator `vi` of block `A`")


# ---------------------------------------------------------------- bind


def test_bind_threads() -> None:
    before = corpus("vector_add_range")
    sch = Schedule(before)
    i, = loops_of(sch, "C")
    bx, tx = sch.split(i, factors=[None, 128])
    sch.bind(bx, "blockIdx.x")
    sch.bind(tx, "threadIdx.x")
    expected = prim('''
@T.prim_func
def add(A: T.Buffer((1024,), "float32"), B: T.Buffer((1024,), "float32"), C: T.Buffer((1024,), "float32")):
    for i_0 in T.thread_binding(8, thread="blockIdx.x"):
        for i_1 in T.thread_binding(128, thread="threadIdx.x"):
            with T.block("C"):
                vi = T.axis.spatial(1024, i_0 * 128 + i_1)
                T.reads(A[vi], B[vi])
                T.writes(C[vi])
                C[vi] = A[vi] + B[vi]
''')
    same(sch, expected)
    check_numbers(before, sch, llvm=False)  # GPU launches run only in the interpreter on a CPU


def test_bind_reduction_to_thread_is_allowed_to_block_is_not() -> None:
    sch = Schedule(SUM)
    _, k = loops_of(sch, "B")
    sch.bind(k, "threadIdx.x")  # cross-thread reduction
    sch2 = Schedule(SUM)
    _, k = loops_of(sch2, "B")
    expect_error(sch2, lambda: sch2.bind(k, "blockIdx.x"),
                 "loop `k` carries a reduction and cannot be bound to blockIdx.x")


def test_bind_invalid_tag() -> None:
    sch = Schedule(ELEMWISE)
    i, _ = loops_of(sch, "B")
    expect_error(sch, lambda: sch.bind(i, "threadIdx.w"), "cannot bind loop `i` to 'threadIdx.w': not a thread axis")


def test_parallel_after_bind_clears_thread_tag() -> None:
    sch = Schedule(ELEMWISE)
    i, _ = loops_of(sch, "B")
    sch.bind(i, "blockIdx.x")
    sch.parallel(i)
    assert sch.get(i).thread_tag == ""
    check_numbers(ELEMWISE, sch)


# ---------------------------------------------------------------- annotate / unannotate


def test_annotate_loop_and_block() -> None:
    sch = Schedule(ELEMWISE)
    b = sch.get_block("B")
    i, j = sch.get_loops(b)
    sch.annotate(i, "pragma_auto_unroll_max_step", 16)
    sch.annotate(b, "meta_schedule.tiling_structure", "SSRSRS")
    sch.annotate(j, "stages", [0, 1])
    expected = prim('''
@T.prim_func
def ew(A: T.Buffer((128, 64), "float32"), B: T.Buffer((128, 64), "float32")):
    for i in T.serial(128, annotations={"pragma_auto_unroll_max_step": 16}):
        for j in T.serial(64, annotations={"stages": [0, 1]}):
            with T.block("B"):
                vi, vj = T.axis.remap("SS", [i, j])
                T.reads(A[vi, vj])
                T.writes(B[vi, vj])
                T.block_attr({"meta_schedule.tiling_structure": "SSRSRS"})
                B[vi, vj] = A[vi, vj] * T.float32(2)
''')
    same(sch, expected)
    check_numbers(ELEMWISE, sch)
    sch.unannotate(i, "pragma_auto_unroll_max_step")
    sch.unannotate(b, "meta_schedule.tiling_structure")
    sch.unannotate(j, "stages")
    same(sch, ELEMWISE)


def test_annotate_replaces_value() -> None:
    sch = Schedule(ELEMWISE)
    i, _ = loops_of(sch, "B")
    sch.annotate(i, "k", 1)
    sch.annotate(i, "k", 2.5)
    assert dict(sch.get(i).annotations) == {"k": 2.5}


def test_annotation_errors() -> None:
    sch = Schedule(ELEMWISE)
    b = sch.get_block("B")
    i, _ = sch.get_loops(b)
    sch.annotate(i, "x", 1)
    expect_error(sch, lambda: sch.unannotate(i, "y"), "loop `i` has no annotation `y` (it has `x`)")
    expect_error(sch, lambda: sch.unannotate(b, "y"), "block `B` has no annotation `y` (it has none)")
    expect_error(sch, lambda: sch.annotate(i, 3, 1),
                 "annotate: argument `key` must be a string, got 3")
    expect_error(sch, lambda: sch.annotate(i, "z", object()), "annotation values are")
    expect_error(sch, lambda: sch.annotate("i", "z", 1),
                 "annotate: argument `target` must be a loop handle (LoopRV) or a block handle "
                 "(BlockRV), got 'i'")


# ---------------------------------------------------------------- add_unit_loop


def test_add_unit_loop_above_block_and_loop() -> None:
    sch = Schedule(ELEMWISE)
    b = sch.get_block("B")
    i, _ = sch.get_loops(b)
    u = sch.add_unit_loop(b)
    v = sch.add_unit_loop(i)
    expected = prim('''
@T.prim_func
def ew(A: T.Buffer((128, 64), "float32"), B: T.Buffer((128, 64), "float32")):
    for u_1, i, j, u in T.grid(1, 128, 64, 1):
        with T.block("B"):
            vi = T.axis.spatial(128, i)
            vj = T.axis.spatial(64, j)
            T.reads(A[vi, vj])
            T.writes(B[vi, vj])
            B[vi, vj] = A[vi, vj] * T.float32(2)
''')
    same(sch, expected)
    assert sch.get(sch.get_loops(b)[0]).loop_var is sch.get(v).loop_var
    assert sch.get(u).extent.value == 1
    check_numbers(ELEMWISE, sch)


def test_add_unit_loop_root_error() -> None:
    sch = Schedule(ELEMWISE)
    root = BlockRV("root")
    expect_error(sch, lambda: sch.add_unit_loop(root), "cannot add a loop above the root block")


# ---------------------------------------------------------------- combined, whole corpus programs


def test_tile_and_parallelize_conv2d() -> None:
    before = corpus("conv2d_pad")
    sch = Schedule(before)
    n, k, h, w, c, r, s = loops_of(sch, "conv")
    k0, k1 = sch.split(k, factors=[None, 4])
    w0, w1 = sch.split(w, factors=[None, 7])
    sch.reorder(k0, h, w0, c, r, s, k1, w1)
    fused = sch.fuse(n, k0, h)
    sch.parallel(fused)
    sch.unroll(s)
    sch.vectorize(w1)
    tvmscript.verify(sch.func)
    check_numbers(before, sch)


def test_loops_under_different_blocks() -> None:
    before = corpus("nested_blocks")
    sch = Schedule(before)
    (io,) = loops_of(sch, "outer")
    ii, j = loops_of(sch, "inner")
    expect_error(sch, lambda: sch.reorder(ii, io),
                 "cannot reorder loop `io` and loop `ii`: they are under different blocks (block `outer`")
    expect_error(sch, lambda: sch.fuse(io, ii), "is not the only statement in the body of loop `io`")
    sch.reorder(j, ii)  # inside the inner scope: fine
    sch.parallel(io)
    sch.split(ii, factors=[None, 4])  # the predicate-free split keeps the inner bindings affine
    check_numbers(before, sch)
