"""The CUDA emulator: lowered GPU kernels run on the CPU with barriers, warps and race checks."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tvmscript
from backends.cuda.emulator import EmulatorBarrierError, EmulatorError, EmulatorRaceError, emulate
from backends.cuda.emulator.collectives import (
    CollectiveError,
    Ref,
    WarpCall,
    lookup_collective,
    register_collective,
    unregister_collective,
)


def kernel(text: str) -> tvmscript.PrimFunc:
    return tvmscript.from_source(text)


# ---------------------------------------------------------------- elementwise and scalars

VECTOR_ADD = """
@T.prim_func
def add(A: T.Buffer((1000,), "float32"), B: T.Buffer((1000,), "float32"),
        C: T.Buffer((1000,), "float32")):
    T.func_attr({"global_symbol": "add_kernel", "tir.noalias": True})
    bx = T.launch_thread("blockIdx.x", 8)
    tx = T.launch_thread("threadIdx.x", 128)
    if bx * 128 + tx < 1000:
        C[bx * 128 + tx] = A[bx * 128 + tx] + B[bx * 128 + tx]
"""


@pytest.mark.parametrize("check_races", [True, False])
def test_vector_add_over_blocks(check_races: bool) -> None:
    rng = np.random.default_rng(0)
    a, b = rng.random(1000, dtype=np.float32), rng.random(1000, dtype=np.float32)
    c = np.full(1000, -1, np.float32)
    emulate(kernel(VECTOR_ADD), [a, b, c], check_races=check_races)
    np.testing.assert_array_equal(c, a + b)


def test_arguments_of_any_shape_with_the_right_size_are_written_in_place() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.random((10, 100), dtype=np.float32), rng.random((1000,), dtype=np.float32)
    c = np.zeros((20, 50), np.float32)
    emulate(kernel(VECTOR_ADD), [a, b, c])
    np.testing.assert_array_equal(c.reshape(-1), a.reshape(-1) + b)


SYMBOLIC = """
@T.prim_func
def scale(a: T.handle, b: T.handle, n: T.int32, alpha: T.float32):
    T.func_attr({"global_symbol": "scale_kernel", "tir.noalias": True})
    A = T.match_buffer(a, (n,), "float32")
    B = T.match_buffer(b, (n,), "float32")
    bx = T.launch_thread("blockIdx.x", (n + 63) // 64)
    tx = T.launch_thread("threadIdx.x", 64)
    if bx * 64 + tx < n:
        B[bx * 64 + tx] = A[bx * 64 + tx] * alpha
"""


@pytest.mark.parametrize("n", [1, 64, 200])
def test_scalar_params_and_symbolic_grid(n: int) -> None:
    a = np.arange(n, dtype=np.float32)
    b = np.zeros(n, np.float32)
    emulate(kernel(SYMBOLIC), [a, b, n, 2.5])
    np.testing.assert_array_equal(b, a * np.float32(2.5))


def test_float16_arithmetic_rounds_like_the_device() -> None:
    src = """
@T.prim_func
def h(A: T.Buffer((64,), "float16"), B: T.Buffer((64,), "float16"), C: T.Buffer((64,), "float16")):
    T.func_attr({"global_symbol": "h_kernel", "tir.noalias": True})
    tx = T.launch_thread("threadIdx.x", 64)
    C[tx] = A[tx] * B[tx] + T.float16(0.1)
"""
    rng = np.random.default_rng(2)
    a = rng.standard_normal(64).astype(np.float16)
    b = rng.standard_normal(64).astype(np.float16)
    c = np.zeros(64, np.float16)
    emulate(kernel(src), [a, b, c])
    np.testing.assert_array_equal(c, a * b + np.float16(0.1))


def test_float32x4_vector_loads_and_stores() -> None:
    src = """
@T.prim_func
def v(A: T.Buffer((512,), "float32"), B: T.Buffer((512,), "float32")):
    T.func_attr({"global_symbol": "v_kernel", "tir.noalias": True})
    bx = T.launch_thread("blockIdx.x", 2)
    tx = T.launch_thread("threadIdx.x", 64)
    B[T.Ramp(bx * 256 + tx * 4, 1, 4)] = A[T.Ramp(bx * 256 + tx * 4, 1, 4)] * T.Broadcast(T.float32(3), 4)
"""
    a = np.arange(512, dtype=np.float32)
    b = np.zeros(512, np.float32)
    emulate(kernel(src), [a, b])
    np.testing.assert_array_equal(b, a * 3)


# ---------------------------------------------------------------- shared memory and barriers

MATMUL = """
@T.prim_func
def mm(A: T.Buffer((1024,), "float32"), B: T.Buffer((1024,), "float32"),
       C: T.Buffer((1024,), "float32")):
    T.func_attr({"global_symbol": "mm_kernel", "tir.noalias": True})
    by = T.launch_thread("blockIdx.y", 2)
    bx = T.launch_thread("blockIdx.x", 2)
    ty = T.launch_thread("threadIdx.y", 16)
    tx = T.launch_thread("threadIdx.x", 16)
    As = T.allocate([256], "float32", "shared")
    A_shared = T.decl_buffer((256,), "float32", data=As, scope="shared")
    Bs = T.allocate([256], "float32", "shared")
    B_shared = T.decl_buffer((256,), "float32", data=Bs, scope="shared")
    acc = T.allocate([1], "float32", "local")
    acc_local = T.decl_buffer((1,), "float32", data=acc, scope="local")
    acc_local[0] = T.float32(0)
    for ko in range(2):
        A_shared[ty * 16 + tx] = A[(by * 16 + ty) * 32 + ko * 16 + tx]
        B_shared[ty * 16 + tx] = B[(ko * 16 + ty) * 32 + bx * 16 + tx]
        SYNC1
        for ki in range(16):
            acc_local[0] = acc_local[0] + A_shared[ty * 16 + ki] * B_shared[ki * 16 + tx]
        SYNC2
    C[(by * 16 + ty) * 32 + bx * 16 + tx] = acc_local[0]
"""
SYNC = 'T.tvm_storage_sync("shared")'


def matmul(sync1: bool = True, sync2: bool = True) -> tvmscript.PrimFunc:
    text = MATMUL.replace("SYNC1", SYNC if sync1 else "T.evaluate(0)")
    return kernel(text.replace("SYNC2", SYNC if sync2 else "T.evaluate(0)"))


def matmul_args(seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((32, 32)).astype(np.float32)
    b = rng.standard_normal((32, 32)).astype(np.float32)
    return [a, b, np.zeros((32, 32), np.float32)]


@pytest.mark.parametrize("check_races", [True, False])
def test_tiled_matmul_with_barriers(check_races: bool) -> None:
    a, b, c = matmul_args()
    emulate(matmul(), [a, b, c], check_races=check_races)
    np.testing.assert_allclose(c, a @ b, rtol=1e-5, atol=1e-5)


def test_missing_barrier_is_a_read_after_write_race() -> None:
    with pytest.raises(EmulatorRaceError) as info:
        emulate(matmul(sync1=False), matmul_args())
    message = str(info.value)
    assert message.startswith("data race in kernel 'mm_kernel' on shared buffer ")
    assert re.search(r"'[AB]_shared'\[\d+\]: thread \(\d+, \d+, 0\) writes it at "
                     r"`[AB]_shared\[ty \* 16 \+ tx\] = [AB]\[.*\]` \(line \d+\) and thread "
                     r"\(\d+, \d+, 0\) reads it at `acc_local\[0\] = acc_local\[0\] \+ "
                     r"A_shared\[ty \* 16 \+ ki\] \* B_shared\[ki \* 16 \+ tx\]` \(line \d+\) "
                     r"in block \(0, 0, 0\) with no T.tvm_storage_sync between \(both since the "
                     r"kernel's start\)$", message), message


def test_missing_second_barrier_is_a_write_after_read_race() -> None:
    with pytest.raises(EmulatorRaceError) as info:
        emulate(matmul(sync2=False), matmul_args())
    message = str(info.value)
    assert re.search(r"writes it at `[AB]_shared\[ty \* 16 \+ tx\] = .*` \(line 18\) and "
                     r"thread \(\d+, \d+, 0\) reads it at `acc_local\[0\] = .*` \(line 22\) in "
                     r"block \(0, 0, 0\) with no T.tvm_storage_sync between \(both since the "
                     r"barrier `T.tvm_storage_sync\(\"shared\"\)` \(line 20\)\)$", message), message


def test_racy_kernel_runs_without_checks_but_gives_wrong_numbers() -> None:
    a, b, c = matmul_args()
    emulate(matmul(sync1=False), [a, b, c], check_races=False)
    assert not np.allclose(c, a @ b)  # threads read the tile before the others wrote it


def test_race_is_named_with_both_elements_threads() -> None:
    src = """
@T.prim_func
def shift(A: T.Buffer((32,), "float32"), B: T.Buffer((32,), "float32")):
    T.func_attr({"global_symbol": "shift_kernel", "tir.noalias": True})
    tx = T.launch_thread("threadIdx.x", 16)
    S = T.allocate([32], "float32", "shared")
    A_shared = T.decl_buffer((32,), "float32", data=S, scope="shared")
    A_shared[tx + 16] = A[tx + 16]
    A_shared[tx] = A[tx]
    B[tx] = A_shared[tx + 1]
"""
    with pytest.raises(EmulatorRaceError, match=re.escape(
            "data race in kernel 'shift_kernel' on shared buffer 'A_shared'[1]: thread (1, 0, 0)"
            " writes it at `A_shared[tx] = A[tx]` (line 9) and thread (0, 0, 0) reads it at "
            "`B[tx] = A_shared[tx + 1]` (line 10) in block (0, 0, 0) with no "
            "T.tvm_storage_sync between (both since the kernel's start)")):
        emulate(kernel(src), [np.ones(32, np.float32), np.zeros(32, np.float32)])


BLOCK_REDUCE = """
@T.prim_func
def bsum(A: T.Buffer((512,), "float32"), B: T.Buffer((4,), "float32")):
    T.func_attr({"global_symbol": "bsum_kernel", "tir.noalias": True})
    bx = T.launch_thread("blockIdx.x", 4)
    tx = T.launch_thread("threadIdx.x", 128)
    S = T.allocate([128], "float32", "shared")
    red = T.decl_buffer((128,), "float32", data=S, scope="shared")
    red[tx] = A[bx * 128 + tx]
    T.tvm_storage_sync("shared")
    for i in range(7):
        if tx < T.shift_right(64, i):
            red[tx] = red[tx] + red[tx + T.shift_right(64, i)]
        T.tvm_storage_sync("shared")
    if tx == 0:
        B[bx] = red[0]
"""


def test_block_reduction_in_shared_memory() -> None:
    a = np.random.default_rng(3).standard_normal(512).astype(np.float32)
    b = np.zeros(4, np.float32)
    emulate(kernel(BLOCK_REDUCE), [a, b])
    np.testing.assert_allclose(b, a.reshape(4, 128).sum(axis=1), rtol=1e-5, atol=1e-5)


def test_barrier_divergence_names_both_groups() -> None:
    src = """
@T.prim_func
def div(A: T.Buffer((64,), "float32")):
    T.func_attr({"global_symbol": "div_kernel", "tir.noalias": True})
    tx = T.launch_thread("threadIdx.x", 64)
    S = T.allocate([64], "float32", "shared")
    Sb = T.decl_buffer((64,), "float32", data=S, scope="shared")
    Sb[tx] = A[tx]
    if tx < 16:
        T.tvm_storage_sync("shared")
        A[tx] = Sb[63 - tx]
"""
    with pytest.raises(EmulatorBarrierError, match=re.escape(
            "barrier divergence in kernel 'div_kernel', block (0, 0, 0): threads "
            "(0, 0, 0)..(15, 0, 0) wait at the barrier `T.tvm_storage_sync(\"shared\")` (line 10)"
            " while threads (16, 0, 0)..(63, 0, 0) exited")):
        emulate(kernel(src), [np.zeros(64, np.float32)])


def test_barriers_at_different_statements_are_divergence() -> None:
    src = """
@T.prim_func
def div2(A: T.Buffer((64,), "float32")):
    T.func_attr({"global_symbol": "div2_kernel", "tir.noalias": True})
    tx = T.launch_thread("threadIdx.x", 64)
    if tx < 32:
        T.tvm_storage_sync("shared")
    else:
        T.tvm_storage_sync("shared")
    A[tx] = T.float32(1)
"""
    with pytest.raises(EmulatorBarrierError, match=r"threads \(0, 0, 0\)\.\.\(31, 0, 0\) wait at "
                       r"the barrier .*\(line 7\) while threads \(32, 0, 0\)\.\.\(63, 0, 0\) "
                       r"wait at the barrier .*\(line 9\)"):
        emulate(kernel(src), [np.zeros(64, np.float32)])


def test_uninitialised_shared_memory_reads_nan() -> None:
    src = """
@T.prim_func
def uninit(B: T.Buffer((64,), "float32")):
    T.func_attr({"global_symbol": "uninit_kernel", "tir.noalias": True})
    tx = T.launch_thread("threadIdx.x", 64)
    S = T.allocate([64], "float32", "shared")
    Sb = T.decl_buffer((64,), "float32", data=S, scope="shared")
    if tx < 32:
        Sb[tx] = T.float32(1)
    T.tvm_storage_sync("shared")
    B[tx] = Sb[tx]
"""
    b = np.zeros(64, np.float32)
    emulate(kernel(src), [b])
    np.testing.assert_array_equal(b[:32], 1)
    assert np.isnan(b[32:]).all()


def test_shared_memory_is_fresh_per_block() -> None:
    src = """
@T.prim_func
def fresh(B: T.Buffer((2,), "float32")):
    T.func_attr({"global_symbol": "fresh_kernel", "tir.noalias": True})
    bx = T.launch_thread("blockIdx.x", 2)
    tx = T.launch_thread("threadIdx.x", 1)
    S = T.allocate([1], "float32", "shared")
    Sb = T.decl_buffer((1,), "float32", data=S, scope="shared")
    if bx == 0:
        Sb[0] = T.float32(5)
    B[bx] = Sb[0]
"""
    b = np.zeros(2, np.float32)
    emulate(kernel(src), [b])
    assert b[0] == 5 and np.isnan(b[1])


# ---------------------------------------------------------------- bounds

@pytest.mark.parametrize("check_races", [True, False])
def test_out_of_bounds_shared_access_names_buffer_and_statement(check_races: bool) -> None:
    src = """
@T.prim_func
def oob(A: T.Buffer((64,), "float32"), n: T.int32):
    T.func_attr({"global_symbol": "oob_kernel", "tir.noalias": True})
    tx = T.launch_thread("threadIdx.x", 64)
    S = T.allocate([64], "float32", "shared")
    Sb = T.decl_buffer((64,), "float32", data=S, scope="shared")
    Sb[tx + n] = A[tx]
"""
    with pytest.raises(EmulatorError, match=re.escape(
            "out-of-bounds access in kernel 'oob_kernel', block (0, 0, 0), thread (61, 0, 0) at "
            "`Sb[tx + n] = A[tx]` (line 8): index 64 is out of bounds of buffer 'Sb' "
            "(64 elements)")):
        emulate(kernel(src), [np.zeros(64, np.float32), 3], check_races=check_races)


@pytest.mark.parametrize("check_races", [True, False])
def test_negative_global_index_is_an_error_not_a_wrap_around(check_races: bool) -> None:
    src = """
@T.prim_func
def neg(A: T.Buffer((64,), "float32"), B: T.Buffer((64,), "float32"), n: T.int32):
    T.func_attr({"global_symbol": "neg_kernel", "tir.noalias": True})
    tx = T.launch_thread("threadIdx.x", 64)
    B[tx] = A[tx - n]
"""
    with pytest.raises(EmulatorError, match=r"out-of-bounds access in kernel 'neg_kernel', block "
                       r"\(0, 0, 0\), thread \(0, 0, 0\) at `B\[tx\] = A\[tx - n\]` \(line 6\): "
                       r"index -1 is out of bounds of buffer 'A'"):
        emulate(kernel(src), [np.zeros(64, np.float32), np.zeros(64, np.float32), 1],
                check_races=check_races)


def test_conflicting_global_writes_are_reported() -> None:
    src = """
@T.prim_func
def clash(B: T.Buffer((4,), "float32")):
    T.func_attr({"global_symbol": "clash_kernel", "tir.noalias": True})
    bx = T.launch_thread("blockIdx.x", 2)
    tx = T.launch_thread("threadIdx.x", 4)
    B[tx] = T.Cast("float32", bx)
"""
    with pytest.raises(EmulatorRaceError, match=re.escape(
            "conflicting writes in kernel 'clash_kernel' to global buffer 'B'[0]: thread "
            "(0, 0, 0) of block (0, 0, 0) writes 0.0 at `B[tx] = T.Cast(\"float32\", bx)` "
            "(line 7) and thread (0, 0, 0) of block (1, 0, 0) writes 1.0")):
        emulate(kernel(src), [np.zeros(4, np.float32)])
    same = np.zeros(4, np.float32)  # the same value from every block is no conflict
    emulate(kernel(src.replace('T.Cast("float32", bx)', "T.float32(7)")), [same])
    np.testing.assert_array_equal(same, 7)


# ---------------------------------------------------------------- warps

WARP_SUM = """
@T.prim_func
def wsum(A: T.Buffer((128,), "float32"), B: T.Buffer((4,), "float32")):
    T.func_attr({"global_symbol": "wsum_kernel", "tir.noalias": True})
    tx = T.launch_thread("threadIdx.x", 128)
    v = T.allocate([1], "float32", "local")
    val = T.decl_buffer((1,), "float32", data=v, scope="local")
    val[0] = A[tx]
    for i in range(5):
        val[0] = val[0] + T.tvm_warp_shuffle_down(T.tvm_warp_activemask(), val[0], T.shift_right(16, i), 32, 32)
    if tx % 32 == 0:
        B[tx // 32] = val[0]
"""


def test_warp_shuffle_tree_reduction() -> None:
    a = np.random.default_rng(4).standard_normal(128).astype(np.float32)
    b = np.zeros(4, np.float32)
    emulate(kernel(WARP_SUM), [a, b])
    np.testing.assert_allclose(b, a.reshape(4, 32).sum(axis=1), rtol=1e-5, atol=1e-5)


def test_warp_shuffle_broadcast_and_up() -> None:
    src = """
@T.prim_func
def sh(A: T.Buffer((64,), "int32"), B: T.Buffer((64,), "int32"), C: T.Buffer((64,), "int32")):
    T.func_attr({"global_symbol": "sh_kernel", "tir.noalias": True})
    tx = T.launch_thread("threadIdx.x", 64)
    B[tx] = T.tvm_warp_shuffle(-1, A[tx], 3, 32, 32)
    C[tx] = T.tvm_warp_shuffle_up(-1, A[tx], 1, 8, 32)
"""
    a = np.arange(64, dtype=np.int32) * 10
    b, c = np.zeros(64, np.int32), np.zeros(64, np.int32)
    emulate(kernel(src), [a, b, c])
    np.testing.assert_array_equal(b, np.repeat(a[[3, 35]], 32))
    lane = np.arange(64)
    np.testing.assert_array_equal(c, np.where(lane % 8 == 0, a, a[lane - 1]))


def test_shuffle_with_a_lane_missing_from_its_mask_is_an_error() -> None:
    src = """
@T.prim_func
def part(A: T.Buffer((32,), "float32")):
    T.func_attr({"global_symbol": "part_kernel", "tir.noalias": True})
    tx = T.launch_thread("threadIdx.x", 32)
    if tx < 16:
        A[tx] = T.tvm_warp_shuffle_down(-1, A[tx], 1, 32, 32)
"""
    with pytest.raises(EmulatorError, match=r"warp-collective T.tvm_warp_shuffle_down in kernel "
                       r"'part_kernel', block \(0, 0, 0\), warp 0 at `A\[tx\] = .*` \(line 7\): "
                       r"lane 0 shuffles with mask 0xffffffff, but lanes \[16, 17,"):
        emulate(kernel(src), [np.zeros(32, np.float32)])


def test_activemask_is_the_lanes_that_arrive_together() -> None:
    src = """
@T.prim_func
def mask(B: T.Buffer((32,), "int32")):
    T.func_attr({"global_symbol": "mask_kernel", "tir.noalias": True})
    tx = T.launch_thread("threadIdx.x", 32)
    if tx % 2 == 1:
        B[tx] = T.tvm_warp_activemask()
"""
    b = np.zeros(32, np.int32)
    emulate(kernel(src), [b])
    np.testing.assert_array_equal(b[1::2], np.int32(np.uint32(0xAAAAAAAA).view(np.int32)))


def test_registered_collective_sees_refs_and_per_warp_fragments() -> None:
    """A user collective (as the tensor-core session registers): every lane's Ref of a wmma
    fragment points at one array per warp; access_ptr args arrive as (array, offset)."""
    seen: list[WarpCall] = []

    def fill(call: WarpCall) -> None:
        seen.append(call)
        frag, m, n, _, index, value = call.lanes[0].args
        assert all(lane.args[0].array is frag.array for lane in call.lanes)
        frag.view(frag.array.size)[index * m * n:(index + 1) * m * n] = value

    def store(call: WarpCall) -> None:
        frag, m, n, _, index, ptr, stride, layout = call.lanes[0].args
        assert layout == "row_major" and ptr.scope == "global" and ptr.extent == 256
        tile = frag.array[index * m * n:(index + 1) * m * n].reshape(m, n)
        for r in range(m):
            ptr.array[ptr.offset + r * stride:ptr.offset + r * stride + n] = tile[r]

    before = {op: lookup_collective(op) for op in ("tvm_fill_fragment", "tvm_store_matrix_sync")}
    register_collective("tvm_fill_fragment", fill, override=True)
    register_collective("tir.tvm_store_matrix_sync", store, override=True)
    try:
        src = """
@T.prim_func
def frag(C: T.Buffer((512,), "float32")):
    T.func_attr({"global_symbol": "frag_kernel", "tir.noalias": True})
    ty = T.launch_thread("threadIdx.y", 2)
    tx = T.launch_thread("threadIdx.x", 32)
    F = T.allocate([256], "float32", "wmma.accumulator")
    T.tvm_fill_fragment(F, 16, 16, 8, 0, T.Cast("float32", ty) + T.float32(1))
    T.tvm_store_matrix_sync(F, 16, 16, 8, 0, T.tvm_access_ptr(T.type_annotation("float32"), C.data, ty * 256, 256, 2), 16, "row_major")
"""
        c = np.zeros(512, np.float32)
        emulate(kernel(src), [c])
    finally:  # the tensor-core session's functions back (or none, as before)
        for op, fn in before.items():
            if fn is None:
                unregister_collective(op)
            else:
                register_collective(op, fn, override=True)
    np.testing.assert_array_equal(c, np.repeat([1.0, 2.0], 256))
    assert len(seen) == 2 and {len(call.lanes) for call in seen} == {32}
    assert seen[0].lanes[0].args[0].scope == "wmma.accumulator"


def test_collective_registry_refuses_a_second_registration() -> None:
    with pytest.raises(ValueError, match="already registered"):
        register_collective("tvm_warp_shuffle", lambda call: None)
    assert lookup_collective("tir.tvm_warp_shuffle") is lookup_collective("tvm_warp_shuffle")


def test_ref_view_checks_bounds() -> None:
    ref = Ref(np.zeros(8, np.float32), 4, "S", "shared")
    assert ref.view(4).size == 4
    with pytest.raises(CollectiveError, match="4 elements at offset 6"):
        Ref(ref.array, 6, "S", "shared").view(4)


# ---------------------------------------------------------------- property

ELEMENTWISE = """
@T.prim_func
def ew(A: T.Buffer((N,), "float32"), B: T.Buffer((N,), "float32")):
    T.func_attr({"global_symbol": "ew_kernel", "tir.noalias": True})
    bx = T.launch_thread("blockIdx.x", GRID)
    tx = T.launch_thread("threadIdx.x", BLOCK)
    for j in range(PER):
        if (bx * BLOCK + tx) * PER + j < N:
            B[(bx * BLOCK + tx) * PER + j] = EXPR
"""
EXPRS = {
    "A[(bx * BLOCK + tx) * PER + j] * T.float32(2) + T.float32(1)": lambda a: a * 2 + 1,
    "T.max(A[(bx * BLOCK + tx) * PER + j], T.float32(0))": lambda a: np.maximum(a, 0),
    "A[(bx * BLOCK + tx) * PER + j] * A[(bx * BLOCK + tx) * PER + j]": lambda a: a * a,
}


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(1, 300), block=st.sampled_from([1, 7, 32, 64]), per=st.integers(1, 3),
       expr=st.sampled_from(sorted(EXPRS)), seed=st.integers(0, 2**16))
def test_random_elementwise_split_matches_numpy(n: int, block: int, per: int, expr: str,
                                                seed: int) -> None:
    grid = -(-n // (block * per))
    text = ELEMENTWISE.replace("EXPR", expr)
    for key, value in (("GRID", grid), ("BLOCK", block), ("PER", per), ("N", n)):
        text = text.replace(key, str(value))
    a = np.random.default_rng(seed).standard_normal(n).astype(np.float32)
    b = np.zeros(n, np.float32)
    emulate(kernel(text), [a, b])
    np.testing.assert_array_equal(b, EXPRS[expr](a).astype(np.float32))


WARP_SHARED_SUM = """
@T.prim_func
def wred(A: T.Buffer((64,), "float32"), B: T.Buffer((2,), "float32")):
    T.func_attr({"global_symbol": "wred_kernel", "tir.noalias": True})
    tx = T.launch_thread("threadIdx.x", 64)
    S = T.allocate([64], "float32", "shared")
    red = T.decl_buffer((64,), "float32", data=S, scope="shared")
    red[tx] = A[tx]
    SYNC
    for i in range(5):
        if tx % 32 < T.shift_right(16, i):
            red[tx] = red[tx] + red[tx + T.shift_right(16, i)]
        SYNC
    if tx % 32 == 0:
        B[tx // 32] = red[tx]
"""


def test_syncwarp_orders_the_lanes_of_a_warp() -> None:
    a = np.random.default_rng(5).standard_normal(64).astype(np.float32)
    b = np.zeros(2, np.float32)
    emulate(kernel(WARP_SHARED_SUM.replace("SYNC", 'T.tvm_storage_sync("warp")')), [a, b])
    np.testing.assert_allclose(b, a.reshape(2, 32).sum(axis=1), rtol=1e-5, atol=1e-5)


def test_warp_reduction_in_shared_memory_without_syncwarp_is_a_race() -> None:
    with pytest.raises(EmulatorRaceError, match=re.escape(
            "data race in kernel 'wred_kernel' on shared buffer 'red'[1]: thread (1, 0, 0) writes "
            "it at `red[tx] = A[tx]` (line 8) and thread (0, 0, 0) reads it at "
            "`red[tx] = red[tx] + red[tx + (16 >> i)]` (line 12)")):
        emulate(kernel(WARP_SHARED_SUM.replace("SYNC", "T.evaluate(0)")),
                [np.ones(64, np.float32), np.zeros(2, np.float32)])


def test_syncwarp_does_not_order_threads_of_different_warps() -> None:
    src = """
@T.prim_func
def cross(A: T.Buffer((64,), "float32")):
    T.func_attr({"global_symbol": "cross_kernel", "tir.noalias": True})
    tx = T.launch_thread("threadIdx.x", 64)
    S = T.allocate([64], "float32", "shared")
    Sb = T.decl_buffer((64,), "float32", data=S, scope="shared")
    Sb[tx] = A[tx]
    T.tvm_storage_sync("warp")
    A[tx] = Sb[63 - tx]
"""
    with pytest.raises(EmulatorRaceError, match=r"'Sb'\[\d+\]: thread \(\d+, 0, 0\) writes it at "
                       r"`Sb\[tx\] = A\[tx\]` \(line 8\) and thread \(\d+, 0, 0\) reads it"):
        emulate(kernel(src), [np.zeros(64, np.float32)])


def test_global_writes_ordered_by_a_barrier_are_no_conflict() -> None:
    src = """
@T.prim_func
def staged(B: T.Buffer((1,), "float32")):
    T.func_attr({"global_symbol": "staged_kernel", "tir.noalias": True})
    tx = T.launch_thread("threadIdx.x", 2)
    if tx == 0:
        B[0] = T.float32(1)
    T.tvm_storage_sync("shared")
    if tx == 1:
        B[0] = B[0] + T.float32(1)
"""
    b = np.zeros(1, np.float32)
    emulate(kernel(src), [b])
    assert b[0] == 2


PERMUTE = """
@T.prim_func
def perm(A: T.Buffer((32,), "float32"), P: T.Buffer((32,), "int32"), Q: T.Buffer((32,), "int32"),
         B: T.Buffer((32,), "float32")):
    T.func_attr({"global_symbol": "perm_kernel", "tir.noalias": True})
    tx = T.launch_thread("threadIdx.x", 32)
    S = T.allocate([32], "float32", "shared")
    Sb = T.decl_buffer((32,), "float32", data=S, scope="shared")
    Sb[P[tx]] = A[tx]
    SYNC
    B[tx] = Sb[Q[tx]]
"""


@settings(max_examples=20, deadline=None)
@given(p=st.permutations(range(32)), q=st.permutations(range(32)), sync=st.booleans())
def test_race_reported_exactly_when_a_thread_reads_what_another_wrote(p, q, sync) -> None:
    """Thread t writes S[p[t]] and reads S[q[t]]: with a barrier between, B is A permuted; without
    one, it is a race exactly when some thread reads an element it did not write itself."""
    a = np.arange(32, dtype=np.float32)
    pa, qa = np.array(p, np.int32), np.array(q, np.int32)
    b = np.zeros(32, np.float32)
    func = kernel(PERMUTE.replace("SYNC", SYNC if sync else "T.evaluate(0)"))
    if sync or p == q:
        emulate(func, [a, pa, qa, b])
        np.testing.assert_array_equal(b, a[np.argsort(pa)][qa])
    else:
        with pytest.raises(EmulatorRaceError) as info:
            emulate(func, [a, pa, qa, b])
        found = re.search(r"on shared buffer 'Sb'\[(\d+)\]: thread \((\d+), 0, 0\) writes it at "
                          r"`Sb\[P\[tx\]\] = A\[tx\]` \(line 9\) and thread \((\d+), 0, 0\) reads it"
                          r" at `B\[tx\] = Sb\[Q\[tx\]\]` \(line 11\)", str(info.value))
        assert found, str(info.value)
        element, writer, reader = (int(g) for g in found.groups())
        assert p[writer] == element == q[reader] and writer != reader


def test_vector_shared_accesses_are_checked_lane_by_lane() -> None:
    src = """
@T.prim_func
def vs(A: T.Buffer((256,), "float32"), B: T.Buffer((256,), "float32")):
    T.func_attr({"global_symbol": "vs_kernel", "tir.noalias": True})
    tx = T.launch_thread("threadIdx.x", 64)
    S = T.allocate([256], "float32", "shared")
    Sb = T.decl_buffer((256,), "float32", data=S, scope="shared")
    Sb[T.Ramp(tx * 4, 1, 4)] = A[T.Ramp(tx * 4, 1, 4)]
    SYNC
    B[T.Ramp(tx * 4, 1, 4)] = Sb[T.Ramp(255 - tx * 4 - 3, 1, 4)]
"""
    a = np.arange(256, dtype=np.float32)
    b = np.zeros(256, np.float32)
    emulate(kernel(src.replace("SYNC", SYNC)), [a, b])
    np.testing.assert_array_equal(b, a.reshape(64, 4)[::-1].reshape(-1))
    with pytest.raises(EmulatorRaceError, match=re.escape(
            "'Sb'[0]: thread (0, 0, 0) writes it at `Sb[tx * 4:tx * 4 + 4] = A[tx * 4:tx * 4 + 4]`"
            " (line 8) and thread (63, 0, 0) reads it at `B[tx * 4:tx * 4 + 4] = ")):
        emulate(kernel(src.replace("SYNC", "T.evaluate(0)")), [a, b])


MISALIGNED = """
@T.prim_func
def v(A: T.Buffer((260,), "float32"), B: T.Buffer((256,), "float32")):
    T.func_attr({"global_symbol": "v_kernel", "tir.noalias": True})
    tx = T.launch_thread("threadIdx.x", 64)
    B[T.Ramp(tx * LANES, 1, LANES)] = A[T.Ramp(tx * LANES + OFFSET, 1, LANES)]
"""


@pytest.mark.parametrize("lanes", [2, 4])
def test_a_vector_access_at_any_start_computes_its_lanes(lanes: int) -> None:
    """A start that is not a multiple of the lanes is fine: the CUDA codegen reads such a
    vector lane by lane (tests/test_cuda_build.py checks the source), so nothing faults."""
    a = np.arange(260, dtype=np.float32)
    b = np.zeros(256, np.float32)
    src = MISALIGNED.replace("LANES", str(lanes)).replace("64", str(256 // lanes))
    emulate(kernel(src.replace("OFFSET", "1")), [a, b])
    np.testing.assert_array_equal(b, a[1:257])


def test_a_strided_vector_access_is_element_by_element() -> None:
    """A gather (stride 2) is one load per lane on a GPU: any start is aligned."""
    src = MISALIGNED.replace("T.Ramp(tx * LANES + OFFSET, 1, LANES)", "T.Ramp(tx * 4 + 1, 2, 2)")
    src = src.replace("LANES", "2").replace("64", "128").replace("260", "512")
    a = np.arange(512, dtype=np.float32)
    b = np.zeros(256, np.float32)
    emulate(kernel(src), [a, b])
    np.testing.assert_array_equal(b, a[1::2])


def test_too_many_threads_per_block_is_refused() -> None:
    src = VECTOR_ADD.replace('"blockIdx.x", 8', '"blockIdx.x", 1').replace(
        '"threadIdx.x", 128', '"threadIdx.x", 2048')
    with pytest.raises(EmulatorError, match=r"kernel 'add_kernel' launches 2048 threads per "
                       r"block \(2048, 1, 1\); a GPU runs at most 1024"):
        emulate(kernel(src), [np.zeros(1000, np.float32)] * 3)


@pytest.mark.parametrize("old, new, message", [
    ('"threadIdx.x", 128', '"threadIdx.z", 128',
     "kernel 'add_kernel' launches threadIdx.z=128; a GPU allows at most 64"),
    ('"blockIdx.x", 8', '"blockIdx.y", 70000',
     "kernel 'add_kernel' launches blockIdx.y=70000; a GPU allows at most 65535"),
])
def test_a_dimension_beyond_what_a_gpu_allows_is_refused(old: str, new: str,
                                                         message: str) -> None:
    """Hand-written kernels reach the emulator without ``verify-gpu-code``."""
    src = VECTOR_ADD.replace(old, new).replace("bx * 128 + tx < 1000", "T.bool(False)")
    with pytest.raises(EmulatorError, match=re.escape(message)):
        emulate(kernel(src), [np.zeros(1000, np.float32)] * 3)


SYMBOLIC_BLOCK = """
@T.prim_func
def sb(a: T.handle, n: T.int32):
    T.func_attr({"global_symbol": "sb_kernel", "tir.noalias": True})
    A = T.match_buffer(a, (n,), "float32")
    tx = T.launch_thread("threadIdx.x", n)
    A[tx] = A[tx] + T.float32(1)
"""


def test_a_block_size_known_only_at_launch_is_checked_at_launch() -> None:
    a = np.zeros(64, np.float32)
    emulate(kernel(SYMBOLIC_BLOCK), [a, 64])
    np.testing.assert_array_equal(a, np.ones(64, np.float32))
    with pytest.raises(EmulatorError, match=re.escape(
            "kernel 'sb_kernel' launches 2000 threads per block (2000, 1, 1); a GPU runs at "
            "most 1024")):
        emulate(kernel(SYMBOLIC_BLOCK), [np.zeros(2000, np.float32), 2000])


def test_two_extents_of_one_thread_axis_are_refused() -> None:
    src = VECTOR_ADD.replace(
        "    if bx * 128 + tx < 1000:",
        '    with T.launch_thread("threadIdx.x", 64) as t2:\n        C[t2] = A[t2]\n'
        "    if bx * 128 + tx < 1000:")
    with pytest.raises(EmulatorError, match=re.escape(
            "kernel 'add_kernel' cannot be emulated: kernel 'add_kernel' launches threadIdx.x "
            "with two extents")):
        emulate(kernel(src), [np.zeros(1000, np.float32)] * 3)


# ---------------------------------------------------------------- end to end (lower_gpu)

MATMUL_64 = """
@T.prim_func
def matmul(A: T.Buffer((64, 64), "float32"), B: T.Buffer((64, 64), "float32"),
           C: T.Buffer((64, 64), "float32")):
    for i, j, k in T.grid(64, 64, 64):
        with T.block("C"):
            vi, vj, vk = T.axis.remap("SSR", [i, j, k])
            with T.init():
                C[vi, vj] = T.float32(0)
            C[vi, vj] = C[vi, vj] + A[vi, vk] * B[vk, vj]
"""


def gpu_matmul_schedule() -> tvmscript.Schedule:
    """Blocks of 16 x 16 threads over C (a 2 x 2 tile each), k in steps of 16, A and B staged
    through shared memory by all threads of the block."""
    sch = tvmscript.Schedule(kernel(MATMUL_64))
    c = sch.get_block("C")
    c_local = sch.cache_write(c, 0, "local")
    i, j, k = sch.get_loops(c)
    by, ty, ii = sch.split(i, [None, 16, 2])
    bx, tx, ji = sch.split(j, [None, 16, 2])
    ko, ki = sch.split(k, [None, 16])
    sch.reorder(by, bx, ty, tx, ko, ki, ii, ji)
    for loop, tag in ((by, "blockIdx.y"), (bx, "blockIdx.x"), (ty, "threadIdx.y"),
                      (tx, "threadIdx.x")):
        sch.bind(loop, tag)
    sch.reverse_compute_at(c_local, tx)
    for index in (0, 1):
        fetch = sch.cache_read(c, index, "shared")
        sch.compute_at(fetch, ko)
        fused = sch.fuse(*sch.get_loops(fetch)[-2:])
        _, f_ty, f_tx = sch.split(fused, [None, 16, 16])
        sch.bind(f_ty, "threadIdx.y")
        sch.bind(f_tx, "threadIdx.x")
    return sch


def launches(host: tvmscript.PrimFunc) -> list:
    """The kernel launches of a lowered host function, in order."""
    from tvmscript.ir import post_order_visit
    from tvmscript.ir.expr import Call

    found: list = []
    post_order_visit(host.body, lambda node: found.append(node) if isinstance(node, Call)
                     and node.op == "tir.call_extern" else None)
    return found


def test_scheduled_matmul_lowered_for_the_gpu_runs_right_in_the_emulator() -> None:
    import passes.gpu_pipeline as gpu
    from tvmscript.ir.expr import IntImm, Var

    lowered = gpu.lower_gpu(gpu_matmul_schedule().mod, gpu.GPULimits())
    host = lowered["matmul"]
    rng = np.random.default_rng(6)
    a = rng.standard_normal((64, 64)).astype(np.float32)
    b = rng.standard_normal((64, 64)).astype(np.float32)
    c = np.full((64, 64), np.nan, np.float32)
    arrays = {host.buffer_map[p].data: x for p, x in zip(host.params, (a, b, c))}
    calls = launches(host)
    assert calls, host.script()
    for call in calls:
        func = lowered[call.args[0].value]
        assert func.attrs.get("tvmscript.kernel")
        args = [arrays[x] if isinstance(x, Var) else x.value for x in call.args[1:]
                if isinstance(x, (Var, IntImm))]
        assert len(args) == len(call.args) - 1, call
        emulate(func, args)  # with race checks: lower_gpu's barriers must be right
    np.testing.assert_allclose(c, a @ b, rtol=1e-4, atol=1e-4)


WARP_OF_3D = """
@T.prim_func
def w3(Out: T.Buffer((NT,), "int32")):
    T.func_attr({"global_symbol": "w3_kernel", "tir.noalias": True})
    tz = T.launch_thread("threadIdx.z", DZ)
    ty = T.launch_thread("threadIdx.y", DY)
    tx = T.launch_thread("threadIdx.x", DX)
    Out[(tz * DY + ty) * DX + tx] = T.tvm_warp_shuffle(T.tvm_warp_activemask(), (tz * DY + ty) * DX + tx, 0, 32, 32)
"""


@settings(max_examples=15, deadline=None)
@given(dx=st.integers(1, 40), dy=st.integers(1, 5), dz=st.integers(1, 3))
def test_warps_are_consecutive_linear_thread_ids_x_fastest(dx: int, dy: int, dz: int) -> None:
    """Lane 0 of each warp is the thread whose linear id is the warp's first (x fastest), for
    any block shape, including a last warp that is only partly filled."""
    nt = dx * dy * dz
    text = WARP_OF_3D
    for key, value in (("NT", nt), ("DX", dx), ("DY", dy), ("DZ", dz)):
        text = text.replace(key, str(value))
    out = np.full(nt, -1, np.int32)
    emulate(kernel(text), [out])
    np.testing.assert_array_equal(out, np.arange(nt) // 32 * 32)


def test_a_failed_kernel_leaves_the_arrays_as_they_were() -> None:
    a, b, c = matmul_args()
    c[:] = 7
    with pytest.raises(EmulatorRaceError):
        emulate(matmul(sync1=False), [a, b, c])
    assert (c == 7).all()


def test_the_same_array_passed_twice_is_one_buffer() -> None:
    src = """
@T.prim_func
def inc(A: T.Buffer((64,), "float32"), B: T.Buffer((64,), "float32")):
    T.func_attr({"global_symbol": "inc_kernel", "tir.noalias": True})
    tx = T.launch_thread("threadIdx.x", 64)
    B[tx] = A[tx] + T.float32(1)
    B[tx] = B[tx] + A[tx]
"""
    a = np.arange(64, dtype=np.float32).reshape(8, 8)
    emulate(kernel(src), [a, a])
    np.testing.assert_array_equal(a.reshape(-1), np.arange(64) * 2 + 2)
