"""The tutorial's final 1024^3 float32 matmul schedule against numpy's matmul, in one process.

The schedule is ``tutorials/optimize_matmul_cpu.py``'s (register tile 4 x 16, B packed into
16-column panels, local accumulator, vectorized, unrolled, parallel over row blocks). Both are
timed alternately, each call after a short pause so that neither library's idle worker threads
(OpenBLAS spins about 0.1 s after a call) steal a core from the other; the best call of each is
kept. The last line is::

    matmul 1024x1024x1024 float32: <G> GFLOPS, numpy <N> GFLOPS, ratio <G/N>

Run: ``python benchmarks/matmul_cpu.py [--rounds 20]`` (about 10 s).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import tvmscript
from benchmarks.timing import interleaved

N = 1024
TARGET = "llvm -mcpu=native"


def load_tutorial():
    """``tutorials/optimize_matmul_cpu.py`` as a module (tutorials/ is not a package)."""
    path = ROOT / "tutorials" / "optimize_matmul_cpu.py"
    spec = importlib.util.spec_from_file_location("optimize_matmul_cpu", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module




def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description="tutorial matmul schedule vs numpy")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--pause", type=float, default=0.15)
    args = parser.parse_args(argv)

    load = os.getloadavg()[0]
    tutorial = load_tutorial()
    sch = tutorial.schedule()
    start = time.perf_counter()
    rt = tvmscript.build(sch.mod, target=TARGET)
    build_s = time.perf_counter() - start
    kernel = rt["matmul"]

    rng = np.random.default_rng(0)
    a = rng.random((N, N), dtype=np.float32)
    b = rng.random((N, N), dtype=np.float32)
    c, d = np.zeros((N, N), "float32"), np.empty((N, N), "float32")
    kernel(a, b, c)
    np.testing.assert_allclose(c, a @ b, rtol=1e-4, atol=1e-3)

    ours, ref = interleaved(lambda: kernel(a, b, c), lambda: np.matmul(a, b, out=d),
                            args.rounds, args.pause)
    g, n = 2 * N**3 / ours / 1e9, 2 * N**3 / ref / 1e9
    print(f"build (lowering + LLVM + JIT): {build_s * 1e3:.0f} ms")
    print(f"load average before the run: {load:.2f} (with another job on a core, both sides drop and the ratio is unreliable)")
    print(f"best of {args.rounds} interleaved calls: ours {ours * 1e3:.2f} ms, "
          f"numpy {ref * 1e3:.2f} ms")
    print(f"| 1024^3 float32 matmul, tutorial schedule | {g:.1f} GFLOPS | numpy {n:.1f} GFLOPS "
          f"| {g / n:.2f}x |")
    print(f"matmul {N}x{N}x{N} float32: {g:.1f} GFLOPS, numpy {n:.1f} GFLOPS, ratio {g / n:.2f}")
    return g / n


if __name__ == "__main__":
    main()
