"""How fast the CUDA emulator runs lowered GPU kernels on this CPU, with and without race checks.

Two hand-lowered kernels (the form ``passes.gpu_pipeline.lower_gpu`` produces): a vector add
over 2^16 elements (256 blocks of 256 threads) and a 128^3 shared-memory tiled matmul (16 x 16
tiles, 8 x 8 blocks of 16 x 16 threads, two barriers per k-step). Each is checked against numpy,
then timed (best of ``--rounds``). Prints one table::

    kernel            threads  race check   time (s)   threads/s   emulated FLOP/s   x numpy

with the CPU model above it; ``x numpy`` is how many times longer the emulator takes than numpy
computing the same result (``a + b``, ``a @ b``), timed alternately with it in the same run. Run: ``python benchmarks/cuda_emulator.py [--rounds 2]``.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import tvmscript
from backends.cuda.emulator import emulate
from benchmarks.parse_print import cpu_model

VECTOR_ADD = """
@T.prim_func
def add(A: T.Buffer((65536,), "float32"), B: T.Buffer((65536,), "float32"),
        C: T.Buffer((65536,), "float32")):
    T.func_attr({"global_symbol": "add_kernel", "tir.noalias": True})
    bx = T.launch_thread("blockIdx.x", 256)
    tx = T.launch_thread("threadIdx.x", 256)
    C[bx * 256 + tx] = A[bx * 256 + tx] + B[bx * 256 + tx]
"""

MATMUL = """
@T.prim_func
def mm(A: T.Buffer((16384,), "float32"), B: T.Buffer((16384,), "float32"),
       C: T.Buffer((16384,), "float32")):
    T.func_attr({"global_symbol": "mm_kernel", "tir.noalias": True})
    by = T.launch_thread("blockIdx.y", 8)
    bx = T.launch_thread("blockIdx.x", 8)
    ty = T.launch_thread("threadIdx.y", 16)
    tx = T.launch_thread("threadIdx.x", 16)
    As = T.allocate([256], "float32", "shared")
    A_shared = T.decl_buffer((256,), "float32", data=As, scope="shared")
    Bs = T.allocate([256], "float32", "shared")
    B_shared = T.decl_buffer((256,), "float32", data=Bs, scope="shared")
    acc = T.allocate([1], "float32", "local")
    acc_local = T.decl_buffer((1,), "float32", data=acc, scope="local")
    acc_local[0] = T.float32(0)
    for ko in range(8):
        A_shared[ty * 16 + tx] = A[(by * 16 + ty) * 128 + ko * 16 + tx]
        B_shared[ty * 16 + tx] = B[(ko * 16 + ty) * 128 + bx * 16 + tx]
        T.tvm_storage_sync("shared")
        for ki in range(16):
            acc_local[0] = acc_local[0] + A_shared[ty * 16 + ki] * B_shared[ki * 16 + tx]
        T.tvm_storage_sync("shared")
    C[(by * 16 + ty) * 128 + bx * 16 + tx] = acc_local[0]
"""


def best_time(fn, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main(argv: list[str] | None = None) -> list[tuple]:
    parser = argparse.ArgumentParser(description="CUDA emulator throughput")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)

    a, b = rng.random(65536, dtype=np.float32), rng.random(65536, dtype=np.float32)
    c = np.zeros(65536, np.float32)
    x = rng.standard_normal((128, 128)).astype(np.float32)
    y = rng.standard_normal((128, 128)).astype(np.float32)
    z = np.zeros((128, 128), np.float32)
    cases = [("vector add 2^16", tvmscript.from_source(VECTOR_ADD), [a, b, c], 65536, 65536,
              lambda: np.testing.assert_array_equal(c, a + b), lambda: np.add(a, b)),
             ("tiled matmul 128^3", tvmscript.from_source(MATMUL), [x, y, z], 16384,
              2 * 128 ** 3, lambda: np.testing.assert_allclose(z, x @ y, rtol=1e-4, atol=1e-4),
              lambda: np.matmul(x, y))]
    rows = []
    for name, kernel, kargs, threads, flops, check, reference in cases:
        for races in (True, False):
            emulate(kernel, kargs, check_races=races)  # translation, and the result checked
            check()
            seconds = numpy_s = float("inf")
            for _ in range(args.rounds):  # alternating, so load slows both sides alike
                seconds = min(seconds, best_time(
                    lambda k=kernel, a=kargs, r=races: emulate(k, a, check_races=r), 1))
                numpy_s = min(numpy_s, best_time(reference, 20))
            rows.append((name, threads, races, seconds, threads / seconds, flops / seconds,
                         seconds / numpy_s))
    print(f"CPU: {cpu_model()}; Python {platform.python_version()}, numpy {np.__version__}")
    print(f"{'kernel':<20}{'threads':>9}{'race check':>12}{'time (s)':>11}{'threads/s':>12}"
          f"{'emulated FLOP/s':>17}{'x numpy':>10}")
    for name, threads, races, seconds, tps, fps, slower in rows:
        print(f"{name:<20}{threads:>9}{'on' if races else 'off':>12}{seconds:>11.3f}"
              f"{tps:>12.3g}{fps:>17.3g}{slower:>10.3g}")
    return rows


if __name__ == "__main__":
    main()
