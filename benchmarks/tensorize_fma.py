"""The 1024^3 float32 matmul with its 8-lane update tensorized by the FMA micro-kernel, against
the same schedule left to the vectorizer and numpy's matmul, in one process.

The schedule is ``tutorials/optimize_matmul_cpu.py``'s (4 x 16 register tile, packed B, local
accumulator, parallel rows); only the update of block ``C`` differs: its 16 columns are split in
two 8-lane halves, each replaced by ``fma_8x1_f32_avx2`` (``llvm.fma.v8f32``) with ``tensorize``.
This measures what tensorize's generated code costs against the compiler's own vectorization.
All three are timed alternately, best call kept. The last line is::

    fma-tensorized matmul 1024^3: <T> GFLOPS, vectorized schedule <V> GFLOPS (<T/V>x), numpy <N> GFLOPS (<T/N>x)

On a CPU without AVX2 + FMA it says why and exits 0. Run:
``python benchmarks/tensorize_fma.py [--rounds 10]`` (about 20 s).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import tvmscript  # noqa: E402
from benchmarks.matmul_cpu import TARGET, load_tutorial  # noqa: E402
from benchmarks.timing import interleaved  # noqa: E402

N = 1024
FMA = "fma_8x1_f32_avx2"


def fma_schedule(tut) -> tvmscript.Schedule:
    """The tutorial's schedule with the update of ``C`` tensorized instead of vectorized."""
    sch = tvmscript.Schedule(tut.matmul)
    tut.step_tile(sch)
    tut.step_pack(sch)
    tut.step_accumulate(sch)
    for name in ("C_init", "C_local"):
        *_, rows, cols = sch.get_loops(sch.get_block(name))
        sch.unroll(rows)
        sch.vectorize(cols)
    *_, lanes = sch.get_loops(sch.get_block("B_pack"))
    sch.vectorize(lanes)
    *_, rows, cols = sch.get_loops(sch.get_block("C"))
    halves, lanes = sch.split(cols, [None, 8])
    sch.unroll(rows)
    sch.unroll(halves)
    outer = sch.tensorize(lanes, FMA)
    sch.parallel(sch.get_loops(outer)[0])
    sch.parallel(sch.get_loops(sch.get_block("B_pack"))[0])
    return sch


def main(argv: list[str] | None = None) -> "float | None":
    parser = argparse.ArgumentParser(description="FMA-tensorized matmul vs vectorized and numpy")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--pause", type=float, default=0.15)
    args = parser.parse_args(argv)

    from backends.intrinsics.x86 import available, missing_features

    if not available(FMA):
        print(f"fma-tensorized matmul 1024^3: not measured: this CPU lacks "
              f"{', '.join(missing_features(FMA))}")
        return None
    tut = load_tutorial()
    fma = tvmscript.build(fma_schedule(tut).mod, target=TARGET)["matmul"]
    vec = tvmscript.build(tut.schedule().mod, target=TARGET)["matmul"]
    rng = np.random.default_rng(0)
    a, b = rng.random((N, N), dtype=np.float32), rng.random((N, N), dtype=np.float32)
    c1, c2, c3 = (np.zeros((N, N), np.float32) for _ in range(3))
    fma(a, b, c1)
    np.testing.assert_allclose(c1, a @ b, rtol=1e-4, atol=1e-3)

    t_fma, t_vec = interleaved(lambda: fma(a, b, c1), lambda: vec(a, b, c2), args.rounds,
                               args.pause)
    _, t_np = interleaved(lambda: None, lambda: np.matmul(a, b, out=c3), args.rounds, args.pause)
    g_fma, g_vec, g_np = (2 * N**3 / t / 1e9 for t in (t_fma, t_vec, t_np))
    print(f"| 1024^3 float32 matmul, update tensorized with `{FMA}` | {g_fma:.1f} GFLOPS | "
          f"vectorized schedule {g_vec:.1f}, numpy {g_np:.1f} GFLOPS | {g_fma / g_vec:.2f}x, "
          f"{g_fma / g_np:.2f}x |")
    print(f"fma-tensorized matmul 1024^3: {g_fma:.1f} GFLOPS, vectorized schedule {g_vec:.1f} "
          f"GFLOPS ({g_fma / g_vec:.2f}x), numpy {g_np:.1f} GFLOPS ({g_fma / g_np:.2f}x)")
    return g_fma / g_np


if __name__ == "__main__":
    main()
