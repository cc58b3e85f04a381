"""CUDA modules: host functions with their kernels on the CPU emulator (numbers against numpy),
argument checks, the no-GPU error, ``build`` for the cuda targets, and GPU runs.

The modules are written by hand in ``lower_gpu``'s output form (device kernels with attribute
``tvmscript.kernel`` and host functions with ``tvmscript.host`` launching them through
``T.call_extern``), so they test the backend without the GPU lowering. Tests that need a GPU
run when one with a driver and pycuda is present and are skipped, with the reason, otherwise.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tvmscript
from backends.cuda import CUDAModule, nvrtc
from backends.cuda.host import _evaluate as host_evaluate
from backends.cuda.launch import cubin_arch
from backends.cuda.launch_info import needs_shared_opt_in, static_shared_bytes
from backends.cuda.module import EmulatorDevice
from tests.cuda_testing import NO_GPU, needs_gpu, needs_nvrtc
from tests.test_cuda_codegen import (
    dynamic_shared,
    floor_kernels,
    guarded_scale,
    matmul_tiled,
    shared_reverse,
    vector_add,
    vector_float4,
)
from tvmscript import I, R, T
from tvmscript.ir import IRModule, Var
from tvmscript.ir import expr as E
from tvmscript.ir.dtype import dtype


@T.prim_func
def add_host(A: T.Buffer((1024,), "float32"), B: T.Buffer((1024,), "float32"),
             C: T.Buffer((1024,), "float32")):
    T.func_attr({"global_symbol": "add", "tvmscript.host": True})
    T.evaluate(T.call_extern("int32", "vector_add_kernel", A.data, B.data, C.data))


@T.prim_func
def reverse_host(A: T.Buffer((4, 64), "float32"), B: T.Buffer((4, 64), "float32")):
    T.func_attr({"global_symbol": "reverse", "tvmscript.host": True})
    T.evaluate(T.call_extern("int32", "shared_reverse_kernel", A.data, B.data))


@T.prim_func
def matmul_host(A: T.Buffer((64, 64), "float32"), B: T.Buffer((64, 64), "float32"),
                C: T.Buffer((64, 64), "float32")):
    T.func_attr({"global_symbol": "matmul", "tvmscript.host": True})
    T.evaluate(T.call_extern("int32", "matmul_tiled_kernel", A.data, B.data, C.data))


@T.prim_func
def scale_host(a: T.handle, b: T.handle, alpha: T.float32):
    T.func_attr({"global_symbol": "scale", "tvmscript.host": True})
    n = T.int32()
    A = T.match_buffer(a, (n,), "float32")
    B = T.match_buffer(b, (n,), "float32")
    assert n <= 100000, "scale: n must be at most 100000"
    T.evaluate(T.call_extern("int32", "guarded_scale_kernel", A.data, B.data, n, alpha))


@T.prim_func
def dyn_host(a: T.handle, b: T.handle):
    T.func_attr({"global_symbol": "dyn", "tvmscript.host": True})
    n = T.int32()
    A = T.match_buffer(a, (n, 128), "float32")
    B = T.match_buffer(b, (n, 128), "float32")
    T.evaluate(T.call_extern("int32", "dynamic_shared_kernel", A.data, B.data, n * 128))


def kernel_module(*funcs) -> IRModule:
    return IRModule({f.attrs["global_symbol"]: f for f in funcs})


def module(target: str = "cuda-emulator") -> CUDAModule:
    return CUDAModule.from_lowered(kernel_module(
        vector_add, shared_reverse, matmul_tiled, guarded_scale, dynamic_shared, add_host,
        reverse_host, matmul_host, scale_host, dyn_host), target)


@pytest.fixture(scope="module")
def emu() -> CUDAModule:
    return module()


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype("float32")


# ---------------------------------------------------------------- on the emulator


def test_vector_add_on_the_emulator(emu):
    a, b, c = rand(1024), rand(1024, seed=1), np.zeros(1024, "float32")
    emu["add"](a, b, c)
    np.testing.assert_array_equal(c, a + b)


def test_shared_memory_kernel_on_the_emulator(emu):
    a, b = rand(4, 64), np.zeros((4, 64), "float32")
    emu["reverse"](a, b)
    np.testing.assert_array_equal(b, a[:, ::-1])


def test_tiled_matmul_on_the_emulator(emu):
    a, b, c = rand(64, 64), rand(64, 64, seed=1), np.zeros((64, 64), "float32")
    emu["matmul"](a, b, c)
    np.testing.assert_allclose(c, a @ b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("n", [1, 255, 256, 700])
def test_symbolic_size_and_grid_from_the_shape(emu, n):
    a, b = rand(n), np.zeros(n, "float32")
    emu["scale"](a, b, 2.5)
    np.testing.assert_array_equal(b, a * np.float32(2.5))


def test_empty_input_launches_nothing(emu):
    a, b = np.zeros(0, "float32"), np.zeros(0, "float32")
    emu["scale"](a, b, 1.0)


def test_dynamic_shared_memory_on_the_emulator(emu):
    a, b = rand(3, 128), np.zeros((3, 128), "float32")
    emu["dyn"](a, b)
    np.testing.assert_array_equal(b, a[:, ::-1] + np.arange(3, dtype="float32")[:, None])


def test_host_assert_fails_with_its_message(emu):
    a = np.zeros(100001, "float32")
    with pytest.raises(RuntimeError, match="^scale: assertion failed: scale: n must be at most "
                                           "100000$"):
        emu["scale"](a, a.copy(), 1.0)


@T.prim_func
def scale_into(A: T.Buffer((256,), "float32"), B: T.Buffer((256,), "float32")):
    T.func_attr({"global_symbol": "scale_into_kernel", "tvmscript.kernel": True})
    tx = T.launch_thread("threadIdx.x", 256)
    B[tx] = A[tx] * T.float32(3)


@T.prim_func
def add_one(A: T.Buffer((256,), "float32"), B: T.Buffer((256,), "float32")):
    T.func_attr({"global_symbol": "add_one_kernel", "tvmscript.kernel": True})
    bx = T.launch_thread("blockIdx.x", 2)
    tx = T.launch_thread("threadIdx.x", 128)
    B[bx * 128 + tx] = A[bx * 128 + tx] + T.float32(1)


@T.prim_func
def two_stage(A: T.Buffer((16, 16), "float32"), B: T.Buffer((16, 16), "float32"),
              flag: T.int32):
    T.func_attr({"global_symbol": "two_stage", "tvmscript.host": True})
    tmp = T.allocate([256], "float32", "global")
    T.evaluate(T.call_extern("int32", "scale_into_kernel", A.data, tmp))
    if flag > 0:
        T.evaluate(T.call_extern("int32", "add_one_kernel", tmp, B.data))
    else:
        T.evaluate(T.call_extern("int32", "scale_into_kernel", tmp, B.data))


def test_global_intermediate_and_branch_on_a_scalar():
    rt = CUDAModule.from_lowered(kernel_module(scale_into, add_one, two_stage), "cuda-emulator")
    a = rand(16, 16)
    b = np.zeros((16, 16), "float32")
    rt["two_stage"](a, b, 1)
    np.testing.assert_array_equal(b, a * np.float32(3) + np.float32(1))
    rt["two_stage"](a, b, 0)
    np.testing.assert_array_equal(b, a * np.float32(3) * np.float32(3))


def test_read_only_inputs_are_accepted(emu):
    a = rand(1024)
    a.flags.writeable = False
    c = np.zeros(1024, "float32")
    emu["add"](a, a, c)
    np.testing.assert_array_equal(c, a + a)
    c.flags.writeable = False
    with pytest.raises(ValueError, match="add: argument 'C' is read-only but the kernel writes"):
        emu["add"](a, a, c)


@T.prim_func
def copy_strided(A: T.Buffer((28,), "float32"), B: T.Buffer((16,), "float32")):
    T.func_attr({"global_symbol": "copy_strided_kernel", "tvmscript.kernel": True})
    tx = T.launch_thread("threadIdx.x", 16)
    B[tx] = A[tx // 4 * 8 + tx % 4] * T.float32(2)
    A[tx // 4 * 8 + tx % 4] = T.float32(0)


@T.prim_func
def strided_host(A: T.Buffer((4, 4), "float32", strides=(8, 1)),
                 B: T.Buffer((4, 4), "float32")):
    T.func_attr({"global_symbol": "strided", "tvmscript.host": True})
    T.evaluate(T.call_extern("int32", "copy_strided_kernel", A.data, B.data))


def test_strided_arguments_are_seen_in_place():
    rt = CUDAModule.from_lowered(kernel_module(copy_strided, strided_host), "cuda-emulator")
    big = rand(4, 8)
    expected = big.copy()
    b = np.zeros((4, 4), "float32")
    rt["strided"](big[:, :4], b)
    np.testing.assert_array_equal(b, expected[:, :4] * 2)
    expected[:, :4] = 0
    np.testing.assert_array_equal(big, expected)


def test_dlpack_tensors_on_the_cpu_are_used_in_place(emu):
    torch = pytest.importorskip("torch")
    a, b = torch.randn(1024), torch.randn(1024)
    c = torch.zeros(1024)
    emu["add"](a, b, c)
    np.testing.assert_array_equal(c.numpy(), (a + b).numpy())


def test_benchmark_times_a_call(emu):
    a = rand(1024)
    seconds = emu.benchmark("add", a, a, np.zeros(1024, "float32"), number=1, repeat=2)
    assert 0 < seconds < 60


# ---------------------------------------------------------------- argument checks


@pytest.mark.parametrize("args, error, message", [
    ((rand(1024), rand(1024)), TypeError,
     r"add\(\) takes 3 arguments \(A, B, C\) but 2 were given"),
    ((rand(1024), rand(1024), np.zeros(10, "float32")), ValueError,
     r"add: argument 'C' has shape \(10,\) but the kernel expects \(1024,\)"),
    ((rand(1024), rand(1024).astype("float64"), rand(1024)), TypeError,
     "add: argument 'B' has dtype float64 but the kernel expects float32"),
    ((rand(1024), [1.0] * 1024, rand(1024)), TypeError,
     "add: argument 'B' is a list; expected a numpy array"),
])
def test_argument_errors_name_the_parameter(emu, args, error, message):
    with pytest.raises(error, match=message):
        emu["add"](*args)


class CudaArray:
    """An object with ``__cuda_array_interface__`` as cupy, numba and torch arrays have; these
    tests only read its metadata (its pointer is never dereferenced)."""

    def __init__(self, shape: tuple, typestr: str = "<f4", readonly: bool = False,
                 pointer: int = 0x7F0000000000) -> None:
        self.__cuda_array_interface__ = {"shape": shape, "typestr": typestr, "strides": None,
                                         "data": (pointer, readonly), "version": 3}


@pytest.mark.parametrize("c, error, message", [
    (CudaArray((10,)), ValueError,
     r"add: argument 'C' has shape \(10,\) but the kernel expects \(1024,\)"),
    (CudaArray((1024,), "<f8"), TypeError,
     "add: argument 'C' has dtype float64 but the kernel expects float32"),
    (CudaArray((1024,), readonly=True), ValueError,
     "add: argument 'C' is read-only but the kernel writes to it"),
    (CudaArray((1024,)), TypeError,
     r"the cuda-emulator target runs on the CPU: pass numpy arrays, not GPU arrays \(CudaArray\)"),
])
def test_device_arrays_are_checked_like_numpy_arrays(emu, c, error, message):
    a = rand(1024)
    with pytest.raises(error, match=message):
        emu["add"](a, a, c)


def test_scalar_and_size_errors(emu):
    with pytest.raises(TypeError, match="scale: argument 'alpha' is a str but the kernel "
                                        "expects a float32 scalar"):
        emu["scale"](rand(4), rand(4), "2")
    with pytest.raises(ValueError, match=r"scale: argument 'B' has shape \(5,\) but the kernel "
                                         r"expects \(n,\) with n = 4"):
        emu["scale"](rand(4), rand(5), 2.0)


def test_module_names_and_lookup(emu):
    assert emu.keys() == ["add", "reverse", "matmul", "scale", "dyn"]
    assert "add" in emu and "vector_add_kernel" not in emu
    assert "vector_add_kernel" in emu.kernels
    with pytest.raises(KeyError, match="'vector_add_kernel' \\(a device kernel: call its host "
                                       "function\\)"):
        emu["vector_add_kernel"]
    assert repr(emu).startswith("<CUDAModule cuda-emulator functions=['add', 'dyn'")
    assert 'extern "C" __global__ void __launch_bounds__(128) vector_add_kernel(' in \
        emu.get_source()


def test_an_unlowered_function_is_refused():
    with pytest.raises(ValueError, match="function 'vector_add_kernel' is neither a device "
                                         "kernel nor a host function"):
        CUDAModule.from_lowered(IRModule({"vector_add_kernel": vector_add.with_attr(
            "tvmscript.kernel", False)}), "cuda-emulator")
    with pytest.raises(ValueError, match="CUDAModule needs a cuda or cuda-emulator target, not "
                                         "'llvm'"):
        CUDAModule.from_lowered(kernel_module(vector_add, add_host), "llvm")


# ---------------------------------------------------------------- the cuda target


@needs_nvrtc
def test_cuda_target_compiles_for_its_arch():
    rt = module("cuda -arch=sm_90")
    assert rt.get_cubin()[:4] == b"\x7fELF"
    ptx = rt.get_ptx()
    assert ".target sm_90" in ptx and ".entry vector_add_kernel(" in ptx
    assert rt.get_source("ptx") == ptx


@needs_nvrtc
def test_compile_error_at_build_names_the_line():
    @T.prim_func
    def bad(A: T.Buffer((64,), "float32")):
        T.func_attr({"tvmscript.kernel": True})
        tx = T.launch_thread("threadIdx.x", 64)
        A[tx] = T.call_extern("float32", "no_such_function", A[tx])

    with pytest.raises(nvrtc.CUDACompileError, match='identifier "no_such_function" is '
                                                     'undefined'):
        CUDAModule.from_lowered(IRModule({"bad": bad}), "cuda")


@pytest.mark.skipif(NO_GPU is None, reason="a GPU is present: calling runs on it")
@needs_nvrtc
def test_calling_without_a_gpu_says_so():
    rt = module("cuda")
    a = rand(1024)
    with pytest.raises(RuntimeError) as info:
        rt["add"](a, a, a.copy())
    assert str(info.value) == (
        f"no NVIDIA GPU/driver found ({NO_GPU}); the CUDA C and cubin were compiled "
        "(rt.get_source(), rt.get_ptx()); run on the CPU with target='cuda-emulator'")
    assert rt.get_cubin()[:4] == b"\x7fELF"


@pytest.mark.parametrize("target, message", [
    ("cuda -arch=sm_50", "-arch=sm_50 in target 'cuda -arch=sm_50': expected a GPU architecture"),
    ("cuda -mcpu=x", "unknown option '-mcpu' in target 'cuda -mcpu=x'"),
    ("cuda -max_threads_per_block=0", "-max_threads_per_block=0 in target"),
])
def test_bad_cuda_targets(target, message):
    with pytest.raises(ValueError, match=message):
        tvmscript.build(vector_add, target=target)


def test_build_refuses_graph_functions_on_cuda():
    @I.ir_module
    class Model:
        @R.function
        def main(x: R.Tensor((4,), "float32")) -> R.Tensor((4,), "float32"):
            return x

    with pytest.raises(ValueError, match="build for cuda takes loop-level functions only; "
                                         "'main' is a graph-level function"):
        tvmscript.build(Model, target="cuda")


# ---------------------------------------------------------------- on a GPU


@needs_gpu
def test_vector_add_on_the_gpu():
    rt = module("cuda")
    a, b, c = rand(1024), rand(1024, seed=1), np.zeros(1024, "float32")
    rt["add"](a, b, c)
    np.testing.assert_array_equal(c, a + b)


@needs_gpu
def test_shared_memory_kernels_on_the_gpu():
    rt = module("cuda")
    a, b = rand(4, 64), np.zeros((4, 64), "float32")
    rt["reverse"](a, b)
    np.testing.assert_array_equal(b, a[:, ::-1])
    x, y, z = rand(64, 64), rand(64, 64, seed=1), np.zeros((64, 64), "float32")
    rt["matmul"](x, y, z)
    np.testing.assert_allclose(z, x @ y, rtol=1e-4, atol=1e-4)
    d, e = rand(3, 128), np.zeros((3, 128), "float32")
    rt["dyn"](d, e)
    np.testing.assert_array_equal(e, d[:, ::-1] + np.arange(3, dtype="float32")[:, None])


@needs_gpu
def test_device_arrays_are_used_in_place():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("needs torch with CUDA to make device arrays")
    rt = module("cuda")
    a = torch.randn(1024, device="cuda")
    b = torch.randn(1024, device="cuda")
    c = torch.zeros(1024, device="cuda")
    rt["add"](a, b, c)
    torch.testing.assert_close(c, a + b)


# ---------------------------------------------------------------- from a schedule (lower_gpu)


@T.prim_func
def matmul(A: T.Buffer((64, 64), "float32"), B: T.Buffer((64, 64), "float32"),
           C: T.Buffer((64, 64), "float32")):
    for i, j, k in T.grid(64, 64, 64):
        with T.block("C"):
            vi, vj, vk = T.axis.remap("SSR", [i, j, k])
            with T.init():
                C[vi, vj] = T.float32(0)
            C[vi, vj] = C[vi, vj] + A[vi, vk] * B[vk, vj]


def shared_matmul_schedule() -> tvmscript.Schedule:
    """16x16 tiles per block, one thread per output, A and B tiles fetched cooperatively into
    shared memory under the k loop."""
    sch = tvmscript.Schedule(matmul)
    block = sch.get_block("C")
    i, j, k = sch.get_loops(block)
    io, ii = sch.split(i, [None, 16])
    jo, ji = sch.split(j, [None, 16])
    ko, ki = sch.split(k, [None, 16])
    sch.reorder(io, jo, ii, ji, ko, ki)
    for loop, axis in ((io, "blockIdx.y"), (jo, "blockIdx.x"), (ii, "threadIdx.y"),
                       (ji, "threadIdx.x")):
        sch.bind(loop, axis)
    for index in (0, 1):
        cache = sch.cache_read(block, index, "shared")
        sch.compute_at(cache, ko)
        ty, tx = sch.split(sch.fuse(*sch.get_loops(cache)[-2:]), [16, 16])
        sch.bind(ty, "threadIdx.y")
        sch.bind(tx, "threadIdx.x")
    return sch


@pytest.fixture(scope="module")
def shared_matmul() -> tvmscript.Schedule:
    return shared_matmul_schedule()


def test_scheduled_shared_memory_matmul_on_the_emulator(shared_matmul):
    rt = tvmscript.build(shared_matmul.mod, target="cuda-emulator")
    source = rt.get_source()
    assert "__shared__ __align__(16) float A_shared[256];" in source
    assert source.count("__syncthreads();") >= 2
    assert 'extern "C" __global__ void __launch_bounds__(256) matmul_kernel(' in source
    a, b, c = rand(64, 64), rand(64, 64, seed=1), np.zeros((64, 64), "float32")
    rt["matmul"](a, b, c)
    np.testing.assert_allclose(c, a @ b, rtol=1e-5, atol=1e-5)


@needs_nvrtc
def test_scheduled_matmul_compiles_for_the_gpu(shared_matmul):
    rt = tvmscript.build(shared_matmul.mod, target="cuda -arch=sm_90")
    assert rt.kernels == ["matmul_kernel"]
    assert ".entry matmul_kernel(" in rt.get_ptx()


def test_kernel_over_the_targets_thread_limit_is_refused(shared_matmul):
    from passes.verify_gpu_code import GPULimitError

    with pytest.raises(GPULimitError, match=r"kernel 'matmul_kernel' launches 256 threads per "
                                            r"block \(threadIdx.x=16 x threadIdx.y=16\); the "
                                            r"target allows 128"):
        tvmscript.build(shared_matmul.mod, target="cuda-emulator -max_threads_per_block=128")


@needs_gpu
def test_scheduled_matmul_on_the_gpu(shared_matmul):
    rt = tvmscript.build(shared_matmul.mod, target="cuda")
    a, b, c = rand(64, 64), rand(64, 64, seed=1), np.zeros((64, 64), "float32")
    rt["matmul"](a, b, c)
    np.testing.assert_allclose(c, a @ b, rtol=1e-4, atol=1e-4)


# ---------------------------------------------------------------- review fixes


@pytest.mark.parametrize("requested, capability, arch", [
    ("", (9, 0), "sm_90"),  # no -arch: the GPU's own
    ("", (8, 6), "sm_86"),
    ("sm_80", (8, 6), "sm_80"),  # an older minor version of the same major runs
    ("sm_90", (9, 0), "sm_90"),
    ("sm_90a", (9, 0), "sm_90a"),
])
def test_cubin_arch_for_the_device(requested, capability, arch):
    assert cubin_arch(requested, capability) == arch


@pytest.mark.parametrize("requested, capability", [
    ("sm_80", (9, 0)),  # an sm_80 cubin does not load on an H100
    ("sm_90", (8, 0)),  # newer than the device
    ("sm_86", (8, 0)),
    ("sm_90a", (10, 0)),
])
def test_cubin_arch_that_cannot_run_says_what_to_pass(requested, capability):
    device = f"sm_{capability[0]}{capability[1]}"
    with pytest.raises(RuntimeError, match=rf"-arch={requested} cubin cannot run on this GPU "
                                           rf"\(compute capability {capability[0]}\."
                                           rf"{capability[1]}\); build with target='cuda "
                                           rf"-arch={device}', or target='cuda'"):
        cubin_arch(requested, capability)


@T.prim_func
def shifted(A: T.Buffer((1028,), "float32"), B: T.Buffer((1024,), "float32")):
    for i in range(1024):
        with T.block("B"):
            vi = T.axis.remap("S", [i])
            B[vi] = A[vi + 1]


@pytest.fixture(scope="module")
def shifted_module() -> CUDAModule:
    sch = tvmscript.Schedule(shifted)
    (i,) = sch.get_loops(sch.get_block("B"))
    bx, tx, v = sch.split(i, [None, 64, 4])
    sch.bind(bx, "blockIdx.x")
    sch.bind(tx, "threadIdx.x")
    sch.vectorize(v)
    return tvmscript.build(sch.mod, target="cuda-emulator")


def test_a_misaligned_vector_load_is_read_lane_by_lane(shifted_module):
    source = shifted_module.get_source()
    assert "(float4*)(A" not in source  # A + 4k + 1 is not 16-byte aligned
    assert "make_float4(A[" in source
    assert "*(float4*)(B + " in source  # B + 4k is
    a = np.arange(1028, dtype="float32")
    b = np.zeros(1024, "float32")
    shifted_module["shifted"](a, b)
    np.testing.assert_array_equal(b, a[1:1025])


@needs_nvrtc
def test_a_misaligned_vector_load_compiles(shifted_module):
    assert nvrtc.compile_cubin(shifted_module.get_source(), "sm_90")[:4] == b"\x7fELF"


@T.prim_func
def float4_host(A: T.Buffer((1024,), "float32"), B: T.Buffer((1024,), "float32")):
    T.func_attr({"global_symbol": "float4", "tvmscript.host": True})
    T.evaluate(T.call_extern("int32", "vector_float4_kernel", A.data, B.data))


@pytest.mark.parametrize("a_at, b_at, name", [
    (0x7F0000000004, 0x7F0000010000, "A"),
    (0x7F0000000000, 0x7F0000010008, "B"),
])
def test_device_arrays_must_be_aligned_for_the_kernels_vectors(a_at, b_at, name):
    rt = CUDAModule.from_lowered(kernel_module(vector_float4, float4_host), "cuda-emulator")
    a, b = CudaArray((1024,), pointer=a_at), CudaArray((1024,), pointer=b_at)
    at = a_at if name == "A" else b_at
    with pytest.raises(ValueError, match=rf"float4: argument '{name}' is at address {at:#x}, "
                                         "not a multiple of 16 bytes"):
        rt["float4"](a, b)
    # aligned, the arguments get as far as the device (the emulator takes no GPU arrays)
    with pytest.raises(TypeError, match="pass numpy arrays, not GPU arrays"):
        rt["float4"](CudaArray((1024,)), CudaArray((1024,), pointer=0x7F0000010000))


def test_a_written_argument_may_not_alias_another(emu):
    a, b = rand(1024), rand(1024, seed=1)
    before = a.copy()
    with pytest.raises(ValueError, match="add: arguments 'A' and 'C' share memory and the "
                                         "kernel writes 'C'"):
        emu["add"](a, b, a)
    np.testing.assert_array_equal(a, before)  # nothing ran
    big = rand(1536)
    with pytest.raises(ValueError, match="arguments 'B' and 'C' share memory"):
        emu["add"](a, big[:1024], big[512:])
    c = np.zeros(1024, "float32")
    emu["add"](a, a, c)  # reading one array twice is fine
    np.testing.assert_array_equal(c, a + a)
    emu["add"](big[:1024], b, rand(1024))  # disjoint is fine


@pytest.mark.parametrize("dt", ["int8", "int16", "int32", "int64"])
def test_integer_floor_division_of_every_width(dt):
    rt = CUDAModule.from_lowered(kernel_module(*floor_kernels(dt)), "cuda-emulator")
    rng = np.random.default_rng(0)
    a = rng.integers(-100, 100, 64).astype(dt)
    d = rng.choice([-7, -3, -1, 1, 2, 5], 64).astype(dt)
    b, c = np.zeros(64, dt), np.zeros(64, dt)
    rt["floor"](a, d, b, c)
    np.testing.assert_array_equal(b, np.floor_divide(a, 3))
    np.testing.assert_array_equal(c, np.mod(a, d))


def test_the_emulator_refuses_a_launch_shape_that_differs_from_its_own():
    a, b, c = rand(1024), rand(1024, seed=1), np.zeros(1024, "float32")
    with pytest.raises(RuntimeError, match=r"internal error: the host launches kernel "
                                           r"'vector_add_kernel' with grid \(4, 1, 1\) and "
                                           r"block \(128, 1, 1\), the emulator runs it with "
                                           r"grid \(8, 1, 1\) and block \(128, 1, 1\)"):
        EmulatorDevice().launch("vector_add_kernel", vector_add, (4, 1, 1), (128, 1, 1), 0,
                                [a, b, c])
    EmulatorDevice().launch("vector_add_kernel", vector_add, (8, 1, 1), (128, 1, 1), 0,
                            [a, b, c])
    np.testing.assert_array_equal(c, a + b)


def test_a_kernel_parameter_pycuda_cannot_pass_is_refused_at_build():
    kernel = vector_add.with_(params=(*vector_add.params, Var("v", "float32x2")))
    with pytest.raises(ValueError, match="kernel 'vector_add_kernel': parameter 'v' has dtype "
                                         "float32x2, which cannot be passed to a kernel launch"):
        CUDAModule.from_lowered(IRModule({"vector_add_kernel": kernel}), "cuda")


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
                        "uint64"]),
       st.integers(-(1 << 63), (1 << 63) - 1))
def test_host_casts_wrap_like_the_device(dt, value):
    cast = E.Cast(dtype(dt), E.IntImm(dtype("int64"), value))
    assert host_evaluate(cast, {}, "f") == int(np.array(value, "int64").astype(dt))


def test_static_shared_bytes_decide_the_shared_memory_opt_in():
    assert static_shared_bytes(matmul_tiled) == 2 * 256 * 4
    assert static_shared_bytes(vector_add) == 0
    assert needs_shared_opt_in(2048, 47 * 1024)  # 49 KiB in all
    assert not needs_shared_opt_in(0, 48 * 1024)
    assert not needs_shared_opt_in(64 * 1024, 0)  # no dynamic memory: nothing to opt in to


@needs_gpu
def test_device_arrays_of_to_device_are_used_in_place():
    from backends.cuda.launch import to_device, to_host

    rt = module("cuda")  # no -arch: compiled for the GPU found
    a, b = rand(1024), rand(1024, seed=1)
    c = to_device(np.zeros(1024, "float32"))
    rt["add"](to_device(a), to_device(b), c)
    np.testing.assert_array_equal(to_host(c), a + b)


@needs_gpu
@needs_nvrtc
def test_float4_kernel_on_the_gpu_and_an_arch_that_cannot_run():
    from backends.cuda.launch import to_device, to_host

    rt = CUDAModule.from_lowered(kernel_module(vector_float4, float4_host), "cuda")
    a, b = rand(1024), to_device(np.zeros(1024, "float32"))
    rt["float4"](to_device(a), b)
    np.testing.assert_array_equal(to_host(b), a * 2 + 1)
    other = "sm_80" if cubin_arch("", _capability()) != "sm_80" else "sm_90"
    wrong = CUDAModule.from_lowered(kernel_module(vector_float4, float4_host),
                                    f"cuda -arch={other}")
    with pytest.raises(RuntimeError, match=f"-arch={other} cubin cannot run on this GPU"):
        wrong["float4"](a, np.zeros(1024, "float32"))


def _capability() -> tuple[int, int]:
    import pycuda.driver as drv

    drv.init()
    return tuple(drv.Device(0).compute_capability())
