"""The main job: write a kernel and a module as Python, print them as scripts, parse the
scripts back and check that the same IR comes back; then compile both with LLVM, run them on
numpy arrays, check the results against numpy and show their speed next to numpy's.

Run with ``python -m tvmscript.demo``.
"""

from __future__ import annotations

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


def best_time(fn, repeat: int = 5) -> float:
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def compile_and_run() -> None:
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    rt = tvmscript.build(matmul, target="llvm -mcpu=native")
    print(f"=== built matmul with LLVM in {(time.perf_counter() - start) * 1e3:.1f} ms")
    a, b = rng.random((128, 128), "float32"), rng.random((128, 128), "float32")
    c = np.empty((128, 128), "float32")
    rt["matmul"](a, b, c)
    np.testing.assert_allclose(c, a @ b, rtol=1e-4, atol=1e-4)
    ours, ref = best_time(lambda: rt["matmul"](a, b, c)), best_time(lambda: a @ b)
    flops = 2 * 128**3
    print(f"matmul 128^3 (unscheduled): {flops / ours / 1e9:.2f} GFLOPS, numpy "
          f"{flops / ref / 1e9:.2f} GFLOPS (schedules make it fast; see tutorials/)")

    ex = tvmscript.build(Model, target="llvm")
    x, w = rng.standard_normal((32, 64), "float32"), rng.standard_normal((64, 16), "float32")
    y = ex["main"](x, w)
    np.testing.assert_allclose(y, np.maximum(x @ w, 0), rtol=1e-4, atol=1e-4)
    ours = best_time(lambda: ex["main"](x, w))
    ref = best_time(lambda: np.maximum(x @ w, 0))
    print(f"Model.main (dense + relu): {ours * 1e6:.1f} µs a call, numpy {ref * 1e6:.1f} µs; "
          "results match numpy")


def main() -> None:
    round_trip("kernel matmul", matmul)
    round_trip("module Model", Model)
    compile_and_run()


if __name__ == "__main__":
    main()
