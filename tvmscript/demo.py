"""The main job: write a kernel and a module as Python, print them as scripts, parse the
scripts back and check that the same IR comes back; then compile them with LLVM, run them on
numpy arrays and check the results against numpy. A 512^3 matmul is run as written, after a
schedule written by hand, and after a short automatic tuning run, each timed next to numpy's
matmul in the same run.

Run with ``python -m tvmscript.demo``.
"""

from __future__ import annotations

import os
import time

import numpy as np

import tvmscript
from tvmscript import I, R, T


@T.prim_func
def matmul(A: T.Buffer((128, 128), "float32"), B: T.Buffer((128, 128), "float32"),
           C: T.Buffer((128, 128), "float32")):
    for i, j, k in T.grid(128, 128, 128):
        with T.block("C"):
            vi, vj, vk = T.axis.remap("SSR", [i, j, k])
            with T.init():
                C[vi, vj] = T.float32(0)
            C[vi, vj] = C[vi, vj] + A[vi, vk] * B[vk, vj]


@I.ir_module
class Model:
    @T.prim_func
    def dense(X: T.Buffer((32, 64), "float32"), W: T.Buffer((64, 16), "float32"),
              Y: T.Buffer((32, 16), "float32")):
        for i, j, k in T.grid(32, 16, 64):
            with T.block("dense"):
                vi, vj, vk = T.axis.remap("SSR", [i, j, k])
                with T.init():
                    Y[vi, vj] = T.float32(0)
                Y[vi, vj] = Y[vi, vj] + X[vi, vk] * W[vk, vj]

    @T.prim_func
    def relu(X: T.Buffer((32, 16), "float32"), Y: T.Buffer((32, 16), "float32")):
        for i, j in T.grid(32, 16):
            with T.block("relu"):
                vi, vj = T.axis.remap("SS", [i, j])
                Y[vi, vj] = T.max(X[vi, vj], T.float32(0))

    @R.function
    def main(x: R.Tensor((32, 64), "float32"), w: R.Tensor((64, 16), "float32")) -> R.Tensor((32, 16), "float32"):
        cls = Model
        with R.dataflow():
            h = R.call_tir(cls.dense, (x, w), out_sinfo=R.Tensor((32, 16), "float32"))
            y = R.call_tir(cls.relu, (h,), out_sinfo=R.Tensor((32, 16), "float32"))
            R.output(y)
        return y


def round_trip(name: str, obj) -> None:
    start = time.perf_counter()
    text = obj.script()
    printed = time.perf_counter()
    again = tvmscript.from_source(text)
    parsed = time.perf_counter()
    tvmscript.assert_structural_equal(obj, again)
    assert again.script() == text
    tvmscript.verify(again)
    print(f"=== {name}: printed in {(printed - start) * 1e3:.2f} ms, parsed back in "
          f"{(parsed - printed) * 1e3:.2f} ms, structurally equal, well-formed")
    print(text)


N = 512  # the matmul the demo schedules: big enough that the schedule matters, quick to run


@T.prim_func
def matmul_512(A: T.Buffer((N, N), "float32"), B: T.Buffer((N, N), "float32"),
               C: T.Buffer((N, N), "float32")):
    T.func_attr({"tir.noalias": True})
    for i, j, k in T.grid(N, N, N):
        with T.block("C"):
            vi, vj, vk = T.axis.remap("SSR", [i, j, k])
            with T.init():
                C[vi, vj] = T.float32(0)
            C[vi, vj] = C[vi, vj] + A[vi, vk] * B[vk, vj]


def schedule_matmul(func) -> tvmscript.Schedule:
    """A 4 x 16 register tile over a packed B, accumulated locally, vectorized and parallel:
    ``tutorials/optimize_matmul_cpu.py`` explains each step."""
    from tvmscript.schedule.index_map import IndexMap

    sch = tvmscript.Schedule(func)
    block = sch.get_block("C")
    i, j, k = sch.get_loops(block)
    i_0, i_1 = sch.split(i, [None, 4])
    j_0, j_1 = sch.split(j, [None, 16])
    sch.reorder(i_0, j_0, k, i_1, j_1)
    sch.transform_layout(block, ("read", 1), IndexMap.from_func(lambda k, n: (n // 16, k, n % 16)))
    local = sch.cache_write(block, 0, "local")
    sch.reverse_compute_at(local, j_0)
    sch.decompose_reduction(block, k)
    for name in ("C_init", "C", "C_local"):
        *_, rows, cols = sch.get_loops(sch.get_block(name))
        sch.unroll(rows)
        sch.vectorize(cols)
    sch.vectorize(sch.get_loops(sch.get_block("B_pack"))[-1])
    sch.parallel(i_0)
    sch.parallel(sch.get_loops(sch.get_block("B_pack"))[0])
    return sch


def machine_load() -> str:
    """The load average, printed beside the figures: on a busy machine every figure drops."""
    try:
        load = os.getloadavg()[0]
    except OSError:
        return "load average unknown"
    return f"load average {load:.2f} on {os.cpu_count()} cores"


def compile_and_run() -> None:
    from backends.runtime.timing import best_of, interleaved

    rng = np.random.default_rng(0)
    a, b = rng.random((N, N), "float32"), rng.random((N, N), "float32")
    expected = a @ b
    flops = 2 * N**3
    gflops = lambda seconds: flops / seconds / 1e9  # noqa: E731
    print(f"=== matmul {N}^3 float32 on the CPU ({machine_load()}); numpy's matmul timed "
          "alternately with ours, best of several, in the same run")

    start = time.perf_counter()
    naive = tvmscript.build(matmul_512, target="llvm -mcpu=native")["matmul_512"]
    print(f"built the kernel as written in {(time.perf_counter() - start) * 1e3:.0f} ms")
    c = np.zeros((N, N), "float32")
    start = time.perf_counter()
    naive(a, b, c)
    seconds = time.perf_counter() - start
    np.testing.assert_allclose(c, expected, rtol=1e-4, atol=1e-3)
    print(f"  as written (no schedule): {gflops(seconds):7.2f} GFLOPS, matches numpy")

    sch = schedule_matmul(matmul_512)
    start = time.perf_counter()
    fast = tvmscript.build(sch.mod, target="llvm -mcpu=native")["matmul_512"]
    print(f"scheduled with {len(sch.trace.instructions)} primitives and built in "
          f"{(time.perf_counter() - start) * 1e3:.0f} ms (print(sch.trace) replays them)")
    c = np.zeros((N, N), "float32")
    fast(a, b, c)
    np.testing.assert_allclose(c, expected, rtol=1e-4, atol=1e-3)
    d = np.empty_like(c)
    ours, ref = interleaved(lambda: fast(a, b, c), lambda: np.matmul(a, b, out=d),
                            rounds=7, pause=0.15)
    print(f"  scheduled:                {gflops(ours):7.2f} GFLOPS, matches numpy")
    print(f"  numpy (OpenBLAS):         {gflops(ref):7.2f} GFLOPS  -> scheduled kernel at "
          f"{ref / ours:.2f}x numpy's speed")

    trials = 32
    print(f"tuning it instead: tvmscript.tune(matmul_512, trials={trials}) searches the schedule "
          "space with a learned cost model, measuring on this machine")
    start = time.perf_counter()
    result = tvmscript.tune(matmul_512, target="llvm -mcpu=native", trials=trials, seed=0)
    tuned = tvmscript.build(result.best, target="llvm -mcpu=native")["matmul_512"]
    print(f"  {len(result.history)} candidates measured in {time.perf_counter() - start:.0f} s "
          f"({result.errors} failed); the best is trial "
          f"{1 + [h.latency_s for h in result.history].index(result.best_latency_s)}")
    c = np.zeros((N, N), "float32")
    tuned(a, b, c)
    np.testing.assert_allclose(c, expected, rtol=1e-4, atol=1e-3)
    ours, ref = interleaved(lambda: tuned(a, b, c), lambda: np.matmul(a, b, out=d),
                            rounds=7, pause=0.15)
    print(f"  tuned:                    {gflops(ours):7.2f} GFLOPS, matches numpy")
    print(f"  numpy (OpenBLAS):         {gflops(ref):7.2f} GFLOPS  -> tuned kernel at "
          f"{ref / ours:.2f}x numpy's speed")

    ex = tvmscript.build(Model, target="llvm")
    x, w = rng.standard_normal((32, 64), "float32"), rng.standard_normal((64, 16), "float32")
    y = ex["main"](x, w)
    np.testing.assert_allclose(y, np.maximum(x @ w, 0), rtol=1e-4, atol=1e-4)
    ours = best_of(lambda: ex["main"](x, w), repeat=5, number=20)
    ref = best_of(lambda: np.maximum(x @ w, 0), repeat=5, number=20)
    print(f"=== Model.main (dense + relu): {ours * 1e6:.1f} µs a call, numpy {ref * 1e6:.1f} µs; "
          "results match numpy")


def main() -> None:
    round_trip("kernel matmul", matmul)
    round_trip("module Model", Model)
    compile_and_run()


if __name__ == "__main__":
    main()
