"""Tensor cores: the WMMA intrinsics tensorize an fp16 GEMM; WMMA and PTX mma.sync/ldmatrix kernels
give numpy's numbers in the emulator (with the PTX ISA's per-lane layouts), their CUDA C compiles
with NVRTC for sm_80 and sm_90, and bad uses are refused with what is wrong."""

from __future__ import annotations

import os
import re

import numpy as np
import pytest

import tvmscript
from backends.cuda import nvrtc
from backends.cuda.codegen import generate_cuda
from backends.cuda.emulator import EmulatorError, EmulatorRaceError, emulate
from backends.cuda.emulator.tensor_core import (
    ldmatrix_position,
    mma_a_position,
    mma_b_position,
    mma_c_position,
)
from backends.cuda.tensor_core import EMITTERS, TensorCoreCodegenError
from backends.intrinsics.cuda import (
    CUDA_INTRINSICS,
    MMA_INTRINSICS,
    WMMA_INTRINSICS,
    register_cuda_intrinsics,
    warp_position,
)
from tvmscript import Schedule, ScheduleError
from tvmscript.schedule.tensor_intrin import TensorIntrin


@pytest.fixture(autouse=True)
def cuda_intrinsics_registered():
    """Other test modules may reset the intrinsic registry; these tests use the CUDA ones."""
    register_cuda_intrinsics()


def _mma_header() -> bool:
    """``<mma.h>`` includes ``crt/mma.h``, which the nvidia-cuda-crt wheel (or a toolkit) has."""
    return nvrtc.is_available() and any(os.path.isfile(os.path.join(d, "crt", "mma.h"))
                                        for d in nvrtc.include_dirs())


needs_nvrtc = pytest.mark.skipif(not _mma_header(), reason="needs NVRTC and crt/mma.h (pip "
                                 "install nvidia-cuda-nvrtc nvidia-cuda-crt cuda-bindings)")

GEMM = '''
@T.prim_func
def gemm(A: T.Buffer((64, 64), "float16"), B: T.Buffer((64, 64), "float16"), C: T.Buffer((64, 64), "float32")):
    for i, j, k in T.grid(64, 64, 64):
        with T.block("C"):
            vi, vj, vk = T.axis.remap("SSR", [i, j, k])
            with T.init():
                C[vi, vj] = T.float32(0)
            C[vi, vj] = C[vi, vj] + T.Cast("float32", A[vi, vk]) * T.Cast("float32", B[vk, vj])
'''


def wmma_schedule(func) -> Schedule:
    """The classic WMMA schedule: 2 x 2 blocks of 2 x 2 warps, each warp one 16 x 16 tile of C;
    A and B staged through shared memory (fetched by all 128 threads) into fragments."""
    sch = Schedule(func)
    blk = sch.get_block("C")
    i, j, k = sch.get_loops(blk)
    i0, i1 = sch.split(i, [None, 16])
    j0, j1 = sch.split(j, [None, 16])
    k0, k1 = sch.split(k, [None, 16])
    by, wy = sch.split(i0, [2, 2])
    bx, wx = sch.split(j0, [2, 2])
    sch.reorder(by, bx, k0, wy, wx, i1, j1, k1)
    sch.bind(by, "blockIdx.y")
    sch.bind(bx, "blockIdx.x")
    warp = sch.fuse(wy, wx)
    sch.bind(warp, "threadIdx.y")
    acc = sch.cache_write(blk, 0, "wmma.accumulator")
    sch.reverse_compute_at(acc, bx)
    frag_a = sch.cache_read(blk, 0, "wmma.matrix_a")
    frag_b = sch.cache_read(blk, 1, "wmma.matrix_b")
    shared_a = sch.cache_read(frag_a, 0, "shared")
    shared_b = sch.cache_read(frag_b, 0, "shared")
    sch.compute_at(frag_a, warp)
    sch.compute_at(frag_b, warp)
    sch.compute_at(shared_a, k0)
    sch.compute_at(shared_b, k0)
    init = sch.decompose_reduction(blk, k0)
    for cache in (shared_a, shared_b):
        ty, tx, _ = sch.split(sch.fuse(*sch.get_loops(cache)[-2:]), [4, 32, None])
        sch.bind(ty, "threadIdx.y")
        sch.bind(tx, "threadIdx.x")
    a0, a1 = sch.get_loops(acc)[-2:]
    a00, a01 = sch.split(a0, [None, 16])
    a10, a11 = sch.split(a1, [None, 16])
    sch.reorder(a00, a10, a01, a11)
    sch.bind(sch.fuse(a00, a10), "threadIdx.y")
    sch.tensorize(sch.get_loops(init)[-2], "wmma_fill_16x16x16_f32")
    sch.tensorize(sch.get_loops(frag_a)[-2], "wmma_load_16x16x16_f16_a_shared")
    sch.tensorize(sch.get_loops(frag_b)[-2], "wmma_load_16x16x16_f16_b_shared")
    sch.tensorize(sch.get_loops(blk)[-3], "wmma_sync_16x16x16_f16f16f32")
    sch.tensorize(a01, "wmma_store_16x16x16_f32_global")
    return sch


def _tile16(sch: Schedule, block) -> object:
    """Split the block's two innermost loops into 16 x 16 tiles; the inner tile's first loop."""
    l0, l1 = sch.get_loops(block)[-2:]
    o0, i0 = sch.split(l0, [None, 16])
    o1, i1 = sch.split(l1, [None, 16])
    sch.reorder(o0, o1, i0, i1)
    return i0


def _warp_layout(matrix: str):
    """The index map putting each 16 x 16 tile of a "warp" buffer in mma.sync's layout."""
    if matrix == "b":
        return lambda i, j: (i // 16, j // 16, j % 8 * 4 + i % 8 // 2,
                             j % 16 // 8 * 4 + i % 16 // 8 * 2 + i % 2)
    return lambda i, j: (i // 16, j // 16, i % 8 * 4 + j % 8 // 2,
                         j % 16 // 8 * 4 + i % 16 // 8 * 2 + j % 2)


def mma_schedule(func) -> Schedule:
    """The WMMA schedule with "warp" buffers in mma.sync's register layout instead of
    fragments: ldmatrix into them, two mma.sync m16n8k16 per 16 x 16 x 16 step."""
    sch = Schedule(func)
    blk = sch.get_block("C")
    i, j, k = sch.get_loops(blk)
    i0, i1 = sch.split(i, [None, 16])
    j0, j1 = sch.split(j, [None, 16])
    k0, k1 = sch.split(k, [None, 16])
    by, wy = sch.split(i0, [2, 2])
    bx, wx = sch.split(j0, [2, 2])
    sch.reorder(by, bx, k0, wy, wx, i1, j1, k1)
    sch.bind(by, "blockIdx.y")
    sch.bind(bx, "blockIdx.x")
    warp = sch.fuse(wy, wx)
    sch.bind(warp, "threadIdx.y")
    acc = sch.cache_write(blk, 0, "warp")
    sch.reverse_compute_at(acc, bx)
    frag_a = sch.cache_read(blk, 0, "warp")
    frag_b = sch.cache_read(blk, 1, "warp")
    shared_a = sch.cache_read(frag_a, 0, "shared")
    shared_b = sch.cache_read(frag_b, 0, "shared")
    sch.compute_at(frag_a, warp)
    sch.compute_at(frag_b, warp)
    sch.compute_at(shared_a, k0)
    sch.compute_at(shared_b, k0)
    init = sch.decompose_reduction(blk, k0)
    for cache in (shared_a, shared_b):
        ty, tx, _ = sch.split(sch.fuse(*sch.get_loops(cache)[-2:]), [4, 32, None])
        sch.bind(ty, "threadIdx.y")
        sch.bind(tx, "threadIdx.x")
    a0, a1 = sch.get_loops(acc)[-2:]
    a00, a01 = sch.split(a0, [None, 16])
    a10, a11 = sch.split(a1, [None, 16])
    sch.reorder(a00, a10, a01, a11)
    sch.bind(sch.fuse(a00, a10), "threadIdx.y")
    sch.transform_layout(frag_a, ("write", 0), _warp_layout("a"))
    sch.transform_layout(frag_b, ("write", 0), _warp_layout("b"))
    sch.transform_layout(acc, ("read", 0), _warp_layout("c"))
    sch.tensorize(sch.get_loops(init)[-2], "mma_fill_16x16_f32")
    sch.tensorize(_tile16(sch, frag_a), "mma_ldmatrix_f16_a")
    sch.tensorize(_tile16(sch, frag_b), "mma_ldmatrix_f16_b")
    sch.tensorize(sch.get_loops(blk)[-3], "mma_f16f16f32")
    sch.tensorize(a01, "mma_store_16x16_f32_global")
    return sch


def fp16_inputs(rng, m=64, n=64, k=64):
    return (rng.standard_normal((m, k)).astype("float16"),
            rng.standard_normal((k, n)).astype("float16"))


def ref_gemm(a, b):
    return a.astype("float32") @ b.astype("float32")


# ---------------------------------------------------------------- intrinsics and tensorize


def test_cuda_intrinsics_are_found_by_name_and_round_trip():
    register_cuda_intrinsics()  # idempotent: a second call registers nothing
    assert register_cuda_intrinsics() == []
    for name in CUDA_INTRINSICS:
        intrin = TensorIntrin.get(name)
        for func in (intrin.desc, intrin.impl):
            again = tvmscript.from_source(func.script())
            tvmscript.assert_structural_equal(again, func)
    impl = TensorIntrin.get("wmma_sync_16x16x16_f16f16f32").impl.script()
    assert "T.tvm_mma_sync(C.data, C.elem_offset // c1 // 16 * (c1 // 16)" in impl
    assert 'scope="wmma.matrix_a"' in impl


def test_wmma_gemm_tensorizes_onto_every_wmma_intrinsic():
    before = tvmscript.from_source(GEMM)
    sch = wmma_schedule(before)
    text = sch.mod.script()
    for op in ("tvm_fill_fragment", "tvm_load_matrix_sync", "tvm_mma_sync",
               "tvm_store_matrix_sync"):
        assert f"T.{op}(" in text
    assert text.count("T.tvm_load_matrix_sync(") == 2
    # no scalar computation is left: every block body is an intrinsic call or a shared fetch
    assert "T.Cast(" not in text
    assert 'T.thread_binding(4, thread="threadIdx.y")' in text
    tvmscript.verify(sch.func)
    again = tvmscript.from_source(text)
    tvmscript.assert_structural_equal(again, sch.mod)
    assert again.script() == text
    replayed = sch.trace.apply_to(before)
    tvmscript.assert_structural_equal(replayed.mod, sch.mod)


def test_mma_gemm_tensorizes_onto_ldmatrix_and_mma_sync():
    before = tvmscript.from_source(GEMM)
    sch = mma_schedule(before)
    text = sch.mod.script()
    assert text.count("T.ptx_ldmatrix(") == 2 and text.count("T.ptx_mma(") == 2
    assert 'T.ptx_ldmatrix("float16", T.bool(True), 4, ".b16"' in text  # B: .trans
    assert 'C_warp = T.alloc_buffer((4, 4, 32, 8), "float32", scope="warp")' in text
    assert "T.Cast(" not in text
    tvmscript.verify(sch.func)
    again = tvmscript.from_source(text)
    tvmscript.assert_structural_equal(again, sch.mod)
    replayed = sch.trace.apply_to(before)
    tvmscript.assert_structural_equal(replayed.mod, sch.mod)


@pytest.mark.parametrize("schedule", [wmma_schedule, mma_schedule])
def test_tensorized_gemm_built_for_the_emulator_equals_numpy(schedule):
    sch = schedule(tvmscript.from_source(GEMM))
    a, b = fp16_inputs(np.random.default_rng(5))
    c = np.full((64, 64), np.nan, "float32")
    tvmscript.build(sch.mod, target="cuda-emulator")["gemm"](a, b, c)
    np.testing.assert_allclose(c, ref_gemm(a, b), rtol=1e-5, atol=1e-4)


@needs_nvrtc
def test_wmma_tensorized_gemm_compiles_for_sm80():
    rt = tvmscript.build(wmma_schedule(tvmscript.from_source(GEMM)).mod, target="cuda -arch=sm_80")
    source = rt.get_source()
    assert "#include <mma.h>" in source and "nvcuda::wmma::mma_sync(" in source
    assert "wmma.mma.sync.aligned" in rt.get_ptx()


def test_wmma_sync_refuses_an_fp16_accumulation_with_the_differing_dtype():
    src = GEMM.replace('"float32")):', '"float16")):').replace("T.float32(0)", "T.float16(0)")
    src = src.replace('T.Cast("float32", A[vi, vk]) * T.Cast("float32", B[vk, vj])',
                      "A[vi, vk] * B[vk, vj]")
    sch = Schedule(tvmscript.from_source(src))
    blk = sch.get_block("C")
    i, j, k = sch.get_loops(blk)
    i0, i1 = sch.split(i, [None, 16])
    j0, j1 = sch.split(j, [None, 16])
    k0, k1 = sch.split(k, [None, 16])
    sch.reorder(i0, j0, k0, i1, j1, k1)
    sch.decompose_reduction(blk, k0)
    before = sch.mod.script()
    with pytest.raises(ScheduleError, match=r"`Cast float32` vs `float16` load"):
        sch.tensorize(i1, "wmma_sync_16x16x16_f16f16f32")
    assert sch.mod.script() == before


def test_wmma_load_refuses_a_tile_of_the_wrong_size():
    sch = Schedule(tvmscript.from_source(GEMM))
    blk = sch.get_block("C")
    frag = sch.cache_read(blk, 0, "wmma.matrix_a")
    i, j = sch.get_loops(frag)
    i0, i1 = sch.split(i, [None, 8])
    j0, j1 = sch.split(j, [None, 16])
    sch.reorder(i0, j0, i1, j1)
    with pytest.raises(ScheduleError, match="extent 16 vs 8"):
        sch.tensorize(i1, "wmma_load_16x16x16_f16_a_shared")


# ---------------------------------------------------------------- hand-written lowered kernels

# one 64 x 64 x 64 GEMM as lower_gpu leaves it: 2 x 2 blocks of 4 warps, each warp one 16 x 16
# tile of C, A and B tiles staged through shared memory by all 128 threads
WMMA_KERNEL = '''
@T.prim_func
def gemm_kernel(A: T.Buffer((4096,), "float16"), B: T.Buffer((4096,), "float16"), C: T.Buffer((4096,), "float32")):
    T.func_attr({"global_symbol": "gemm_kernel", "tvmscript.kernel": True, "tir.noalias": True})
    by = T.launch_thread("blockIdx.y", 2)
    bx = T.launch_thread("blockIdx.x", 2)
    ty = T.launch_thread("threadIdx.y", 4)
    tx = T.launch_thread("threadIdx.x", 32)
    SA = T.allocate([512], "float16", "shared")
    SAb = T.decl_buffer((512,), "float16", data=SA, scope="shared")
    SB = T.allocate([512], "float16", "shared")
    SBb = T.decl_buffer((512,), "float16", data=SB, scope="shared")
    FA = T.allocate([256], "float16", "wmma.matrix_a")
    FB = T.allocate([256], "float16", "wmma.matrix_b")
    FC = T.allocate([256], "float32", "wmma.accumulator")
    T.tvm_fill_fragment(FC, 16, 16, 16, 0, T.float32(0))
    for k0 in range(4):
        for v in range(4):
            SAb[ty * 128 + tx * 4 + v] = A[(by * 32 + (ty * 128 + tx * 4 + v) // 16) * 64 + k0 * 16 + (tx * 4 + v) % 16]
            SBb[ty * 128 + tx * 4 + v] = B[(k0 * 16 + (ty * 128 + tx * 4 + v) // 32) * 64 + bx * 32 + (tx * 4 + v) % 32]
        T.tvm_storage_sync("shared")
        T.tvm_load_matrix_sync(FA, 16, 16, 16, 0, T.tvm_access_ptr(T.type_annotation("float16"), SA, ty // 2 * 256, 256, 1), 16, "row_major")
        T.tvm_load_matrix_sync(FB, 16, 16, 16, 0, T.tvm_access_ptr(T.type_annotation("float16"), SB, ty % 2 * 16, 496, 1), 32, "row_major")
        T.tvm_mma_sync(FC, 0, FA, 0, FB, 0, FC, 0)
        T.tvm_storage_sync("shared")
    T.tvm_store_matrix_sync(FC, 16, 16, 16, 0, T.tvm_access_ptr(T.type_annotation("float32"), C.data, (by * 32 + ty // 2 * 16) * 64 + bx * 32 + ty % 2 * 16, 1008, 2), 64, "row_major")
'''

# one m16n8k16 tile: A (16 x 16, row-major) by ldmatrix.x4, B (16 x 8, k x n row-major) by
# ldmatrix.x2.trans, one mma.sync, C written back from the accumulator registers' PTX layout
MMA_TILE_KERNEL = '''
@T.prim_func
def mma_tile(A: T.Buffer((256,), "float16"), B: T.Buffer((128,), "float16"), C: T.Buffer((128,), "float32")):
    T.func_attr({"global_symbol": "mma_tile", "tvmscript.kernel": True, "tir.noalias": True})
    tx = T.launch_thread("threadIdx.x", 32)
    SA = T.allocate([256], "float16", "shared")
    SAb = T.decl_buffer((256,), "float16", data=SA, scope="shared")
    SB = T.allocate([128], "float16", "shared")
    SBb = T.decl_buffer((128,), "float16", data=SB, scope="shared")
    Al = T.allocate([8], "float16", "local")
    Bl = T.allocate([4], "float16", "local")
    Cl = T.allocate([4], "float32", "local")
    Clb = T.decl_buffer((4,), "float32", data=Cl, scope="local")
    for i in range(8):
        SAb[tx * 8 + i] = A[tx * 8 + i]
    for i in range(4):
        SBb[tx * 4 + i] = B[tx * 4 + i]
    for i in range(4):
        Clb[i] = T.float32(0.5)
    T.tvm_storage_sync("shared")
    T.ptx_ldmatrix("float16", False, 4, ".b16", Al, 0, T.tvm_access_ptr(T.type_annotation("float16"), SA, 0, 256, 1), tx % 16 * 16 + tx // 16 * 8)
    T.ptx_ldmatrix("float16", True, 2, ".b16", Bl, 0, T.tvm_access_ptr(T.type_annotation("float16"), SB, 0, 128, 1), tx % 16 * 8)
    T.ptx_mma("float32", "m16n8k16", "row", "col", "fp16", "fp16", "fp32", Al, 0, Bl, 0, Cl, 0, False)
    for i in range(4):
        C[(tx // 4 + i // 2 * 8) * 8 + tx % 4 * 2 + i % 2] = Clb[i]
'''

# the GEMM of mma_schedule as lower_gpu would leave it (the intrinsics' implementations inlined):
# each warp holds its A, B and C tiles in registers in mma.sync's layout, written either as
# TVM-style "warp" buffers [lane * 8 + register] or, once warp memory is lowered, as each
# thread's own 8 "local" registers
MMA_GEMM_KERNEL = '''
@T.prim_func
def mma_gemm(A: T.Buffer((4096,), "float16"), B: T.Buffer((4096,), "float16"), C: T.Buffer((4096,), "float32")):
    T.func_attr({"global_symbol": "mma_gemm", "tvmscript.kernel": True, "tir.noalias": True})
    by = T.launch_thread("blockIdx.y", 2)
    bx = T.launch_thread("blockIdx.x", 2)
    ty = T.launch_thread("threadIdx.y", 4)
    tx = T.launch_thread("threadIdx.x", 32)
    SA = T.allocate([512], "float16", "shared")
    SAb = T.decl_buffer((512,), "float16", data=SA, scope="shared")
    SB = T.allocate([512], "float16", "shared")
    SBb = T.decl_buffer((512,), "float16", data=SB, scope="shared")
    AW = T.allocate([SIZE], "float16", "SCOPE")
    BW = T.allocate([SIZE], "float16", "SCOPE")
    CW = T.allocate([SIZE], "float32", "SCOPE")
    CWb = T.decl_buffer((SIZE,), "float32", data=CW, scope="SCOPE")
    for r in range(8):
        CWb[LANE + r] = T.float32(0)
    for k0 in range(4):
        for v in range(4):
            SAb[ty * 128 + tx * 4 + v] = A[(by * 32 + (ty * 128 + tx * 4 + v) // 16) * 64 + k0 * 16 + (tx * 4 + v) % 16]
            SBb[ty * 128 + tx * 4 + v] = B[(k0 * 16 + (ty * 128 + tx * 4 + v) // 32) * 64 + bx * 32 + (tx * 4 + v) % 32]
        T.tvm_storage_sync("shared")
        T.ptx_ldmatrix("float16", False, 4, ".b16", AW, LANE, T.tvm_access_ptr(T.type_annotation("float16"), SA, ty // 2 * 256, 256, 1), 16 * (tx % 16) + tx // 16 * 8)
        T.ptx_ldmatrix("float16", True, 4, ".b16", BW, LANE, T.tvm_access_ptr(T.type_annotation("float16"), SB, ty % 2 * 16, 496, 1), 32 * (tx % 16) + tx // 16 * 8)
        T.ptx_mma("float32", "m16n8k16", "row", "col", "fp16", "fp16", "fp32", AW, LANE, BW, LANE, CW, LANE, False)
        T.ptx_mma("float32", "m16n8k16", "row", "col", "fp16", "fp16", "fp32", AW, LANE, BW, LANE + 4, CW, LANE + 4, False)
        T.tvm_storage_sync("shared")
    for r in range(8):
        C[(by * 32 + ty // 2 * 16 + r % 4 // 2 * 8 + tx // 4) * 64 + bx * 32 + ty % 2 * 16 + r // 4 * 8 + tx % 4 * 2 + r % 2] = CWb[LANE + r]
'''


def mma_gemm_kernel(scope: str) -> str:
    src = MMA_GEMM_KERNEL.replace("SCOPE", scope)
    if scope == "warp":  # lane tx's registers are row tx of the warp's buffer
        return src.replace("SIZE", "256").replace("LANE", "tx * 8")
    return src.replace("SIZE", "8").replace("LANE + ", "").replace("LANE", "0")


# ldmatrix alone, its registers written out as they are: out[lane * 2 * num + r]
LDMATRIX_KERNEL = '''
@T.prim_func
def ld(A: T.Buffer((256,), "float16"), Out: T.Buffer((256,), "float16")):
    T.func_attr({"global_symbol": "ld", "tvmscript.kernel": True, "tir.noalias": True})
    tx = T.launch_thread("threadIdx.x", 32)
    SA = T.allocate([256], "float16", "shared")
    SAb = T.decl_buffer((256,), "float16", data=SA, scope="shared")
    R = T.allocate([8], "float16", "local")
    Rb = T.decl_buffer((8,), "float16", data=R, scope="local")
    for i in range(8):
        SAb[tx * 8 + i] = A[tx * 8 + i]
    T.tvm_storage_sync("shared")
    T.ptx_ldmatrix("float16", TRANS, 4, ".b16", R, 0, T.tvm_access_ptr(T.type_annotation("float16"), SA, 0, 256, 1), tx % 16 * 16 + tx // 16 * 8)
    for i in range(8):
        Out[tx * 8 + i] = Rb[i]
'''


def kernel(src: str):
    return tvmscript.from_source(src)


def test_wmma_kernel_in_the_emulator_equals_numpy():
    a, b = fp16_inputs(np.random.default_rng(0))
    c = np.full((64, 64), np.nan, "float32")
    emulate(kernel(WMMA_KERNEL), [a, b, c])
    np.testing.assert_allclose(c, ref_gemm(a, b), rtol=1e-5, atol=1e-4)


def test_wmma_kernel_without_its_second_barrier_is_a_race_on_shared_memory():
    src = WMMA_KERNEL.replace('        T.tvm_mma_sync(FC, 0, FA, 0, FB, 0, FC, 0)\n'
                              '        T.tvm_storage_sync("shared")\n',
                              '        T.tvm_mma_sync(FC, 0, FA, 0, FB, 0, FC, 0)\n')
    a, b = fp16_inputs(np.random.default_rng(1))
    with pytest.raises(EmulatorRaceError, match=r"shared buffer 'S[AB]b?'.*tvm_load_matrix_sync"):
        emulate(kernel(src), [a, b, np.zeros((64, 64), "float32")])


def test_mma_gemm_kernel_without_its_second_barrier_races_in_ldmatrix():
    src = mma_gemm_kernel("local").replace(
        'CW, 4, False)\n        T.tvm_storage_sync("shared")\n', 'CW, 4, False)\n')
    a, b = fp16_inputs(np.random.default_rng(6))
    with pytest.raises(EmulatorRaceError, match=r"shared buffer 'S[AB]b?'.*T\.ptx_ldmatrix"):
        emulate(kernel(src), [a, b, np.zeros((64, 64), "float32")])


def test_wmma_arguments_that_differ_between_lanes_are_refused():
    src = WMMA_KERNEL.replace("T.tvm_mma_sync(FC, 0, FA, 0, FB, 0, FC, 0)",
                              "T.tvm_mma_sync(FC, tx % 2, FA, 0, FB, 0, FC, 0)")
    a, b = fp16_inputs(np.random.default_rng(2))
    with pytest.raises(EmulatorError, match="argument 1 differs between lane 0 .* and lane 1"):
        emulate(kernel(src), [a, b, np.zeros((64, 64), "float32")])


@pytest.mark.parametrize("old, new, message", [
    ("SB, ty % 2 * 16, 496, 1)", "SB, ty % 2 * 16 + 8, 488, 1)",
     ("T.tvm_load_matrix_sync in kernel 'gemm_kernel', block (0, 0, 0), warp 0 at "
      "`T.tvm_load_matrix_sync(FB, 16, 16, 16, 0, T.tvm_access_ptr(T.type_annotation("
      "\"float16\"), SB, ty % 2 * 16 + 8, 488, 1), 32, \"row_major\")` (line 23): "
      "tvm_load_matrix_sync: the pointer into shared buffer 'SB' at element 8 (16 bytes) is "
      "not 32-byte aligned, as WMMA requires")),
    ('SA, ty // 2 * 256, 256, 1), 16, "row_major")',
     'SA, ty // 2 * 256, 256, 1), 12, "row_major")',
     ("tvm_load_matrix_sync: the stride 12 of shared buffer 'SA' (24 bytes) is not a multiple "
      "of 16 bytes (8 elements), as WMMA requires")),
    ("bx * 32 + ty % 2 * 16, 1008, 2), 64", "bx * 32 + ty % 2 * 16 + 4, 1004, 2), 64",
     ("tvm_store_matrix_sync: the pointer into global buffer 'C' at element 4 (16 bytes) is "
      "not 32-byte aligned, as WMMA requires")),
    ("bx * 32 + ty % 2 * 16, 1008, 2), 64", "bx * 32 + ty % 2 * 16, 1008, 2), 62",
     ("tvm_store_matrix_sync: the stride 62 of global buffer 'C' (248 bytes) is not a "
      "multiple of 16 bytes (4 elements), as WMMA requires")),
])
def test_misaligned_wmma_pointers_and_strides_are_refused(old, new, message):
    """A GPU requires 256-bit aligned WMMA pointers and 16-byte leading dimensions."""
    assert old in WMMA_KERNEL
    a, b = fp16_inputs(np.random.default_rng(2))
    with pytest.raises(EmulatorError, match=re.escape(message)):
        emulate(kernel(WMMA_KERNEL.replace(old, new)), [a, b, np.zeros((64, 64), "float32")])


def test_a_misaligned_ldmatrix_row_is_refused():
    src = MMA_TILE_KERNEL.replace("tx % 16 * 16 + tx // 16 * 8)",
                                  "tx % 16 * 16 + tx // 16 * 8 + 4)")
    a, b = fp16_inputs(np.random.default_rng(3), 16, 8, 16)
    with pytest.raises(EmulatorError, match=re.escape(
            "ptx_ldmatrix: lane 0 gives a row at element 4 of shared buffer 'SA' (8 bytes), "
            "not 16-byte aligned as ldmatrix requires")):
        emulate(kernel(src), [a, b, np.zeros((16, 8), "float32")])


@pytest.mark.parametrize("scope", ["warp", "local"])
def test_ldmatrix_mma_sync_gemm_kernel_in_the_emulator_equals_numpy(scope):
    a, b = fp16_inputs(np.random.default_rng(4))
    c = np.full((64, 64), np.nan, "float32")
    emulate(kernel(mma_gemm_kernel(scope)), [a, b, c])
    np.testing.assert_allclose(c, ref_gemm(a, b), rtol=1e-5, atol=1e-4)


def test_ldmatrix_and_mma_sync_tile_in_the_emulator_equals_numpy():
    rng = np.random.default_rng(3)
    a, b = fp16_inputs(rng, 16, 8, 16)
    c = np.zeros((16, 8), "float32")
    emulate(kernel(MMA_TILE_KERNEL), [a, b, c])
    np.testing.assert_allclose(c, ref_gemm(a, b) + 0.5, rtol=1e-6, atol=1e-5)


# ---------------------------------------------------------------- per-lane layouts


def _tvm_ldmatrix_layout(i: int, j: int) -> tuple[int, int]:
    """TVM's shared_16x16_to_ldmatrix_32x8_layout: (lane, register element) of A[i, j] / C[i, j]."""
    return 4 * (i % 8) + (j % 8) // 2, 4 * (j // 8) + (i // 8) * 2 + j % 2


@pytest.mark.parametrize("position, rows, cols, count", [
    (mma_a_position, 16, 16, 8), (mma_b_position, 16, 8, 4), (mma_c_position, 16, 8, 4)])
def test_each_mma_operand_element_is_held_by_exactly_one_lane_register(position, rows, cols,
                                                                       count):
    seen = np.zeros((rows, cols), int)
    for lane in range(32):
        for i in range(count):
            seen[position(lane, i)] += 1
    assert (seen == 1).all()


def test_mma_a_and_c_layouts_agree_with_tvms_index_map():
    for lane in range(32):
        for i in range(8):
            assert _tvm_ldmatrix_layout(*mma_a_position(lane, i)) == (lane, i)
        for i in range(4):  # the left 16 x 8 half of TVM's 16 x 16 accumulator
            assert _tvm_ldmatrix_layout(*mma_c_position(lane, i)) == (lane, i)


def test_the_warp_layout_of_the_mma_intrinsics_is_the_hardware_register_layout():
    for lane in range(32):
        for r in range(8):
            half = 8 * (r // 4)  # registers 4..7 of B and C belong to the right n8 half
            row, col = mma_c_position(lane, r % 4)
            assert warp_position("c", row, col + half) == (lane, r)
            k, n = mma_b_position(lane, r % 4)
            assert warp_position("b", k, n + half) == (lane, r)
            assert warp_position("a", *mma_a_position(lane, r)) == (lane, r)


@pytest.mark.parametrize("trans", [False, True])
def test_ldmatrix_x4_delivers_the_numpy_model_of_each_lane(trans):
    a = np.arange(256, dtype="float16").reshape(16, 16)
    out = np.zeros((32, 8), "float16")
    emulate(kernel(LDMATRIX_KERNEL.replace("TRANS", str(trans))), [a, out])
    # matrix j of the x4 load is the 8 x 8 block (j % 2, j // 2) of A (lanes 8j..8j+7 point at
    # its rows); lane l gets two elements of each, at ldmatrix_position
    model = np.zeros((32, 8), "float16")
    for lane in range(32):
        for j in range(4):
            block = a[8 * (j % 2):8 * (j % 2) + 8, 8 * (j // 2):8 * (j // 2) + 8]
            for e in range(2):
                model[lane, 2 * j + e] = block[ldmatrix_position(lane, e, trans)]
    np.testing.assert_array_equal(out, model)
    # what the intrinsics' descriptions say the x4 load (lane l points at row l % 16, column
    # block l // 16) leaves in the warp layout: A without .trans, B (k x n) with it
    for i in range(16):
        for j in range(16):
            assert out[warp_position("b" if trans else "a", i, j)] == a[i, j]


# ---------------------------------------------------------------- CUDA C


@needs_nvrtc
@pytest.mark.parametrize("src, name, expected", [
    (WMMA_KERNEL, "gemm_kernel", [
        ("nvcuda::wmma::fragment<nvcuda::wmma::matrix_a, 16, 16, 16, half, "
         "nvcuda::wmma::row_major> FA[1];"),
        "nvcuda::wmma::fragment<nvcuda::wmma::accumulator, 16, 16, 16, float> FC[1];",
        "nvcuda::wmma::fill_fragment(FC[0], 0.0f);",
        "nvcuda::wmma::load_matrix_sync(FB[0], ((half*)SB + ty % 2 * 16), 32);",
        "nvcuda::wmma::mma_sync(FC[0], FA[0], FB[0], FC[0]);",
        "nvcuda::wmma::mem_row_major);"]),
    (MMA_TILE_KERNEL, "mma_tile", [
        'asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\\n"',
        '"ldmatrix.sync.aligned.m8n8.x2.trans.shared.b16 {%0, %1}, [%2];\\n"',
        '"r"((unsigned)__cvta_generic_to_shared((half*)SA + tx % 16 * 16 + tx / 16 * 8))',
        ('"mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, '
         '{%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\\n"'),
        '"+f"(((float*)(Cl))[0])']),
    (mma_gemm_kernel("local"), "mma_gemm", [
        "half AW[8];",
        '"ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\\n"',
        '"r"(((unsigned*)(BW + 4))[0])']),
])
def test_tensor_core_kernels_compile_with_nvrtc_for_sm80_and_sm90(src, name, expected):
    source = generate_cuda({name: kernel(src)})
    # nvcuda::wmma needs mma.h; the PTX instructions are inline assembly and need only half
    wmma = "tvm_mma_sync" in src
    assert source.startswith("#include <cuda_fp16.h>\n" + ("#include <mma.h>\n" if wmma else ""))
    assert ("#include <mma.h>" in source) == wmma
    for text in expected:
        assert text in source
    for arch in ("sm_80", "sm_90"):
        assert nvrtc.compile_cubin(source, arch)[:4] == b"\x7fELF"
    ptx = nvrtc.compile_ptx(source, "sm_80")
    assert ("mma.sync.aligned.m16n8k16" in ptx) == (name != "gemm_kernel")
    assert ("wmma.mma.sync" in ptx) == (name == "gemm_kernel")


def test_unsupported_ptx_mma_forms_are_refused_with_the_form():
    src = MMA_TILE_KERNEL.replace('"fp16", "fp16", "fp32"', '"bf16", "bf16", "fp32"')
    with pytest.raises(TensorCoreCodegenError, match=r"ptx_mma m16n8k16\.row\.col\.bf16\.bf16\.fp32 is not "
                                        "supported"):
        generate_cuda({"mma_tile": kernel(src)})
    with pytest.raises(EmulatorError, match="ptx_mma m16n8k16.row.col.bf16.bf16 .* not supported"):
        emulate(kernel(src), [np.zeros(256, "float16"), np.zeros(128, "float16"),
                              np.zeros(128, "float32")])


def test_emitters_cover_every_tensor_core_intrinsic():
    assert set(EMITTERS) == {"tir.tvm_fill_fragment", "tir.tvm_load_matrix_sync",
                             "tir.tvm_store_matrix_sync", "tir.tvm_mma_sync", "tir.ptx_mma",
                             "tir.ptx_ldmatrix"}
    assert issubclass(TensorCoreCodegenError, ValueError)
    assert set(WMMA_INTRINSICS) | set(MMA_INTRINSICS) == set(CUDA_INTRINSICS)
