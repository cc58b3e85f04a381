"""Optimizing a matmul for an NVIDIA GPU, step by step, with or without a GPU.

Three kernels for C = A @ B, each a schedule of the same textbook program:

1. **naive**: one thread per element of C, reading A and B straight from global memory;
2. **tiled**: each block computes a 64 x 64 tile of C with 16 x 16 threads, each thread a 4 x 4
   register tile in ``local`` memory; the block's threads fetch 64 x 16 slices of A and B into
   ``shared`` memory together (cooperative fetching, float4 loads), and lowering puts the
   ``__syncthreads()`` between the fetches and the reads;
3. **tensor cores**: float16 inputs with float32 accumulation on WMMA 16 x 16 x 16 fragments
   (``tensorize`` onto the ``wmma_*`` intrinsics), 2 x 2 warps per block.

Each step prints the CUDA C, compiles it with NVRTC (no GPU needed), and checks the kernel in the
``cuda-emulator`` (every thread of every block on the CPU, barriers as real barriers, data races
reported) against numpy on a small size. With an NVIDIA GPU and pycuda (``pip install
-e ".[cuda]"``), it then times each kernel at ``--n`` (default 4096) next to cuBLAS through torch.
Last, the emulator catches a missing barrier in a kernel written at the thread level.

Run: ``python tutorials/optimize_matmul_gpu.py`` (about a minute on a CPU; ``--quick`` checks on
smaller sizes).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import tvmscript
from backends.cuda.emulator import EmulatorRaceError
from backends.cuda.launch import gpu_unavailable_reason


def matmul(n: int, dtype: str = "float32") -> tvmscript.ir.PrimFunc:
    """The textbook n x n x n matmul; ``float16`` inputs accumulate in float32."""
    cast = "T.Cast(\"float32\", {})" if dtype != "float32" else "{}"
    return tvmscript.from_source(f'''
@T.prim_func
def matmul(A: T.Buffer(({n}, {n}), "{dtype}"), B: T.Buffer(({n}, {n}), "{dtype}"),
           C: T.Buffer(({n}, {n}), "float32")):
    T.func_attr({{"tir.noalias": True}})
    for i, j, k in T.grid({n}, {n}, {n}):
        with T.block("C"):
            vi, vj, vk = T.axis.remap("SSR", [i, j, k])
            with T.init():
                C[vi, vj] = T.float32(0)
            C[vi, vj] = C[vi, vj] + {cast.format("A[vi, vk]")} * {cast.format("B[vk, vj]")}
''')


# ----------------------------------------------------------------------------- the schedules

def naive(n: int) -> tvmscript.Schedule:
    """One thread per C[i, j]: 16 x 16 threads per block, the k loop inside each thread."""
    sch = tvmscript.Schedule(matmul(n))
    i, j, _ = sch.get_loops(sch.get_block("C"))
    by, ty = sch.split(i, [None, 16])
    bx, tx = sch.split(j, [None, 16])
    sch.reorder(by, bx, ty, tx)
    for loop, axis in ((by, "blockIdx.y"), (bx, "blockIdx.x"), (ty, "threadIdx.y"),
                       (tx, "threadIdx.x")):
        sch.bind(loop, axis)
    return sch


def tiled(n: int, tile: int = 64, threads: int = 16, kt: int = 16) -> tvmscript.Schedule:
    """A 64 x 64 tile of C per block, 4 x 4 per thread in registers, A and B staged through
    shared memory 16 columns of k at a time, fetched by all 256 threads with float4 loads."""
    per_thread = tile // threads
    sch = tvmscript.Schedule(matmul(n))
    c = sch.get_block("C")
    c_local = sch.cache_write(c, 0, "local")  # the thread's 4 x 4 accumulators
    i, j, k = sch.get_loops(c)
    by, ty, ii = sch.split(i, [None, threads, per_thread])
    bx, tx, ji = sch.split(j, [None, threads, per_thread])
    ko, ki = sch.split(k, [None, kt])
    sch.reorder(by, bx, ty, tx, ko, ki, ii, ji)
    for loop, axis in ((by, "blockIdx.y"), (bx, "blockIdx.x"), (ty, "threadIdx.y"),
                       (tx, "threadIdx.x")):
        sch.bind(loop, axis)
    sch.reverse_compute_at(c_local, tx)  # each thread writes its own 4 x 4 back
    for operand in (0, 1):  # A, then B: a 64 x 16 (16 x 64) slice per step of ko
        fetch = sch.cache_read(c, operand, "shared")
        sch.compute_at(fetch, ko)
        fused = sch.fuse(*sch.get_loops(fetch)[-2:])
        _, f_ty, f_tx, f_vec = sch.split(fused, [None, threads, threads, 4])
        sch.bind(f_ty, "threadIdx.y")
        sch.bind(f_tx, "threadIdx.x")
        sch.vectorize(f_vec)  # float4
    sch.unroll(ki)
    sch.decompose_reduction(c, ko)  # zero the accumulators once, before the k loop
    return sch


def tensor_core(n: int) -> tvmscript.Schedule:
    """float16 WMMA: a 32 x 32 tile of C per block, one 16 x 16 tile per warp (2 x 2 warps);
    A and B go global -> shared (all 128 threads) -> fragments; C fragment -> global."""
    sch = tvmscript.Schedule(matmul(n, "float16"))
    blk = sch.get_block("C")
    i, j, k = sch.get_loops(blk)
    i0, i1 = sch.split(i, [None, 16])
    j0, j1 = sch.split(j, [None, 16])
    k0, k1 = sch.split(k, [None, 16])
    by, wy = sch.split(i0, [None, 2])
    bx, wx = sch.split(j0, [None, 2])
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


STEPS = {"naive": (naive, "float32"), "tiled": (tiled, "float32"),
         "tensor cores": (tensor_core, "float16")}


# ----------------------------------------------------------------------------- checking

def operands(n: int, dtype: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((n, n)).astype(dtype)
    b = rng.standard_normal((n, n)).astype(dtype)
    return a, b, np.full((n, n), np.nan, "float32")


def check_in_emulator(schedule, dtype: str, n: int) -> float:
    """Runs the kernel on the CPU with the GPU's semantics; the max |error| against numpy."""
    rt = tvmscript.build(schedule(n).mod, target="cuda-emulator")
    a, b, c = operands(n, dtype)
    rt["matmul"](a, b, c)
    return float(np.max(np.abs(c - a.astype("float32") @ b.astype("float32"))))


FEATURES = ("__syncthreads()", "float4", "__shared__", "nvcuda::wmma::load_matrix_sync",
            "nvcuda::wmma::mma_sync", "nvcuda::wmma::store_matrix_sync")


def features(source: str) -> str:
    """What the kernel uses, counted in its CUDA C."""
    found = [f"{name} x{source.count(name)}" for name in FEATURES if name in source]
    return ", ".join(found) or "global memory only"


def kernel_excerpt(source: str, lines: int) -> str:
    """The kernel's signature and first statements (the whole source is rt.get_source())."""
    body = source[source.index('extern "C"'):].splitlines()
    return "\n".join(body[:lines] + ["    ..."])


# ----------------------------------------------------------------------------- timing on a GPU

def gpu_arch() -> str:
    """The architecture of this machine's GPU (``sm_90`` on an H100), sm_80 without one."""
    if gpu_unavailable_reason() is not None:
        return "sm_80"
    import pycuda.driver as cuda

    cuda.init()  # no context needed to read the capability
    major, minor = cuda.Device(0).compute_capability()
    return f"sm_{major}{minor}"


def time_on_gpu(rt, dtype: str, n: int) -> float:
    """Seconds per call with the operands already on the GPU (no copies timed)."""
    from backends.cuda.launch import to_device  # in the context the kernels launch in

    a, b, c = operands(n, dtype)
    args = [to_device(x) for x in (a, b, np.zeros_like(c))]
    return rt.benchmark("matmul", *args, number=10, repeat=5)


def cublas_seconds(dtype: str, n: int) -> float | None:
    """cuBLAS through torch on the same GPU, or None where torch has no CUDA."""
    try:
        import torch
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    a = torch.randn(n, n, device="cuda", dtype=getattr(torch, dtype))
    b = torch.randn(n, n, device="cuda", dtype=getattr(torch, dtype))
    best = float("inf")
    for _ in range(5):
        torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(10):
            torch.matmul(a, b)
        torch.cuda.synchronize()
        best = min(best, (time.perf_counter() - start) / 10)
    return best


# ----------------------------------------------------------------------------- a missing barrier

MISSING_BARRIER = '''
@T.prim_func
def reverse(A: T.Buffer((512,), "float32"), B: T.Buffer((512,), "float32")):
    bx = T.launch_thread("blockIdx.x", 4)
    tx = T.launch_thread("threadIdx.x", 64)
    tile = T.allocate([64], "float32", "shared")
    Tile = T.decl_buffer((64,), "float32", data=tile, scope="shared")
    for half in range(2):
        Tile[tx] = A[half * 256 + bx * 64 + tx]
        T.tvm_storage_sync("shared")
        B[half * 256 + bx * 64 + tx] = Tile[63 - tx]
        # missing: T.tvm_storage_sync("shared") before the next round overwrites Tile while
        # other threads may still be reading this round's values
'''


def show_missing_barrier() -> None:
    """A kernel written at the thread level is taken as written: its missing barrier is the
    author's, and the emulator names the buffer, the threads and the two statements."""
    rt = tvmscript.build(tvmscript.from_source(MISSING_BARRIER), target="cuda-emulator")
    a = np.arange(512, dtype="float32")
    try:
        rt["reverse"](a, np.zeros(512, "float32"))
    except EmulatorRaceError as err:
        print(f"the emulator reports: {err}")
    else:
        raise AssertionError("the emulator missed the race")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=4096, help="matrix size timed on a GPU")
    parser.add_argument("--check-n", type=int, default=128,
                        help="matrix size checked in the emulator")
    parser.add_argument("--quick", action="store_true", help="check on 64 x 64 only")
    args = parser.parse_args()
    check_n = 64 if args.quick else args.check_n
    reason = gpu_unavailable_reason()
    arch = gpu_arch()
    target = f"cuda -arch={arch}"
    print(f"target: {target}; GPU: {'none (' + reason + ')' if reason else 'yes'}\n")
    for name, (schedule, dtype) in STEPS.items():
        start = time.perf_counter()
        rt = tvmscript.build(schedule(args.n).mod, target=target)  # lowered, CUDA C, cubin
        build_s = time.perf_counter() - start
        print(f"== {name} ({dtype}): built in {build_s:.2f} s (lowering, CUDA C, NVRTC cubin "
              f"for {arch}), kernels {rt.kernels}")
        print(kernel_excerpt(rt.get_source(), 14 if name == "naive" else 22))
        print(f"uses: {features(rt.get_source())}")
        error = check_in_emulator(schedule, dtype, check_n)
        tolerance = 1e-2 if dtype == "float16" else 1e-3
        assert error < tolerance, f"{name}: emulator result off by {error}"
        print(f"emulator, {check_n}^3: max |C - numpy| = {error:.2e}")
        if reason is None:
            ours = time_on_gpu(rt, dtype, args.n)
            flops = 2 * args.n**3
            line = f"GPU, {args.n}^3: {ours * 1e3:.3f} ms, {flops / ours / 1e12:.2f} TFLOPS"
            theirs = cublas_seconds(dtype, args.n)
            if theirs is not None:
                line += f"; cuBLAS {theirs * 1e3:.3f} ms: ours = {theirs / ours:.2f}x cuBLAS"
            print(line)
        print()
    if reason is not None:
        print("no GPU here: the kernels were compiled and checked, not timed\n")
    show_missing_barrier()


if __name__ == "__main__":
    main()
