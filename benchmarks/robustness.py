"""What the hardening of issue 9 costs, each side measured against the other in the same run.

1. Schedules verify every primitive's result (``Schedule(verify=True)``, the default): the
   time to replay the matmul tutorial's trace with and without that check.
2. The bounds-checked build (``PassContext(config={"tir.instrument_bound_checkers": True})``):
   kernel time with and without the checks, for accesses the compiler cannot prove in bounds
   (an offset given at run time, a gather through an index array).
3. The demo's scheduled 512^3 matmul next to numpy (what ``python -m tvmscript.demo`` shows).

Run: ``python benchmarks/robustness.py`` (about half a minute).
"""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import tvmscript  # noqa: E402
from backends.runtime.timing import interleaved  # noqa: E402
from benchmarks.schedule_primitives import load_tutorial  # noqa: E402
from passes import PassContext  # noqa: E402
from tvmscript.demo import N as DEMO_N, matmul_512, schedule_matmul  # noqa: E402

SIZE = 1 << 22

CHECKED_KERNELS = {
    "offset known at run time `B[i] = A[i + n]`": f'''
@T.prim_func
def k(A: T.Buffer(({SIZE} + 64,), "float32"), B: T.Buffer(({SIZE},), "float32"), n: T.int32):
    for i in range({SIZE}):
        with T.block("b"):
            vi = T.axis.spatial({SIZE}, i)
            B[vi] = A[vi + n] * T.float32(2)
''',
    "gather `B[i] = A[idx[i]]`": f'''
@T.prim_func
def k(A: T.Buffer(({SIZE},), "float32"), idx: T.Buffer(({SIZE},), "int32"),
      B: T.Buffer(({SIZE},), "float32")):
    for i in range({SIZE}):
        with T.block("b"):
            vi = T.axis.spatial({SIZE}, i)
            B[vi] = A[idx[vi]]
''',
}


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def replay_cost() -> None:
    tutorial = load_tutorial()
    trace = tutorial.schedule().trace
    steps = len(trace.instructions)

    def replay(verify: bool):
        return lambda: trace.replay(tvmscript.Schedule(tutorial.matmul, verify=verify))

    checked, plain = interleaved(replay(True), replay(False), rounds=7)
    print(f"| replay the tutorial's {steps}-step trace (1024^3 matmul) | {checked * 1e3:.1f} ms "
          f"verified | {plain * 1e3:.1f} ms unverified | {checked / plain:.2f}x "
          f"({(checked - plain) / steps * 1e3:.2f} ms a step) |")


def checked_kernel_cost() -> None:
    rng = np.random.default_rng(0)
    for title, source in CHECKED_KERNELS.items():
        func = tvmscript.from_source(source)
        plain = tvmscript.build(func, target="llvm -mcpu=native")["k"]
        with PassContext(config={"tir.instrument_bound_checkers": True}):
            checked = tvmscript.build(func, target="llvm -mcpu=native")["k"]
        if "idx" in source:
            args = (rng.random(SIZE, "float32"), rng.integers(0, SIZE, SIZE).astype("int32"),
                    np.zeros(SIZE, "float32"))
        else:
            args = (rng.random(SIZE + 64, "float32"), np.zeros(SIZE, "float32"), 7)
        ours, ref = interleaved(lambda: checked(*args), lambda: plain(*args), rounds=9)
        print(f"| {title}, 2^22 float32 | {ours * 1e3:.2f} ms checked | {ref * 1e3:.2f} ms "
              f"unchecked | {ours / ref:.2f}x |")


def demo_matmul() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.random((DEMO_N, DEMO_N), "float32"), rng.random((DEMO_N, DEMO_N), "float32")
    c, d = np.zeros_like(a), np.zeros_like(a)
    fast = tvmscript.build(schedule_matmul(matmul_512).mod, target="llvm -mcpu=native")
    kernel = fast["matmul_512"]
    ours, ref = interleaved(lambda: kernel(a, b, c), lambda: np.matmul(a, b, out=d), rounds=9,
                            pause=0.15)
    np.testing.assert_allclose(c, a @ b, rtol=1e-4, atol=1e-3)
    flops = 2 * DEMO_N**3
    print(f"| demo: scheduled {DEMO_N}^3 float32 matmul | {flops / ours / 1e9:.1f} GFLOPS | "
          f"numpy {flops / ref / 1e9:.1f} GFLOPS | {ref / ours:.2f}x numpy |")


def main() -> None:
    load = os.getloadavg()[0]
    print(f"CPU: {cpu_name()}, {os.cpu_count()} cores; load average {load:.2f} at the start")
    print("| what | ours | reference, same run | ratio |")
    print("| --- | ---: | ---: | ---: |")
    replay_cost()
    checked_kernel_cost()
    demo_matmul()
    print(f"load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
