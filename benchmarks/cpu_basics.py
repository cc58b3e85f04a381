"""CPU code generation figures (issue 3), each a ratio against a reference run in this process.

1. element-wise add of two 2^24-element float32 arrays, parallel + vectorized in the script,
   against numpy's ``np.add(a, b, out=c)``;
2. the 1024^3 float32 matmul exactly as written (no schedule), GFLOPS against numpy's matmul;
3. ``T.parallel`` speed-up over the same kernel serial, on a compute-bound kernel;
4. build time of the conformance matmul to a callable (parse excluded);
5. graph-level overhead: microseconds per ``call_tir`` in a chain of 100 tiny kernels;
6. per-call overhead of a compiled kernel (argument checks + ctypes) on a tiny kernel.

Run: ``python benchmarks/cpu_basics.py`` (takes about a minute).
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import tvmscript  # noqa: E402
from benchmarks.parse_print import MATMUL_1024, cpu_model  # noqa: E402
from benchmarks.timing import best_of, interleaved  # noqa: E402

N_ADD = 1 << 24

ADD = f'''
@T.prim_func
def add(A: T.Buffer(({N_ADD},), "float32"), B: T.Buffer(({N_ADD},), "float32"), C: T.Buffer(({N_ADD},), "float32")):
    T.func_attr({{"tir.noalias": True}})
    for io in T.parallel({N_ADD // 4096}):
        for ii in range(256):
            for v in T.vectorized(16):
                C[io * 4096 + ii * 16 + v] = A[io * 4096 + ii * 16 + v] + B[io * 4096 + ii * 16 + v]
'''

# compute-bound: many flops per element, no memory traffic to speak of
HEAVY = '''
@T.prim_func
def heavy(A: T.Buffer((4096,), "float32"), B: T.Buffer((4096,), "float32")):
    T.func_attr({"tir.noalias": True})
    for i in T.{kind}(4096):
        for k in range(4000):
            B[i] = B[i] * T.float32(0.999) + A[i]
'''

TINY = '''
@T.prim_func
def tiny(A: T.Buffer((4,), "float32"), B: T.Buffer((4,), "float32")):
    for i in range(4):
        B[i] = A[i] + T.float32(1)
'''






def bench_add() -> str:
    rt = tvmscript.build(tvmscript.from_source(ADD), target="llvm -mcpu=native")
    a, b = np.random.rand(N_ADD).astype("float32"), np.random.rand(N_ADD).astype("float32")
    c, d = np.empty_like(a), np.empty_like(a)
    ours, ref = interleaved(lambda: rt["add"](a, b, c), lambda: np.add(a, b, out=d))
    np.testing.assert_array_equal(c, d)
    gbs = lambda t: 3 * 4 * N_ADD / t / 1e9  # noqa: E731
    return (f"| element-wise add 2^24 float32, parallel+vectorized | {gbs(ours):.1f} GB/s | "
            f"numpy {gbs(ref):.1f} GB/s | {ref / ours:.2f}x |")


def bench_matmul() -> str:
    rt = tvmscript.build(tvmscript.from_source(MATMUL_1024), target="llvm -mcpu=native")
    a = np.random.rand(1024, 1024).astype("float32")
    b = np.random.rand(1024, 1024).astype("float32")
    c, d = np.empty_like(a), np.empty_like(a)
    ours, ref = interleaved(lambda: rt["main"](a, b, c), lambda: np.matmul(a, b, out=d), rounds=3)
    np.testing.assert_allclose(c, d, rtol=1e-3, atol=1e-2)
    gf = lambda t: 2 * 1024**3 / t / 1e9  # noqa: E731
    return (f"| matmul 1024^3 float32 as written (no schedule) | {gf(ours):.2f} GFLOPS | "
            f"numpy {gf(ref):.1f} GFLOPS | {ref / ours:.3f}x |")


def bench_parallel() -> str:
    par = tvmscript.build(tvmscript.from_source(HEAVY.replace("{kind}", "parallel")), target="llvm")
    ser = tvmscript.build(tvmscript.from_source(HEAVY.replace("{kind}", "serial")), target="llvm")
    a = np.random.rand(4096).astype("float32")
    b1, b2 = np.zeros(4096, "float32"), np.zeros(4096, "float32")
    tp, ts = interleaved(lambda: par["heavy"](a, b1), lambda: ser["heavy"](a, b2), rounds=5)
    np.testing.assert_allclose(b1, b2, rtol=1e-5)
    return f"| T.parallel speed-up, compute-bound kernel | {ts * 1e3:.1f} ms serial | {tp * 1e3:.1f} ms parallel | {ts / tp:.2f}x |"


def bench_build_time() -> str:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.conformance import load_cases

    func = tvmscript.from_source(load_cases()["matmul_init"].SOURCE)
    tvmscript.build(func, target="llvm")  # warm up LLVM initialisation and imports
    times = []
    for _ in range(5):
        start = time.perf_counter()
        tvmscript.build(func, target="llvm")
        times.append(time.perf_counter() - start)
    ms = statistics.median(times) * 1e3
    return f"| build conformance matmul to a callable (parse excluded) | {ms:.1f} ms | Apache TVM 45 ms | {45 / ms:.2f}x |"


def chain_module(n: int) -> str:
    lines = ["@I.ir_module", "class Module:", "    @T.prim_func",
             '    def inc(A: T.Buffer((4,), "float32"), B: T.Buffer((4,), "float32")):',
             "        for i in range(4):",
             "            B[i] = A[i] + T.float32(1)", "",
             "    @R.function",
             '    def main(x: R.Tensor((4,), "float32")) -> R.Tensor((4,), "float32"):',
             "        cls = Module", "        with R.dataflow():"]
    prev = "x"
    for k in range(n):
        lines.append(f'            lv{k} = R.call_tir(cls.inc, ({prev},), out_sinfo=R.Tensor((4,), "float32"))')
        prev = f"lv{k}"
    lines += [f"            R.output({prev})", f"        return {prev}", ""]
    return "\n".join(lines)


def bench_graph_overhead() -> str:
    ex = tvmscript.build(tvmscript.from_source(chain_module(100)), target="llvm")
    x = np.zeros(4, "float32")
    np.testing.assert_allclose(ex["main"](x), np.full(4, 100.0))
    t = best_of(lambda: ex["main"](x), repeat=7, number=20)
    kernel = ex["inc"]
    y = np.empty(4, "float32")
    tk = best_of(lambda: kernel(x, y), repeat=7, number=2000)
    return (f"| graph chain of 100 call_tir (4-element kernels) | {t / 100 * 1e6:.1f} µs per call_tir | "
            f"direct kernel call {tk * 1e6:.1f} µs | {t / 100 / tk:.2f}x |")


def bench_call_overhead() -> str:
    rt = tvmscript.build(tvmscript.from_source(TINY), target="llvm")
    a, b = np.zeros(4, "float32"), np.zeros(4, "float32")
    t = best_of(lambda: rt["tiny"](a, b), repeat=7, number=5000)
    tn = best_of(lambda: np.add(a, 1, out=b), repeat=7, number=5000)
    return f"| per-call overhead, 4-element kernel | {t * 1e6:.2f} µs | numpy np.add {tn * 1e6:.2f} µs | {tn / t:.2f}x |"


def main() -> None:
    print(f"CPU: {cpu_model()}; numpy {np.__version__}")
    rows = [bench_add(), bench_matmul(), bench_parallel(), bench_build_time(),
            bench_graph_overhead(), bench_call_overhead()]
    print()
    print("| benchmark | ours | reference (same run) | reference / ours time ratio |")
    print("| --- | ---: | ---: | ---: |")
    for row in rows:
        print(row)


if __name__ == "__main__":
    main()
