"""Optimizing a matmul on the CPU, step by step.

We start from the textbook 1024 x 1024 x 1024 float32 matmul and apply schedule primitives
(``tvmscript.Schedule``) one step at a time until it is a tiled, packed, vectorized, parallel
kernel. After each step the tutorial prints the scheduled program and its speed in GFLOPS, next to
numpy's matmul (OpenBLAS) measured in the same run, interleaved with ours.

Run: ``python tutorials/optimize_matmul_cpu.py`` (about a minute; the naive program alone takes
several seconds a call). ``--quick`` skips the timing of the slow early steps.

The target is what the LLVM backend turns into a fast micro-kernel: per 4 x 16 tile of C, eight
256-bit accumulators that stay in registers over the whole k loop, one broadcast of A and two
vector loads of a packed B per k and row, fused multiply-adds, with the rows of C spread over the
cores. Each step below moves the program one step closer to that loop nest.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import tvmscript
from backends.runtime.timing import interleaved
from tvmscript import T
from tvmscript.schedule.index_map import IndexMap

N = 1024
TARGET = "llvm -mcpu=native"
MR, NR = 4, 16  # register tile: 4 rows of C by 16 columns (two 8-lane float32 vectors)


@T.prim_func
def matmul(A: T.Buffer((N, N), "float32"), B: T.Buffer((N, N), "float32"),
           C: T.Buffer((N, N), "float32")):
    T.func_attr({"tir.noalias": True})
    for i, j, k in T.grid(N, N, N):
        with T.block("C"):
            vi, vj, vk = T.axis.remap("SSR", [i, j, k])
            with T.init():
                C[vi, vj] = T.float32(0)
            C[vi, vj] = C[vi, vj] + A[vi, vk] * B[vk, vj]


# ----------------------------------------------------------------------------- the steps
# Each step takes the schedule and applies a few primitives. Blocks are found by name, loops
# through ``get_loops``, so a step does not depend on handles kept from an earlier one.

def step_tile(sch: tvmscript.Schedule) -> None:
    """Register tiling: i -> (i_0, i_1 = 4), j -> (j_0, j_1 = 16), order i_0, j_0, k, i_1, j_1.

    The innermost 4 x 16 tile of C is updated once per k: its 64 values can stay in registers
    while k runs, and B is read along its rows (16 consecutive floats) instead of down a column.
    """
    c = sch.get_block("C")
    i, j, k = sch.get_loops(c)
    i_0, i_1 = sch.split(i, [None, MR])
    j_0, j_1 = sch.split(j, [None, NR])
    sch.reorder(i_0, j_0, k, i_1, j_1)


def step_pack(sch: tvmscript.Schedule) -> None:
    """Pack B into panels: ``B_packed[j // 16, k, j % 16]``.

    The micro-kernel walks k with a 16-wide strip of B; in B's own layout consecutive k are
    4 KiB apart (a new page and cache set each time). Packed, a strip is one contiguous 64 KiB
    panel that the hardware prefetcher streams. ``transform_layout`` on a parameter adds the
    copy block ``B_pack``.
    """
    c = sch.get_block("C")
    sch.transform_layout(c, ("read", 1), IndexMap.from_func(lambda k, n: (n // NR, k, n % NR)))


def step_accumulate(sch: tvmscript.Schedule) -> None:
    """Accumulate in a local tile: ``cache_write`` + ``reverse_compute_at`` +
    ``decompose_reduction``.

    The tile is summed in ``C_local`` and copied to C once, after the k loop; the
    initialisation moves out of the k loop (no ``if k == 0`` in the hot loop), so LLVM keeps
    the accumulators in registers.
    """
    c = sch.get_block("C")
    _, j_0, k, _, _ = sch.get_loops(c)
    c_local = sch.cache_write(c, 0, "local")
    sch.reverse_compute_at(c_local, j_0)
    sch.decompose_reduction(c, k)


def step_vectorize(sch: tvmscript.Schedule) -> None:
    """Vectorize the 16 columns (two AVX2 vectors) and unroll the 4 rows of every tile loop,
    and vectorize the packing copy."""
    for name in ("C_init", "C", "C_local"):
        *_, rows, cols = sch.get_loops(sch.get_block(name))
        sch.unroll(rows)
        sch.vectorize(cols)
    *_, lanes = sch.get_loops(sch.get_block("B_pack"))
    sch.vectorize(lanes)


def step_parallel(sch: tvmscript.Schedule) -> None:
    """Spread the 256 row blocks (and the 64 panels of the packing) over the cores."""
    sch.parallel(sch.get_loops(sch.get_block("C"))[0])
    sch.parallel(sch.get_loops(sch.get_block("B_pack"))[0])


STEPS = [
    ("naive", None),
    ("1. register tiling (split + reorder)", step_tile),
    ("2. packed B (transform_layout)", step_pack),
    ("3. local accumulator (cache_write + reverse_compute_at + decompose_reduction)",
     step_accumulate),
    ("4. vectorize + unroll", step_vectorize),
    ("5. parallel", step_parallel),
]


def schedule(func=matmul) -> tvmscript.Schedule:
    """The tutorial's final schedule of ``func`` (all the steps)."""
    sch = tvmscript.Schedule(func)
    for _, step in STEPS:
        if step is not None:
            step(sch)
    return sch


# ----------------------------------------------------------------------------- measuring

def gflops(seconds: float, n: int = N) -> float:
    return 2 * n**3 / seconds / 1e9


def versus_numpy(kernel, a: np.ndarray, b: np.ndarray, c: np.ndarray, rounds: int = 7,
                 pause: float = 0.15) -> tuple[float, float]:
    """Best seconds per call of ``kernel(a, b, c)`` and of numpy's matmul, measured alternately.

    Each timed call starts after a pause, so the other library's idle worker threads (OpenBLAS
    spins for ~0.1 s after a call, libgomp for well under 1 ms) have gone to sleep and every
    call gets both cores.
    """
    d = np.empty_like(c)
    return interleaved(lambda: kernel(a, b, c), lambda: np.matmul(a, b, out=d), rounds, pause)


def measure(kernel, a: np.ndarray, b: np.ndarray, expected: np.ndarray) -> tuple[float, float]:
    """Check ``kernel`` against ``expected``, then time it against numpy (a slow kernel, over a
    second a call, is timed by its checked call alone)."""
    c = np.zeros_like(expected)
    start = time.perf_counter()
    kernel(a, b, c)
    first = time.perf_counter() - start
    np.testing.assert_allclose(c, expected, rtol=1e-4, atol=1e-3)
    if first > 1.0:
        return first, versus_numpy(lambda *_: None, a, b, c, rounds=3)[1]
    return versus_numpy(kernel, a, b, c, rounds=max(2, min(7, int(2.0 / first))))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="do not time the naive and tiled-only steps (slow)")
    args = parser.parse_args(argv)

    rng = np.random.default_rng(0)
    a = rng.random((N, N), dtype=np.float32)
    b = rng.random((N, N), dtype=np.float32)
    expected = a @ b
    sch = tvmscript.Schedule(matmul)
    for index, (title, step) in enumerate(STEPS):
        if step is not None:
            step(sch)
        print(f"\n=== {title}")
        print(sch.mod.script())
        if args.quick and index < 3:
            continue
        kernel = tvmscript.build(sch.mod, target=TARGET)["matmul"]
        ours, ref = measure(kernel, a, b, expected)
        print(f"--> {gflops(ours):7.2f} GFLOPS ({ours * 1e3:8.1f} ms); numpy {gflops(ref):6.1f} "
              f"GFLOPS in the same run; ratio {ref / ours:.3f}")
    print("\nThe trace that rebuilds this schedule:\n" + str(sch.trace))


if __name__ == "__main__":
    main()
