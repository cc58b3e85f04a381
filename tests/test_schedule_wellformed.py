"""Issue 9: sequences of schedule primitives a fuzzer found to leave ill-formed programs
(blockize / tensorize followed by cache_read, cache_write, decompose_reduction, split; blockize
after transform_layout). Each result must verify and compute what numpy does, compiled."""

from __future__ import annotations

import numpy as np
import pytest

import tvmscript
from tests.schedule_testing import check_numbers, outputs
from tests.test_schedule_reduction import corpus, prim
from tvmscript import Schedule

PAD_ZERO_FILLED = '''
@T.prim_func
def pad(A: T.Buffer((16, 16), "float32"), B: T.Buffer((18, 18), "float32")):
    for i, j in T.grid(18, 18):
        with T.block("B_zero"):
            vi, vj = T.axis.remap("SS", [i, j])
            B[vi, vj] = T.float32(0)
    for i, j in T.grid(16, 16):
        with T.block("B"):
            vi, vj = T.axis.remap("SS", [i, j])
            B[vi + 1, vj + 1] = A[vi, vj]
'''

PAD_IF_THEN_ELSE = '''
@T.prim_func
def pad(A: T.Buffer((16, 16), "float32"), B: T.Buffer((18, 18), "float32")):
    for i, j in T.grid(18, 18):
        with T.block("B"):
            vi, vj = T.axis.remap("SS", [i, j])
            B[vi, vj] = T.if_then_else(1 <= vi and vi < 17 and 1 <= vj and vj < 17,
                                       A[vi - 1, vj - 1], T.float32(0))
'''


def matmul_numbers(sch: Schedule, before: tvmscript.PrimFunc) -> None:
    """Verified, equal to the unscheduled program (interpreted and compiled) and to numpy."""
    check_numbers(before, sch)
    rng = np.random.default_rng(9)
    a, b = (rng.standard_normal((128, 128)).astype("float32") for _ in range(2))
    c = np.full((128, 128), np.nan, "float32")
    got = outputs(sch.func, [a, b, c], "llvm")[2]
    np.testing.assert_allclose(got, a @ b, rtol=1e-4, atol=1e-3)


def pad_numbers(sch: Schedule, before: tvmscript.PrimFunc) -> None:
    check_numbers(before, sch)
    a = np.random.default_rng(9).standard_normal((16, 16)).astype("float32")
    got = outputs(sch.func, [a, np.full((18, 18), np.nan, "float32")], "llvm")[1]
    np.testing.assert_array_equal(got, np.pad(a, 1))


def blockized_matmul(loop: str = "k") -> tuple[tvmscript.PrimFunc, Schedule]:
    before = corpus("matmul")
    sch = Schedule(before)
    i, j, k = sch.get_loops(sch.get_block("C"))
    sch.blockize({"i": i, "j": j, "k": k}[loop])
    return before, sch


# ---------------------------------------------------------------- defect 1


def test_cache_write_of_a_blockized_init_after_decompose_reduction():
    before, sch = blockized_matmul()
    c_o = sch.get_block("C_o")
    sch.decompose_reduction(c_o, sch.get_loops(c_o)[1])
    sch.cache_write(sch.get_block("C_init"), 0, "global")
    matmul_numbers(sch, before)
    # the copy back covers only what the init block writes in its scope, not all of C
    assert "for ax0, ax1 in T.grid(1, 1):" in sch.func.script()


# ---------------------------------------------------------------- defect 2


@pytest.mark.parametrize("index", [1, 2])
def test_cache_read_inside_a_blockized_reduction(index):
    before, sch = blockized_matmul()
    sch.cache_read(sch.get_block("C"), index, "local")
    matmul_numbers(sch, before)


@pytest.mark.parametrize("text", [PAD_ZERO_FILLED, PAD_IF_THEN_ELSE], ids=["zero", "select"])
@pytest.mark.parametrize("axis", [0, 1])
@pytest.mark.parametrize("factor", [4, 5, 7])
def test_split_unevenly_under_a_blockized_padding_kernel(text, axis, factor):
    before = prim(text)
    sch = Schedule(before)
    sch.blockize(sch.get_loops(sch.get_block("B"))[0])
    loops = sch.get_loops(sch.get_block("B"))
    sch.split(loops[axis], [None, factor])
    pad_numbers(sch, before)


def test_split_unevenly_under_a_tiled_blockized_padding_kernel():
    before = prim(PAD_ZERO_FILLED)
    sch = Schedule(before)
    i, j = sch.get_loops(sch.get_block("B"))
    i0, i1 = sch.split(i, [None, 4])
    sch.blockize(i1)
    _, j = sch.get_loops(sch.get_block("B"))
    sch.split(j, [None, 5])
    pad_numbers(sch, before)


@pytest.mark.parametrize("factor", [3, 4, 5])
def test_split_the_init_loop_inside_a_tensorized_block(factor):
    before, sch = fma_tensorized()
    init_loop, = sch.get_loops(sch.get_block("C_init"))
    sch.split(init_loop, [None, factor])
    fma_numbers(sch, before)


LAYOUTS = {
    "pack_b": (("read", 1), lambda k, n: (n // 16, k, n % 16)),
    "pad_b": (("read", 1), lambda k, n: (k // 48, n, k % 48)),
    "pack_c": (("write", 0), lambda i, j: (j // 16, i, j % 16)),
}


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("factor", [8, 16, 32])
def test_blockize_after_transform_layout(layout, factor):
    before = corpus("matmul")
    sch = Schedule(before)
    c = sch.get_block("C")
    buffer, index_map = LAYOUTS[layout]
    sch.transform_layout(c, buffer, index_map, **({"pad_value": 0.0} if layout == "pad_b" else {}))
    i, j, k = sch.get_loops(c)
    j0, j1 = sch.split(j, [None, factor])
    k0, k1 = sch.split(k, [None, factor])
    sch.reorder(i, j0, k0, j1, k1)
    sch.blockize(j1)
    matmul_numbers(sch, before)


def test_cache_write_of_a_partial_writer_copies_back_only_what_it_wrote():
    before = prim('''
@T.prim_func
def f(A: T.Buffer((16,), "float32"), B: T.Buffer((16,), "float32")):
    for i in range(8):
        with T.block("B"):
            vi = T.axis.spatial(16, i + 4)
            B[vi] = A[vi] * T.float32(2)
''')
    sch = Schedule(before)
    sch.cache_write(sch.get_block("B"), 0, "global")
    check_numbers(before, sch)
    a, b = np.arange(16, dtype="float32"), np.full(16, -1, "float32")
    got = outputs(sch.func, [a, b], "llvm")[1]
    np.testing.assert_array_equal(got, np.r_[[-1] * 4, a[4:12] * 2, [-1] * 4])


# ---------------------------------------------------------------- tensorize, then ...


def fma_tensorized() -> tuple[tvmscript.PrimFunc, Schedule]:
    from backends.intrinsics.x86 import available, missing_features
    from tests.test_tensorize import F32_MATMUL, FMA, fma_schedule

    if not available(FMA):
        pytest.skip(f"this CPU lacks {', '.join(missing_features(FMA))}")
    before = prim(F32_MATMUL)
    return before, fma_schedule(before)


def fma_numbers(sch: Schedule, before: tvmscript.PrimFunc) -> None:
    check_numbers(before, sch)
    rng = np.random.default_rng(9)
    a = rng.standard_normal((64, 32)).astype("float32")
    b = rng.standard_normal((32, 48)).astype("float32")
    got = outputs(sch.func, [a, b, np.full((64, 48), np.nan, "float32")], "llvm")[2]
    np.testing.assert_allclose(got, a @ b, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("kind, index, view", [
    ("cache_write", 0, "T.match_buffer(C_local["),
    ("cache_read", 0, "T.match_buffer(A_local["),
    ("cache_read", 1, "T.match_buffer(B_local["),
])
def test_cache_of_a_tensorized_block_moves_its_match_buffer_views(kind, index, view):
    before, sch = fma_tensorized()
    getattr(sch, kind)(sch.get_block("C_o"), index, "local")
    assert view in sch.func.script()
    fma_numbers(sch, before)


def test_cache_write_of_a_tensorized_block_then_reverse_compute_at():
    before, sch = fma_tensorized()
    c_o = sch.get_block("C_o")
    sch.reverse_compute_at(sch.cache_write(c_o, 0, "local"), sch.get_loops(c_o)[1])
    fma_numbers(sch, before)


def test_blockize_above_a_tensorized_block_rewrites_its_match_buffers():
    before, sch = fma_tensorized()
    c_o = sch.get_block("C_o")
    sch.blockize(sch.get_loops(c_o)[2])
    assert "T.match_buffer(C[vi_o_o, vj_o_o * 8:vj_o_o * 8 + 8]" in sch.func.script()
    fma_numbers(sch, before)


def test_reverse_compute_at_of_a_blockized_consumer_says_why_it_is_refused():
    from tests.schedule_testing import expect_error

    before = prim('''
@T.prim_func
def ew(A: T.Buffer((32, 32), "float32"), C: T.Buffer((32, 32), "float32")):
    B = T.alloc_buffer((32, 32), "float32")
    for i, j in T.grid(32, 32):
        with T.block("B"):
            vi, vj = T.axis.remap("SS", [i, j])
            B[vi, vj] = A[vi, vj] * T.float32(2)
    for i, j in T.grid(32, 32):
        with T.block("C"):
            vi, vj = T.axis.remap("SS", [i, j])
            C[vi, vj] = B[vi, vj] + T.float32(1)
''')
    sch = Schedule(before)
    i, j = sch.get_loops(sch.get_block("C"))
    sch.split(j, [None, 8])
    c_o = sch.blockize(sch.get_loops(sch.get_block("C"))[2])
    i_b = sch.get_loops(sch.get_block("B"))[0]
    expect_error(sch, lambda: sch.reverse_compute_at(c_o, i_b),
                 "block `C_o` cannot be reverse-computed at loop `i`: its region of `B` is not one "
                 "iterator plus a constant, with a constant extent, so some of its instances")


ADD_ONE = '''
@T.prim_func
def add_one(A: T.Buffer((32, 32), "float32"), B: T.Buffer((32, 32), "float32")):
    for i, j in T.grid(32, 32):
        with T.block("B"):
            vi, vj = T.axis.remap("SS", [i, j])
            B[vi, vj] = A[vi, vj] + T.float32(1)
'''


@pytest.mark.parametrize("kind", ["cache_read", "cache_write"])
def test_cache_inside_an_unevenly_tiled_blockized_block(kind):
    """Tiles of 5 over 32: the last tile's copy must stop at the buffer's end (a T.where)."""
    before = prim(ADD_ONE)
    sch = Schedule(before)
    i, j = sch.get_loops(sch.get_block("B"))
    i0, i1 = sch.split(i, [None, 5])
    j0, j1 = sch.split(j, [None, 5])
    sch.reorder(i0, j0, i1, j1)
    sch.blockize(i1)
    getattr(sch, kind)(sch.get_block("B"), 0, "local")
    assert "T.where(vi_o * 5 + ax0 < 32 and vj_o * 5 + ax1 < 32)" in sch.func.script()
    check_numbers(before, sch)
    a = np.random.default_rng(9).standard_normal((32, 32)).astype("float32")
    got = outputs(sch.func, [a, np.full((32, 32), np.nan, "float32")], "llvm")[1]
    np.testing.assert_allclose(got, a + 1, rtol=1e-6)


def test_cache_write_of_a_strided_writer_is_refused():
    """Copying back B[0:15] for a block that writes B[0], B[2], ... would store the cache's
    uninitialised odd elements into B."""
    from tests.schedule_testing import expect_error

    sch = Schedule(prim('''
@T.prim_func
def f(A: T.Buffer((16,), "float32"), B: T.Buffer((16,), "float32")):
    for i in range(8):
        with T.block("B"):
            vi = T.axis.spatial(8, i)
            B[vi * 2] = A[vi * 2] * T.float32(2)
'''))
    block = sch.get_block("B")
    expect_error(sch, lambda: sch.cache_write(block, 0, "global"),
                 "block `B` writes 8 element(s) of `B` spread over 15; a write cache would copy "
                 "back elements it never wrote")
