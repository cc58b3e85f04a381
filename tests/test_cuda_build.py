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

import tvmscript
from backends.cuda import CUDAModule, nvrtc
from backends.cuda.launch import gpu_unavailable_reason
from tests.test_cuda_codegen import (
    dynamic_shared,
    guarded_scale,
    matmul_tiled,
    shared_reverse,
    vector_add,
)
from tvmscript import I, R, T
from tvmscript.ir import IRModule

NO_GPU = gpu_unavailable_reason()
needs_gpu = pytest.mark.skipif(NO_GPU is not None,
                               reason=f"needs an NVIDIA GPU and driver (none found: {NO_GPU})")
needs_nvrtc = pytest.mark.skipif(not nvrtc.is_available(),
                                 reason=f"needs NVRTC: {nvrtc.INSTALL_HINT}")


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

    def __init__(self, shape: tuple, typestr: str = "<f4", readonly: bool = False) -> None:
        self.__cuda_array_interface__ = {"shape": shape, "typestr": typestr, "strides": None,
                                         "data": (0x7F0000000000, readonly), "version": 3}


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
    assert "__shared__ float A_shared[256];" in source
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
