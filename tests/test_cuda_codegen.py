"""CUDA C code generation: golden sources, NVRTC compilation of every test kernel, and errors.

Each kernel below is written by hand in the lowered form ``passes.gpu_pipeline.lower_gpu``
produces (thread axes as ``T.launch_thread``, flat buffers, storage scopes as ``T.allocate``),
so these tests do not depend on the lowering. The generated CUDA C of each case is compared
exactly with ``tests/golden/cuda/<case>.cu``; after a deliberate change to the generated code,
refresh the files with::

    TVMSCRIPT_UPDATE_GOLDEN=1 python -m pytest tests/test_cuda_codegen.py

and review the diff. NVRTC (``nvidia-cuda-nvrtc``, in the ``test`` extra) compiles every kernel
to PTX and cubin for sm_80 and sm_90 without a GPU.
"""

from __future__ import annotations

import os
import re
import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tvmscript
from backends.cuda import nvrtc
from backends.cuda.codegen import CodegenError, generate_cuda
from backends.cuda.codegen_types import float_literal, int_literal
from backends.cuda.launch_info import static_shared_bytes
from tests.cuda_testing import needs_nvrtc
from tvmscript import T
from tvmscript.ir.dtype import dtype

GOLDEN = Path(__file__).parent / "golden" / "cuda"


@T.prim_func
def vector_add(A: T.Buffer((1024,), "float32"), B: T.Buffer((1024,), "float32"),
               C: T.Buffer((1024,), "float32")):
    T.func_attr({"global_symbol": "vector_add_kernel", "tvmscript.kernel": True,
                 "tir.noalias": True})
    bx = T.launch_thread("blockIdx.x", 8)
    tx = T.launch_thread("threadIdx.x", 128)
    C[bx * 128 + tx] = A[bx * 128 + tx] + B[bx * 128 + tx]
@T.prim_func
def guarded_scale(A: T.handle, B: T.handle, n: T.int32, alpha: T.float32):
    T.func_attr({"global_symbol": "guarded_scale_kernel", "tvmscript.kernel": True,
                 "tir.noalias": True})
    Ab = T.match_buffer(A, (n,), "float32")
    Bb = T.match_buffer(B, (n,), "float32")
    bx = T.launch_thread("blockIdx.x", (n + 255) // 256)
    tx = T.launch_thread("threadIdx.x", 256)
    if bx * 256 + tx < n:
        Bb[bx * 256 + tx] = Ab[bx * 256 + tx] * alpha


@T.prim_func
def shared_reverse(A: T.Buffer((256,), "float32"), B: T.Buffer((256,), "float32")):
    T.func_attr({"global_symbol": "shared_reverse_kernel", "tvmscript.kernel": True,
                 "tir.noalias": True})
    bx = T.launch_thread("blockIdx.x", 4)
    tx = T.launch_thread("threadIdx.x", 64)
    S = T.allocate([64], "float32", "shared")
    Sb = T.decl_buffer((64,), "float32", data=S, scope="shared")
    Sb[tx] = A[bx * 64 + tx]
    T.tvm_storage_sync("shared")
    B[bx * 64 + tx] = Sb[63 - tx]


@T.prim_func
def matmul_tiled(A: T.Buffer((4096,), "float32"), B: T.Buffer((4096,), "float32"),
                 C: T.Buffer((4096,), "float32")):
    T.func_attr({"global_symbol": "matmul_tiled_kernel", "tvmscript.kernel": True,
                 "tir.noalias": True})
    by = T.launch_thread("blockIdx.y", 4)
    bx = T.launch_thread("blockIdx.x", 4)
    ty = T.launch_thread("threadIdx.y", 16)
    tx = T.launch_thread("threadIdx.x", 16)
    As = T.allocate([256], "float32", "shared")
    Asb = T.decl_buffer((256,), "float32", data=As, scope="shared")
    Bs = T.allocate([256], "float32", "shared")
    Bsb = T.decl_buffer((256,), "float32", data=Bs, scope="shared")
    acc = T.allocate([1], "float32", "local")
    accb = T.decl_buffer((1,), "float32", data=acc, scope="local")
    accb[0] = T.float32(0)
    for ko in range(4):
        Asb[ty * 16 + tx] = A[(by * 16 + ty) * 64 + ko * 16 + tx]
        Bsb[ty * 16 + tx] = B[(ko * 16 + ty) * 64 + bx * 16 + tx]
        T.tvm_storage_sync("shared")
        for ki in T.unroll(16):
            accb[0] = accb[0] + Asb[ty * 16 + ki] * Bsb[ki * 16 + tx]
        T.tvm_storage_sync("shared")
    C[(by * 16 + ty) * 64 + bx * 16 + tx] = accb[0]


@T.prim_func
def vector_float4(A: T.Buffer((1024,), "float32"), B: T.Buffer((1024,), "float32")):
    T.func_attr({"global_symbol": "vector_float4_kernel", "tvmscript.kernel": True,
                 "tir.noalias": True})
    bx = T.launch_thread("blockIdx.x", 2)
    tx = T.launch_thread("threadIdx.x", 128)
    L = T.allocate([4], "float32", "local")
    Lb = T.decl_buffer((4,), "float32", data=L, scope="local")
    Lb[T.Ramp(0, 1, 4)] = A[T.Ramp(bx * 512 + tx * 4, 1, 4)]
    B[T.Ramp(bx * 512 + tx * 4, 1, 4)] = (Lb[T.Ramp(0, 1, 4)] * T.Broadcast(T.float32(2), 4)
                                          + T.Broadcast(T.float32(1), 4))


@T.prim_func
def half_math(A: T.Buffer((256,), "float16"), B: T.Buffer((256,), "float16"),
              C: T.Buffer((256,), "bfloat16"), D: T.Buffer((256,), "float32")):
    T.func_attr({"global_symbol": "half_math_kernel", "tvmscript.kernel": True,
                 "tir.noalias": True})
    tx = T.launch_thread("threadIdx.x", 256)
    B[tx] = T.exp(A[tx]) + T.float16(1.5) * T.tanh(A[tx])
    C[tx] = T.Cast("bfloat16", T.sqrt(T.Cast("float32", A[tx])))
    D[tx] = T.Cast("float32", C[tx]) + T.Cast("float32", T.max(A[tx], B[tx]))


@T.prim_func
def integer_ops(A: T.Buffer((128,), "int32"), B: T.Buffer((128,), "int64"),
                C: T.Buffer((128,), "int8"), D: T.Buffer((128,), "bool"), k: T.int32):
    T.func_attr({"global_symbol": "integer_ops_kernel", "tvmscript.kernel": True,
                 "tir.noalias": True})
    tx = T.launch_thread("threadIdx.x", 128)
    A[tx] = T.floordiv(A[tx] - 64, k) + T.floormod(A[tx], 7) + (tx // 4) * (tx % 4)
    B[tx] = T.shift_left(T.Cast("int64", A[tx]), T.int64(3)) + T.bitwise_and(B[tx], T.int64(255))
    C[tx] = C[tx] + T.int8(3)
    D[tx] = T.Select(A[tx] < k, T.min(A[tx], k) != 0, T.popcount(A[tx]) > 3) and not D[tx]


@T.prim_func
def float_math(A: T.Buffer((128,), "float32"), B: T.Buffer((128,), "float64")):
    T.func_attr({"global_symbol": "float_math_kernel", "tvmscript.kernel": True,
                 "tir.noalias": True})
    tx = T.launch_thread("threadIdx.x", 128)
    A[tx] = T.if_then_else(T.isnan(A[tx]), T.float32(0),
                           T.sigmoid(A[tx]) + T.floor(A[tx] / T.float32(3)) + T.round(A[tx]))
    B[tx] = (T.pow(B[tx], T.float64(2)) + T.fabs(B[tx]) + T.Cast("float64", T.exp(A[tx]))
             + T.float64(1e-5))


@T.prim_func
def warp_reduce(A: T.Buffer((1024,), "float32"), B: T.Buffer((32,), "float32")):
    T.func_attr({"global_symbol": "warp_reduce_kernel", "tvmscript.kernel": True,
                 "tir.noalias": True})
    bx = T.launch_thread("blockIdx.x", 32)
    tx = T.launch_thread("threadIdx.x", 32)
    red = T.allocate([1], "float32", "local")
    redb = T.decl_buffer((1,), "float32", data=red, scope="local")
    mask: T.int32 = T.tvm_warp_activemask()
    redb[0] = A[bx * 32 + tx]
    for i in T.unroll(5):
        redb[0] = redb[0] + T.tvm_warp_shuffle_down(mask, redb[0], T.shift_right(16, i), 32, 32)
    redb[0] = T.tvm_warp_shuffle(mask, redb[0], 0, 32, 32)
    T.tvm_storage_sync("warp")
    if tx == 0:
        B[bx] = redb[0]


@T.prim_func
def dynamic_shared(A: T.handle, B: T.handle, n: T.int32):
    T.func_attr({"global_symbol": "dynamic_shared_kernel", "tvmscript.kernel": True,
                 "tir.noalias": True})
    Ab = T.match_buffer(A, (n,), "float32")
    Bb = T.match_buffer(B, (n,), "float32")
    bx = T.launch_thread("blockIdx.x", n // 128)
    tx = T.launch_thread("threadIdx.x", 128)
    S = T.allocate([128], "float32", "shared.dyn")
    Sb = T.decl_buffer((128,), "float32", data=S, scope="shared.dyn")
    H = T.allocate([n // 128], "int32", "shared.dyn")
    Hb = T.decl_buffer((n // 128,), "int32", data=H, scope="shared.dyn")
    Sb[tx] = Ab[bx * 128 + tx]
    if tx == 0:
        Hb[bx] = bx
    T.tvm_storage_sync("shared")
    Bb[bx * 128 + tx] = Sb[127 - tx] + T.Cast("float32", Hb[bx])


@T.prim_func
def control_flow(A: T.Buffer((64,), "int32"), n: T.int32):
    T.func_attr({"global_symbol": "control_flow_kernel", "tvmscript.kernel": True,
                 "tir.noalias": True})
    tx = T.launch_thread("threadIdx.x", 64)
    assert n > 0, "n must be positive"
    X = T.allocate([1], "int32", "local")
    Xb = T.decl_buffer((1,), "int32", data=X, scope="local")
    Xb[0] = A[tx]
    while Xb[0] > n:
        Xb[0] = Xb[0] - n
    y: T.int32 = Xb[0] * 2
    for j in range(2, 6):
        if y % j == 0:
            A[tx] = y * j
        else:
            A[tx] = y


@T.prim_func
def vectors_mixed(A: T.Buffer((512,), "float32"), H: T.Buffer((512,), "float16"),
                  C: T.Buffer((512,), "int8"), D: T.Buffer((512,), "float32"),
                  I: T.Buffer((512,), "int32")):
    T.func_attr({"global_symbol": "vectors_mixed_kernel", "tvmscript.kernel": True,
                 "tir.noalias": True})
    tx = T.launch_thread("threadIdx.x", 64)
    H[T.Ramp(tx * 2, 1, 2)] = H[T.Ramp(tx * 2, 1, 2)] * H[T.Ramp(tx * 2 + 128, 1, 2)]
    D[T.Ramp(tx * 8, 2, 4)] = A[T.Ramp(tx * 8 + 1, 2, 4)]
    D[T.Ramp(tx * 4 + 256, 1, 2)] = T.Cast("float32x2", H[T.Ramp(tx * 2, 1, 2)])
    I[T.Ramp(tx * 4, 1, 4)] = T.Select(I[T.Ramp(tx * 4, 1, 4)] < T.Broadcast(0, 4),
                                       T.Broadcast(0, 4), I[T.Ramp(tx * 4, 1, 4)])
    C[T.Ramp(tx * 4, 1, 4)] = C[T.Ramp(tx * 4, 1, 4)] + T.Broadcast(T.int8(1), 4)
    I[tx + 256] = T.reinterpret("int32", A[tx]) + T.call_extern("int32", "__popc", I[tx])
    p: T.handle = T.address_of(A[tx + 64])
    T.evaluate(T.call_extern("int32", "atomicAdd", p, T.float32(1)))


FLOOR_KERNELS = '''
@T.prim_func
def floor_kernel(A: T.Buffer((64,), "DT"), D: T.Buffer((64,), "DT"), B: T.Buffer((64,), "DT"),
                 C: T.Buffer((64,), "DT")):
    T.func_attr({"global_symbol": "floor_kernel", "tvmscript.kernel": True, "tir.noalias": True})
    tx = T.launch_thread("threadIdx.x", 64)
    B[tx] = T.floordiv(A[tx], T.DT(3))
    C[tx] = T.floormod(A[tx], D[tx])


@T.prim_func
def floor(A: T.Buffer((64,), "DT"), D: T.Buffer((64,), "DT"), B: T.Buffer((64,), "DT"),
          C: T.Buffer((64,), "DT")):
    T.func_attr({"global_symbol": "floor", "tvmscript.host": True})
    T.evaluate(T.call_extern("int32", "floor_kernel", A.data, D.data, B.data, C.data))
'''


def floor_kernels(dt: str) -> tuple:
    """A kernel taking the floor quotient and remainder of ``dt`` values (a literal divisor
    and a loaded one), and the host function launching it."""
    kernel, host = FLOOR_KERNELS.replace("DT", dt).split("\n\n\n")
    return tvmscript.from_source(kernel), tvmscript.from_source(host)


@needs_nvrtc
@pytest.mark.parametrize("dt, ctype", [("int8", "signed char"), ("int16", "short"),
                                       ("int32", "int"), ("int64", "long long")])
def test_floor_division_of_every_integer_width_compiles(dt, ctype):
    source = generate_cuda({"floor_kernel": floor_kernels(dt)[0]})
    assert f"floordiv<{ctype}>(A[tx], 3" in source and f"floormod<{ctype}>(A[tx], D[tx])" in source
    assert nvrtc.compile_cubin(source, "sm_80")[:4] == b"\x7fELF"


@T.prim_func
def wmma_aligned(A: T.Buffer((256,), "float16"), C: T.Buffer((256,), "float32")):
    T.func_attr({"global_symbol": "wmma_aligned_kernel", "tvmscript.kernel": True,
                 "tir.noalias": True})
    tx = T.launch_thread("threadIdx.x", 32)
    SA = T.allocate([256], "float16", "shared")
    SAb = T.decl_buffer((256,), "float16", data=SA, scope="shared")
    L = T.allocate([8], "float16", "local")
    Lb = T.decl_buffer((8,), "float16", data=L, scope="local")
    FA = T.allocate([256], "float16", "wmma.matrix_a")
    FC = T.allocate([256], "float32", "wmma.accumulator")
    for i in range(8):
        Lb[i] = A[tx * 8 + i]
        SAb[tx * 8 + i] = Lb[i]
    T.tvm_storage_sync("shared")
    T.tvm_fill_fragment(FC, 16, 16, 16, 0, T.float32(0))
    T.tvm_load_matrix_sync(FA, 16, 16, 16, 0, T.tvm_access_ptr(T.type_annotation("float16"),
                                                               SA, 0, 256, 1), 16, "row_major")
    T.tvm_mma_sync(FC, 0, FA, 0, FA, 0, FC, 0)
    T.tvm_store_matrix_sync(FC, 16, 16, 16, 0, T.tvm_access_ptr(T.type_annotation("float32"),
                                                                C.data, 0, 256, 2), 16,
                            "row_major")


def test_shared_arrays_of_wmma_kernels_are_32_byte_aligned():
    source = generate_cuda({"wmma_aligned_kernel": wmma_aligned})
    assert "__shared__ __align__(32) half SA[256];" in source  # load_matrix_sync's pointer
    assert "  __align__(16) half L[8];" in source  # local arrays: 16 (mma's casts, ldmatrix)
    assert "__shared__ __align__(16) float S[64];" in source_of("shared_reverse")
    assert static_shared_bytes(wmma_aligned) == 512


CASES = {f.attrs["global_symbol"].removesuffix("_kernel"): f for f in (
    vector_add, guarded_scale, shared_reverse, matmul_tiled, vector_float4, half_math,
    integer_ops, float_math, warp_reduce, dynamic_shared, control_flow, vectors_mixed)}


def source_of(case: str) -> str:
    func = CASES[case]
    return generate_cuda({func.attrs["global_symbol"]: func})


@pytest.mark.parametrize("case", sorted(CASES))
def test_golden_source(case):
    source = source_of(case)
    path = GOLDEN / f"{case}.cu"
    if os.environ.get("TVMSCRIPT_UPDATE_GOLDEN"):
        path.write_text(source)
    assert path.exists(), f"no golden file {path}: run with TVMSCRIPT_UPDATE_GOLDEN=1"
    assert source == path.read_text()


def test_source_of_several_kernels_has_one_header():
    source = generate_cuda({"a_kernel": half_math, "b_kernel": half_math.with_attr(
        "global_symbol", "b_kernel")})
    assert source.count("#include <cuda_fp16.h>") == 1
    assert 'extern "C" __global__ void __launch_bounds__(256) a_kernel(' in source
    assert 'extern "C" __global__ void __launch_bounds__(256) b_kernel(' in source


@needs_nvrtc
@pytest.mark.parametrize("arch", ["sm_80", "sm_90"])
def test_nvrtc_compiles_every_kernel(arch):
    source = generate_cuda({f.attrs["global_symbol"]: f for f in CASES.values()})
    ptx = nvrtc.compile_ptx(source, arch)
    cubin = nvrtc.compile_cubin(source, arch)
    assert f".target {arch}" in ptx
    assert cubin[:4] == b"\x7fELF"
    for func in CASES.values():
        name = func.attrs["global_symbol"]
        assert re.search(rf"\.entry {name}\(", ptx), name
        assert name.encode() in cubin


@needs_nvrtc
def test_compile_error_shows_log_and_source_line():
    source = source_of("vector_add").replace("A[bx * 128 + tx] +",
                                             "A[bx * 128 + tx] + undefined_x +")
    with pytest.raises(nvrtc.CUDACompileError) as info:
        nvrtc.compile_ptx(source, "sm_80")
    message = str(info.value)
    assert 'identifier "undefined_x" is undefined' in message
    line = next(n for n, text in enumerate(source.splitlines(), 1) if "undefined_x" in text)
    assert f"  {line:4d} |   C[bx * 128 + tx] = A[bx * 128 + tx] + undefined_x" in message
    assert info.value.arch == "sm_80"


def test_bad_arch_is_refused():
    with pytest.raises(ValueError, match="GPU architecture 'compute_80': expected e.g. 'sm_80'"):
        nvrtc.compile_options("compute_80", "ptx")


@needs_nvrtc
def test_compile_cache_returns_the_same_object():
    source = source_of("shared_reverse")
    assert nvrtc.compile_cubin(source, "sm_80") is nvrtc.compile_cubin(source, "sm_80")


# ---------------------------------------------------------------- constructs codegen refuses


@T.prim_func
def not_lowered(A: T.Buffer((16,), "float32")):
    T.func_attr({"global_symbol": "not_lowered_kernel", "tvmscript.kernel": True})
    for i in range(16):
        with T.block("b"):
            vi = T.axis.spatial(16, i)
            A[vi] = T.float32(1)


@T.prim_func
def two_dims(A: T.Buffer((4, 4), "float32")):
    T.func_attr({"global_symbol": "two_dims_kernel", "tvmscript.kernel": True})
    tx = T.launch_thread("threadIdx.x", 4)
    A[tx, 0] = T.float32(1)


@T.prim_func
def wide_vector(A: T.Buffer((64,), "float32")):
    T.func_attr({"global_symbol": "wide_vector_kernel", "tvmscript.kernel": True})
    tx = T.launch_thread("threadIdx.x", 8)
    A[T.Ramp(tx * 8, 1, 8)] = T.Broadcast(T.float32(1), 8)


@T.prim_func
def symbolic_local(A: T.Buffer((64,), "float32"), n: T.int32):
    T.func_attr({"global_symbol": "symbolic_local_kernel", "tvmscript.kernel": True})
    tx = T.launch_thread("threadIdx.x", 64)
    L = T.allocate([n], "float32", "local")
    Lb = T.decl_buffer((n,), "float32", data=L, scope="local")
    Lb[0] = A[tx]
    A[tx] = Lb[0]


@T.prim_func
def parallel_loop(A: T.Buffer((64,), "float32")):
    T.func_attr({"global_symbol": "parallel_loop_kernel", "tvmscript.kernel": True})
    for i in T.parallel(64):
        A[i] = T.float32(0)


@T.prim_func
def grid_sync(A: T.Buffer((64,), "float32")):
    T.func_attr({"global_symbol": "grid_sync_kernel", "tvmscript.kernel": True})
    tx = T.launch_thread("threadIdx.x", 64)
    A[tx] = T.float32(0)
    T.tvm_storage_sync("global")


@pytest.mark.parametrize("func, message", [
    (not_lowered, "CUDA codegen of kernel 'k': block 'root' is not lowered (run lower_gpu"),
    (two_dims, ("CUDA codegen of kernel 'k': buffer A is accessed with 2 indices; CUDA "
                "codegen takes flattened (1-D) buffers")),
    (wide_vector, "CUDA codegen of kernel 'k': the dtype float32x8 has no CUDA C type"),
    (symbolic_local, ("CUDA codegen of kernel 'k': the local allocation L has extents (n) "
                      "that are not constants; a size known only at launch needs 'shared.dyn'")),
    (parallel_loop, "CUDA codegen of kernel 'k': a parallel loop inside a kernel"),
    (grid_sync, 'CUDA codegen of kernel \'k\': tvm_storage_sync("global") has no CUDA C form'),
])
def test_codegen_errors_name_kernel_and_construct(func, message):
    with pytest.raises(CodegenError, match="^" + re.escape(message)):
        generate_cuda({"k": func})


def test_two_launch_shapes_of_one_axis_are_refused():
    @T.prim_func
    def twice(A: T.Buffer((64,), "float32")):
        if A[0] > T.float32(0):
            tx = T.launch_thread("threadIdx.x", 64)
            A[tx] = T.float32(0)
        else:
            tx2 = T.launch_thread("threadIdx.x", 32)
            A[tx2] = T.float32(1)

    with pytest.raises(CodegenError, match="kernel 'k' launches threadIdx.x with two extents, "
                                           "64 and 32"):
        generate_cuda({"k": twice})


# ---------------------------------------------------------------- literals


@settings(max_examples=200, deadline=None)
@given(st.floats(width=32, allow_nan=False, allow_infinity=False))
def test_float32_literal_reads_back_as_the_same_float(value):
    text = float_literal(dtype("float32"), value)
    assert text.endswith("f")
    back = struct.unpack("<f", struct.pack("<f", float(text[:-1])))[0]
    assert back == value


@given(st.integers(-(2**63), 2**63 - 1))
def test_int64_literal_is_valid_c_for_every_value(value):
    text = int_literal(dtype("int64"), value)
    if value == -(2**63):
        assert text == "(-9223372036854775807LL - 1)"
    else:
        assert text == f"{value}LL"


def test_special_float_literals():
    assert float_literal(dtype("float32"), float("inf")) == "__int_as_float(0x7f800000)"
    assert float_literal(dtype("float32"), float("-inf")) == "__int_as_float(0xff800000)"
    assert float_literal(dtype("float16"), 0.5) == "__float2half(0.5f)"
    assert float_literal(dtype("float64"), float("inf")) == \
        "__longlong_as_double(9218868437227405312LL)"
    assert int_literal(dtype("int32"), -(2**31)) == "(-2147483647 - 1)"
    assert int_literal(dtype("uint8"), 7) == "7"
    assert int_literal(dtype("uint64"), 2**64 - 1) == "18446744073709551615ull"
