"""Tuning the 1024³ float32 matmul: how close the tuner gets to numpy, and what the search costs.

    python -m benchmarks.tune_matmul [--n 1024] [--trials 128] [--seeds 0 1 2] [--random]

For each seed: ``tvmscript.tune`` with the learned model (and, with ``--random``, random search
on the same budget), then the best kernel and numpy's matmul (OpenBLAS) timed alternately in the
same run, best of 7, each call after a pause that lets OpenBLAS's threads settle. Prints one row
per run: best GFLOPS, the ratio to numpy, the trial at which the best was first found, and the
search's wall time. The last lines are a table for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import tvmscript  # noqa: E402
from backends.runtime.timing import interleaved  # noqa: E402
from benchmarks.parse_print import cpu_model  # noqa: E402
from tutorials.tune_matmul import matmul_of  # noqa: E402


def first_trial_reaching(result, latency: float) -> int:
    for n, entry in enumerate(result.history, 1):
        if entry.latency_s is not None and entry.latency_s <= latency:
            return n
    return len(result.history)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1024)
    parser.add_argument("--trials", type=int, default=128)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--random", action="store_true", help="also random search, same budget")
    args = parser.parse_args()
    n = args.n
    func = matmul_of(n)
    a = np.random.rand(n, n).astype("float32")
    b = np.random.rand(n, n).astype("float32")
    c = np.zeros((n, n), "float32")
    flops = 2 * n ** 3
    rows = []
    kinds = [("xgb", "evolutionary")] + ([("random", "random")] if args.random else [])
    for seed in args.seeds:
        for model, search in kinds:
            start = time.perf_counter()
            result = tvmscript.tune(func, target="llvm -mcpu=native", trials=args.trials,
                                    seed=seed, cost_model=model, search=search, progress=False)
            wall = time.perf_counter() - start
            rt = tvmscript.build(result.best, target="llvm -mcpu=native")
            ours, ref = interleaved(lambda: rt["matmul"](a, b, c), lambda: a @ b, pause=0.15)
            np.testing.assert_allclose(c, a @ b, rtol=1e-3, atol=1e-2)
            row = (seed, model, flops / ours / 1e9, ref / ours,
                   first_trial_reaching(result, result.best_latency_s), wall)
            rows.append(row)
            print(f"seed {seed} {model:6s}: {row[2]:.1f} GFLOPS, {row[3]:.2f}x numpy, best at "
                  f"trial {row[4]}, search {wall:.0f} s", flush=True)
    print(f"\n{n}³ float32 matmul, {args.trials} trials; {cpu_model()}, "
          f"load average {os.getloadavg()[0]:.2f}")
    print("| seed | model | best GFLOPS | × numpy (same run) | best found at trial | search wall time |")
    print("| ---: | --- | ---: | ---: | ---: | ---: |")
    for seed, model, gflops, ratio, at, wall in rows:
        print(f"| {seed} | {model} | {gflops:.1f} | {ratio:.2f} | {at} | {wall:.0f} s |")


if __name__ == "__main__":
    main()
